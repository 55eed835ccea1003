"""The market-data checks and the health state, each with worked figures, then replays of the simulator's scenarios.

Pure: no database. The clock is the simulated time of the replay (a step of ``dt_s`` per published round).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from risk.market_health import (
    MAD_TO_SIGMA,
    Check,
    FeedMonitor,
    Finding,
    Health,
    HealthThresholds,
    Severity,
    SymbolHealth,
    Transition,
    robust_volatility,
)
from sim.market import feed_sign, scenario_run

KEY = b"test-feed-key"
T0 = datetime(2026, 1, 5, tzinfo=UTC)
# The feeds' own logic as it was before hysteresis: no failure penalty, no minimum time in a state, and no fast-move
# band (the other market checks need five minutes of history these short tests never build).
DATA_ONLY = HealthThresholds(damping_half_life_s=0.0, min_state_s=0.0, fast_move_bps=1e6, fast_move_clear_bps=1e6)


class Feeds:
    """Signed messages built by hand, with one sequence number per feed as the real publisher keeps."""

    def __init__(self) -> None:
        self.seq = {"A": 0, "B": 0}

    def message(self, feed: str, t: float, bid: float, ask: float, *, symbol: str = "BTC", **extra: Any) -> dict:
        self.seq[feed] += 1
        body = {
            "feed": feed,
            "seq": self.seq[feed],
            "symbol": symbol,
            "ts": (T0 + timedelta(seconds=t)).isoformat(),
            "bid": bid,
            "ask": ask,
            "bid_size": 1.0,
            "ask_size": 1.0,
            "mid": (bid + ask) / 2,
            "last": bid,
        }
        body.update(extra)
        return feed_sign(body, KEY)


def at(t: float) -> datetime:
    return T0 + timedelta(seconds=t)


def calm(monitor: FeedMonitor, feeds: Feeds, *, steps: int = 6, feed_ids: tuple[str, ...] = ("A", "B")) -> float:
    """``steps`` one-second rounds of a calm market around 100 (the mid alternates 100.00 / 100.02, so that
    prices change and nothing is stale); returns the time of the last round."""
    for step in range(steps):
        mid = 100.0 if step % 2 == 0 else 100.02
        for feed in feed_ids:
            monitor.observe(feeds.message(feed, step, mid - 0.01, mid + 0.01), now=at(step))
    return float(steps - 1)


def of(findings: tuple[Finding, ...], check: Check) -> list[Finding]:
    return [finding for finding in findings if finding.check == check]


# ------------------------------------------------------------------------------------------------ worked checks
def test_robust_volatility_is_the_scaled_median_absolute_deviation_of_returns() -> None:
    # given log prices whose returns are +0.001, -0.001, +0.001, -0.001 (median 0, every |deviation| 0.001)
    logs = [0.0, 0.001, 0.0, 0.001, 0.0]

    # then the robust sigma is 1.4826 × 0.001, and a single wild return does not move it
    assert robust_volatility(logs) == pytest.approx(MAD_TO_SIGMA * 0.001)
    assert robust_volatility([*logs, 0.5, 0.0]) == pytest.approx(MAD_TO_SIGMA * 0.001)
    assert robust_volatility([0.0, 0.1]) == 0.0


def test_a_tampered_message_is_discarded_and_named() -> None:
    # given a signed quote whose bid is changed after signing
    monitor, feeds = FeedMonitor(KEY), Feeds()
    message = feeds.message("A", 0, 99.99, 100.01)
    message["bid"] = 90.0

    # when it is observed
    observation = monitor.observe(message, now=at(0))

    # then it is refused on integrity alone, nothing is learnt from it
    (finding,) = observation.findings
    assert (finding.check, finding.symbol, finding.feed, finding.severity) == (Check.HMAC, "BTC", "A", Severity.ERROR)
    assert finding.figures == {"seq": 1}
    assert not observation.accepted
    assert monitor.health("BTC") is None


def test_a_message_signed_with_another_key_is_discarded() -> None:
    monitor = FeedMonitor(KEY)
    forged = feed_sign({**Feeds().message("A", 0, 99.99, 100.01), "hmac": ""}, b"another-key")

    assert of(monitor.observe(forged, now=at(0)).findings, Check.HMAC)


def test_a_malformed_but_signed_message_is_discarded() -> None:
    monitor, feeds = FeedMonitor(KEY), Feeds()

    observation = monitor.observe(feeds.message("A", 0, 99.99, 100.01, mid="n/a"), now=at(0))

    (finding,) = observation.findings
    assert finding.check == Check.MALFORMED
    assert "bad mid 'n/a'" in finding.message
    assert not observation.accepted


def test_a_sequence_gap_is_reported_and_a_duplicate_discarded() -> None:
    # given feed A at seq 1
    monitor, feeds = FeedMonitor(KEY), Feeds()
    monitor.observe(feeds.message("A", 0, 99.99, 100.01), now=at(0))

    # when seq 4 arrives (2 and 3 lost), then seq 4 again
    feeds.seq["A"] = 3
    fourth = feeds.message("A", 1, 100.00, 100.02)
    gap = monitor.observe(fourth, now=at(1))
    again = monitor.observe(fourth, now=at(1))

    # then the gap is counted and the fresh message used; the replay is discarded
    (finding,) = of(gap.findings, Check.SEQUENCE_GAP)
    assert finding.figures == {"seq": 4, "last_seq": 1, "missing": 2}
    assert finding.severity == Severity.WARNING
    assert gap.accepted
    (duplicate,) = of(again.findings, Check.SEQUENCE_DUPLICATE)
    assert duplicate.figures == {"seq": 4, "last_seq": 4}
    assert not again.accepted


def test_a_crossed_book_on_one_feed_degrades_to_the_other() -> None:
    # given a calm market on both feeds
    monitor, feeds = FeedMonitor(KEY), Feeds()
    t = calm(monitor, feeds) + 1

    # when A is fine and B shows bid 100.05 over ask 99.95
    monitor.observe(feeds.message("A", t, 99.99, 100.01), now=at(t))
    observation = monitor.observe(feeds.message("B", t, 100.05, 99.95), now=at(t))

    # then B's book is rejected with its figures and the validated price is A's mid
    (crossed,) = of(observation.findings, Check.CROSSED)
    assert (crossed.feed, crossed.figures["bid"], crossed.figures["ask"]) == ("B", 100.05, 99.95)
    assert crossed.figures["spread_bps"] == pytest.approx(-10.0)
    (transition,) = observation.transitions
    assert (transition.previous, transition.current.state) == (Health.HEALTHY, Health.DEGRADED)
    assert transition.current.price == pytest.approx(100.0)
    assert transition.current.source_feed == "A"
    assert transition.current.reasons == (crossed,)


def test_a_locked_book_is_reported_and_rejected_only_when_configured() -> None:
    monitor, feeds = FeedMonitor(KEY), Feeds()
    strict = FeedMonitor(KEY, thresholds=HealthThresholds(reject_locked=True))

    lenient = monitor.observe(feeds.message("A", 0, 100.0, 100.0), now=at(0))
    feeds.seq["A"] = 0
    refused = strict.observe(feeds.message("A", 0, 100.0, 100.0), now=at(0))

    assert [f.severity for f in of(lenient.findings, Check.LOCKED)] == [Severity.WARNING]
    assert lenient.accepted
    assert [f.severity for f in of(refused.findings, Check.LOCKED)] == [Severity.ERROR]
    assert not refused.accepted


def test_prices_unchanged_while_timestamps_advance_go_stale_at_the_threshold() -> None:
    # given a calm market, then feed A repeating its last quote every second (5 s threshold)
    monitor, feeds = FeedMonitor(KEY), Feeds()
    t = calm(monitor, feeds)
    results = []
    for step in range(1, 6):
        monitor.observe(feeds.message("B", t + step, 100.0 + step / 100, 100.02 + step / 100), now=at(t + step))
        # exactly the calm market's last quote (100.02 ∓ 0.01, computed as it was)
        results.append(monitor.observe(feeds.message("A", t + step, 100.02 - 0.01, 100.02 + 0.01), now=at(t + step)))

    # then A is fresh for 4 s and stale at 5 s unchanged, and the market is degraded to B
    assert all(not of(r.findings, Check.STALE) for r in results[:4])
    (stale,) = of(results[4].findings, Check.STALE)
    assert stale.figures == {"unchanged_s": 5.0, "frozen_s": 0.0, "threshold_s": 5.0}
    health = monitor.health("BTC")
    assert (health.state, health.source_feed) == (Health.DEGRADED, "B")


def test_frozen_timestamps_go_stale_on_the_monitors_clock() -> None:
    # given both feeds publishing moving prices under a timestamp stuck at t
    monitor, feeds = FeedMonitor(KEY), Feeds()
    t = calm(monitor, feeds) + 1
    last = None
    for wait in range(6):
        for feed in ("A", "B"):
            last = monitor.observe(feeds.message(feed, t, 100.0 + wait / 100, 100.02 + wait / 100), now=at(t + wait))

    # then after 5 s of the monitor's clock both feeds are stale: no trustworthy price
    (stale,) = of(last.findings, Check.STALE)
    assert stale.figures["frozen_s"] == 5.0
    health = monitor.health("BTC")
    assert (health.state, health.price) == (Health.HALTED, None)


def test_silence_is_staleness_too() -> None:
    # given a calm market, then nothing at all
    monitor, feeds = FeedMonitor(KEY), Feeds()
    t = calm(monitor, feeds)

    # when the monitor ticks 4.9 s and 5 s later
    before = monitor.tick(now=at(t + 4.9))
    after = monitor.tick(now=at(t + 5))

    # then both feeds are stale at the threshold and the underlying is halted
    assert not before.findings
    assert sorted((f.feed, f.figures["silent_s"]) for f in after.findings) == [("A", 5.0), ("B", 5.0)]
    (transition,) = after.transitions
    assert (transition.previous, transition.current.state) == (Health.HEALTHY, Health.HALTED)


def test_a_print_far_from_the_other_feed_and_its_own_history_is_an_outlier() -> None:
    # given a calm market around 100 on both feeds
    monitor, feeds = FeedMonitor(KEY), Feeds()
    t = calm(monitor, feeds) + 1

    # when A prints 100.01 and B 102.01 at the same instant
    monitor.observe(feeds.message("A", t, 100.00, 100.02), now=at(t))
    observation = monitor.observe(feeds.message("B", t, 102.00, 102.02), now=at(t))

    # then B is the outlier: 198 bps from A (threshold 25) and a 197 bps jump from its median (band 25)
    (outlier,) = of(observation.findings, Check.OUTLIER)
    assert (outlier.feed, outlier.severity) == ("B", Severity.ERROR)
    assert outlier.figures["divergence_bps"] == pytest.approx(abs(102.01 - 100.01) / 101.01 * 1e4)
    assert outlier.figures["jump_bps"] == pytest.approx(math.log(102.01 / 100.02) * 1e4)  # vs the median 100.02
    assert outlier.figures["band_bps"] == 25.0
    health = monitor.health("BTC")
    assert (health.state, health.price, health.source_feed) == (Health.DEGRADED, pytest.approx(100.01), "A")


def test_feeds_that_disagree_with_no_jump_to_blame_leave_no_trustworthy_price() -> None:
    # given the first quotes of the day 30 bps apart (no history tells which is right)
    monitor, feeds = FeedMonitor(KEY), Feeds()
    monitor.observe(feeds.message("A", 0, 99.99, 100.01), now=at(0))
    observation = monitor.observe(feeds.message("B", 0, 100.29, 100.31), now=at(0))

    # then the divergence is named with both feeds and the market is halted
    (divergence,) = of(observation.findings, Check.DIVERGENCE)
    assert divergence.feed == "A/B"
    assert divergence.figures["divergence_bps"] == pytest.approx(0.30 / 100.15 * 1e4)
    assert divergence.figures["threshold_bps"] == 25.0
    assert monitor.health("BTC").state == Health.HALTED


@pytest.mark.parametrize("tolerance_s", [0.25, 1.0])
def test_a_jump_both_feeds_show_is_the_market_and_a_fast_one_halts(tolerance_s: float) -> None:
    # given a calm market around 100 (with a pairing tolerance of 1 s, B's quote of the second before is a
    # possible witness for A's jump: being older, its disagreement must not condemn A)
    monitor, feeds = FeedMonitor(KEY, thresholds=HealthThresholds(pair_tolerance_s=tolerance_s)), Feeds()
    t = calm(monitor, feeds) + 1

    # when both feeds print 97 at the same instant (a 3 % fall in one second)
    first = monitor.observe(feeds.message("A", t, 96.99, 97.01), now=at(t))
    second = monitor.observe(feeds.message("B", t, 96.99, 97.01), now=at(t))

    # then A's jump is only suspect until B confirms it: no feed is blamed and the price follows
    (suspect,) = of(first.findings, Check.OUTLIER)
    assert suspect.severity == Severity.WARNING
    assert suspect.figures["jump_bps"] == pytest.approx(-math.log(97 / 100.02) * 1e4, rel=1e-2)
    assert not first.transitions
    assert not of(second.findings, Check.OUTLIER)
    health = monitor.health("BTC")
    assert (health.price, health.source_feed, health.trusted_feeds) == (97.0, "A", ("A", "B"))
    # and the move itself, 305 bps within the 60 s band of 200 bps, halts the market (the breaker's trip)
    (fast,) = second.findings
    assert (fast.check, fast.severity) == (Check.FAST_MOVE, Severity.ERROR)
    assert fast.figures["move_bps"] == pytest.approx(math.log(100.02 / 97) * 1e4)
    assert fast.figures["threshold_bps"] == 200.0
    (transition,) = second.transitions
    assert (transition.previous, transition.current.state) == (Health.HEALTHY, Health.HALTED)
    assert transition.current.checks == ("fast_move",)


def test_a_jump_nobody_can_witness_needs_three_consistent_prints() -> None:
    # given feed B gone (crossed) and A alone at 100
    monitor, feeds = FeedMonitor(KEY, thresholds=DATA_ONLY), Feeds()
    t = calm(monitor, feeds) + 1
    monitor.observe(feeds.message("A", t, 99.99, 100.01), now=at(t))
    monitor.observe(feeds.message("B", t, 100.05, 99.95), now=at(t))
    assert monitor.health("BTC").state == Health.DEGRADED

    # when A alone jumps to 97 and stays there, while B keeps crossing
    states = []
    for step in range(1, 4):
        monitor.observe(feeds.message("A", t + step, 96.99 + step / 100, 97.01 + step / 100), now=at(t + step))
        monitor.observe(feeds.message("B", t + step, 100.05, 99.95), now=at(t + step))
        health = monitor.health("BTC")
        states.append((health.state, health.price))

    # then no price until the third consistent print, which becomes the new level
    assert states == [(Health.HALTED, None), (Health.HALTED, None), (Health.DEGRADED, pytest.approx(97.03))]


def test_a_lone_print_that_reverts_was_a_bad_one() -> None:
    monitor, feeds = FeedMonitor(KEY), Feeds()
    t = calm(monitor, feeds, feed_ids=("A",), steps=8) + 1
    monitor.tick(now=at(t))

    jump = monitor.observe(feeds.message("A", t, 94.99, 95.01), now=at(t))
    back = monitor.observe(feeds.message("A", t + 1, 99.99, 100.01), now=at(t + 1))

    assert [f.severity for f in of(jump.findings, Check.OUTLIER)] == [Severity.WARNING]
    (reverted,) = of(back.findings, Check.OUTLIER)
    assert reverted.severity == Severity.ERROR
    assert reverted.figures["prints"] == 1
    assert monitor.health("BTC").price == 100.0


def test_a_feed_that_failed_is_trusted_again_after_five_clean_messages() -> None:
    # given B crossed once (no damping: the clean messages alone decide)
    monitor, feeds = FeedMonitor(KEY, thresholds=DATA_ONLY), Feeds()
    t = calm(monitor, feeds) + 1
    monitor.observe(feeds.message("A", t, 99.99, 100.01), now=at(t))
    monitor.observe(feeds.message("B", t, 100.05, 99.95), now=at(t))

    # when both feeds are clean again
    states = []
    for step in range(1, 7):
        mid = 100.0 + step / 100
        for feed in ("A", "B"):
            monitor.observe(feeds.message(feed, t + step, mid - 0.01, mid + 0.01), now=at(t + step))
        states.append(monitor.health("BTC").state)

    # then B stays out for four clean messages and is back with the fifth
    assert states == [Health.DEGRADED] * 4 + [Health.HEALTHY] * 2


def clean_rounds(monitor: FeedMonitor, feeds: Feeds, start: float, seconds: int) -> list[tuple[float, Health]]:
    """One-second rounds of a calm market on both feeds from ``start``: (time, BTC's state) after each."""
    states = []
    for step in range(1, seconds + 1):
        mid = 100.0 if step % 2 else 100.02
        for feed in ("A", "B"):
            monitor.observe(feeds.message(feed, start + step, mid - 0.01, mid + 0.01), now=at(start + step))
        states.append((start + step, monitor.health("BTC").state))
    return states


def test_one_bad_print_keeps_a_feed_out_for_two_half_lives() -> None:
    # given the desk's damping (a failure adds 1 to the penalty, halved every 30 s, trusted again at 0.25)
    monitor, feeds = FeedMonitor(KEY), Feeds()
    t = calm(monitor, feeds) + 1
    monitor.observe(feeds.message("A", t, 99.99, 100.01), now=at(t))
    monitor.observe(feeds.message("B", t, 100.05, 99.95), now=at(t))

    # when both feeds are clean for 70 s
    states = clean_rounds(monitor, feeds, t, 70)

    # then B is out for 59 s (its penalty 1 → 0.25 takes 60 s) and back at the 60th
    assert {state for s, state in states if s < t + 60} == {Health.DEGRADED}
    assert {state for s, state in states if s >= t + 60} == {Health.HEALTHY}


def test_an_intermittent_feed_stays_out_instead_of_flapping() -> None:
    # given B crossed every third second for ten minutes (two clean messages between failures)
    monitor, feeds = FeedMonitor(KEY), Feeds()
    t = calm(monitor, feeds) + 1
    transitions = []
    for step in range(600):
        mid = 100.0 if step % 2 else 100.02
        a = feeds.message("A", t + step, mid - 0.01, mid + 0.01)
        b = feeds.message("B", t + step, *((mid + 0.05, mid - 0.05) if step % 3 == 0 else (mid - 0.01, mid + 0.01)))
        transitions += monitor.observe_many([a, b], now=at(t + step)).transitions
    # and then clean
    after = clean_rounds(monitor, feeds, t + 600, 200)

    # then one degradation for the whole episode, not one per clean streak (the old rule: five clean messages)
    assert [(tr.previous, tr.current.state) for tr in transitions] == [(Health.HEALTHY, Health.DEGRADED)]
    assert transitions[0].current.checks == ("crossed",)
    # and B comes back once its capped penalty (8) has decayed to 0.25: five half-lives, 150 s after its last failure
    back = next(s for s, state in after if state == Health.HEALTHY)
    assert back - (t + 597) == pytest.approx(150.0)


def test_a_better_state_waits_out_the_minimum_time() -> None:
    # given B crossed once, without damping, a 30 s minimum time in a state
    thresholds = HealthThresholds(damping_half_life_s=0.0)
    monitor, feeds = FeedMonitor(KEY, thresholds=thresholds), Feeds()
    t = calm(monitor, feeds) + 1
    monitor.observe_many([feeds.message("A", t, 99.99, 100.01), feeds.message("B", t, 100.05, 99.95)], now=at(t))

    # when both are clean again
    states = clean_rounds(monitor, feeds, t, 35)

    # then B is trusted again after five messages, but the state holds degraded until 30 s after it began
    assert monitor.health("BTC").trusted_feeds == ("A", "B")
    assert {state for s, state in states if s < t + 30} == {Health.DEGRADED}
    assert {state for s, state in states if s >= t + 30} == {Health.HEALTHY}


def test_thresholds_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="stale_after_s"):
        HealthThresholds(stale_after_s=-1)
    with pytest.raises(ValueError, match="confirm_messages"):
        HealthThresholds(confirm_messages=0)


# ------------------------------------------------------------------------------------------------ scenario replays
@dataclass
class Replay:
    """Every message of a scenario through one monitor, and what came out of it."""

    messages: list[dict]
    transitions: list[tuple[float, Transition]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    # (elapsed s, message, the BTC health after it)
    trace: list[tuple[float, dict, SymbolHealth | None]] = field(default_factory=list)
    monitor: FeedMonitor | None = None
    episode_start_s: float = 0.0


def rounds(messages: list[dict], per_round: int = 4) -> Iterator[tuple[int, dict]]:
    for index, message in enumerate(messages):
        yield index // per_round + 1, message


def replay(name: str, *, seed: int, dt_s: float, thresholds: HealthThresholds | None = None, **params: Any) -> Replay:
    """Replay ``name``: the monitor's clock advances ``dt_s`` per round of 4 messages (2 underlyings × 2 feeds),
    which is the publisher's clock even when a stale feed freezes its timestamps."""
    warmup_s = 600.0
    run = scenario_run(name, seed=seed, feed_key=KEY, dt_s=dt_s, warmup_s=warmup_s, **params)
    start = datetime.fromisoformat(run.messages[0]["ts"]) - timedelta(seconds=dt_s)
    monitor = FeedMonitor(KEY, thresholds=thresholds)
    result = Replay(messages=run.messages, monitor=monitor, episode_start_s=warmup_s)
    for step, message in rounds(run.messages):
        elapsed = step * dt_s
        observation = monitor.observe(message, now=start + timedelta(seconds=elapsed))
        result.findings.extend(observation.findings)
        result.transitions.extend((elapsed, transition) for transition in observation.transitions)
        result.trace.append((elapsed, message, monitor.health("BTC")))
    return result


# Ten-second rounds: a threshold of three rounds, so that the cadence itself is never mistaken for silence.
TEN_SECOND_ROUNDS = HealthThresholds(stale_after_s=30.0)


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_a_corrupt_feed_b_degrades_to_feed_a_and_never_halts(seed: int) -> None:
    # given feed B publishing outliers (±20 %) and crossed books half of the time for 10 minutes
    result = replay("corrupt-feed", seed=seed, dt_s=10.0, thresholds=TEN_SECOND_ROUNDS)

    # then BTC goes degraded on B's first bad message and is never halted; ETH never leaves healthy
    btc = [(t, tr.previous, tr.current.state) for t, tr in result.transitions if tr.current.symbol == "BTC"]
    assert btc[0] == (10.0, None, Health.HEALTHY)
    assert btc[1][0] > result.episode_start_s
    assert btc[1][2] == Health.DEGRADED
    assert all(state != Health.HALTED for _, _, state in btc)
    assert [tr.current.state for _, tr in result.transitions if tr.current.symbol == "ETH"] == [Health.HEALTHY]
    # every finding names feed B, with an error severity, as an outlier or a crossed book
    assert {(f.symbol, f.feed, f.check, f.severity) for f in result.findings} == {
        ("BTC", "B", Check.OUTLIER, Severity.ERROR),
        ("BTC", "B", Check.CROSSED, Severity.ERROR),
    }
    outliers = [f for f in result.findings if f.check == Check.OUTLIER]
    assert min(f.figures["divergence_bps"] for f in outliers) > 1_500  # a 20 % print is ≈ 2 000 bps off
    # and after every BTC message the validated price is feed A's latest mid
    last_a_mid = None
    for _, message, health in result.trace:
        if message["symbol"] == "BTC" and message["feed"] == "A":
            last_a_mid = message["mid"]
        if message["symbol"] == "BTC" and health is not None:
            assert (health.price, health.source_feed) == (last_a_mid, "A")


@pytest.mark.parametrize("clock", ["advance", "freeze"])
def test_both_feeds_stale_halts_within_the_threshold(clock: str) -> None:
    # given one-second rounds; at 600 s both BTC feeds stop updating (timestamps advancing or frozen)
    thresholds = HealthThresholds()
    result = replay("stale-feed", seed=7, dt_s=1.0, clock=clock)

    # then BTC is halted at 605 s: 5 s after the last fresh price, the threshold; it stays halted; ETH is healthy
    halts = [
        (t, tr) for t, tr in result.transitions if tr.current.symbol == "BTC" and tr.current.state == Health.HALTED
    ]
    assert [t for t, _ in halts] == [result.episode_start_s + thresholds.stale_after_s]
    halted = halts[0][1].current
    assert halted.price is None
    assert result.monitor.health("BTC").state == Health.HALTED
    assert {f.feed for f in halted.reasons} == {"A", "B"}
    assert all(f.check == Check.STALE for f in halted.reasons)
    figure = "unchanged_s" if clock == "advance" else "frozen_s"
    assert all(f.figures[figure] == 5.0 for f in halted.reasons)
    assert result.monitor.health("ETH").state == Health.HEALTHY


def test_a_tampered_message_in_a_replay_is_discarded_and_changes_nothing() -> None:
    # given a calm replay (the spoofing scenario with orders of no size) and the same replay with one of feed A's BTC
    # messages altered after signing
    calm_run = scenario_run("spoofing", seed=7, feed_key=KEY, dt_s=1.0, warmup_s=30.0, duration_s=30.0, size=0.0)
    clean = calm_run.messages
    tampered = [dict(message) for message in clean]
    index = next(i for i, m in enumerate(tampered) if m["symbol"] == "BTC" and m["feed"] == "A" and m["seq"] > 40)
    tampered[index]["bid"] *= 1.1

    # when both go through a monitor
    outcomes = []
    for messages in (clean, tampered):
        monitor = FeedMonitor(KEY)
        findings = []
        for step, message in rounds(messages):
            findings.extend(monitor.observe(message, now=at(step)).findings)
        outcomes.append((findings, monitor.health("BTC")))

    # then the altered one is refused for its HMAC; its successor on feed A reads as a gap of one
    (clean_findings, clean_health), (tampered_findings, tampered_health) = outcomes
    assert clean_findings == []
    assert [(f.check, f.feed) for f in tampered_findings] == [(Check.HMAC, "A"), (Check.SEQUENCE_GAP, "A")]
    assert tampered_findings[0].figures == {"seq": tampered[index]["seq"]}
    assert tampered_findings[1].figures["missing"] == 1
    assert tampered_health.price == clean_health.price
    assert tampered_health.state == clean_health.state == Health.HEALTHY


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_a_flash_crash_on_both_feeds_is_a_real_move_that_halts_on_its_speed(seed: int) -> None:
    # given a 12 % fall in 3 minutes, seen identically on both feeds, in 10 s rounds (≈ 70 bps per round)
    result = replay("flash-crash", seed=seed, dt_s=10.0, thresholds=TEN_SECOND_ROUNDS)

    # then feed A's jumps are each suspect for an instant, confirmed by feed B's same print, never an error
    suspects = [f for f in result.findings if f.check == Check.OUTLIER]
    assert len(suspects) >= 10
    assert all(f.severity == Severity.WARNING and f.feed == "A" for f in suspects)
    assert max(f.figures["jump_bps"] for f in suspects) > 100
    # and no feed is ever distrusted: every finding beyond those is a market check
    assert {f.check for f in result.findings} - {Check.OUTLIER} <= {Check.FAST_MOVE, Check.VOLATILITY, Check.LIQUIDITY}
    # and BTC is halted by the fast move (200 bps within 60 s) at the third round of the fall; ETH never moves
    btc = [(t, tr) for t, tr in result.transitions if tr.current.symbol == "BTC" and tr.previous is not None]
    t_halt, halted = btc[0]
    assert (halted.previous, halted.current.state) == (Health.HEALTHY, Health.HALTED)
    assert "fast_move" in halted.current.checks
    assert t_halt == result.episode_start_s + 30.0
    assert [tr.current.state for _, tr in result.transitions if tr.current.symbol == "ETH"] == [Health.HEALTHY]
    # and the validated price followed the fall all the way down (a halt on a market check keeps the price)
    mids = [m["mid"] for m in result.messages if m["symbol"] == "BTC" and m["feed"] == "A"]
    prices = [h.price for _, m, h in result.trace if m["symbol"] == "BTC" and h is not None]
    assert min(prices) == min(mids) < 0.9 * mids[0]
    assert prices[-1] == mids[-1]


def test_the_same_bad_prints_on_one_feed_only_are_outliers() -> None:
    # given the flash crash's feed A moves copied onto a feed B that stays put: a bad print has no witness
    result = replay("flash-crash", seed=7, dt_s=10.0, thresholds=TEN_SECOND_ROUNDS, duration_s=60.0)
    monitor, feeds = FeedMonitor(KEY, thresholds=TEN_SECOND_ROUNDS), Feeds()
    last_b = None
    for _, message, _ in result.trace:
        if message["symbol"] != "BTC":
            continue
        t = (datetime.fromisoformat(message["ts"]) - T0).total_seconds()
        if message["feed"] == "B" and t > result.episode_start_s:
            # feed B, sane, repeats its last pre-crash mid jittered by a cent: A's fall is then A's alone
            bid, ask = last_b[0] + (t % 20) / 1000, last_b[1] + (t % 20) / 1000
        else:
            bid, ask = message["bid"], message["ask"]
        if message["feed"] == "B":
            last_b = (bid, ask) if t <= result.episode_start_s else last_b
        monitor.observe(feeds.message(message["feed"], t, bid, ask), now=at(t))

    # then A's first unconfirmed jump becomes an error outlier and the price stays B's
    health = monitor.health("BTC")
    assert health.state == Health.DEGRADED
    assert health.source_feed == "B"
    assert any(f.check == Check.OUTLIER and f.feed == "A" for f in health.reasons)


def test_replays_are_deterministic_by_seed() -> None:
    first = replay("corrupt-feed", seed=11, dt_s=10.0, thresholds=TEN_SECOND_ROUNDS)
    second = replay("corrupt-feed", seed=11, dt_s=10.0, thresholds=TEN_SECOND_ROUNDS)
    other = replay("corrupt-feed", seed=12, dt_s=10.0, thresholds=TEN_SECOND_ROUNDS)

    assert [f.as_dict() for f in first.findings] == [f.as_dict() for f in second.findings]
    assert [(t, tr.current.as_dict()) for t, tr in first.transitions] == [
        (t, tr.current.as_dict()) for t, tr in second.transitions
    ]
    assert [f.as_dict() for f in first.findings] != [f.as_dict() for f in other.findings]
