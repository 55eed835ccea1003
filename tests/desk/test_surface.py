"""The desk's implied-volatility surface fit (pure): it recovers a known surface from its quotes, and refuses quotes
it cannot fit (too few, crossed, not numbers) or a fit that misses them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from desk.pricing import VolSurfaceConfig, black_scholes
from desk.surface import FitRules, MarkSurface, SurfaceParameters, SurfaceQuotes, SurfaceRefused, surface_fit

BASE = VolSurfaceConfig()
TRUTH = SurfaceParameters(atm_short=0.92, atm_long=0.71, term_decay_days=30.0, skew_30d=-0.22, curvature_30d=0.45)
SPOT, RATE = 101_234.0, 0.04
DAYS = np.array([3.0, 7.0, 14.0, 21.0, 28.0, 56.0, 91.0, 182.0])
STRIKES = np.arange(75_000.0, 130_001.0, 5_000.0)


def _quotes(
    parameters: SurfaceParameters = TRUTH,
    *,
    noise: float = 0.0,
    half_spread: float = 0.01,
    days: np.ndarray = DAYS,
    strikes: np.ndarray = STRIKES,
    seed: int = 1,
) -> SurfaceQuotes:
    t, k = np.meshgrid(days / 365.0, strikes, indexing="ij")
    t, k = t.ravel(), k.ravel()
    vol = parameters.vol(np.log(k / (SPOT * np.exp(RATE * t))), t, base=BASE)
    vol = vol + np.random.default_rng(seed).normal(0.0, noise, vol.size)
    return SurfaceQuotes.of(
        spot=SPOT, rate=RATE, strike=k, t_years=t, bid_vol=vol - half_spread, ask_vol=vol + half_spread
    )


def _close(fitted: SurfaceParameters, truth: SurfaceParameters, **tolerance: float) -> None:
    for name, value in truth.as_dict().items():
        assert getattr(fitted, name) == pytest.approx(value, abs=tolerance.get(name, 1e-6)), name


def test_the_fit_recovers_the_parameters_of_the_surface_that_made_the_quotes() -> None:
    # given a venue's quotes drawn from a known surface (8 expiries, 12 strikes, one vol point either side)
    quotes = _quotes()

    # when the desk fits its surface from the reference shape
    fit = surface_fit(quotes, base=BASE)

    # then it finds the surface's five numbers, and sits inside every quote
    _close(fit.parameters, TRUTH)
    assert (fit.n_quotes, fit.n_expiries) == (96, 8)
    assert fit.rms_error_vol < 1e-8
    assert fit.inside_share == 1.0


def test_on_noisy_quotes_the_fit_stays_close_and_reports_its_error() -> None:
    # given quotes whose mids are off the surface by 0.3 vol point (standard deviation)
    quotes = _quotes(noise=0.003)

    fit = surface_fit(quotes, base=BASE)

    # then the parameters are near the truth and the error is the noise's
    _close(
        fit.parameters, TRUTH, atm_short=0.01, atm_long=0.005, term_decay_days=3.0, skew_30d=0.01, curvature_30d=0.02
    )
    assert fit.rms_error_vol == pytest.approx(0.003, rel=0.2)
    assert fit.max_error_vol > fit.rms_error_vol


def test_the_fit_does_not_depend_on_where_it_starts() -> None:
    far = SurfaceParameters(atm_short=0.3, atm_long=1.5, term_decay_days=300.0, skew_30d=0.3, curvature_30d=-0.5)

    fit = surface_fit(_quotes(), base=BASE, start=far)

    _close(fit.parameters, TRUTH, atm_short=1e-5, atm_long=1e-5, term_decay_days=1e-3, skew_30d=1e-5)


@pytest.mark.parametrize(
    ("quotes", "reason"),
    [
        (_quotes(days=DAYS[:2]), "too few expiries: 2"),
        (_quotes(days=DAYS[:3], strikes=STRIKES[:3]), "too few quotes: 9"),
        (_quotes(half_spread=-0.001), "96 crossed quote"),
    ],
    ids=["two expiries", "nine quotes", "crossed"],
)
def test_quotes_that_cannot_give_a_surface_are_refused(quotes: SurfaceQuotes, reason: str) -> None:
    with pytest.raises(SurfaceRefused, match=reason):
        surface_fit(quotes, base=BASE)


def test_one_crossed_or_missing_quote_refuses_the_whole_set() -> None:
    good = _quotes()
    crossed_bid = good.bid_vol.copy()
    crossed_bid[17] = good.ask_vol[17] + 0.001
    missing_ask = good.ask_vol.copy()
    missing_ask[3] = math.nan

    with pytest.raises(SurfaceRefused, match="1 crossed quote"):
        surface_fit(SurfaceQuotes(good.t_years, good.log_moneyness, crossed_bid, good.ask_vol), base=BASE)
    with pytest.raises(SurfaceRefused, match="1 quote.*finite"):
        surface_fit(SurfaceQuotes(good.t_years, good.log_moneyness, good.bid_vol, missing_ask), base=BASE)


def test_a_fit_that_misses_the_quotes_is_refused() -> None:
    # given quotes five vol points (standard deviation) off any smooth surface
    quotes = _quotes(noise=0.05)

    with pytest.raises(SurfaceRefused, match="misses the quotes"):
        surface_fit(quotes, base=BASE)
    # and a looser rule accepts it
    assert surface_fit(quotes, base=BASE, rules=FitRules(max_rms_error_vol=0.1)).rms_error_vol > 0.02


def test_quotes_without_a_price_to_refer_to_are_refused() -> None:
    with pytest.raises(SurfaceRefused, match="underlying price"):
        SurfaceQuotes.of(spot=0.0, rate=RATE, strike=[1.0], t_years=[1.0], bid_vol=[0.5], ask_vol=[0.6])
    with pytest.raises(SurfaceRefused, match="positive strike"):
        SurfaceQuotes.of(spot=SPOT, rate=RATE, strike=[-1.0], t_years=[1.0], bid_vol=[0.5], ask_vol=[0.6])
    with pytest.raises(SurfaceRefused, match="one length"):
        SurfaceQuotes.of(spot=SPOT, rate=RATE, strike=[1.0, 2.0], t_years=[1.0], bid_vol=[0.5], ask_vol=[0.6])


def test_a_mark_is_black_scholes_at_the_surface_volatility_of_its_forward_moneyness() -> None:
    surface = MarkSurface(underlying="BTC", parameters=TRUTH, base=BASE, rate=RATE, source="fitted", surface_id=7)
    t = 54 / 365

    vol = float(surface.vol(spot=SPOT, strike=100_000.0, t_years=t))
    mark = surface.price(spot=SPOT, strike=100_000.0, t_years=t, kind="call")

    k = math.log(100_000.0 / (SPOT * math.exp(RATE * t)))
    assert vol == pytest.approx(float(TRUTH.vol(k, t, base=BASE)))
    assert mark.price == pytest.approx(black_scholes(SPOT, 100_000.0, t, RATE, vol, "call").price)
