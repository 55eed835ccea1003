"""Impact of the desk's own orders: square-root and linear shapes, permanent versus decaying temporary impact."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sim.market import ImpactConfig, MarketConfig, MarketSimulator, btc_config, impact_fractions, scenario_start


def _simulator(impact: ImpactConfig, seed: int = 5) -> MarketSimulator:
    return MarketSimulator(seed, MarketConfig(underlyings=(replace(btc_config(), impact=impact),)))


def _cost_beyond_touch(impact: ImpactConfig, quantity: float) -> float:
    # A fresh world per order, so that both sizes meet the same book.
    simulator = _simulator(impact)
    simulator.run(600, 10)
    ask = simulator.book("BTC").ask
    return simulator.execute("BTC", "buy", quantity).average_price - ask


def test_square_root_impact_doubles_for_four_times_the_size() -> None:
    impact = ImpactConfig(temporary_form="sqrt", permanent_form="sqrt")

    ratio = _cost_beyond_touch(impact, 400.0) / _cost_beyond_touch(impact, 100.0)

    assert ratio == pytest.approx(2.0, rel=1e-9)


def test_linear_impact_quadruples_for_four_times_the_size() -> None:
    impact = ImpactConfig(
        temporary_form="linear", temporary_coefficient=0.2, permanent_form="linear", permanent_coefficient=0.05
    )

    ratio = _cost_beyond_touch(impact, 400.0) / _cost_beyond_touch(impact, 100.0)

    assert ratio == pytest.approx(4.0, rel=1e-9)


def test_default_mix_reports_each_component_in_its_own_shape() -> None:
    small, large = (_simulator(ImpactConfig()) for _ in range(2))

    one = small.execute("BTC", "buy", 50.0)
    four = large.execute("BTC", "buy", 200.0)

    assert four.temporary_impact_bps / one.temporary_impact_bps == pytest.approx(2.0, rel=1e-12)
    assert four.permanent_impact_bps / one.permanent_impact_bps == pytest.approx(4.0, rel=1e-12)
    assert one.spread_cost_bps == pytest.approx(four.spread_cost_bps)
    assert one.cost_bps == pytest.approx(
        one.spread_cost_bps + one.temporary_impact_bps + 0.5 * one.permanent_impact_bps, rel=1e-12
    )


def test_permanent_impact_persists_and_temporary_impact_decays() -> None:
    # Given two worlds with one seed; the desk buys 300 BTC in one of them (execution draws no randomness,
    # so the ratio of the two mids isolates the impact from the price noise)
    impact = ImpactConfig(decay_half_life_s=60.0)
    traded, untouched = _simulator(impact), _simulator(impact)
    traded.run(600, 10)
    untouched.run(600, 10)

    fill = traded.execute("BTC", "buy", 300.0)
    permanent = fill.permanent_impact_bps * 1e-4
    temporary = fill.temporary_impact_bps * 1e-4

    def excess() -> float:
        return traded.book("BTC").mid / untouched.book("BTC").mid - 1.0

    # Then right after the fill the mid carries both impacts
    assert excess() == pytest.approx((1 + permanent) * (1 + temporary) - 1, rel=1e-9)
    assert fill.mid_after > fill.mid_before

    # After one half-life the temporary part has halved
    for simulator in (traded, untouched):
        simulator.step(60)
    assert excess() == pytest.approx((1 + permanent) * (1 + temporary / 2) - 1, rel=1e-9)

    # After twenty half-lives only the permanent part is left
    for simulator in (traded, untouched):
        simulator.run(1_140, 60)
    assert excess() == pytest.approx(permanent, rel=1e-5)


def test_sells_mirror_buys() -> None:
    buyer, seller = _simulator(ImpactConfig()), _simulator(ImpactConfig())

    buy = buyer.execute("BTC", "buy", 100.0)
    sell = seller.execute("BTC", "sell", 100.0)

    assert sell.average_price < sell.mid_before < buy.average_price
    assert buy.average_price - buy.mid_before == pytest.approx(sell.mid_before - sell.average_price, rel=1e-12)
    assert sell.mid_after < sell.mid_before
    assert sell.cost_bps == pytest.approx(buy.cost_bps)


def test_impact_grows_with_volatility_and_when_liquidity_is_withdrawn() -> None:
    config = ImpactConfig()
    calm_t, calm_p = impact_fractions(100.0, config=config, volatility=0.4)
    wild_t, wild_p = impact_fractions(100.0, config=config, volatility=1.2)
    thin_t, _ = impact_fractions(100.0, config=config, volatility=0.4, liquidity=0.0)

    assert float(wild_t) == pytest.approx(3.0 * float(calm_t))
    assert float(wild_p) == pytest.approx(3.0 * float(calm_p))
    assert float(thin_t) == pytest.approx(float(calm_t) / config.liquidity_floor)


def test_a_withdrawn_market_makes_the_same_order_dearer() -> None:
    normal, withdrawn = MarketSimulator(9), MarketSimulator(9)
    scenario_start(withdrawn, "liquidity-withdrawal")
    for simulator in (normal, withdrawn):
        simulator.run(900, 10)

    cheap = normal.execute("BTC", "buy", 50.0)
    dear = withdrawn.execute("BTC", "buy", 50.0)

    assert dear.cost_bps > 10 * cheap.cost_bps


def test_fill_takes_the_resting_size_and_moves_last() -> None:
    simulator = MarketSimulator(1)
    before = simulator.book("BTC")

    fill = simulator.execute("BTC", "buy", 1.0)

    after = simulator.book("BTC")
    assert after.ask_size == pytest.approx(max(0.0, before.ask_size - 1.0))
    assert after.last == fill.average_price
    assert after.volume == pytest.approx(before.volume + 1.0)


@pytest.mark.parametrize(("side", "quantity"), [("hold", 1.0), ("buy", 0.0), ("sell", -3.0), ("buy", float("nan"))])
def test_bad_orders_are_refused(side: str, quantity: float) -> None:
    with pytest.raises(ValueError, match="side|quantity"):
        MarketSimulator(0).execute("BTC", side, quantity)  # type: ignore[arg-type]


def test_impact_is_capped() -> None:
    temporary, permanent = impact_fractions(np.array([1e9]), config=ImpactConfig(), volatility=5.0)

    assert float(temporary[0]) == ImpactConfig().max_impact
    assert float(permanent[0]) == ImpactConfig().max_impact
