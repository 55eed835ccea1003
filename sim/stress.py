"""Stress replays: a named market scenario with an execution plan running into it, driven through the real desk, with
and without the desk's safeguards.

Nothing of the desk is re-implemented here. The replay is a composition root, like ``rundesk``: it wires the simulated
market into the desk's own ports and steps it, and the desk reacts with its own code.

- **Market and venues**: the scenario is laid over a seeded :class:`~sim.market.MarketSimulator`; every ``dt_s``
  simulated seconds the simulator steps, the venue books (``desk.models.VenueBook``) take its tick through
  :class:`~sim.market_service.MarketService` (the same writer ``rundesk`` runs), and its two signed feeds go to the
  market-health monitor.
- **Monitor and circuit breaker**: :class:`risk.monitor.MarketHealthService` validates the feeds at the simulated
  time; an underlying it halts trips :func:`risk.services.circuit_breaker_trip` (the underlying's kill switch, which
  halts the plans under it through the kill-switch flow) and its validated price feeds the pre-trade checks.
- **Plan and worker**: a TWAP plan of ``quantity`` over ``horizon_s`` is created and started with
  :func:`execution.services.plan_create` / :func:`~execution.services.plan_start`, and each step runs
  :func:`execution.services.plan_work`, the code the Celery worker's ``plan_tick`` runs: every due child passes
  :func:`risk.services.limit_check` (kill switches, the desk's configured limits, the replay's book limits, the
  validated price), then fills on the simulated venues, or is refused and halts the plan by execution's rule.
- **Telemetry**: each step evaluates the plan's risk telemetry (:func:`flows.risk_actions.plans_telemetry_evaluate`,
  the beat's sweep), which pauses a plan whose participation passes the desk's threshold.
- **Checks fired**: ``checks_fired`` lists, per underlying and market-health check, when the check first stood behind
  the underlying's state (seconds into the episode; negative in the warm-up), how many times it started to, and the
  state it brought (:attr:`risk.market_health.SymbolHealth.checks`), from the monitor that ran (the enforcing one, or
  the shadow one without safeguards).

With safeguards the replay's limits are set on its book (``limit_set``) and the pre-trade check requires the
monitor's validated price. Without them the desk's limits are switched off for the run, the monitor only watches
(no breaker, no telemetry action) and the same checks run in shadow (:func:`risk.checks.run_checks` on each due
child's proposed order): their breaches are recorded and the children are sent anyway.

``orders_after_halt`` counts the plan's child orders stored as sent by a write that the audit chain orders after the
first stored event that stopped the plan (a kill-switch engage covering it, or the plan's halt or pause): if the halt
failed to stop the worker, the figure shows it.

Simulated bookings never touch the live desk's data: the replay refuses to run when ``DESK_DEBUG=0`` and runs in
one transaction of the current database, rolled back at the end (``rollback=False`` keeps the rows, for tests that
already run in a transaction of their own). The ``stress`` command runs it in a database of the run's own
(:mod:`sim.database`) and keeps the rows there. The validated prices it publishes to the desk's cache are put back
as they were.

Time: the market's clock is the desk's. The replay installs a :class:`~desk.clock.SteppedClock` for its context
(:func:`desk.clock.clock_use`), moved with the simulator, so the plan's schedule, the venue ticks, the pre-trade
check's freshness rules, the fills, the kill switches and telemetry all run at simulated time, and passes ``now=``
where a service takes it (``plan_work``, the monitor, telemetry). The audit trail alone keeps wall time (when the
desk wrote the event), which is why the counting orders writes by the chain's sequence, not by time.

The loss is in USD, positive when money is lost: the plan's fills marked at the primary venue's mid,
``-(cash + position × mid)``, the book starting flat (fees left out).
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import transaction

from desk.clock import SteppedClock, clock_use
from desk.fields import to_decimal
from desk.market import VOLUME_WINDOW_S
from desk.models import AuditEvent, Instrument, InstrumentKind, VenueBook
from desk.roles import Role
from execution import selectors as execution_selectors
from execution.models import ChildOrder, ChildOrderStatus, ExecutionPlan, Fill, PlanStatus
from execution.services import child_order_proposed, plan_create, plan_start, plan_work
from flows.risk_actions import plans_telemetry_evaluate
from risk.checks import (
    MAX_DAILY_LOSS,
    MAX_ORDER_NOTIONAL,
    MAX_POSITION,
    PARTICIPATION_CAP,
    PRICE_COLLAR_BPS,
    run_checks,
    validated_price_check,
)
from risk.feed import feed_key
from risk.market_health import FeedMonitor, Health, SymbolHealth
from risk.models import Limit, LimitScope
from risk.monitor import MarketHealthService
from risk.orders import order_state
from risk.reference import CACHE_TIMEOUT_S, KEY_PREFIX
from risk.selectors import order_scopes
from risk.services import limit_set
from risk.telemetry import ACTION
from sim.market import SCENARIOS, MarketConfig, MarketFeed, MarketSimulator, Side, scenario_start
from sim.market.simulator import DEFAULT_START
from sim.market_service import MarketService

__all__ = ["STRESS_ACTOR", "StressConfig", "StressRefused", "StressResult", "stress_run"]

STRESS_ACTOR = "system:stress"
STRESS_BOOK = "STRESS"
# The audit actions that stop a plan: a kill switch over it, or the plan halted or paused (telemetry).
KILL_SWITCH_ENGAGE = "risk.kill_switch.engage"
PLAN_STOPS = ("execution_plan.halt", "execution_plan.pause")
# The audit actions of a child order leaving for the venues (executed there; a refusal is child_order.reject).
CHILD_SENDS = ("child_order.fill",)
SENT_STATES = (ChildOrderStatus.SENT, ChildOrderStatus.FILLED, ChildOrderStatus.PARTIALLY_FILLED)
SEED_MAX = 2**32 - 1


class StressRefused(Exception):
    """The replay cannot run here (a live desk, bad input): nothing was booked."""


@dataclass(frozen=True)
class StressConfig:
    """The book, the plan and the limits of a replay (units in the names: USD, coins, seconds, bps).

    The plan buys ``quantity`` coins of ``underlying`` by TWAP over ``horizon_s`` in children every
    ``child_interval_s``, each a marketable limit ``slippage_bps`` through the venue's mid. The limits are set on the
    replay's book; the desk's own configured limits apply too (the tightest wins).
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
    max_position: float = 175.0
    max_order_notional: float = 5_000_000.0
    price_collar_bps: float = 100.0
    participation_cap: float = 0.25
    require_validated_price: bool = True

    def __post_init__(self) -> None:
        if self.side not in ("buy", "sell"):
            raise ValueError(f"side must be buy or sell, not {self.side!r}")
        for name in ("quantity", "horizon_s", "child_interval_s", "dt_s", "daily_loss_limit"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, not {value!r}")
        if not (math.isfinite(self.warmup_s) and self.warmup_s >= 0):
            raise ValueError(f"warmup_s must be 0 or more, not {self.warmup_s!r}")

    def limits(self) -> dict[str, float]:
        """The pre-trade limits, as :func:`risk.checks.run_checks` takes them (kinds are the Limit kinds)."""
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
    """What a replay prints (``as_dict``), plus what tests and reports read.

    ``loss`` and ``max_loss_seen`` are USD (positive: lost); ``seconds_to_halt`` is simulated seconds from the
    episode's start to the step at which the desk stopped the plan (None when it never did); ``orders_after_halt``
    counts the child orders stored as sent at or after the halt's stored time; ``breaches`` lists, per limit, the
    refusals and telemetry actions (with safeguards) or the violations let through (without), and
    ``max_daily_loss`` whenever the marked loss was beyond the daily limit. ``halt_events`` are the audit actions
    (with their actors) that stopped the plan, read before the run's rows were rolled back.
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
    # (seconds into the episode of the step that sent it, coins, price USD), one per fill
    orders: tuple[tuple[float, float, float], ...]
    final_mid: float
    halt_events: tuple[tuple[str, str], ...]  # (audit action, actor)
    plan_status: str
    # {"underlying", "check", "first_at_s", "times", "state"} per check that stood behind an underlying's state
    checks_fired: list[dict[str, Any]] = field(default_factory=list)

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
    "checks_fired",
)


def stress_validate(scenario: str, *, seed: int, duration_s: float | None = None) -> None:
    """Refuse a replay that cannot run: unknown scenario, seed outside 0..2³²−1, a duration that is not positive.

    Raises
    ------
    StressRefused
        With one line naming the bad input.
    """
    if scenario not in SCENARIOS:
        raise StressRefused(f"unknown scenario {scenario!r}; known: {', '.join(sorted(SCENARIOS))}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise StressRefused(f"seed must be an integer in 0..{SEED_MAX}, not {seed!r}")
    if duration_s is not None and not (math.isfinite(duration_s) and duration_s > 0):
        raise StressRefused(f"duration must be a positive number of seconds, not {duration_s!r}")


def stress_run(
    scenario: str,
    *,
    seed: int,
    safeguards: bool = True,
    config: StressConfig | None = None,
    duration_s: float | None = None,
    rollback: bool = True,
) -> StressResult:
    """Replay ``scenario`` (a key of :data:`sim.market.SCENARIOS`) on the world of ``seed`` through the desk.

    Parameters
    ----------
    scenario : str
        Scenario name, e.g. ``"vol-spike"``.
    seed : int
        Seed of the market, 0..2³²−1.
    safeguards : bool
        The desk's limits, breaker and telemetry enforce (True), or the checks run in shadow (False).
    config : StressConfig, optional
        Book, plan and limits.
    duration_s : float, optional
        Simulated seconds after the episode's start (default: the longer of the episode and the plan's horizon).
    rollback : bool
        Roll the run's rows back at the end (default). False keeps them, inside the caller's transaction.

    Raises
    ------
    StressRefused
        Bad input, or ``DESK_DEBUG=0`` (a live desk): nothing is booked.
    """
    stress_validate(scenario, seed=seed, duration_s=duration_s)
    if not settings.DEBUG:
        raise StressRefused("stress books simulated orders: refused when DESK_DEBUG=0 (it never writes to a live desk)")
    cfg = config or StressConfig()
    # The monitor publishes every simulated underlying's validated price to the desk's cache: put them back after.
    cached = {key: cache.get(key) for key in (f"{KEY_PREFIX}{u.symbol}" for u in MarketConfig().underlyings)}
    try:
        with transaction.atomic(), _validated_price_required(safeguards and cfg.require_validated_price):
            result = _Replay(scenario, seed=seed, safeguards=safeguards, config=cfg).run(duration_s)
            if rollback:
                transaction.set_rollback(True)
    finally:
        for key, value in cached.items():
            if value is None:
                cache.delete(key)
            else:
                cache.set(key, value, CACHE_TIMEOUT_S)
    return result


@contextmanager
def _validated_price_required(required: bool) -> Iterator[None]:
    # The replay is its own process (the command) or a test: the setting is the one ``rundesk`` sets for the
    # embedded desk, restored afterwards.
    before = settings.RISK_REQUIRE_VALIDATED_PRICE
    settings.RISK_REQUIRE_VALIDATED_PRICE = required
    try:
        yield
    finally:
        settings.RISK_REQUIRE_VALIDATED_PRICE = before


class _Replay:
    """One replay's world and its desk rows; :meth:`run` steps it."""

    def __init__(self, scenario: str, *, seed: int, safeguards: bool, config: StressConfig) -> None:
        self.scenario = scenario
        self.seed = seed
        self.safeguards = safeguards
        self.cfg = config
        self.key = feed_key()
        self.market = MarketService(seed=seed, publish=False, persist_every_s=None)
        self.market.simulator = MarketSimulator(seed, MarketConfig(), start=DEFAULT_START)
        self.market.feed = MarketFeed(self.market.simulator, self.key)
        self.clock = SteppedClock(self.market.simulator.now)
        self.health = MarketHealthService(key=self.key)
        self.shadow = FeedMonitor(self.key)
        self.breaches = _Breaches()
        # The replay is one transaction on one connection: its events' ids are the order it wrote them in (they are
        # sealed only after it ends, if ever: it rolls back by default).
        self.seen_id = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
        self.halts: list[AuditEvent] = []
        self.book = _Book(side_sign=1.0 if config.side == "buy" else -1.0)
        self.book_mid = self.sim_mid = 1.0
        self.checks = _ChecksFired()

    @property
    def simulator(self) -> MarketSimulator:
        return self.market.simulator

    def step(self, seconds: float, *, books: bool = True) -> list[dict[str, Any]]:
        """Move the market and the clock, tick the venue books (unless ``books`` is False); the feeds' messages."""
        if seconds > 0:
            self.simulator.step(seconds)
        self.clock.set(self.simulator.now)
        if books:
            self.market.persist()
            self.book_mid = _primary_mid(self.cfg.underlying)
            self.sim_mid = self.simulator.book(self.cfg.underlying).mid
        return self.market.feed.publish()

    def mid(self) -> float:
        """The primary venue's mid: the stored row while the books tick, then the simulator's return applied to it
        (what the next tick would store: the permanent impact of our fills stays in it)."""
        return self.book_mid * self.simulator.book(self.cfg.underlying).mid / self.sim_mid

    def observe(self, messages: list[dict[str, Any]]) -> None:
        now = self.simulator.now
        if self.safeguards:
            self.health.handle_messages(messages, now=now)
            snapshot = self.health.snapshot()
        else:
            self.shadow.observe_many(messages, now=now)
            snapshot = self.shadow.snapshot()
        self.checks.add(snapshot, now)

    def run(self, duration_s: float | None) -> StressResult:
        cfg = self.cfg
        with clock_use(self.clock):
            warmup_steps = math.ceil(cfg.warmup_s / cfg.dt_s - 1e-9)
            self.observe(self.step(0.0))
            for step in range(warmup_steps):
                # The venue rows need the last five minutes of the warm-up only (their volume window).
                books = (warmup_steps - step - 1) * cfg.dt_s <= VOLUME_WINDOW_S
                self.observe(self.step(cfg.dt_s, books=books))
            plan = self._plan_start()
            episode = scenario_start(self.simulator, self.scenario, underlying=cfg.underlying)
            self.checks.episode_start = episode.start
            duration = duration_s if duration_s is not None else max(episode.duration_s, cfg.horizon_s + cfg.dt_s)
            scopes = set(
                order_scopes(
                    book=STRESS_BOOK,
                    trader=plan.created_by.username,
                    underlying=cfg.underlying,
                    instrument=plan.instrument.symbol,
                )
            )
            max_loss = 0.0
            halted_at_s: float | None = None
            loss_at_halt: float | None = None
            running = True
            steps = math.ceil(duration / cfg.dt_s - 1e-9)
            for step in range(steps + 1):
                if step:
                    # Once the plan stopped nothing the desk does changes the book: only the market moves on.
                    messages = self.step(cfg.dt_s, books=running)
                    if running:
                        self.observe(messages)
                at_s = step * cfg.dt_s
                loss = self.book.loss(self.mid())
                max_loss = max(max_loss, loss)
                if loss > cfg.daily_loss_limit:
                    self.breaches.add(MAX_DAILY_LOSS, at_s, loss, cfg.daily_loss_limit)
                if not running:
                    continue
                if self.safeguards:
                    for alert in plans_telemetry_evaluate(now=self.clock()):
                        if alert.level == ACTION:
                            self.breaches.add(alert.kind, at_s, float(alert.value), float(alert.threshold))
                else:
                    self._shadow_checks(plan, at_s)
                plan_work(plan_id=plan.pk, now=self.clock())
                self._events_read(plan, scopes, at_s)
                self.book.fills_read(plan, at_s)
                if halted_at_s is None and self.halts:
                    halted_at_s, loss_at_halt = at_s, loss
                # A halted or paused plan stays in the loop while its kill switch or status could still fail to
                # stop the worker; it leaves when no child is pending.
                running = execution_selectors.child_order_next(plan_id=plan.pk) is not None and (
                    halted_at_s is None or ExecutionPlan.objects.filter(pk=plan.pk, status=PlanStatus.RUNNING).exists()
                )
            final_mid = self.mid()
            final_loss = self.book.loss(final_mid)
            halts = self.halts
            orders_after_halt = _children_sent_after(plan, halts[0]) if halts else 0
            plan.refresh_from_db()
        return StressResult(
            scenario=self.scenario,
            loss=round(final_loss, 2),
            daily_loss_limit=round(cfg.daily_loss_limit, 2),
            max_loss_seen=round(max(max_loss, final_loss), 2),
            halted=halted_at_s is not None,
            seconds_to_halt=halted_at_s,
            orders_after_halt=orders_after_halt,
            breaches=self.breaches.as_list(),
            safeguards=self.safeguards,
            halt_reason=_halt_reason(halts[0]) if halts else "",
            loss_at_halt=None if loss_at_halt is None else round(loss_at_halt, 2),
            orders=tuple(self.book.orders),
            final_mid=final_mid,
            halt_events=tuple((event.action, event.actor) for event in halts),
            plan_status=plan.status,
            checks_fired=self.checks.as_list(),
        )

    def _plan_start(self) -> ExecutionPlan:
        cfg = self.cfg
        trader = _trader_create()
        instrument = _instrument(cfg.underlying)
        if not self.safeguards:
            # Without safeguards nothing the desk has configured refuses: the run's rows are rolled back. (The
            # fat-finger defaults of the settings still bound each order; the replay's children stay far inside them.)
            Limit.objects.filter(is_active=True).update(is_active=False)
        slices = max(1, math.ceil(cfg.horizon_s / cfg.child_interval_s - 1e-9))
        plan = plan_create(
            instrument=instrument,
            side=cfg.side,
            quantity=to_decimal(cfg.quantity),
            algorithm="twap",
            parameters={
                "horizon_s": cfg.horizon_s,
                "slices": slices,
                "max_slippage_bps": cfg.slippage_bps,
                "book": STRESS_BOOK,
                "seed": self.seed % 2**31,
            },
            actor=trader,
        )
        if self.safeguards:
            # Set once the plan exists: its book is then one the desk knows (a limit names an existing scope).
            for kind, value in cfg.limits().items():
                limit_set(
                    scope=LimitScope.BOOK, scope_key=STRESS_BOOK, kind=kind, value=to_decimal(value), actor=STRESS_ACTOR
                )
        return plan_start(plan_id=plan.pk, actor=trader)

    def _events_read(self, plan: ExecutionPlan, scopes: set[tuple[str, str]], at_s: float) -> None:
        """The audit events the desk stored since the last step: pre-trade refusals become breaches, and the events
        that stopped the plan (a kill switch over its scopes, its halt or pause) are kept, oldest first."""
        events = AuditEvent.objects.filter(id__gt=self.seen_id).order_by("id")
        for event in events:
            self.seen_id = event.id
            after = event.after or {}
            if event.action == "risk.refused":
                self.breaches.add(str(after.get("limit")), at_s, after.get("observed"), after.get("threshold"))
            elif event.action == KILL_SWITCH_ENGAGE:
                if (after.get("scope"), after.get("scope_key") or "") in scopes:
                    self.halts.append(event)
            elif event.action in PLAN_STOPS and event.object_id == str(plan.pk):
                self.halts.append(event)

    def _shadow_checks(self, plan: ExecutionPlan, at_s: float) -> None:
        """Without safeguards: the checks the desk would have run on each due child, recorded, never enforced."""
        health = self.shadow.health(self.cfg.underlying)
        validated = health is not None and health.state != Health.HALTED and health.price is not None
        row = VenueBook.objects.filter(underlying=self.cfg.underlying).order_by("pk").first()
        if row is None:
            return
        for child_id in execution_selectors.child_orders_due(plan_id=plan.pk, now=self.clock()):
            child = ChildOrder.objects.select_related("plan__instrument", "plan__created_by").get(pk=child_id)
            # The venue book was ticked this step: its own tick time is "now" for the freshness rule.
            order = child_order_proposed(child=child, now=row.ticked_at)
            results = [validated_price_check(0.0 if validated else None, settings.RISK_VALIDATED_PRICE_MAX_AGE_S)]
            results += run_checks(order_state(order), self.cfg.limits())
            for result in results:
                if not result.passed:
                    self.breaches.add(result.limit, at_s, result.observed, result.threshold)


@dataclass
class _ChecksFired:
    """Per (underlying, check): when it first stood behind the underlying's state (monitor's clock), how many times it
    started to, and the state it first came with."""

    episode_start: datetime | None = None
    active: set[tuple[str, str]] = field(default_factory=set)
    rows: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    firsts: dict[tuple[str, str], datetime] = field(default_factory=dict)

    def add(self, snapshot: Mapping[str, SymbolHealth], now: datetime) -> None:
        active = set()
        for symbol, health in snapshot.items():
            for check in health.checks:
                key = (symbol, check)
                active.add(key)
                if key in self.active:
                    continue
                row = self.rows.setdefault(
                    key,
                    {"underlying": symbol, "check": check, "first_at_s": None, "times": 0, "state": str(health.state)},
                )
                row["times"] += 1
                self.firsts.setdefault(key, now)
        self.active = active

    def as_list(self) -> list[dict[str, Any]]:
        start = self.episode_start
        for key, row in self.rows.items():
            row["first_at_s"] = None if start is None else round((self.firsts[key] - start).total_seconds(), 3)
        return sorted(self.rows.values(), key=lambda row: (row["first_at_s"] is None, row["first_at_s"], row["check"]))


@dataclass
class _Book:
    """The plan's fills so far (read from the stored rows as they come) and their mark."""

    side_sign: float
    position: float = 0.0
    cash: float = 0.0
    last_fill: int = 0

    orders: list[tuple[float, float, float]] = field(default_factory=list)

    def fills_read(self, plan: ExecutionPlan, at_s: float) -> None:
        """Take the plan's fills stored since the last read, booked at ``at_s`` (seconds into the episode)."""
        fills = Fill.objects.filter(child_order__plan=plan, pk__gt=self.last_fill).order_by("pk")
        for pk, quantity, price in fills.values_list("pk", "quantity", "price"):
            self.position += self.side_sign * float(quantity)
            self.cash -= self.side_sign * float(quantity) * float(price)
            self.orders.append((at_s, float(quantity), float(price)))
            self.last_fill = pk

    def loss(self, mid: float) -> float:
        return -(self.cash + self.position * mid)


def _primary_mid(underlying: str) -> float:
    row = VenueBook.objects.filter(underlying=underlying).order_by("pk").first()
    if row is None:
        raise StressRefused(f"no venue book for {underlying}")
    return float(row.mid)


def _children_sent_after(plan: ExecutionPlan, halt: AuditEvent) -> int:
    """The plan's child orders stored as sent (sent, filled, partly filled) by a write the replay stored after
    ``halt``: the events' ids are the order the replay's one transaction stored things in, whatever the clocks said
    (a stepped clock gives every write of a step the same time)."""
    sent_after = AuditEvent.objects.filter(
        id__gt=halt.id, object_type="execution.childorder", action__in=CHILD_SENDS
    ).values_list("object_id", flat=True)
    ids = {int(object_id) for object_id in sent_after if object_id.isdigit()}
    return ChildOrder.objects.filter(plan=plan, status__in=SENT_STATES, pk__in=ids).count()


def _halt_reason(event: AuditEvent) -> str:
    after = event.after or {}
    return f"{event.action} by {event.actor}: {after.get('reason', '')}"


def _trader_create() -> Any:
    """The replay's trader (a user in the trader role, rolled back with the run)."""
    user = get_user_model().objects.create_user(username=f"stress-{secrets.token_hex(6)}", password=None)
    user.groups.add(Group.objects.get(name=Role.TRADER))
    return user


def _instrument(underlying: str) -> Instrument:
    """The replay's spot instrument on ``underlying`` (its own symbol: no live position is mixed in)."""
    instrument, _ = Instrument.objects.get_or_create(
        symbol=f"{underlying}-USD-STRESS",
        defaults={
            "kind": InstrumentKind.SPOT,
            "base_currency": underlying,
            "quote_currency": "USD",
            "tick_size": Decimal("0.01"),
            "lot_size": Decimal("0.0001"),
        },
    )
    return instrument
