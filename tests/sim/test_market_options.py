"""Options from the implied-volatility surface: skew, smile, term structure, regime dependence, parity."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from desk.pricing import black_scholes
from sim.market import MarketConfig, MarketSimulator, VolSurfaceConfig, btc_config, surface_vol


def test_option_is_black_scholes_at_the_surface_vol() -> None:
    simulator = MarketSimulator(12)
    simulator.run(3_600, 60)
    expiry = simulator.now + timedelta(days=30)

    quote = simulator.option("BTC", 95_000.0, expiry, "put")

    spot = simulator.book("BTC").mid
    t = 30 / 365
    assert quote.t_years == pytest.approx(t)
    assert quote.implied_vol == pytest.approx(simulator.implied_vol("BTC", 95_000.0, t))
    expected = black_scholes(spot, 95_000.0, t, simulator.config.rate, quote.implied_vol, "put")
    assert quote.price == pytest.approx(expected.price, rel=1e-12)
    assert quote.delta == pytest.approx(expected.delta, rel=1e-12)
    assert quote.bid < quote.price < quote.ask
    assert quote.ask - quote.bid == pytest.approx(2 * 0.01 * quote.vega)


def test_chain_respects_put_call_parity() -> None:
    simulator = MarketSimulator(2)
    spot = simulator.book("ETH").mid
    expiries = [simulator.now + timedelta(days=d) for d in (1, 7, 30, 90)]
    strikes = spot * np.array([0.7, 0.9, 1.0, 1.1, 1.4])

    chain = simulator.option_chain("ETH", strikes, expiries)

    assert len(chain) == 4 * 5 * 2
    calls = chain[chain["kind"] == "call"].reset_index(drop=True)
    puts = chain[chain["kind"] == "put"].reset_index(drop=True)
    np.testing.assert_allclose(calls["strike"], puts["strike"])
    parity = spot - calls["strike"] * np.exp(-simulator.config.rate * calls["t_years"])
    np.testing.assert_allclose(calls["price"] - puts["price"], parity, rtol=1e-9, atol=1e-9 * spot)
    assert (chain["price"] >= 0).all()
    assert (chain["bid"] <= chain["ask"]).all()


def test_surface_has_put_skew_and_a_smile() -> None:
    config = VolSurfaceConfig()
    k = np.linspace(-0.4, 0.4, 81)

    vols = surface_vol(k, 30 / 365, atm_short=0.85, config=config)

    atm = vols[40]
    assert vols[0] > atm  # deep puts richer than at the money
    assert vols[20] > vols[60]  # put skew: -20 % richer than +20 %
    assert np.all(np.diff(vols, 2) > 0)  # convex in log-moneyness: a smile
    short_wing = surface_vol(-0.2, 7 / 365, atm_short=0.85, config=config) - surface_vol(
        0.0, 7 / 365, atm_short=0.85, config=config
    )
    long_wing = surface_vol(-0.2, 180 / 365, atm_short=0.85, config=config) - surface_vol(
        0.0, 180 / 365, atm_short=0.85, config=config
    )
    assert short_wing > long_wing > 0  # short expiries smile more


def test_term_structure_slopes_up_when_calm_and_inverts_when_stressed() -> None:
    calm = MarketSimulator(0, MarketConfig(underlyings=(replace(btc_config(), initial_regime=0),)))
    stressed = MarketSimulator(0, MarketConfig(underlyings=(replace(btc_config(), initial_regime=2),)))
    tenors = np.array([1, 7, 30, 90, 365]) / 365

    calm_curve = np.asarray(calm.atm_vol("BTC", tenors))
    stressed_curve = np.asarray(stressed.atm_vol("BTC", tenors))

    assert np.all(np.diff(calm_curve) > 0)
    assert np.all(np.diff(stressed_curve) < 0)
    assert np.all(stressed_curve > calm_curve)
    assert calm_curve[-1] == pytest.approx(stressed_curve[-1], abs=0.01)  # the long end is anchored


def test_surface_follows_the_regime_along_a_path() -> None:
    # Given regimes that switch every few hours
    fast = replace(btc_config(), regime_mean_durations_s=(6 * 3_600.0, 3 * 3_600.0, 2 * 3_600.0))
    simulator = MarketSimulator(17, MarketConfig(underlyings=(fast,)))
    regimes, levels = [], []

    # When we sample the short-end ATM level every 5 minutes for 20 days
    for _ in range(20 * 288):
        simulator.step(300)
        regimes.append(simulator.book("BTC").regime)
        levels.append(simulator.atm_short("BTC"))

    # Then the surface is on average higher in each more volatile regime
    regimes_a, levels_a = np.array(regimes), np.array(levels)
    means = [levels_a[regimes_a == k].mean() for k in range(3)]
    assert means[0] < means[1] < means[2]
    assert np.corrcoef(regimes_a, levels_a)[0, 1] > 0.6


def test_normal_markets_keep_atm_vol_in_its_60_to_120_percent_range() -> None:
    simulator = MarketSimulator(4)
    tenors = np.array([7, 30, 90]) / 365
    levels = []
    for _ in range(60):
        simulator.run(86_400, 900)
        levels.extend(np.asarray(simulator.atm_vol("BTC", tenors)).tolist())

    assert min(levels) >= 0.60
    assert max(levels) <= 1.20


def test_expired_or_naive_expiries_are_refused() -> None:
    simulator = MarketSimulator(1)
    with pytest.raises(ValueError, match="past"):
        simulator.option("BTC", 100_000.0, simulator.now - timedelta(days=1), "call")
    with pytest.raises(ValueError, match="timezone"):
        simulator.option("BTC", 100_000.0, simulator.now.replace(tzinfo=None) + timedelta(days=1), "call")


def test_forward_uses_the_configured_rate() -> None:
    simulator = MarketSimulator(1)
    quote = simulator.option("BTC", 100_000.0, simulator.now + timedelta(days=365), "call")

    assert quote.forward == pytest.approx(simulator.book("BTC").mid * math.exp(simulator.config.rate))


def test_single_option_matches_its_row_in_the_chain() -> None:
    simulator = MarketSimulator(3)
    simulator.run(1_800, 60)
    expiry = simulator.now + timedelta(days=14)

    quote = simulator.option("ETH", 3_000.0, expiry, "call")
    row = simulator.option_chain("ETH", [3_000.0], [expiry], kinds=("call",)).iloc[0]

    for name in ("t_years", "forward", "implied_vol", "price", "bid", "ask", "delta", "gamma", "vega", "theta"):
        assert getattr(quote, name) == pytest.approx(float(row[name]), rel=1e-12), name
