"""Named scenarios: what each one does to the market, and that each one replays exactly from its seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.market import SCENARIOS, MarketSimulator, scenario_run, scenario_start

SEVEN_DAYS = 7 / 365


def test_registry_holds_the_named_scenarios() -> None:
    assert set(SCENARIOS) == {
        "vol-spike",
        "flash-crash",
        "liquidity-withdrawal",
        "stale-feed",
        "corrupt-feed",
        "spoofing",
    }
    for name, scenario in SCENARIOS.items():
        assert scenario.episode.name == name
        assert scenario.description


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_vol_spike_reaches_180_percent_with_a_15_percent_fall_within_30_minutes(seed: int) -> None:
    # Given a normal market whose 7-day ATM implied vol is inside its 60-120 % range
    before: list[float] = []
    during: list[tuple[float, float]] = []

    def observe(simulator: MarketSimulator) -> None:
        sample = (simulator.book("BTC").mid, simulator.atm_vol("BTC", SEVEN_DAYS))
        (during if simulator.episodes else before).append(sample)

    # When the vol-spike scenario runs for its first 30 minutes (after 10 minutes of warm-up)
    scenario_run("vol-spike", seed=seed, warmup_s=600, dt_s=10, duration_s=1_800, on_step=observe)

    # Then implied vol leaves the range for at least 180 % and spot is down at least 15 %
    start_mid = before[-1][0]
    assert all(0.60 <= iv <= 1.20 for _, iv in before)
    assert max(iv for _, iv in during) >= 1.80
    assert during[-1][0] <= 0.85 * start_mid
    assert len(during) == 180


def test_flash_crash_drops_fast_and_mostly_recovers() -> None:
    run = scenario_run("flash-crash", seed=5, warmup_s=600, dt_s=5)
    history = run.simulator.history("BTC")
    start = history["mid"].iloc[120]
    first_five_minutes = history.iloc[120 : 120 + 61]

    trough = first_five_minutes["mid"].min()
    trough_row = first_five_minutes["mid"].idxmin()

    assert trough <= 0.90 * start
    assert history["mid"].iloc[-1] >= 0.95 * start
    assert history["mid"].iloc[-1] > trough * 1.05
    spread_bps = 1e4 * (history["ask"] - history["bid"]) / history["mid"]
    assert spread_bps.loc[trough_row] > 3 * spread_bps.iloc[:120].mean()
    assert history["bid_size"].loc[trough_row] < 0.5 * history["bid_size"].iloc[:120].mean()


def test_liquidity_withdrawal_empties_the_book_and_dealer_appetite() -> None:
    simulator = MarketSimulator(6)
    normal = simulator.book("ETH")
    episode = scenario_start(simulator, "liquidity-withdrawal", underlying="ETH")

    simulator.run(1_200, 10)
    withdrawn = simulator.book("ETH")
    simulator.run(episode.duration_s - 1_200 + 60, 10)
    restored = simulator.book("ETH")

    assert normal.bid_size > 0
    assert normal.dealer_appetite > 0.5
    assert withdrawn.bid_size == 0.0
    assert withdrawn.ask_size == 0.0
    assert withdrawn.dealer_appetite == 0.0
    assert withdrawn.spread_bps > 5 * normal.spread_bps
    assert restored.bid_size > 0
    assert restored.dealer_appetite > 0.5
    assert simulator.book("BTC").dealer_appetite > 0.5  # only the named underlying is hit


def test_spoofing_shows_large_bids_that_are_pulled() -> None:
    # Given one world with the spoofing scenario and its twin without it
    simulator, control = MarketSimulator(8), MarketSimulator(8)
    episode = scenario_start(simulator, "spoofing", underlying="BTC")
    extra = []

    # When both run through the episode second by second
    for _ in range(int(episode.duration_s)):
        simulator.step(1)
        control.step(1)
        extra.append(simulator.book("BTC").bid_size - control.book("BTC").bid_size)

    # Then large bids appear in bursts (five seconds on, ten off) and are pulled every time
    extra_a = np.array(extra)
    shown = extra_a > 1.0
    assert 0.25 < shown.mean() < 0.40
    np.testing.assert_allclose(extra_a[shown], episode.size)
    assert episode.size > 20 * control.history("BTC")["bid_size"].mean()
    assert np.count_nonzero(np.diff(shown.astype(int)) == -1) >= 15
    # and prices never move because of them
    pd.testing.assert_series_equal(simulator.history("BTC")["mid"], control.history("BTC")["mid"])
    for world in (simulator, control):
        world.run(60, 10)
    assert simulator.book("BTC").bid_size == pytest.approx(control.book("BTC").bid_size)


def test_spoof_orders_never_fill() -> None:
    simulator, control = MarketSimulator(8), MarketSimulator(8)
    scenario_start(simulator, "spoofing", underlying="BTC")
    simulator.step(2)
    control.step(2)
    assert simulator.book("BTC").bid_size > control.book("BTC").bid_size + 100

    # When the desk sells into the burst
    spoofed_fill = simulator.execute("BTC", "sell", 20.0)
    plain_fill = control.execute("BTC", "sell", 20.0)

    # Then it gets exactly the price it would without the spoof, and the spoof size is still shown
    assert spoofed_fill.average_price == pytest.approx(plain_fill.average_price, rel=1e-12)
    assert simulator.book("BTC").bid_size - control.book("BTC").bid_size == pytest.approx(200.0)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_replays_exactly_from_its_seed(name: str) -> None:
    first = scenario_run(name, seed=31, warmup_s=300, duration_s=900, dt_s=15, feed_key=b"k")
    second = scenario_run(name, seed=31, warmup_s=300, duration_s=900, dt_s=15, feed_key=b"k")
    other = scenario_run(name, seed=32, warmup_s=300, duration_s=900, dt_s=15, feed_key=b"k")

    for symbol in ("BTC", "ETH"):
        pd.testing.assert_frame_equal(first.simulator.history(symbol), second.simulator.history(symbol))
    assert first.messages == second.messages
    assert first.episode == second.episode
    assert not first.simulator.history("BTC")["mid"].equals(other.simulator.history("BTC")["mid"])


def test_parameters_override_and_unknown_names_are_refused() -> None:
    deeper = scenario_run("vol-spike", seed=0, duration_s=1_800, fall=0.30)
    history = deeper.simulator.history("BTC")

    assert history["mid"].iloc[-1] < 0.75 * history["mid"].iloc[60]
    with pytest.raises(KeyError, match="known"):
        scenario_run("meteor-strike", seed=0)
    with pytest.raises(TypeError):
        scenario_run("vol-spike", seed=0, not_a_field=1)
