"""Named, seeded, replayable market scenarios: a registry of episodes and a driver that runs them.

``scenario_run("vol-spike", seed=7)`` builds a simulator, warms it up, lays the episode over it, steps
through the episode and (given a key) collects both feeds. The same arguments always give the same run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal

from sim.market.config import MarketConfig
from sim.market.episodes import Effects, Episode, StaleClock, trapezoid
from sim.market.feed import FEED_IDS, MarketFeed
from sim.market.simulator import MarketSimulator


@dataclass(frozen=True)
class VolSpike(Episode):
    """Implied volatility leaves its normal range for ``implied_vol_peak`` while the underlying sells off.

    The log mid falls by ``ln(1 − fall)`` linearly over ``fall_s``; the short-end ATM implied volatility is
    pulled to ``implied_vol_peak`` over ``rise_s``, held until ``hold_until_s`` and released over
    ``release_s``; realized volatility, spreads and liquidity follow the same shape.
    """

    name: ClassVar[str] = "vol-spike"
    duration_s: float = 7_200.0
    fall: float = 0.18
    fall_s: float = 1_200.0
    implied_vol_peak: float = 2.1
    rise_s: float = 900.0
    hold_until_s: float = 3_600.0
    release_s: float = 3_600.0
    realized_vol_multiplier: float = 2.5
    liquidity: float = 0.5
    spread_multiplier: float = 2.0

    def log_offset(self, elapsed_s: float) -> float:
        return math.log1p(-self.fall) * min(max(elapsed_s / self.fall_s, 0.0), 1.0)

    def effects_at(self, elapsed_s: float) -> Effects:
        w = trapezoid(elapsed_s, rise_s=self.rise_s, hold_until_s=self.hold_until_s, fall_s=self.release_s)
        return Effects(
            vol_multiplier=1.0 + (self.realized_vol_multiplier - 1.0) * w,
            implied_vol_target=self.implied_vol_peak,
            implied_vol_weight=w,
            liquidity=1.0 - (1.0 - self.liquidity) * w,
            spread_multiplier=1.0 + (self.spread_multiplier - 1.0) * w,
        )


@dataclass(frozen=True)
class FlashCrash(Episode):
    """A sudden drop of ``drop`` over ``drop_s`` seconds, then a rebound that recovers ``recovery`` of it.

    Liquidity nearly vanishes at the trough and realized volatility, spreads and implied volatility jump.
    """

    name: ClassVar[str] = "flash-crash"
    duration_s: float = 1_800.0
    drop: float = 0.12
    drop_s: float = 180.0
    recovery: float = 0.75
    recover_s: float = 1_200.0
    vol_multiplier: float = 3.0
    liquidity: float = 0.15
    spread_multiplier: float = 4.0
    implied_vol_peak: float = 1.4

    def log_offset(self, elapsed_s: float) -> float:
        trough = math.log1p(-self.drop)
        if elapsed_s <= self.drop_s:
            return trough * max(elapsed_s, 0.0) / self.drop_s
        settled = math.log1p(-self.drop * (1.0 - self.recovery))
        progress = min((elapsed_s - self.drop_s) / self.recover_s, 1.0)
        return trough + (settled - trough) * progress

    def effects_at(self, elapsed_s: float) -> Effects:
        w = trapezoid(elapsed_s, rise_s=self.drop_s / 3.0, hold_until_s=self.drop_s, fall_s=self.recover_s)
        return Effects(
            vol_multiplier=1.0 + (self.vol_multiplier - 1.0) * w,
            implied_vol_target=self.implied_vol_peak,
            implied_vol_weight=w,
            liquidity=1.0 - (1.0 - self.liquidity) * w,
            spread_multiplier=1.0 + (self.spread_multiplier - 1.0) * w,
        )


@dataclass(frozen=True)
class LiquidityWithdrawal(Episode):
    """Top-of-book depth and dealer appetite fall to ``liquidity`` (0: they vanish), spreads blow out."""

    name: ClassVar[str] = "liquidity-withdrawal"
    duration_s: float = 3_600.0
    liquidity: float = 0.0
    withdraw_s: float = 300.0
    hold_until_s: float = 2_400.0
    return_s: float = 900.0
    spread_multiplier: float = 3.0

    def effects_at(self, elapsed_s: float) -> Effects:
        w = trapezoid(elapsed_s, rise_s=self.withdraw_s, hold_until_s=self.hold_until_s, fall_s=self.return_s)
        return Effects(
            liquidity=1.0 - (1.0 - self.liquidity) * w,
            spread_multiplier=1.0 + (self.spread_multiplier - 1.0) * w,
        )


@dataclass(frozen=True)
class StaleFeed(Episode):
    """The listed feeds stop updating prices; their timestamps keep advancing or stop too (``clock``)."""

    name: ClassVar[str] = "stale-feed"
    duration_s: float = 600.0
    clock: StaleClock = "advance"
    feeds: tuple[str, ...] = FEED_IDS

    def effects_at(self, elapsed_s: float) -> Effects:
        return Effects(stale_feeds=frozenset(self.feeds), stale_clock=self.clock)


@dataclass(frozen=True)
class CorruptFeed(Episode):
    """One feed publishes outliers and crossed books; the other stays clean, so the two diverge."""

    name: ClassVar[str] = "corrupt-feed"
    duration_s: float = 600.0
    feed: str = "B"
    probability: float = 0.5
    outlier_size: float = 0.2

    def effects_at(self, elapsed_s: float) -> Effects:
        return Effects(
            corrupt_feeds=frozenset({self.feed}),
            corrupt_probability=self.probability,
            corrupt_outlier_size=self.outlier_size,
        )


@dataclass(frozen=True)
class Spoofing(Episode):
    """Bursts of large orders at the top of one side that are pulled before anyone can trade on them.

    Every ``period_s`` seconds, ``size`` coins (some forty times the normal top depth) appear on ``side`` for
    ``on_s`` seconds and are then cancelled; prices do not move and the orders never fill.

    ``feeds`` None (the default) is spoofing in the market: the orders rest in the venue's book and every feed shows
    them. A tuple of feed ids is a fault of those feeds instead: they alone show the orders (phantoms), the venue's
    book and the other feeds do not, so that the other feeds contradict them.
    """

    name: ClassVar[str] = "spoofing"
    duration_s: float = 300.0
    side: Literal["bid", "ask"] = "bid"
    size: float = 200.0
    on_s: float = 5.0
    period_s: float = 15.0
    feeds: tuple[str, ...] | None = None

    def effects_at(self, elapsed_s: float) -> Effects:
        if math.fmod(elapsed_s, self.period_s) >= self.on_s:
            return Effects()
        bid, ask = (self.size, 0.0) if self.side == "bid" else (0.0, self.size)
        if self.feeds is None:
            return Effects(spoof_bid_size=bid, spoof_ask_size=ask)
        return Effects(phantom_feeds=frozenset(self.feeds), phantom_bid_size=bid, phantom_ask_size=ask)


@dataclass(frozen=True)
class Scenario:
    """A registry entry: a name, what it does, and the episode class that does it."""

    name: str
    description: str
    episode: type[Episode]


SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Scenario("vol-spike", "implied vol from its 60-120 % range to 180 %+ within 30 min, spot -15 %+", VolSpike),
        Scenario("flash-crash", "spot -12 % in 3 min with vanishing depth, 75 % rebound over 20 min", FlashCrash),
        Scenario(
            "liquidity-withdrawal", "top-of-book depth and dealer appetite vanish for 40 min", LiquidityWithdrawal
        ),
        Scenario("stale-feed", "both feeds stop updating prices for 10 min", StaleFeed),
        Scenario("corrupt-feed", "feed B publishes outliers and crossed books for 10 min", CorruptFeed),
        Scenario("spoofing", "bursts of large bids shown and pulled every 15 s for 5 min", Spoofing),
    )
}


def scenario_episode(name: str, *, underlying: str, start: datetime, **params: Any) -> Episode:
    """Build the episode of scenario ``name``; ``params`` override the episode class's fields."""
    try:
        scenario = SCENARIOS[name]
    except KeyError:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(sorted(SCENARIOS))}") from None
    return scenario.episode(underlying=underlying, start=start, **params)


def scenario_start(
    simulator: MarketSimulator, name: str, *, underlying: str = "BTC", at: datetime | None = None, **params: Any
) -> Episode:
    """Lay scenario ``name`` over ``simulator`` from ``at`` (now if omitted); return the episode."""
    episode = scenario_episode(name, underlying=underlying, start=at or simulator.now, **params)
    simulator.episode_add(episode)
    return episode


@dataclass(frozen=True)
class ScenarioRun:
    """The result of :func:`scenario_run`.

    Attributes
    ----------
    simulator : MarketSimulator
        The world after the run (history, book and options as of the end).
    episode : Episode
        The scenario's episode.
    messages : list of dict
        Every feed message published, both feeds, in order (empty without a key).
    """

    simulator: MarketSimulator
    episode: Episode
    messages: list[dict[str, Any]]


def scenario_run(
    name: str,
    *,
    seed: int,
    underlying: str = "BTC",
    config: MarketConfig | None = None,
    start: datetime | None = None,
    warmup_s: float = 600.0,
    dt_s: float = 10.0,
    duration_s: float | None = None,
    feed_key: bytes | None = None,
    on_step: Callable[[MarketSimulator], None] | None = None,
    **params: Any,
) -> ScenarioRun:
    """Replay scenario ``name``: warm up, start the episode, step through it, optionally publish the feeds.

    Parameters
    ----------
    name : str
        A key of :data:`SCENARIOS`.
    seed : int
        Seed of the world.
    underlying : str
        Underlying the episode acts on.
    config : MarketConfig, optional
        Market parameters.
    start : datetime, optional
        Simulated start of the warm-up, UTC.
    warmup_s : float
        Seconds of ordinary market before the episode starts.
    dt_s : float
        Step, seconds.
    duration_s : float, optional
        Seconds to run after the episode starts; the episode's own duration if omitted.
    feed_key : bytes, optional
        HMAC key; when given, both feeds are published after every step into ``messages``.
    on_step : callable, optional
        Called with the simulator after every step (and feed publication), e.g. to trade or record.
    **params
        Overrides of the episode's fields (``fall=0.2``, ``feed="A"``...).

    Returns
    -------
    ScenarioRun
    """
    if name not in SCENARIOS:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(sorted(SCENARIOS))}")
    simulator = MarketSimulator(seed, config, start=start)
    feed = MarketFeed(simulator, feed_key) if feed_key is not None else None
    messages: list[dict[str, Any]] = []

    def advance(seconds: float) -> None:
        for _ in range(math.ceil(seconds / dt_s - 1e-9)):
            simulator.step(dt_s)
            if feed is not None:
                messages.extend(feed.publish())
            if on_step is not None:
                on_step(simulator)

    advance(warmup_s)
    episode = scenario_start(simulator, name, underlying=underlying, **params)
    advance(episode.duration_s if duration_s is None else duration_s)
    return ScenarioRun(simulator=simulator, episode=episode, messages=messages)
