"""The market checks of the market-health monitor (fast move, volatility, liquidity, spoofing), each on a market built
by hand with worked figures, and the whole round judged at once.

Pure: no database. Two feeds publish the same book unless a test says otherwise; the monitor's clock is the round's
time.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from risk.market_health import Check, FeedMonitor, Finding, Health, HealthThresholds, Severity
from sim.market import feed_sign

KEY = b"test-feed-key"
T0 = datetime(2026, 1, 5, tzinfo=UTC)
# A per-round return of 2 bps: 1.4826 × 2e-4 per 10 s, annualized.
CALM_BPS = 2.0
PER_10S_YEAR = math.sqrt(365 * 86_400 / 10)


class Market:
    """One underlying on feeds A and B, one round every ``dt_s`` seconds, every field chosen by the test."""

    def __init__(self, monitor: FeedMonitor, *, symbol: str = "BTC", dt_s: float = 10.0) -> None:
        self.monitor, self.symbol, self.dt_s = monitor, symbol, dt_s
        self.seq = {"A": 0, "B": 0}
        self.t = 0.0
        self.mid = 100.0
        self.sign = 1.0
        self.findings: list[Finding] = []
        self.transitions: list[tuple[float, Any]] = []

    def message(self, feed: str, *, half_spread_bps: float, size: float, book: dict[str, float] | None) -> dict:
        self.seq[feed] += 1
        half = self.mid * half_spread_bps / 1e4
        body = {
            "feed": feed,
            "seq": self.seq[feed],
            "symbol": self.symbol,
            "ts": (T0 + timedelta(seconds=self.t)).isoformat(),
            "bid": self.mid - half,
            "ask": self.mid + half,
            "bid_size": size,
            "ask_size": size,
            "mid": self.mid,
            "last": self.mid,
        }
        return feed_sign(body | (book or {}), KEY)

    def round(
        self,
        *,
        move_bps: float = CALM_BPS,
        half_spread_bps: float = 1.0,
        size: float = 5.0,
        books: dict[str, dict[str, float] | None] | None = None,
    ) -> None:
        """Move the mid by ``move_bps`` in alternating directions (a zig-zag: volatility without a trend), publish
        both feeds, and let the monitor judge the round."""
        self.t += self.dt_s
        self.mid *= math.exp(self.sign * move_bps / 1e4)
        self.sign = -self.sign
        books = books or {"A": None, "B": None}
        messages = [self.message(feed, half_spread_bps=half_spread_bps, size=size, book=books[feed]) for feed in books]
        observation = self.monitor.observe_many(messages, now=T0 + timedelta(seconds=self.t))
        self.findings += observation.findings
        self.transitions += [(self.t, transition) for transition in observation.transitions]

    def state(self) -> Health:
        health = self.monitor.health(self.symbol)
        assert health is not None
        return health.state

    def fired(self, check: Check) -> list[Finding]:
        return [finding for finding in self.findings if finding.check == check]


def warmed(dt_s: float = 10.0, *, thresholds: HealthThresholds | None = None, rounds: int = 60) -> Market:
    """A calm market (2 bps zig-zag, 2 bps spread, 5 coins a side) for ten minutes: the baseline the checks need."""
    market = Market(FeedMonitor(KEY, thresholds=thresholds), dt_s=dt_s)
    for _ in range(rounds):
        market.round()
    assert market.state() == Health.HEALTHY
    return market


# --------------------------------------------------------------------------------------------------- volatility
def test_volatility_fires_at_three_times_the_baseline_and_clears_below_two() -> None:
    # given ten minutes of 2 bps returns every 10 s: a volatility of 1.4826 × 2 bps per 10 s ≈ 52.7 % a year
    market = warmed()

    # when the returns quadruple to 8 bps
    for _ in range(6):
        market.round(move_bps=8.0)
    # then nothing while they are fewer than half of the last 120 s (12 returns)
    assert market.state() == Health.HEALTHY
    market.round(move_bps=8.0)

    # and at the seventh, the median return is 8 bps: 4× the baseline, degraded (the price is still good)
    (fired,) = market.fired(Check.VOLATILITY)
    assert (fired.severity, market.state()) == (Severity.WARNING, Health.DEGRADED)
    assert fired.figures["ratio"] == pytest.approx(4.0)
    assert fired.figures["baseline_volatility"] == pytest.approx(1.4826 * CALM_BPS / 1e4 * PER_10S_YEAR)
    assert fired.figures["volatility"] == pytest.approx(1.4826 * 8.0 / 1e4 * PER_10S_YEAR)
    assert market.monitor.health("BTC").price == pytest.approx(market.mid)

    # when calm returns come back: with six of twelve returns still at 8 bps the median is 5 bps (2.5×): it holds
    for _ in range(6):
        market.round()
    assert Check.VOLATILITY in market.monitor.health("BTC").checks
    # and at five of twelve the median is 2 bps (1×): it clears, and 30 s after it started the state is healthy
    market.round()
    assert market.monitor.health("BTC").checks == ()
    assert market.state() == Health.HEALTHY


def test_volatility_needs_five_minutes_of_baseline() -> None:
    # given only four minutes of calm market
    market = warmed(rounds=24)
    # when the returns quadruple for two minutes
    for _ in range(12):
        market.round(move_bps=8.0)
    # then the check has nothing to judge against yet
    assert market.fired(Check.VOLATILITY) == []
    assert market.state() == Health.HEALTHY


# --------------------------------------------------------------------------------------------------- fast move
def test_a_fast_move_halts_and_clears_below_half_the_band() -> None:
    # given a calm market, then a steady fall of 70 bps every 10 s
    market = warmed()
    for _ in range(2):
        market.sign = -1.0
        market.round(move_bps=70.0)
    assert market.state() == Health.HEALTHY

    # when a third fall makes 210 bps within 60 s (the band: 200 bps)
    market.sign = -1.0
    market.round(move_bps=70.0)

    # then the fast move halts the market, naming the move; the price is kept
    (fired,) = market.fired(Check.FAST_MOVE)
    assert (fired.severity, market.state()) == (Severity.ERROR, Health.HALTED)
    # (from the zig-zag's high 2 bps above the last calm mid, within the last 60 s)
    assert fired.figures["move_bps"] == pytest.approx(210.0 + CALM_BPS, abs=1e-3)
    assert fired.figures["seconds"] <= 60.0
    assert market.monitor.health("BTC").price == pytest.approx(market.mid)
    # and once the fall is more than 60 s old the check clears
    for _ in range(7):
        market.round(move_bps=0.5)
    assert Check.FAST_MOVE not in market.monitor.health("BTC").checks


# --------------------------------------------------------------------------------------------------- liquidity
def test_a_spread_three_times_the_usual_is_liquidity_withdrawn() -> None:
    # given a calm market with a 2 bps spread
    market = warmed()

    # when the spread triples (and a bit): the median of the last 30 s (three rounds) is 6.2 bps from the second
    # wide round on
    market.round(half_spread_bps=3.1)
    assert market.state() == Health.HEALTHY
    market.round(half_spread_bps=3.1)

    (fired,) = market.fired(Check.LIQUIDITY)
    assert market.state() == Health.DEGRADED
    assert fired.figures["spread_ratio"] == pytest.approx(3.1)
    assert fired.figures["usual_spread_bps"] == pytest.approx(2.0)
    # and a spread still 2.5× the usual keeps it (it clears below 2×), 1.5× clears it
    for _ in range(3):
        market.round(half_spread_bps=2.5)
    assert Check.LIQUIDITY in market.monitor.health("BTC").checks
    for _ in range(3):
        market.round(half_spread_bps=1.5)
    assert Check.LIQUIDITY not in market.monitor.health("BTC").checks


def test_a_best_level_a_fifth_of_the_usual_is_liquidity_withdrawn() -> None:
    market = warmed()
    for _ in range(2):
        market.round(size=1.0)
    (fired,) = market.fired(Check.LIQUIDITY)
    assert fired.figures["depth_ratio"] == pytest.approx(0.2)
    assert fired.figures["spread_ratio"] == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------------- spoofing
USUAL = 20.0


def book(bid: float = USUAL, ask: float = USUAL, *, bid_cancelled: float = 0.0, traded: float = 0.1) -> dict:
    return {
        "bid_depth": bid,
        "ask_depth": ask,
        "bid_added": 0.0,
        "bid_cancelled": bid_cancelled,
        "ask_added": 0.0,
        "ask_cancelled": 0.0,
        "traded": traded,
    }


SHOWN, PULLED = book(bid=USUAL + 200.0), book(bid_cancelled=200.0)


def spoof_rounds(market: Market, cycles: int, *, shown_b: Any, pulled_b: Any, ordinary_b: Any) -> None:
    """``cycles`` times: five seconds of A showing 200 more coins on the bid, one in which A's are cancelled, nine
    of an ordinary book on A; feed B publishes ``shown_b``, ``pulled_b`` and ``ordinary_b`` at the same moments."""
    for _ in range(cycles):
        for second in range(15):
            if second < 5:
                market.round(books={"A": SHOWN, "B": shown_b})
            elif second == 5:
                market.round(books={"A": PULLED, "B": pulled_b})
            else:
                market.round(books={"A": book(), "B": ordinary_b})


def booked(rounds: int = 40) -> Market:
    market = Market(FeedMonitor(KEY), dt_s=1.0)
    for _ in range(rounds):
        market.round(books={"A": book(), "B": book()})
    return market


def test_spoofing_both_feeds_show_is_the_markets() -> None:
    # given both feeds with 20 coins a side
    market = booked()

    # when 200 coins appear on the bid of both for 5 s and are cancelled, once
    spoof_rounds(market, 1, shown_b=SHOWN, pulled_b=PULLED, ordinary_b=book())
    # then one pulled order is no pattern yet
    assert market.state() == Health.HEALTHY

    # and at the second, the pattern on A is confirmed by B's own orders at the same moments: degraded
    spoof_rounds(market, 1, shown_b=SHOWN, pulled_b=PULLED, ordinary_b=book())
    (fired,) = market.fired(Check.SPOOFING)
    assert (fired.feed, fired.severity, market.state()) == ("A/B", Severity.WARNING, Health.DEGRADED)
    assert fired.figures["side"] == "bid"
    assert fired.figures["orders"] == 2
    assert fired.figures["size_multiple"] == pytest.approx(11.0)
    assert fired.figures["imbalance"] == pytest.approx(200.0 / 240.0)
    assert fired.figures["cancelled_fraction"] == pytest.approx(1.0)
    assert fired.figures["confirmed_by"] == "B"
    assert "spoofing on the bid" in fired.message
    # and it fired 21 s after the first order was shown: the second order's cancellation
    t_fired = next(t for t, tr in market.transitions if tr.previous == Health.HEALTHY)
    assert t_fired == 40.0 + 21.0


def test_spoofing_contradicted_by_the_other_feed_is_reported_not_acted_on() -> None:
    # given A alone showing the large bids, B's book ordinary throughout
    market = booked()
    spoof_rounds(market, 4, shown_b=book(), pulled_b=book(), ordinary_b=book())

    # then the state never leaves healthy, and A's phantom orders are named, contradicted by B
    assert [tr.previous for _, tr in market.transitions] == [None]
    assert market.state() == Health.HEALTHY
    contradicted = market.fired(Check.SPOOFING)
    assert contradicted
    assert all(f.feed == "A" and f.severity == Severity.WARNING for f in contradicted)
    assert "never showed them" in contradicted[0].message
    assert contradicted[0].figures["contradicted_by"] == "B"


def test_spoofing_no_other_feed_can_witness_stands_on_one_feed() -> None:
    # given B without the order book (its messages carry no depth nor flow)
    market = booked()
    spoof_rounds(market, 2, shown_b=None, pulled_b=None, ordinary_b=None)
    (fired,) = market.fired(Check.SPOOFING)
    assert fired.feed == "A"
    assert fired.figures["confirmed_by"] is None
    assert "no other feed could confirm" in fired.message
    assert market.state() == Health.DEGRADED


def test_large_orders_that_trade_or_rest_are_not_spoofing() -> None:
    market = booked()
    # an order of 200 that trades away (180 of it traded, not cancelled), twice
    traded = book(bid_cancelled=20.0, traded=180.0)
    for _ in range(2):
        for second in range(15):
            shown = book(bid=USUAL + 200.0)
            page = shown if second < 5 else (traded if second == 5 else book())
            market.round(books={"A": page, "B": page})
    # and one that rests 90 s before it is cancelled
    for second in range(95):
        page = book(bid=USUAL + 200.0) if second < 90 else (PULLED if second == 90 else book())
        market.round(books={"A": page, "B": page})
    assert market.fired(Check.SPOOFING) == []
    assert market.state() == Health.HEALTHY


def test_a_partial_order_book_is_malformed() -> None:
    monitor = FeedMonitor(KEY)
    message = feed_sign(
        {
            "feed": "A",
            "seq": 1,
            "symbol": "BTC",
            "ts": T0.isoformat(),
            "bid": 99.0,
            "ask": 101.0,
            "mid": 100.0,
            "bid_depth": 3.0,
        },
        KEY,
    )
    (finding,) = monitor.observe(message, now=T0).findings
    assert finding.check == Check.MALFORMED
    assert "partial order book" in finding.message
    assert "ask_depth" in finding.message
    negative = feed_sign({**message, "hmac": "", **book(bid=-1.0)}, KEY)
    (finding,) = monitor.observe(negative, now=T0).findings
    assert "bad bid_depth -1.0" in finding.message


# --------------------------------------------------------------------------------------------------- rounds
def test_a_round_is_judged_whole_so_slow_rounds_do_not_look_silent() -> None:
    # given rounds 10 s apart (twice the 5 s staleness threshold) of two underlyings
    monitor = FeedMonitor(KEY)
    btc, eth = Market(monitor, symbol="BTC"), Market(monitor, symbol="ETH")
    eth.seq = btc.seq  # one sequence per feed across the symbols, as the publisher keeps
    for _ in range(20):
        btc.t += 10.0
        eth.t = btc.t
        btc.mid *= math.exp(btc.sign * 2e-4)
        eth.mid *= math.exp(eth.sign * 2e-4)
        btc.sign, eth.sign = -btc.sign, -eth.sign
        messages = [m.message(feed, half_spread_bps=1.0, size=5.0, book=None) for m in (btc, eth) for feed in "AB"]
        observation = monitor.observe_many(messages, now=T0 + timedelta(seconds=btc.t))
        assert observation.accepted
        assert not observation.findings
    # then neither underlying ever looked silent (judged message by message, ETH would be, 10 s after its last)
    assert {health.state for health in monitor.snapshot().values()} == {Health.HEALTHY}


def test_thresholds_refuse_a_hysteresis_upside_down() -> None:
    with pytest.raises(ValueError, match="fast_move_clear_bps"):
        HealthThresholds(fast_move_clear_bps=300.0)
    with pytest.raises(ValueError, match="volatility_clear_ratio"):
        HealthThresholds(volatility_clear_ratio=4.0)
    with pytest.raises(ValueError, match="liquidity_depth_clear"):
        HealthThresholds(liquidity_depth_clear=0.1)
    with pytest.raises(ValueError, match="halting_checks"):
        HealthThresholds(halting_checks=frozenset({Check.STALE}))
    with pytest.raises(ValueError, match="reuse_penalty"):
        HealthThresholds(reuse_penalty=9.0)
