"""The delta hedger's pure side: book greeks against closed forms and finite differences, and the banded rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desk.pricing import norm_cdf
from execution.hedging import (
    HedgeBand,
    OptionPositions,
    book_greeks,
    book_value,
    hedge_order,
    option_deltas,
    whalley_wilmott_half_width,
)

SPOT, RATE = 100_000.0, 0.04


def _d1(spot: float, strike: float, t: float, rate: float, vol: float) -> float:
    return (math.log(spot / strike) + (rate + 0.5 * vol * vol) * t) / (vol * math.sqrt(t))


def _one(quantity: float, strike: float, t: float, vol: float, *, call: bool, multiplier: float = 1.0):  # noqa: ANN202
    return OptionPositions.of(
        quantity=[quantity], multiplier=[multiplier], strike=[strike], t_years=[t], is_call=[call], vol=[vol]
    )


def test_a_long_call_has_delta_n_d1_times_quantity_times_multiplier() -> None:
    # given 10 calls of 0.1 BTC each, 5 % out of the money, 30 days, 65 % vol
    strike, t, vol = 105_000.0, 30 / 365, 0.65
    options = _one(10.0, strike, t, vol, call=True, multiplier=0.1)

    # when the book's greeks are computed
    greeks = book_greeks(options, linear_coins=0.0, spot=SPOT, rate=RATE)

    # then delta is N(d1) × 10 × 0.1 coins
    expected = float(norm_cdf(_d1(SPOT, strike, t, RATE, vol))) * 10 * 0.1
    assert greeks.delta == pytest.approx(expected, rel=1e-12)
    assert greeks.option_delta == greeks.delta
    assert greeks.gamma > 0


def test_spot_and_perp_positions_add_their_coins_to_the_delta() -> None:
    options = _one(-4.0, 100_000.0, 0.25, 0.6, call=False)

    greeks = book_greeks(options, linear_coins=-1.5, spot=SPOT, rate=RATE)

    assert greeks.linear_delta == -1.5
    assert greeks.delta == pytest.approx(float(option_deltas(options, spot=SPOT, rate=RATE)[0]) - 1.5)
    assert greeks.option_delta > 0  # short puts are long delta


def test_a_straddle_at_the_forward_has_almost_no_delta() -> None:
    # given a long straddle struck at the money-forward (d1 = σ√t / 2: a small positive delta remains)
    t, vol = 7 / 365, 0.65
    strike = SPOT * math.exp(RATE * t)
    options = OptionPositions.of(
        quantity=[5.0, 5.0], multiplier=1.0, strike=strike, t_years=t, is_call=[True, False], vol=vol
    )

    greeks = book_greeks(options, linear_coins=0.0, spot=SPOT, rate=RATE)

    # then |delta| = 5 × (2 N(σ√t/2) − 1) ≈ 5 × σ√t / √(2π): under 0.2 coin for 10 options, and long gamma
    expected = 5 * (2 * float(norm_cdf(0.5 * vol * math.sqrt(t))) - 1)
    assert greeks.delta == pytest.approx(expected, rel=1e-9)
    assert abs(greeks.delta) < 0.2
    assert greeks.gamma > 0


@settings(max_examples=100, deadline=None)
@given(
    moneyness=st.floats(0.5, 2.0),
    t=st.floats(1 / 365, 2.0),
    vol=st.floats(0.05, 2.0),
    quantity=st.floats(0.1, 100.0),
)
def test_call_delta_minus_put_delta_is_one_per_unit(moneyness: float, t: float, vol: float, quantity: float) -> None:
    strike = SPOT * moneyness
    call = book_greeks(_one(quantity, strike, t, vol, call=True), linear_coins=0.0, spot=SPOT, rate=RATE)
    put = book_greeks(_one(quantity, strike, t, vol, call=False), linear_coins=0.0, spot=SPOT, rate=RATE)

    assert call.delta - put.delta == pytest.approx(quantity, rel=1e-12)
    assert call.gamma == pytest.approx(put.gamma, rel=1e-12)


def test_the_book_delta_and_gamma_are_the_slopes_of_its_value() -> None:
    # given a mixed book: long calls, short puts, a call spread and a short perp
    rng = np.random.default_rng(5)
    n = 12
    options = OptionPositions.of(
        quantity=rng.uniform(-20, 20, n),
        multiplier=rng.choice([0.1, 1.0], n),
        strike=SPOT * rng.uniform(0.7, 1.3, n),
        t_years=rng.uniform(2 / 365, 1.0, n),
        is_call=rng.random(n) < 0.5,
        vol=rng.uniform(0.4, 1.2, n),
    )
    linear = -3.25
    greeks = book_greeks(options, linear_coins=linear, spot=SPOT, rate=RATE)

    # when the value is bumped by ±h
    h = SPOT * 1e-4
    up = book_value(options, linear_coins=linear, spot=SPOT + h, rate=RATE)
    down = book_value(options, linear_coins=linear, spot=SPOT - h, rate=RATE)
    mid = book_value(options, linear_coins=linear, spot=SPOT, rate=RATE)

    # then the central differences match the analytic greeks
    assert (up - down) / (2 * h) == pytest.approx(greeks.delta, rel=1e-6, abs=1e-8)
    assert (up - 2 * mid + down) / (h * h) == pytest.approx(greeks.gamma, rel=1e-3, abs=1e-12)


def test_an_empty_book_has_only_its_linear_delta() -> None:
    greeks = book_greeks(OptionPositions.empty(), linear_coins=2.0, spot=SPOT, rate=RATE)

    assert (greeks.delta, greeks.gamma, greeks.value) == (2.0, 0.0, 2.0 * SPOT)


def test_a_long_delta_is_sold_back_to_mid_band_by_default() -> None:
    # given 6.4321 coins of delta, a band of 1 coin and a 0.001-coin lot
    order = hedge_order(6.4321, band=HedgeBand(1.0), lot_coins=0.001)

    # then 5.933 coins are sold (rounded up, toward zero): 0.4991 coins remain, half the band away from its edge
    assert order is not None
    assert (order.side, order.lots) == ("sell", 5933)
    assert order.delta_after == pytest.approx(0.4991)
    assert order.target == 0.5


def test_a_long_delta_is_sold_back_to_the_band_edge_in_whole_lots() -> None:
    # given 6.4321 coins of delta, a band of 1 coin and a 0.001-coin lot
    order = hedge_order(6.4321, band=HedgeBand(1.0, target="edge"), lot_coins=0.001)

    # then 5.433 coins are sold (rounded up into the band): 0.9991 coins remain
    assert order is not None
    assert (order.side, order.lots) == ("sell", 5433)
    assert order.delta_after == pytest.approx(0.9991)
    assert order.target == 1.0


def test_a_short_delta_is_bought_back_to_zero_without_crossing_it() -> None:
    order = hedge_order(-6.4321, band=HedgeBand(1.0, target="zero"), lot_coins=0.01)

    # rounded down: 6.43 coins bought, the residual stays short
    assert order is not None
    assert (order.side, order.lots) == ("buy", 643)
    assert order.delta_after == pytest.approx(-0.0021)
    assert order.target == 0.0


def test_after_a_mid_band_hedge_a_small_move_needs_no_second_hedge() -> None:
    # given the hedge after a 5-contract call fill (2.81 coins of delta, a band of 1 coin, 0.0001-coin perp lots)
    band = HedgeBand(1.0, min_trade_coins=0.1)
    first = hedge_order(2.81, band=band, lot_coins=0.0001)
    assert first is not None
    assert first.delta_after == pytest.approx(0.5)

    # when the underlying moves and the delta drifts by 0.0032 coins, as it did 14 s after the hedge on the desk
    second = hedge_order(first.delta_after + 0.0032, band=band, lot_coins=0.0001)

    # then no second hedge: the book is still half a band inside (to the edge, the same drift sold 0.0032 coins)
    assert second is None
    edge = hedge_order(2.81, band=HedgeBand(1.0, target="edge"), lot_coins=0.0001)
    assert edge is not None
    churn = hedge_order(edge.delta_after + 0.0032, band=HedgeBand(1.0, target="edge"), lot_coins=0.0001)
    assert churn is not None
    assert churn.coins == pytest.approx(0.0032)


def test_a_hedge_trades_at_least_the_minimum_trade() -> None:
    # given a delta just past the edge of a 1-coin band and a hedge to the edge, with a minimum trade of 0.25 coin
    band = HedgeBand(1.0, target="edge", min_trade_coins=0.25)

    order = hedge_order(1.01, band=band, lot_coins=0.001)

    # then 0.25 coin is sold, not the 0.01 coin the edge alone asks for
    assert order is not None
    assert order.coins == pytest.approx(0.25)
    assert order.delta_after == pytest.approx(0.76)


def test_inside_the_band_there_is_no_hedge() -> None:
    assert hedge_order(0.999, band=HedgeBand(1.0), lot_coins=0.001) is None
    assert hedge_order(-1.0, band=HedgeBand(1.0, target="zero"), lot_coins=0.001) is None


def test_a_band_narrower_than_a_lot_is_refused() -> None:
    with pytest.raises(ValueError, match="narrower than the hedge lot"):
        hedge_order(5.0, band=HedgeBand(0.05), lot_coins=0.1)


def test_a_band_of_a_notional_fraction() -> None:
    options = OptionPositions.of(
        quantity=[10.0, -30.0], multiplier=0.1, strike=SPOT, t_years=0.1, is_call=True, vol=0.6
    )

    band = HedgeBand.of_notional(0.05, options.notional_coins, target="zero")

    assert band.threshold_coins == pytest.approx(0.2)  # 5 % of 4 coins gross
    assert band.target == "zero"


@pytest.mark.parametrize(("threshold", "target"), [(-1.0, "edge"), (math.nan, "edge"), (1.0, "middle")])
def test_bad_bands_are_refused(threshold: float, target: str) -> None:
    with pytest.raises(ValueError, match="band|target"):
        HedgeBand(threshold, target=target)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"inside_fraction": 1.5}, "inside_fraction"),
        ({"inside_fraction": math.nan}, "inside_fraction"),
        ({"min_trade_coins": 2.0}, "minimum trade"),
        ({"min_trade_coins": -0.1}, "minimum trade"),
    ],
)
def test_bad_targets_and_minimum_trades_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HedgeBand(1.0, **kwargs)


def test_the_whalley_wilmott_band_grows_with_the_cube_root_of_cost() -> None:
    base = whalley_wilmott_half_width(gamma=1e-4, spot=SPOT, cost_fraction=1e-4, risk_aversion=1e-5)
    eight = whalley_wilmott_half_width(gamma=1e-4, spot=SPOT, cost_fraction=8e-4, risk_aversion=1e-5)

    assert base == pytest.approx((1.5 * 1e-4 * SPOT * 1e-8 / 1e-5) ** (1 / 3))
    assert eight == pytest.approx(2 * base)


_lots = st.sampled_from([0.001, 0.01, 0.1, 1.0])


@settings(max_examples=300, deadline=None)
@given(
    delta=st.floats(-5_000.0, 5_000.0, allow_nan=False),
    lot=_lots,
    band_in_lots=st.floats(1.0, 500.0),
    target=st.sampled_from(["inside", "edge", "zero"]),
    inside_fraction=st.floats(0.0, 1.0),
    min_trade_share=st.floats(0.0, 1.0),
)
def test_a_hedge_lands_inside_the_band_in_whole_lots_without_flipping(  # noqa: PLR0913 - one per drawn input
    delta: float, lot: float, band_in_lots: float, target: str, inside_fraction: float, min_trade_share: float
) -> None:
    # given any delta, a band at least one lot wide, any target inside it and any minimum trade up to the band
    threshold = band_in_lots * lot
    band = HedgeBand(
        threshold,
        target=target,  # type: ignore[arg-type]
        inside_fraction=inside_fraction,
        min_trade_coins=min_trade_share * threshold,
    )

    # when the rule is applied
    order = hedge_order(delta, band=band, lot_coins=lot)

    # then inside the band nothing happens; outside, whole lots bring the delta inside without changing its sign
    tolerance = 1e-9 * max(1.0, abs(delta))
    if abs(delta) <= band.threshold_coins:
        assert order is None
        return
    if order is None:  # within float noise of the edge: nothing tradeable
        assert abs(delta) - band.threshold_coins < 1e-6 * lot
        return
    assert order.lots >= 1
    assert order.coins == pytest.approx(order.lots * lot)
    assert order.side == ("sell" if delta > 0 else "buy")
    after = delta - (order.coins if order.side == "sell" else -order.coins)
    assert after == pytest.approx(order.delta_after)
    assert abs(after) <= band.threshold_coins + tolerance
    assert after * delta >= -tolerance  # no flip
    # and it trades at least the minimum, or everything there is to trade short of zero
    assert order.coins >= band.min_trade_coins - lot - tolerance or abs(after) < lot + tolerance
    # and no more than needed: to zero it stops short of zero; else one lot fewer would miss the target (or the
    # minimum trade), unless it is already as close to zero as a lot allows
    if target == "zero":
        assert abs(after) < lot + tolerance
    else:
        fewer = abs(delta) - (order.lots - 1) * lot
        assert (
            fewer > band.target_coins - tolerance
            or (order.lots - 1) * lot < band.min_trade_coins - tolerance
            or abs(after) < lot + tolerance
        )
