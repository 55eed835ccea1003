"""Black–Scholes: published textbook values, put-call parity, finite-difference greeks, vectorization."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desk.pricing import black_scholes, implied_volatility, norm_cdf


def test_hull_textbook_call_and_put() -> None:
    # Given Hull's worked example (Options, Futures and Other Derivatives, "Black-Scholes-Merton pricing
    # formulas"): S=42, K=40, r=10 %, sigma=20 %, T=0.5
    # When priced
    call = black_scholes(42.0, 40.0, 0.5, 0.1, 0.2, "call")
    put = black_scholes(42.0, 40.0, 0.5, 0.1, 0.2, "put")

    # Then the book's 4.76 and 0.81
    assert round(call.price, 2) == 4.76
    assert round(put.price, 2) == 0.81
    assert isinstance(call.price, float)


def test_hull_textbook_greeks() -> None:
    # Given Hull's greek-letters example: S=49, K=50, r=5 %, sigma=20 %, T=20 weeks (0.3846 y), a call
    result = black_scholes(49.0, 50.0, 0.3846, 0.05, 0.2, "call")

    # Then price 2.40, delta 0.522, gamma 0.066, vega 12.1 per 1.00 of vol, theta -4.31 per year
    assert round(result.price, 2) == 2.40
    assert round(result.delta, 3) == 0.522
    assert round(result.gamma, 3) == 0.066
    assert round(result.vega, 1) == 12.1
    assert round(result.theta, 2) == -4.31


def test_put_theta_keeps_its_digits_far_from_the_money() -> None:
    # Given a put far out of the money (spot 100 000, strike 60 000, 18 days, 30 % vol): d2 is about 7.6, so
    # N(d2) rounds to within 1e-14 of 1 and 1 - N(d2) keeps only a few of its digits
    spot, strike, t, rate, vol = 100_000.0, 60_000.0, 0.05, 0.04, 0.3
    d1 = (math.log(spot / strike) + (rate + 0.5 * vol * vol) * t) / (vol * math.sqrt(t))
    d2 = d1 - vol * math.sqrt(t)
    n_minus_d2 = 0.5 * math.erfc(d2 / math.sqrt(2.0))
    pdf_d1 = math.exp(-0.5 * d1 * d1) / math.sqrt(2.0 * math.pi)
    closed_form = -spot * pdf_d1 * vol / (2.0 * math.sqrt(t)) + rate * strike * math.exp(-rate * t) * n_minus_d2

    # When its theta is computed
    theta = black_scholes(spot, strike, t, rate, vol, "put").theta

    # Then it matches the closed form with N(-d2) to double precision (1 - N(d2) was off by 2e-5 here)
    assert d2 > 7
    assert theta == pytest.approx(closed_form, rel=1e-12, abs=0.0)


@settings(max_examples=200, deadline=None)
@given(
    spot=st.floats(1.0, 200_000.0),
    moneyness=st.floats(0.3, 3.0),
    t=st.floats(1e-3, 5.0),
    rate=st.floats(-0.02, 0.15),
    vol=st.floats(0.01, 3.0),
)
def test_put_call_parity_holds(spot: float, moneyness: float, t: float, rate: float, vol: float) -> None:
    strike = spot * moneyness
    call = black_scholes(spot, strike, t, rate, vol, "call")
    put = black_scholes(spot, strike, t, rate, vol, "put")

    forward_value = spot - strike * math.exp(-rate * t)
    assert call.price - put.price == pytest.approx(forward_value, abs=1e-9 * max(spot, strike))
    assert call.delta - put.delta == pytest.approx(1.0, abs=1e-12)
    assert call.gamma == pytest.approx(put.gamma, rel=1e-12)
    assert call.vega == pytest.approx(put.vega, rel=1e-12)


@pytest.mark.parametrize("kind", ["call", "put"])
@pytest.mark.parametrize(
    ("spot", "strike", "t", "rate", "vol"), [(100, 90, 0.25, 0.03, 0.3), (100, 130, 1.5, 0.0, 0.8)]
)
def test_greeks_match_finite_differences(
    kind: str, spot: float, strike: float, t: float, rate: float, vol: float
) -> None:
    def price(s: float = spot, tt: float = t, v: float = vol) -> float:
        return black_scholes(s, strike, tt, rate, v, kind).price

    result = black_scholes(spot, strike, t, rate, vol, kind)
    h_s, h_v, h_t = 1e-4 * spot, 1e-5, 1e-6

    assert result.delta == pytest.approx((price(s=spot + h_s) - price(s=spot - h_s)) / (2 * h_s), rel=1e-6)
    gamma_fd = (price(s=spot + h_s) - 2 * price() + price(s=spot - h_s)) / h_s**2
    assert result.gamma == pytest.approx(gamma_fd, rel=1e-4)
    assert result.vega == pytest.approx((price(v=vol + h_v) - price(v=vol - h_v)) / (2 * h_v), rel=1e-6)
    # Theta is the change per year of calendar time: time to expiry shrinks as the clock runs.
    assert result.theta == pytest.approx(-(price(tt=t + h_t) - price(tt=t - h_t)) / (2 * h_t), rel=1e-5)


def test_vectorized_matches_scalar_calls() -> None:
    rng = np.random.default_rng(5)
    spot = rng.uniform(50, 150, 64)
    strike = rng.uniform(50, 150, 64)
    t = rng.uniform(0.01, 2.0, 64)
    vol = rng.uniform(0.05, 1.5, 64)
    kind = np.where(rng.random(64) < 0.5, "call", "put")

    batch = black_scholes(spot, strike, t, 0.02, vol, kind)

    for i in range(64):
        one = black_scholes(spot[i], strike[i], t[i], 0.02, vol[i], str(kind[i]))
        assert batch.price[i] == pytest.approx(one.price, rel=1e-14, abs=1e-14)
        assert batch.delta[i] == pytest.approx(one.delta, rel=1e-14, abs=1e-14)
        assert batch.theta[i] == pytest.approx(one.theta, rel=1e-14, abs=1e-14)


def test_expiry_and_zero_vol_give_discounted_intrinsic_value() -> None:
    at_expiry = black_scholes(np.array([90.0, 110.0]), 100.0, 0.0, 0.05, 0.3, "call")
    no_vol_put = black_scholes(90.0, 100.0, 1.0, 0.05, 0.0, "put")

    np.testing.assert_allclose(at_expiry.price, [0.0, 10.0])
    np.testing.assert_allclose(at_expiry.delta, [0.0, 1.0])
    np.testing.assert_allclose(at_expiry.gamma, [0.0, 0.0])
    assert no_vol_put.price == pytest.approx(100.0 * math.exp(-0.05) - 90.0)
    assert no_vol_put.vega == 0.0


def test_implied_volatility_inverts_the_price() -> None:
    vols = np.array([0.1, 0.6, 1.2, 2.5])
    prices = black_scholes(100_000.0, 110_000.0, 0.1, 0.04, vols, "put").price

    recovered = implied_volatility(prices, 100_000.0, 110_000.0, 0.1, 0.04, "put")

    np.testing.assert_allclose(recovered, vols, rtol=1e-8)
    assert math.isnan(implied_volatility(0.5, 100.0, 50.0, 1.0, 0.0, "call"))


@pytest.mark.parametrize(
    ("spot", "strike", "t", "vol", "kind"),
    [
        (-1.0, 100.0, 1.0, 0.2, "call"),
        (100.0, 0.0, 1.0, 0.2, "call"),
        (100.0, 100.0, -1.0, 0.2, "put"),
        (100.0, 100.0, 1.0, -0.2, "put"),
        (100.0, 100.0, 1.0, 0.2, "straddle"),
    ],
)
def test_bad_inputs_are_refused(spot: float, strike: float, t: float, vol: float, kind: str) -> None:
    with pytest.raises(ValueError, match="must|kind"):
        black_scholes(spot, strike, t, 0.0, vol, kind)


def test_norm_cdf_is_exact_at_known_points() -> None:
    np.testing.assert_allclose(norm_cdf([0.0, 1.959963984540054, -np.inf, np.inf]), [0.5, 0.975, 0.0, 1.0], atol=1e-15)
