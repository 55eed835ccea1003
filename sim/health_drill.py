"""Market-health drills: a named scenario replayed through the desk's market-health monitor, measuring which check
fired and how long after the first bad tick.

The world of ``seed`` runs twice in lockstep, once with the scenario laid over its underlying and once without (a
twin: the same seed gives the same random draws, so the two publish identical messages until the episode changes
something). The *first bad tick* is the first published round in which the scenario's underlying's messages differ
from the twin's (any field but the sequence number and the signature): the first tick a monitor could have seen
anything. Every round of the scenario's world goes to a :class:`~risk.market_health.FeedMonitor` (one
:meth:`~risk.market_health.FeedMonitor.observe_many` per round, on the simulated clock, as the desk's monitor hears
the market service), and each change of state is kept with the checks behind it.

``dt_s`` is the publication interval: 0.5 s on the running desk (:class:`~sim.market_service.MarketService`), 10 s in
the stress replays. Times are seconds of simulated time after the episode's start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from risk.feed import HMAC_FIELD
from risk.market_health import FeedMonitor, Health, HealthThresholds
from sim.market import SCENARIOS, MarketConfig, MarketFeed, MarketSimulator, scenario_start

__all__ = ["DrillResult", "DrillTransition", "health_drill"]

DESK_TICK_S = 0.5
KEY = b"market-health-drill"
_IGNORED = frozenset({"seq", HMAC_FIELD})


@dataclass(frozen=True)
class DrillTransition:
    """A change of an underlying's state, ``at_s`` seconds after the episode's start, with the checks behind it."""

    at_s: float
    symbol: str
    previous: str | None
    state: str
    checks: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class DrillResult:
    """What a drill saw; ``first_bad_at_s`` is None when the scenario never changed a message."""

    scenario: str
    underlying: str
    seed: int
    dt_s: float
    first_bad_at_s: float | None
    transitions: tuple[DrillTransition, ...]

    def after_start(self, symbol: str | None = None) -> list[DrillTransition]:
        """The transitions of ``symbol`` (the scenario's underlying by default) from the episode's start on."""
        symbol = symbol or self.underlying
        return [t for t in self.transitions if t.symbol == symbol and t.previous is not None and t.at_s >= 0]

    def trip(self, symbol: str | None = None) -> DrillTransition | None:
        """The first time ``symbol`` left ``healthy`` after the episode started."""
        return next((t for t in self.after_start(symbol) if t.previous == Health.HEALTHY), None)

    def halt(self, symbol: str | None = None) -> DrillTransition | None:
        """The first time ``symbol`` was halted (the circuit breaker's trip) after the episode started."""
        return next((t for t in self.after_start(symbol) if t.state == Health.HALTED), None)

    def time_to_trip(self) -> float | None:
        """Seconds from the first bad tick to the underlying's first state worse than healthy."""
        trip = self.trip()
        if trip is None or self.first_bad_at_s is None:
            return None
        return round(trip.at_s - self.first_bad_at_s, 6)

    def time_to_halt(self) -> float | None:
        """Seconds from the first bad tick to the underlying's halt (None when it never halted)."""
        halt = self.halt()
        if halt is None or self.first_bad_at_s is None:
            return None
        return round(halt.at_s - self.first_bad_at_s, 6)

    def as_dict(self) -> dict[str, Any]:
        trip, halt = self.trip(), self.halt()
        return {
            "scenario": self.scenario,
            "underlying": self.underlying,
            "seed": self.seed,
            "dt_s": self.dt_s,
            "first_bad_at_s": self.first_bad_at_s,
            "check": list(trip.checks) if trip else [],
            "state": trip.state if trip else None,
            "time_to_trip_s": self.time_to_trip(),
            "halt_checks": list(halt.checks) if halt else [],
            "time_to_halt_s": self.time_to_halt(),
        }


def _comparable(messages: list[dict[str, Any]], symbol: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in m.items() if k not in _IGNORED} for m in messages if m["symbol"] == symbol]


def health_drill(
    scenario: str,
    *,
    seed: int,
    underlying: str = "BTC",
    dt_s: float = DESK_TICK_S,
    warmup_s: float = 900.0,
    duration_s: float | None = None,
    episode_s: float | None = None,
    thresholds: HealthThresholds | None = None,
    start: datetime | None = None,
    **params: Any,
) -> DrillResult:
    """Replay ``scenario`` on ``underlying`` through a fresh monitor and measure it (see the module).

    Parameters
    ----------
    scenario : str
        A key of :data:`sim.market.SCENARIOS`.
    seed : int
        Seed of the world.
    underlying : str
        Underlying the episode acts on.
    dt_s : float
        Seconds between published rounds.
    warmup_s : float
        Seconds of ordinary market first (the market checks need five minutes of history).
    duration_s : float, optional
        Seconds to run after the episode starts (default: the episode's duration and two minutes more).
    episode_s : float, optional
        The episode's own duration, seconds (default: the scenario's).
    thresholds : HealthThresholds, optional
        The monitor's thresholds (the desk's defaults if omitted).
    start : datetime, optional
        Simulated start of the warm-up, UTC.
    **params
        Overrides of the episode's fields (``feed="A"``, ``feeds=("A",)``, ``duration_s=3600`` ...).
    """
    if scenario not in SCENARIOS:
        raise KeyError(f"unknown scenario {scenario!r}; known: {', '.join(sorted(SCENARIOS))}")
    if not (math.isfinite(dt_s) and dt_s > 0):
        raise ValueError(f"dt_s must be a positive number of seconds, not {dt_s!r}")
    config = MarketConfig(record_history=False)
    world, twin = MarketSimulator(seed, config, start=start), MarketSimulator(seed, config, start=start)
    feed, twin_feed = MarketFeed(world, KEY), MarketFeed(twin, KEY)
    monitor = FeedMonitor(KEY, thresholds=thresholds)
    transitions: list[DrillTransition] = []
    episode_start: datetime | None = None
    first_bad_at_s: float | None = None

    def round_() -> None:
        nonlocal first_bad_at_s
        world.step(dt_s)
        twin.step(dt_s)
        messages, twin_messages = feed.publish(), twin_feed.publish()
        now = world.now
        at_s = (now - episode_start).total_seconds() if episode_start is not None else -math.inf
        if (
            episode_start is not None
            and first_bad_at_s is None
            and _comparable(messages, underlying) != _comparable(twin_messages, underlying)
        ):
            first_bad_at_s = round(at_s, 6)
        for transition in monitor.observe_many(messages, now=now).transitions:
            current = transition.current
            transitions.append(
                DrillTransition(
                    at_s=round(at_s, 6) if math.isfinite(at_s) else -warmup_s,
                    symbol=current.symbol,
                    previous=str(transition.previous) if transition.previous is not None else None,
                    state=str(current.state),
                    checks=current.checks,
                    reason=current.reason,
                )
            )

    for _ in range(math.ceil(warmup_s / dt_s - 1e-9)):
        round_()
    if episode_s is not None:
        params["duration_s"] = episode_s
    episode = scenario_start(world, scenario, underlying=underlying, **params)
    episode_start = episode.start
    run_s = episode.duration_s + 120.0 if duration_s is None else duration_s
    for _ in range(math.ceil(run_s / dt_s - 1e-9)):
        round_()
    return DrillResult(
        scenario=scenario,
        underlying=underlying,
        seed=seed,
        dt_s=dt_s,
        first_bad_at_s=first_bad_at_s,
        transitions=tuple(transitions),
    )
