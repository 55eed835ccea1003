"""Stress replays: a named market scenario with an execution plan running into it, with and without the desk's
safeguards. Pure: no ORM, no wall clock (the simulator's clock is the only clock), so a replay takes a second.

What runs, every ``dt_s`` simulated seconds from the start of the episode:

1. the market simulator steps and publishes its two signed feeds;
2. the market-health monitor (:class:`~risk.market_health.FeedMonitor`, the same code as the running service)
   validates them and yields the validated reference price of the underlying, or none;
3. the book is marked to market at the venue's true mid (the loss is what the desk really loses);
4. with safeguards: an underlying the monitor halts trips the circuit breaker, a loss that reaches
   ``loss_halt_fraction`` of the daily limit engages the book's kill switch (the risk monitor's mark-to-market
   beat), and the plan's telemetry halts it when its fills pass ``participation_halt`` of the last 5 minutes'
   market volume (:mod:`risk.telemetry`): any of them halts the desk, and no order leaves after that;
5. a child order that is due (a TWAP of ``quantity`` over ``horizon_s``, unfilled children carried forward) is
   priced by the algorithm as a marketable limit off the venue's book, then passes the pre-trade checks of
   :mod:`risk.checks` (validated price, collar around the validated price, order notional, dynamic position
   limit, participation, daily loss). With safeguards a refusal by a standing limit (position, daily loss, no
   validated price) halts the plan and one by a per-order limit carries the quantity forward, as
   :mod:`execution.services` does; without them the same checks run in shadow: the breach is recorded and the
   order is sent anyway.

The loss is in the simulator's quote currency (USD, the desk's currency), positive when money is lost:
``-(cash + position × mid)``, the book starting flat at the episode's start.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from risk.checks import (
    MAX_DAILY_LOSS,
    MAX_ORDER_NOTIONAL,
    MAX_POSITION,
    PARTICIPATION_CAP,
    PRICE_COLLAR_BPS,
    VALIDATED_PRICE,
    CheckResult,
    OrderState,
    run_checks,
    validated_price_check,
)
from risk.market_health import FeedMonitor, Health
from risk.telemetry import PARTICIPATION, participation_rate
from sim.market import SCENARIOS, MarketConfig, MarketFeed, MarketSimulator, Side, scenario_start

__all__ = ["KILL_SWITCH", "StressConfig", "StressResult", "stress_run"]

KILL_SWITCH = "kill_switch"
CIRCUIT_BREAKER = "circuit_breaker"
# Refusals after which the next child would only be refused again: the plan halts (execution.services' rule).
HALTING = frozenset({MAX_POSITION, MAX_DAILY_LOSS, VALIDATED_PRICE})
PARTICIPATION_WINDOW_S = 300.0
# Replays are self-contained: the feeds are signed and checked with a key of their own.
STRESS_FEED_KEY = b"desk-stress-replay"


@dataclass(frozen=True)
class StressConfig:
    """The book, the plan and the limits of a replay (units in the names: USD, coins, seconds, bps).

    The plan buys ``quantity`` coins of ``underlying`` by TWAP over ``horizon_s`` in children every
    ``child_interval_s``, each a marketable limit ``slippage_bps`` through the venue's mid.
    """

    underlying: str = "BTC"
    side: Side = "buy"
    quantity: float = 150.0
    horizon_s: float = 1_200.0
    child_interval_s: float = 30.0
    slippage_bps: float = 50.0
    warmup_s: float = 600.0
    dt_s: float = 10.0
    daily_loss_limit: float = 1_300_000.0
    loss_halt_fraction: float = 0.6
    max_position: float = 175.0
    max_order_notional: float = 5_000_000.0
    price_collar_bps: float = 100.0
    participation_cap: float = 0.25
    participation_halt: float = 0.25
    validated_price_max_age_s: float = 5.0

    def __post_init__(self) -> None:
        if self.side not in ("buy", "sell"):
            raise ValueError(f"side must be buy or sell, not {self.side!r}")
        for name in ("quantity", "horizon_s", "child_interval_s", "dt_s", "daily_loss_limit"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, not {value!r}")
        if not 0 < self.loss_halt_fraction <= 1:
            raise ValueError(f"loss_halt_fraction must be in (0, 1], not {self.loss_halt_fraction!r}")

    def limits(self) -> dict[str, float]:
        """The pre-trade limits, as :func:`risk.checks.run_checks` takes them."""
        return {
            PRICE_COLLAR_BPS: self.price_collar_bps,
            MAX_ORDER_NOTIONAL: self.max_order_notional,
            MAX_POSITION: self.max_position,
            PARTICIPATION_CAP: self.participation_cap,
            MAX_DAILY_LOSS: self.daily_loss_limit,
        }


@dataclass
class _Breaches:
    """Breaches per limit: how many, when first (seconds into the episode), the worst figure and its threshold."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, limit: str, at_s: float, observed: float | None, threshold: float | None) -> None:
        row = self.rows.setdefault(
            limit, {"limit": limit, "count": 0, "first_at_s": at_s, "worst_observed": None, "threshold": threshold}
        )
        row["count"] += 1
        if observed is not None and math.isfinite(observed):
            worst = row["worst_observed"]
            row["worst_observed"] = round(observed if worst is None else max(worst, observed), 6)
        if threshold is not None and math.isfinite(threshold):
            row["threshold"] = round(threshold, 6)

    def as_list(self) -> list[dict[str, Any]]:
        return sorted(self.rows.values(), key=lambda row: (row["first_at_s"], row["limit"]))


@dataclass(frozen=True)
class StressResult:
    """What a replay prints (``as_dict``), plus the order log for tests and reports.

    ``loss`` and ``max_loss_seen`` are USD (positive: lost); ``seconds_to_halt`` is simulated seconds from the
    episode's start (None when the desk never halted); ``orders_after_halt`` counts orders sent after it;
    ``breaches`` lists, per limit, the refusals (with safeguards) or the violations let through (without), and
    ``max_daily_loss`` whenever the marked loss was beyond the daily limit.
    """

    scenario: str
    loss: float
    daily_loss_limit: float
    max_loss_seen: float
    halted: bool
    seconds_to_halt: float | None
    orders_after_halt: int
    breaches: list[dict[str, Any]]
    safeguards: bool
    halt_reason: str
    loss_at_halt: float | None
    orders: tuple[tuple[float, float, float], ...]  # (seconds into the episode, coins, average price USD)
    final_mid: float

    def as_dict(self) -> dict[str, Any]:
        """Exactly the keys ``manage.py stress --json`` prints."""
        full = asdict(self)
        return {key: full[key] for key in _PRINTED}


_PRINTED = (
    "scenario",
    "loss",
    "daily_loss_limit",
    "max_loss_seen",
    "halted",
    "seconds_to_halt",
    "orders_after_halt",
    "breaches",
)


class _Volume:
    """Market volume over the last :data:`PARTICIPATION_WINDOW_S`, from the cumulative volume minus ours."""

    def __init__(self) -> None:
        self.points: deque[tuple[float, float]] = deque()

    def add(self, at_s: float, market_cumulative: float) -> float:
        self.points.append((at_s, market_cumulative))
        while len(self.points) > 1 and self.points[1][0] <= at_s - PARTICIPATION_WINDOW_S:
            self.points.popleft()
        return market_cumulative - self.points[0][1]


def stress_run(
    scenario: str,
    *,
    seed: int,
    safeguards: bool = True,
    config: StressConfig | None = None,
    duration_s: float | None = None,
) -> StressResult:
    """Replay ``scenario`` (a key of :data:`sim.market.SCENARIOS`) on the world of ``seed``.

    Parameters
    ----------
    scenario : str
        Scenario name, e.g. ``"vol-spike"``.
    seed : int
        Seed of the market (the same seed gives the same market until the two runs' own orders differ).
    safeguards : bool
        Enforce the checks, the circuit breaker and the loss kill switch (True), or run them in shadow (False).
    config : StressConfig, optional
        Book, plan and limits.
    duration_s : float, optional
        Simulated seconds after the episode's start (default: the longer of the episode and the plan's horizon).

    Raises
    ------
    KeyError
        ``scenario`` is not a known scenario (the message names it and the known ones).
    """
    if scenario not in SCENARIOS:
        raise KeyError(f"unknown scenario {scenario!r}; known: {', '.join(sorted(SCENARIOS))}")
    cfg = config or StressConfig()
    market_config = MarketConfig()
    underlying_config = market_config.underlying(cfg.underlying)
    simulator = MarketSimulator(seed, market_config)
    feed = MarketFeed(simulator, STRESS_FEED_KEY)
    monitor = FeedMonitor(STRESS_FEED_KEY)
    volume = _Volume()
    side_sign = 1.0 if cfg.side == "buy" else -1.0

    def observe() -> None:
        for message in feed.publish():
            monitor.observe(message, now=simulator.now)

    warmup_steps = math.ceil(cfg.warmup_s / cfg.dt_s - 1e-9)
    for step in range(warmup_steps):
        simulator.step(cfg.dt_s)
        observe()
        # The participation window reaches back into the warm-up: the market traded before the episode began.
        volume.add((step + 1 - warmup_steps) * cfg.dt_s, simulator.book(cfg.underlying).volume)
    episode = scenario_start(simulator, scenario, underlying=cfg.underlying)
    duration = duration_s if duration_s is not None else max(episode.duration_s, cfg.horizon_s + cfg.child_interval_s)

    children = max(1, math.ceil(cfg.horizon_s / cfg.child_interval_s - 1e-9))
    child_size = cfg.quantity / children
    next_child_s, children_left, carried = 0.0, children, 0.0
    position = cash = own_volume = 0.0
    max_loss = 0.0
    breaches = _Breaches()
    orders: list[tuple[float, float, float]] = []
    halted_at: float | None = None
    halt_reason = ""
    loss_at_halt: float | None = None

    def halt(at_s: float, reason: str, loss: float) -> None:
        nonlocal halted_at, halt_reason, loss_at_halt
        if halted_at is None:
            halted_at, halt_reason, loss_at_halt = at_s, reason, loss

    steps = math.ceil(duration / cfg.dt_s - 1e-9)
    for step in range(steps + 1):
        if step:
            simulator.step(cfg.dt_s)
            observe()
        at_s = step * cfg.dt_s
        book = simulator.book(cfg.underlying)
        loss = -(cash + position * book.mid)
        max_loss = max(max_loss, loss)
        if loss > cfg.daily_loss_limit:
            breaches.add(MAX_DAILY_LOSS, at_s, loss, cfg.daily_loss_limit)
        recent_volume = volume.add(at_s, book.volume - own_volume)
        ours = sum(q for t, q, _ in orders if t > at_s - PARTICIPATION_WINDOW_S)
        participation = participation_rate(ours, recent_volume)
        if participation > cfg.participation_halt and not (safeguards and halted_at is not None):
            breaches.add(PARTICIPATION, at_s, participation, cfg.participation_halt)
        health = monitor.health(cfg.underlying)
        if safeguards and halted_at is None:
            if health is not None and health.state == Health.HALTED:
                halt(at_s, f"{CIRCUIT_BREAKER}: {health.reason}", loss)
            elif loss >= cfg.loss_halt_fraction * cfg.daily_loss_limit:
                halt(at_s, f"{KILL_SWITCH}: loss {loss:.2f} reached {cfg.loss_halt_fraction:g} of the limit", loss)
            elif participation > cfg.participation_halt:
                halt(at_s, f"{PARTICIPATION}: {participation:.4f} of the last 5 minutes' volume", loss)
        if children_left == 0 or at_s + 1e-9 < next_child_s or (safeguards and halted_at is not None):
            continue
        quantity = child_size + carried
        children_left -= 1
        next_child_s += cfg.child_interval_s
        validated = health.price if health is not None and health.state != Health.HALTED else None
        age_s = 0.0 if validated is not None else None
        limit_price = book.mid * (1.0 + side_sign * cfg.slippage_bps / 1e4)
        state = OrderState(
            side_sign=side_sign,
            quantity=quantity,
            price=limit_price,
            mid=validated if validated is not None else math.nan,
            position=position,
            recent_volume=recent_volume,
            pnl_today=-loss,
            volatility_ratio=book.volatility / underlying_config.volatility_reference,
        )
        results: list[CheckResult] = [validated_price_check(age_s, cfg.validated_price_max_age_s)]
        results += run_checks(state, cfg.limits())
        refused = [result for result in results if not result.passed]
        for result in refused:
            breaches.add(result.limit, at_s, result.observed, result.threshold)
        if safeguards and refused:
            names = {result.limit for result in refused}
            if names & HALTING:
                halt(at_s, "; ".join(result.message for result in refused), loss)
            else:
                carried = quantity
            continue
        fill = simulator.execute(cfg.underlying, cfg.side, quantity)
        carried = 0.0
        own_volume += quantity
        position += side_sign * quantity
        cash -= side_sign * quantity * fill.average_price
        orders.append((at_s, quantity, fill.average_price))

    final_mid = simulator.book(cfg.underlying).mid
    final_loss = -(cash + position * final_mid)
    max_loss = max(max_loss, final_loss)
    after_halt = 0 if halted_at is None else sum(1 for at_s, _, _ in orders if at_s >= halted_at)
    return StressResult(
        scenario=scenario,
        loss=round(final_loss, 2),
        daily_loss_limit=round(cfg.daily_loss_limit, 2),
        max_loss_seen=round(max_loss, 2),
        halted=halted_at is not None,
        seconds_to_halt=halted_at,
        orders_after_halt=after_halt,
        breaches=breaches.as_list(),
        safeguards=safeguards,
        halt_reason=halt_reason,
        loss_at_halt=None if loss_at_halt is None else round(loss_at_halt, 2),
        orders=tuple(orders),
        final_mid=final_mid,
    )
