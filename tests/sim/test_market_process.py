"""The price process: replay by seed, volatility regimes, jumps, spreads and depth, volume profile, perpetuals."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from sim.market import MarketConfig, MarketSimulator, btc_config, eth_config, regime_generator, volume_profile
from sim.market.regimes import expm

ANNUALIZE_5MIN = np.sqrt(365 * 288)


@pytest.fixture(scope="module")
def long_path() -> MarketSimulator:
    # Sixty days in five-minute steps: enough time in each regime for its statistics to settle.
    simulator = MarketSimulator(11)
    simulator.run(60 * 86_400, 300)
    return simulator


def test_same_seed_replays_the_same_world() -> None:
    # Given two simulators with one seed and one that differs
    first, second, other = MarketSimulator(42), MarketSimulator(42), MarketSimulator(43)

    # When they are driven identically, trades included
    for simulator in (first, second, other):
        simulator.run(3_600, 5)
        simulator.execute("BTC", "buy", 25.0)
        simulator.run(3_600, 5)

    # Then the same seed gives identical paths and books, another seed does not
    for symbol in ("BTC", "ETH"):
        pd.testing.assert_frame_equal(first.history(symbol), second.history(symbol))
        assert first.book(symbol) == second.book(symbol)
    assert not np.allclose(first.history("BTC")["mid"], other.history("BTC")["mid"])


def test_each_underlying_has_its_own_stream() -> None:
    # Given BTC alone and BTC beside ETH, with one seed
    alone = MarketSimulator(8, MarketConfig(underlyings=(btc_config(),)))
    beside = MarketSimulator(8, MarketConfig(underlyings=(btc_config(), eth_config())))

    # When both run and ETH is traded in the second
    alone.run(7_200, 10)
    beside.run(3_600, 10)
    beside.execute("ETH", "sell", 500.0)
    beside.run(3_600, 10)

    # Then the BTC path is untouched by ETH's presence and trading
    pd.testing.assert_frame_equal(alone.history("BTC"), beside.history("BTC"))


def test_realized_volatility_follows_the_regime(long_path: MarketSimulator) -> None:
    # Given sixty days of five-minute returns, labelled by the regime that drove each of them
    history = long_path.history("BTC")
    returns = np.diff(np.log(history["mid"].to_numpy()))
    regime = history["regime"].to_numpy()[:-1]
    configured = btc_config().regime_vols

    # When realized volatility is measured per regime
    realized = [returns[regime == k].std() * ANNUALIZE_5MIN for k in range(3)]

    # Then it rises from calm to stressed and matches the configured levels (jumps add a little)
    assert np.bincount(regime, minlength=3).min() > 300
    assert realized[0] < realized[1] < realized[2]
    assert realized[2] > 2.0 * realized[0]
    np.testing.assert_allclose(realized, configured, rtol=0.12)


def test_spread_widens_and_depth_thins_with_volatility(long_path: MarketSimulator) -> None:
    history = long_path.history("ETH")
    spread_bps = 1e4 * (history["ask"] - history["bid"]) / history["mid"]
    depth = history["bid_size"] + history["ask_size"]

    by_regime = pd.DataFrame({"regime": history["regime"], "spread": spread_bps, "depth": depth}).groupby("regime")
    mean_spread = by_regime["spread"].mean().to_numpy()
    mean_depth = by_regime["depth"].mean().to_numpy()

    assert mean_spread[0] < mean_spread[1] < mean_spread[2]
    assert mean_depth[0] > mean_depth[1] > mean_depth[2]
    assert (history["ask"] > history["bid"]).all()


def test_regime_occupancy_matches_the_chain_stationary_distribution() -> None:
    # Given fast regimes (10 min, 5 min, 2 min on average), so two days hold thousands of switches
    fast = replace(btc_config(), regime_mean_durations_s=(600.0, 300.0, 120.0))
    simulator = MarketSimulator(3, MarketConfig(underlyings=(fast,)))

    # When run in steps longer than some sojourns (the exact transition matrix must cope)
    simulator.run(2 * 86_400, 60)

    # Then the time share of each regime matches the generator's stationary distribution
    generator = regime_generator(fast)
    eigenvalues, eigenvectors = np.linalg.eig(generator.T)
    stationary = np.real(eigenvectors[:, np.argmin(np.abs(eigenvalues))])
    stationary /= stationary.sum()
    occupancy = np.bincount(simulator.history("BTC")["regime"], minlength=3) / len(simulator.history("BTC"))
    np.testing.assert_allclose(occupancy, stationary, atol=0.03)


@pytest.mark.parametrize("t", [1.0, 60.0, 86_400.0, 30 * 86_400.0])
def test_two_state_transition_matrix_matches_its_closed_form(t: float) -> None:
    # Given a two-state chain leaving state 0 at rate a and state 1 at rate b (per second)
    a, b = 1 / 3_600, 1 / 600
    generator = np.array([[-a, a], [b, -b]])

    probabilities = expm(generator * t)

    # Then P(0 -> 1 over t) = a / (a + b) * (1 - exp(-(a + b) t)) and rows sum to 1
    expected = a / (a + b) * (1 - np.exp(-(a + b) * t))
    assert probabilities[0, 1] == pytest.approx(expected, rel=1e-10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-10)


def test_jumps_arrive_as_a_poisson_process() -> None:
    # Given no diffusion at all and one jump an hour on average
    jumpy = replace(btc_config(), regime_vols=(0.0, 0.0, 0.0), jump_intensity_per_year=(8_760.0,) * 3, jump_std=0.01)
    simulator = MarketSimulator(21, MarketConfig(underlyings=(jumpy,)))

    # When ten days pass in one-minute steps
    simulator.run(10 * 86_400, 60)

    # Then the price moves only at jumps, about 240 of them (Poisson: sd about 15.5)
    moves = np.abs(np.diff(np.log(simulator.history("BTC")["mid"].to_numpy()))) > 1e-12
    assert 240 - 62 < moves.sum() < 240 + 62


def test_volume_profile_is_a_u_over_the_utc_day() -> None:
    simulator = MarketSimulator(1)

    profile = simulator.volume_profile("BTC", 24)

    assert profile.shape == (24,)
    assert profile.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(profile[:12]) < 0)
    assert np.all(np.diff(profile[12:]) > 0)
    assert profile[0] > 2.0 * profile[11]
    np.testing.assert_allclose(profile, profile[::-1], rtol=1e-12)


def test_volume_profile_windows_may_straddle_midnight() -> None:
    simulator = MarketSimulator(1)
    start = datetime(2026, 1, 5, 23, 0, tzinfo=UTC)

    window = simulator.volume_profile("BTC", 4, start=start, horizon_seconds=2 * 3_600)
    whole_day = volume_profile(48, amplitude=btc_config().volume_profile_amplitude)

    assert window.sum() == pytest.approx(1.0, abs=1e-12)
    # 23:00-01:00 is symmetric about midnight, the U's peak
    np.testing.assert_allclose(window, window[::-1], rtol=1e-12)
    assert window[1] > window[0]
    expected = np.concatenate([whole_day[-2:], whole_day[:2]])
    np.testing.assert_allclose(window, expected / expected.sum(), rtol=1e-12)


def test_simulated_volume_follows_the_profile() -> None:
    simulator = MarketSimulator(4)
    simulator.run(10 * 86_400, 300)
    history = simulator.history("BTC").iloc[1:]

    by_hour = history.groupby(history["time"].dt.hour)["volume"].sum()

    edges = by_hour.loc[[0, 1, 22, 23]].mean()
    noon = by_hour.loc[[10, 11, 12, 13]].mean()
    assert edges > 1.5 * noon


def test_history_has_one_row_per_step_in_utc() -> None:
    start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    simulator = MarketSimulator(2, start=start)

    simulator.run(600, 60)

    history = simulator.history("ETH")
    assert {"time", "mid", "bid", "ask", "volume"} <= set(history.columns)
    assert len(history) == 11
    assert history["time"].iloc[0] == pd.Timestamp(start)
    assert history["time"].iloc[-1] == pd.Timestamp(start + timedelta(minutes=10))
    assert str(history["time"].dt.tz) == "UTC"
    assert simulator.now == start + timedelta(minutes=10)
    assert simulator.book("ETH").volume == pytest.approx(history["volume"].sum())


def test_defaults_start_near_the_configured_spots() -> None:
    simulator = MarketSimulator(0)

    btc, eth = simulator.book("BTC"), simulator.book("ETH")

    assert btc.mid == pytest.approx(100_000.0)
    assert eth.mid == pytest.approx(3_500.0)
    assert btc.bid < btc.mid < btc.ask
    assert btc.bid_size > 0
    assert btc.ask_size > 0
    assert 0 < btc.dealer_appetite <= 1


def test_perpetual_is_spot_plus_a_small_funding_basis() -> None:
    simulator = MarketSimulator(6)
    bases = []
    for _ in range(24 * 12):
        simulator.step(300)
        perp = simulator.perpetual("BTC")
        assert perp.mark == pytest.approx(perp.index * (1 + perp.basis), rel=1e-12)
        assert perp.index == pytest.approx(simulator.book("BTC").mid, rel=1e-12)
        assert perp.bid < perp.mark < perp.ask
        bases.append(perp.basis)

    assert np.max(np.abs(bases)) < 0.005
    assert np.std(bases) > 0
    assert isinstance(perp.basis, float)


@pytest.mark.parametrize(
    "call",
    [
        lambda: MarketSimulator(0, start=datetime(2026, 1, 1)),  # noqa: DTZ001 - naive on purpose
        lambda: MarketSimulator(0).step(0),
        lambda: MarketSimulator(0).book("DOGE"),
        lambda: MarketConfig(underlyings=(btc_config(), btc_config())),
        lambda: replace(btc_config(), regime_vols=(0.4, 0.6)),
    ],
)
def test_bad_arguments_are_refused(call: object) -> None:
    with pytest.raises((ValueError, KeyError)):
        call()  # type: ignore[operator]


def test_history_is_bounded_or_off_on_request() -> None:
    bounded = MarketSimulator(1, MarketConfig(history_limit=100))
    silent = MarketSimulator(1, MarketConfig(record_history=False))

    for simulator in (bounded, silent):
        simulator.run(500, 1)

    history = bounded.history("BTC")
    assert len(history) == 100
    assert history["time"].iloc[-1] == pd.Timestamp(bounded.now)
    assert silent.history("BTC").empty
    assert silent.book("BTC") == bounded.book("BTC")
