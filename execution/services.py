"""Writes of the execution domain: plans (create, start, pause, resume, cancel), child orders sent to the simulated
venues, fills and positions.

Each function is one transaction (``child_order_send`` two: the pre-trade check's refusal audit must survive, so it
runs between them) that locks its rows, writes with ``update_fields``, records its audit event and broadcasts
``plan.progress`` after commit. Locks are always taken in the order plan, child order, venue rows, position, audit
head, so that two writers never wait on each other in a cycle.

Risk refusal rule
-----------------
A child refused by an engaged kill switch, the position limit, the daily-loss limit or a stale venue book (no market
tick for :data:`~execution.venue.MAX_BOOK_AGE_S`) is ``rejected`` and its plan ``halted``: carrying on would only
repeat the refusal, and a halted plan waits for a person (``plan_resume``). A child refused by a per-order limit
(price collar, order notional, participation, or its own limit price) is ``rejected`` and its quantity carried into
the plan's next pending child, so the parent can still complete once the market allows it; a refusal of the last
child leaves the plan ``completed`` with a shortfall.

Re-plans and fallbacks
----------------------
After sending what is due, each tick asks :func:`execution.replan.plan_replan_check` whether fills or the market
deviate from the plan's schedule beyond its tolerances; if so the residual is re-sliced (a ``replan`` decision
record). An exception while working or re-planning a plan, or :func:`plan_algo_failed` called by risk telemetry,
falls the plan back to its algorithm's last stable parameter version, else to the conservative protocol, else halts
it (:mod:`execution.fallback`, a ``fallback`` decision record). :func:`plan_fallback_to_rfq` moves the residual to an
RFQ. New plans run their algorithm's live parameter version (:mod:`execution.algo_params`).

Crash safety
------------
The venue is a database row, so sending a child, its fill, the position, the plan's progress and the audit event
commit together or not at all. A child that is no longer pending is returned as it is, and the fill's ``exec_id``
(venue and client order id) is unique: a task run twice, or by two workers, books one fill.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F, Sum

from desk.audit import Actor, actor_label, audit_record, json_normalize
from desk.events import broadcast
from desk.fields import to_decimal
from desk.models import Instrument, InstrumentKind, VenueBook
from execution import selectors
from execution.algo_params import algo_params_live
from execution.errors import ExecutionPermissionDenied, ExecutionRefused
from execution.models import (
    Algorithm,
    ChildOrder,
    ChildOrderStatus,
    ExecutionPlan,
    Fill,
    PlanStatus,
    Position,
)
from execution.positions import PositionState, position_apply
from execution.replan import plan_baseline, plan_replan_check, primary_book, replan_tolerances
from execution.schedule import plan_schedule, underlying_config_or_refuse
from execution.venue import (
    STALE_PRICE,
    NoVenue,
    StaleBook,
    VenueFill,
    coins,
    underlying_config,
    venue,
    venue_book_check_fresh,
    venue_books_ensure,
    venue_quote,
    venue_route,
)
from rfq.models import RFQLeg, Side
from risk.orders import DEFAULT_BOOK, MarketState, ProposedOrder
from risk.services import KILL_SWITCH_LIMIT, SCOPE_REDUCING_LIMIT, CheckReport, limit_check

logger = logging.getLogger(__name__)

EXECUTION_ACTOR = "system:execution"
PLAN_PROGRESS = "plan.progress"
# Refusals after which sending the plan's next child would only be refused again: the plan halts.
HALTING_LIMITS = frozenset(
    {KILL_SWITCH_LIMIT, SCOPE_REDUCING_LIMIT, "max_position", "max_daily_loss", STALE_PRICE, "validated_price"}
)
OPEN_PLAN_STATES = (PlanStatus.DRAFT, PlanStatus.RUNNING, PlanStatus.PAUSED, PlanStatus.HALTED)
DEFAULT_SLIPPAGE_BPS = Decimal(50)
# The worker looks at a running plan at least this often (seconds), even when its next child is far away.
MAX_TICK_S = 30.0


def _require(actor: Actor, *perms: str) -> None:
    """A system component (``system:...``) may act; a person needs one of ``perms``."""
    if isinstance(actor, str) and actor.startswith("system:"):
        return
    if not isinstance(actor, AbstractBaseUser) or not actor.is_active or not any(actor.has_perm(p) for p in perms):
        raise ExecutionPermissionDenied(f"{actor_label(actor)} may not do this (needs {' or '.join(perms)})")


# Who may steer a running plan: its traders, and risk officers (the same people who may stop everything).
STEER_PERMS = ("execution.change_executionplan", "risk.engage_killswitch")


def _plan_public(plan: ExecutionPlan) -> dict[str, Any]:
    return {
        "plan": plan.pk,
        "instrument": plan.instrument.symbol,
        "side": plan.side,
        "algorithm": plan.algorithm,
        "status": plan.status,
        "quantity": plan.quantity,
        "filled_quantity": plan.filled_quantity,
        "version": plan.version,
    }


def _progress(plan: ExecutionPlan, **extra: Any) -> None:
    broadcast(event=PLAN_PROGRESS, payload=_plan_public(plan) | extra)


# --- plan creation ---------------------------------------------------------------------------------------------


def _calibrated_impact(instrument: Instrument) -> dict[str, Any]:
    """TCA's feedback into the plans: the square-root coefficient the desk's own fills gave (a stored fit), as a
    scale on the schedule's impact (η, γ) against the literature prior; nothing when only the prior is known."""
    from tca.pretrade import DEFAULT_SQRT_COEFFICIENT
    from tca.selectors import impact_params_latest

    fit = impact_params_latest(instrument)
    if fit.is_default or fit.fit_id is None or not fit.sqrt_coefficient > 0:
        return {}
    return {"impact_scale": fit.sqrt_coefficient / DEFAULT_SQRT_COEFFICIENT, "impact_fit_id": fit.fit_id}


def plan_create(
    *,
    instrument: Instrument,
    side: str,
    quantity: Decimal,
    algorithm: str,
    parameters: dict[str, Any],
    actor: Actor,
    rfq_leg: RFQLeg | None = None,
) -> ExecutionPlan:
    """A draft plan and its child orders, scheduled by the algorithm's kernel. ``client_order_id`` is
    ``P<plan>-<seq>``: a retried send re-uses it. Bad input (side, quantity, algorithm, horizon, kernel
    parameters) raises :class:`ExecutionRefused` and stores nothing."""
    _require(actor, "execution.add_executionplan")
    user = actor if isinstance(actor, AbstractBaseUser) else None
    if user is None:
        raise ExecutionRefused("a plan is created by a person (its trader)")
    if side not in Side.values:
        raise ExecutionRefused({"side": f"side must be buy or sell, not {side!r}"})
    if algorithm not in Algorithm.values:
        raise ExecutionRefused({"algorithm": f"unknown algorithm {algorithm!r} (one of {', '.join(Algorithm.values)})"})
    if not isinstance(quantity, Decimal) or not quantity.is_finite() or quantity <= 0:
        raise ExecutionRefused({"quantity": f"quantity must be a positive number of contracts, not {quantity}"})
    if not instrument.is_active:
        raise ExecutionRefused({"instrument": f"{instrument.symbol} is not tradable"})
    if instrument.kind == InstrumentKind.OPTION:
        raise ExecutionRefused({"instrument": "the simulated venues trade spot and perpetuals, not options"})
    if not isinstance(parameters, dict):
        raise ExecutionRefused({"parameters": "parameters must be an object"})
    # The algorithm's live parameter version sets the defaults; the plan's own parameters override them.
    algo_params = algo_params_live(algorithm=algorithm)
    if algo_params is not None:
        parameters = algo_params.params | parameters
    try:
        replan_tolerances(parameters)
    except ValueError as error:
        raise ExecutionRefused({"parameters": str(error)}) from None
    underlying_config_or_refuse(instrument.base_currency)
    if algorithm == Algorithm.ALMGREN_CHRISS and "impact_scale" not in parameters:
        parameters = parameters | _calibrated_impact(instrument)
    if rfq_leg is not None and (rfq_leg.instrument_id != instrument.pk or rfq_leg.side != side):
        raise ExecutionRefused({"rfq_leg": "the plan must work the leg's own instrument and side"})
    book = str(parameters.get("book", DEFAULT_BOOK))
    if not book or len(book) > 32:
        raise ExecutionRefused({"parameters": "book must be 1 to 32 characters"})
    try:
        slippage = Decimal(str(parameters.get("max_slippage_bps", DEFAULT_SLIPPAGE_BPS)))
    except InvalidOperation:
        raise ExecutionRefused({"parameters": "max_slippage_bps must be a number"}) from None
    if not slippage.is_finite() or not 0 <= slippage <= 5000:
        raise ExecutionRefused({"parameters": "max_slippage_bps must be between 0 and 5000"})
    # Stored as JSON (Decimals as strings), and free of the private keys the schedule is given below.
    stored = json_normalize({k: v for k, v in parameters.items() if not str(k).startswith("_")})
    stored.setdefault("seed", secrets.randbelow(2**31))
    now = datetime.now(UTC)
    schedule = plan_schedule(
        instrument=instrument,
        quantity=quantity,
        algorithm=algorithm,
        parameters=stored | {"_underlying": instrument.base_currency},
        start=now,
    )
    with transaction.atomic():
        plan = ExecutionPlan.objects.create(
            rfq_leg=rfq_leg,
            instrument=instrument,
            side=side,
            quantity=quantity,
            algorithm=algorithm,
            parameters=stored,
            created_by=user,
            algo_params=algo_params,
        )
        ChildOrder.objects.bulk_create(
            ChildOrder(
                plan=plan,
                seq=seq,
                client_order_id=f"P{plan.pk}-{seq}",
                quantity=child_quantity,
                scheduled_at=now + timedelta(seconds=offset),
            )
            for seq, (child_quantity, offset) in enumerate(
                zip(schedule.quantities, schedule.offsets_s, strict=True), start=1
            )
        )
        audit_record(
            actor=actor,
            action="execution_plan.create",
            obj=plan,
            after=_plan_public(plan)
            | {
                "parameters": stored,
                "algo_params": algo_params.pk if algo_params else None,
                "rfq_leg": rfq_leg.pk if rfq_leg else None,
                "children": [str(q) for q in schedule.quantities],
                "offsets_s": [round(o, 6) for o in schedule.offsets_s],
            },
        )
        _progress(plan, children=len(schedule.quantities))
    return plan


# --- plan lifecycle --------------------------------------------------------------------------------------------


def _plan_locked(plan_id: int, version: int | None) -> ExecutionPlan:
    plan = ExecutionPlan.objects.select_for_update(of=("self",)).select_related("instrument").get(pk=plan_id)
    if version is not None and plan.version != version:
        raise ExecutionRefused(f"plan {plan_id} changed (version {plan.version}, not {version}): reload and retry")
    return plan


def _tick_queue(plan: ExecutionPlan) -> None:
    from execution.tasks import plan_tick

    plan_tick.delay_on_commit(plan.pk)


def _status_set(plan: ExecutionPlan, status: str, *, actor: Actor, action: str, reason: str = "") -> None:
    before = plan.status
    plan.status, plan.version = status, plan.version + 1
    fields = ["status", "version"]
    now = datetime.now(UTC)
    if status == PlanStatus.RUNNING and plan.start_at is None:
        plan.start_at = now
        fields.append("start_at")
    if status in (PlanStatus.COMPLETED, PlanStatus.CANCELLED, PlanStatus.SWITCHED):
        plan.end_at = now
        fields.append("end_at")
    plan.save(update_fields=fields)
    after: dict[str, Any] = {"status": status, "version": plan.version}
    if reason:
        after["reason"] = reason
    audit_record(actor=actor, action=action, obj=plan, before={"status": before}, after=after)
    _progress(plan, reason=reason)


def _children_retime(plan: ExecutionPlan, now: datetime) -> None:
    """Shift the pending children so that the first goes no earlier than now, keeping their spacing."""
    first = selectors.child_order_next(plan_id=plan.pk)
    if first is None or first.scheduled_at >= now:
        return
    ChildOrder.objects.filter(plan=plan, status__in=selectors.PENDING_CHILD_STATES).update(
        scheduled_at=F("scheduled_at") + (now - first.scheduled_at)
    )


def plan_start(*, plan_id: int, actor: Actor, version: int | None = None) -> ExecutionPlan:
    """Start a draft plan: its children are timed from now and the worker's tick is queued after commit."""
    _require(actor, *STEER_PERMS)
    with transaction.atomic():
        plan = _plan_locked(plan_id, version)
        if plan.status != PlanStatus.DRAFT:
            raise ExecutionRefused(f"plan {plan_id} is {plan.status}, only a draft can be started")
        now = datetime.now(UTC)
        _children_retime(plan, now)
        venue_books_ensure(underlying=plan.instrument.base_currency, now=now)
        plan.baseline = plan_baseline(plan=plan, now=now, row=primary_book(plan))
        plan.save(update_fields=["baseline"])
        _status_set(plan, PlanStatus.RUNNING, actor=actor, action="execution_plan.start")
        _tick_queue(plan)
    return plan


def plan_pause(*, plan_id: int, actor: Actor, reason: str = "", version: int | None = None) -> ExecutionPlan:
    """Pause a running plan: no child leaves until it is resumed (a child already being sent finishes first)."""
    _require(actor, *STEER_PERMS)
    with transaction.atomic():
        plan = _plan_locked(plan_id, version)
        if plan.status != PlanStatus.RUNNING:
            raise ExecutionRefused(f"plan {plan_id} is {plan.status}, only a running plan can be paused")
        _status_set(plan, PlanStatus.PAUSED, actor=actor, action="execution_plan.pause", reason=reason)
    return plan


def plan_resume(*, plan_id: int, actor: Actor, reason: str = "", version: int | None = None) -> ExecutionPlan:
    """Resume a paused or halted plan. Overdue children are re-timed from now with their spacing kept; a halted
    plan's children still pass the pre-trade check, so an engaged kill switch halts it again."""
    _require(actor, *STEER_PERMS)
    with transaction.atomic():
        plan = _plan_locked(plan_id, version)
        if plan.status not in (PlanStatus.PAUSED, PlanStatus.HALTED):
            raise ExecutionRefused(f"plan {plan_id} is {plan.status}, only a paused or halted plan can be resumed")
        _children_retime(plan, datetime.now(UTC))
        _status_set(plan, PlanStatus.RUNNING, actor=actor, action="execution_plan.resume", reason=reason)
        _tick_queue(plan)
    return plan


def plan_cancel(*, plan_id: int, actor: Actor, reason: str = "", version: int | None = None) -> ExecutionPlan:
    """Cancel an open plan: its children not yet sent are cancelled; fills already booked stay."""
    _require(actor, *STEER_PERMS)
    with transaction.atomic():
        plan = _plan_locked(plan_id, version)
        if plan.status not in OPEN_PLAN_STATES:
            raise ExecutionRefused(f"plan {plan_id} is {plan.status}, it cannot be cancelled")
        pending = list(
            ChildOrder.objects.select_for_update()
            .filter(plan=plan, status__in=selectors.PENDING_CHILD_STATES)
            .order_by("seq")
        )
        for child in pending:
            child.status = ChildOrderStatus.CANCELLED
            child.save(update_fields=["status"])
        _status_set(
            plan,
            PlanStatus.CANCELLED,
            actor=actor,
            action="execution_plan.cancel",
            reason=reason or f"{len(pending)} children cancelled",
        )
    return plan


def _plan_finish_if_done(plan: ExecutionPlan, *, actor: Actor) -> None:
    if plan.status == PlanStatus.RUNNING and selectors.child_order_next(plan_id=plan.pk) is None:
        shortfall = plan.quantity - plan.filled_quantity
        _status_set(
            plan,
            PlanStatus.COMPLETED,
            actor=actor,
            action="execution_plan.complete",
            reason=f"shortfall {shortfall}" if shortfall else "",
        )


# --- child orders ------------------------------------------------------------------------------------------------


def _tick_round(price: Decimal, tick: Decimal, *, up: bool) -> Decimal:
    ticks = (price / tick).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR)
    return ticks * tick


def _market_state(plan: ExecutionPlan, book: str, mid: Decimal, row: VenueBook) -> MarketState:
    instrument = plan.instrument
    config = underlying_config(instrument.base_currency)
    position = Position.objects.filter(book=book, instrument=instrument).first()
    realized = Position.objects.filter(book=book).aggregate(total=Sum("realized_pnl"))["total"] or Decimal(0)
    unrealized = Decimal(0)
    if position is not None and position.quantity:
        unrealized = position.quantity * (mid - position.average_price) * instrument.multiplier
    return MarketState(
        mid=mid,
        position=position.quantity if position else Decimal(0),
        recent_volume=row.volume_5m / instrument.multiplier,
        realized_pnl_today=realized,
        unrealized_pnl_today=unrealized,
        volatility_ratio=to_decimal(float(row.volatility) / config.volatility_reference),
    )


def child_order_proposed(*, child: ChildOrder, now: datetime) -> ProposedOrder:
    """The pre-trade check's view of a child order: a marketable limit ``max_slippage_bps`` through the market mid
    (rounded to the tick, away from the mid), in the plan's book, with the market state of the venues now.
    Raises :class:`~execution.venue.StaleBook` when the market service stopped ticking the book."""
    plan = child.plan
    instrument = plan.instrument
    venue_books_ensure(underlying=instrument.base_currency, now=now)
    row = selectors.venue_books(underlying=instrument.base_currency)[0]
    venue_book_check_fresh(row, now=now)
    mid = row.mid
    slippage = Decimal(str(plan.parameters.get("max_slippage_bps", DEFAULT_SLIPPAGE_BPS))) / Decimal(10_000)
    buy = plan.side == Side.BUY
    limit_price = _tick_round(mid * (1 + slippage if buy else 1 - slippage), instrument.tick_size, up=buy)
    book = str(plan.parameters.get("book", DEFAULT_BOOK))
    return ProposedOrder(
        book=book,
        trader=plan.created_by.username,
        instrument=instrument.symbol,
        underlying=instrument.base_currency,
        side=plan.side,
        quantity=child.quantity,
        limit_price=limit_price,
        market=_market_state(plan, book, mid, row),
        multiplier=instrument.multiplier,
        reference=child.client_order_id,
        strategy=str(plan.parameters.get("strategy", "")),
    )


def child_order_send(*, child_order_id: int, actor: Actor = EXECUTION_ACTOR) -> ChildOrder:
    """Send one child order: pre-trade check, then route and execute it on the simulated venues.

    Idempotent: a child that is no longer pending (sent, filled, rejected, cancelled), or whose plan is not
    running, is returned as it is. A refused child is ``rejected`` with the limits named (see the module's refusal
    rule). A passed one is routed, filled, and booked (fill, child, venue rows, position, plan, audit) in one
    transaction.
    """
    child = ChildOrder.objects.select_related("plan__instrument", "plan__created_by").get(pk=child_order_id)
    if child.status not in selectors.PENDING_CHILD_STATES or child.plan.status != PlanStatus.RUNNING:
        return child
    now = datetime.now(UTC)
    try:
        order = child_order_proposed(child=child, now=now)
    except NoVenue as error:
        return _child_refused(child_order_id, reason=str(error), limits=[], actor=actor)
    except StaleBook as error:
        return _child_refused(child_order_id, reason=str(error), limits=[STALE_PRICE], actor=actor)
    # Outside any transaction: a refusal's audit must survive whatever happens next.
    report = limit_check(order=order, actor=actor)
    if not report.passed:
        return _child_refused(child_order_id, reason=report.message, limits=report.limits, actor=actor)
    return _child_execute(child_order_id, order=order, report=report, actor=actor)


def _pending_locked(child_order_id: int) -> tuple[ExecutionPlan, ChildOrder] | None:
    """Lock the plan, then the child; None when the child is no longer pending or its plan no longer runs."""
    plan_id = ChildOrder.objects.values_list("plan_id", flat=True).get(pk=child_order_id)
    plan = (
        ExecutionPlan.objects.select_for_update(of=("self",)).select_related("instrument", "created_by").get(pk=plan_id)
    )
    child = ChildOrder.objects.select_for_update().get(pk=child_order_id)
    if child.status not in selectors.PENDING_CHILD_STATES or plan.status != PlanStatus.RUNNING:
        return None
    child.plan = plan
    return plan, child


def _child_refused(child_order_id: int, *, reason: str, limits: list[str], actor: Actor) -> ChildOrder:
    with transaction.atomic():
        locked = _pending_locked(child_order_id)
        if locked is None:
            return ChildOrder.objects.get(pk=child_order_id)
        plan, child = locked
        child.status, child.reject_reason = ChildOrderStatus.REJECTED, reason[:255]
        child.save(update_fields=["status", "reject_reason"])
        halting = not limits or bool(HALTING_LIMITS.intersection(limits))
        carried_to = None
        if not halting:
            following = (
                ChildOrder.objects.select_for_update()
                .filter(plan=plan, status__in=selectors.PENDING_CHILD_STATES, seq__gt=child.seq)
                .order_by("seq")
                .first()
            )
            if following is not None:
                following.quantity += child.quantity
                following.save(update_fields=["quantity"])
                carried_to = following.client_order_id
        audit_record(
            actor=actor,
            action="child_order.reject",
            obj=child,
            before={"status": ChildOrderStatus.PLANNED},
            after={
                "client_order_id": child.client_order_id,
                "status": child.status,
                "limits": limits,
                "reason": child.reject_reason,
                "plan_action": "halt" if halting else "continue",
                "carried_to": carried_to,
            },
        )
        if halting:
            _status_set(
                plan, PlanStatus.HALTED, actor=actor, action="execution_plan.halt", reason=f"child refused: {reason}"
            )
        else:
            plan.version += 1
            plan.save(update_fields=["version"])
            _progress(plan, child=child.client_order_id, child_status=child.status, limits=limits)
            _plan_finish_if_done(plan, actor=actor)
    return child


def _position_locked(*, book: str, instrument: Instrument) -> Position:
    """The book's position row, locked and created when missing. Not ``desk.db.row_locked``: its ``.first()`` orders
    by ``Position.Meta.ordering``, which joins the instrument, and a plain ``FOR UPDATE`` then locks the instrument's
    row too; on PostgreSQL every fill then serialized on the instrument and deadlocked with any transaction whose
    deferred foreign-key check takes ``FOR KEY SHARE`` on it."""
    rows = Position.objects.select_for_update(of=("self",)).filter(book=book, instrument=instrument).order_by("pk")
    position = rows.first()
    if position is not None:
        return position
    try:
        with transaction.atomic():
            return Position.objects.create(book=book, instrument=instrument)
    except IntegrityError:
        return rows.get()


def position_book_fill(
    *, book: str, instrument: Instrument, side: str, quantity: Decimal, price: Decimal, fee: Decimal = Decimal(0)
) -> Position:
    """Apply one fill to the book's position (call inside the transaction that books the fill)."""
    position = _position_locked(book=book, instrument=instrument)
    state = position_apply(
        PositionState(position.quantity, position.average_price, position.realized_pnl),
        side=side,
        quantity=quantity,
        price=price,
        multiplier=instrument.multiplier,
        fee=fee,
    )
    position.quantity, position.average_price, position.realized_pnl = (
        state.quantity,
        state.average_price,
        state.realized_pnl,
    )
    position.version += 1
    position.save(update_fields=["quantity", "average_price", "realized_pnl", "version", "updated_at"])
    return position


def _child_execute(child_order_id: int, *, order: ProposedOrder, report: CheckReport, actor: Actor) -> ChildOrder:
    with transaction.atomic():
        locked = _pending_locked(child_order_id)
        if locked is None:
            return ChildOrder.objects.get(pk=child_order_id)
        plan, child = locked
        instrument = plan.instrument
        now = datetime.now(UTC)
        rows = list(VenueBook.objects.select_for_update().filter(underlying=instrument.base_currency).order_by("pk"))
        impact = underlying_config(instrument.base_currency).impact
        quotes = [venue_quote(row, now=now) for row in rows]
        size = coins(child.quantity, instrument.multiplier)
        chosen = venue_route(quotes, side=plan.side, coins=size, impact=impact)
        priced = venue().fill(chosen, underlying=instrument.base_currency, side=plan.side, coins=size)
        price = to_decimal(priced.price)
        beyond = price > order.limit_price if plan.side == Side.BUY else price < order.limit_price
        if not beyond:
            _fill_book(plan, child, rows, chosen.venue, priced, price, order, now, actor)
    if beyond:
        return _child_refused(
            child_order_id,
            reason=f"limit_price: {chosen.venue} would fill at {price}, beyond the limit {order.limit_price}",
            limits=["limit_price"],
            actor=actor,
        )
    return child


def _fill_book(
    plan: ExecutionPlan,
    child: ChildOrder,
    rows: list[VenueBook],
    venue: str,
    priced: VenueFill,
    price: Decimal,
    order: ProposedOrder,
    now: datetime,
    actor: Actor,
) -> None:
    instrument = plan.instrument
    mid_before = rows[0].mid
    for row in rows:
        fields = ["mid", "updated_at", "version"]
        row.mid, row.updated_at, row.version = to_decimal(priced.mid_after), now, row.version + 1
        if row.venue == venue:
            row.temporary_impact = to_decimal(priced.temporary_impact_after)
            row.temporary_impact_at, row.depth = now, to_decimal(priced.depth_after)
            fields += ["temporary_impact", "temporary_impact_at", "depth"]
        row.save(update_fields=fields)
    fee = to_decimal(priced.fee)
    fill = Fill.objects.create(
        exec_id=f"{venue}-{child.client_order_id}",
        child_order=child,
        instrument=instrument,
        side=plan.side,
        quantity=child.quantity,
        price=price,
        fee=fee,
        executed_at=now,
    )
    child.status, child.sent_at, child.venue = ChildOrderStatus.FILLED, now, venue
    child.limit_price, child.filled_quantity = order.limit_price, child.quantity
    child.save(update_fields=["status", "sent_at", "venue", "limit_price", "filled_quantity"])
    position = position_book_fill(
        book=order.book, instrument=instrument, side=plan.side, quantity=child.quantity, price=price, fee=fee
    )
    plan.filled_quantity += child.quantity
    plan.version += 1
    plan.save(update_fields=["filled_quantity", "version"])
    audit_record(
        actor=actor,
        action="child_order.fill",
        obj=child,
        before={"status": ChildOrderStatus.PLANNED},
        after={
            "client_order_id": child.client_order_id,
            "exec_id": fill.exec_id,
            "venue": venue,
            "quantity": child.quantity,
            "price": price,
            "fee": fee,
            "limit_price": order.limit_price,
            "mid_before": mid_before,
            "mid_after": rows[0].mid,
            "cost_bps": round(priced.cost_bps, 4),
            "position": position.quantity,
        },
    )
    _progress(plan, child=child.client_order_id, child_status=child.status, venue=venue, price=price, fill=fill.exec_id)
    _plan_finish_if_done(plan, actor=actor)


# --- the worker's loop ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TickOutcome:
    """What one tick did: children it tried to send, and when (seconds) the next tick, if it owns the chain."""

    sent: int
    next_in_s: float | None
    next_seq: int | None


def plan_work(*, plan_id: int, tick_seq: int | None = None, now: datetime | None = None) -> TickOutcome:
    """Send every due child of a running plan (one transaction each), then claim the next tick.

    Only one tick chain per plan re-schedules itself: the tick that moves ``tick_seq`` from its own number to the
    next wins (a conditional update), so a tick delivered twice, a tick of a resumed plan, or one queued by the
    sweep, sends what is due and ends. ``tick_seq`` None takes the plan's current number (a fresh start).
    """
    plan = ExecutionPlan.objects.filter(pk=plan_id).first()
    if plan is None or plan.status != PlanStatus.RUNNING:
        return TickOutcome(0, None, None)
    now = now or datetime.now(UTC)
    sent = 0
    for child_id in selectors.child_orders_due(plan_id=plan_id, now=now):
        try:
            child_order_send(child_order_id=child_id)
        except DatabaseError:
            raise  # the task retries: the database, not the algorithm, failed
        except Exception as error:
            _algo_failed_by_worker(plan_id, f"working child {child_id} raised {error!r}")
            return TickOutcome(sent, None, None)
        sent += 1
        if not ExecutionPlan.objects.filter(pk=plan_id, status=PlanStatus.RUNNING).exists():
            return TickOutcome(sent, None, None)
    try:
        plan_replan_check(plan_id=plan_id, now=now)
    except DatabaseError:
        raise
    except Exception as error:
        _algo_failed_by_worker(plan_id, f"re-plan raised {error!r}")
        return TickOutcome(sent, None, None)
    following = selectors.child_order_next(plan_id=plan_id)
    if following is None:
        return TickOutcome(sent, None, None)
    seq = plan.tick_seq if tick_seq is None else tick_seq
    claimed = ExecutionPlan.objects.filter(pk=plan_id, status=PlanStatus.RUNNING, tick_seq=seq).update(tick_seq=seq + 1)
    if not claimed:
        return TickOutcome(sent, None, None)
    wait = (following.scheduled_at - datetime.now(UTC)).total_seconds()
    return TickOutcome(sent, min(max(wait, 0.0), MAX_TICK_S), seq + 1)


def _algo_failed_by_worker(plan_id: int, reason: str) -> None:
    """The worker's fallback on an exception: a fallback refused (the plan ended meanwhile) is only logged; the
    fallback queues the plan's next tick itself."""
    logger.exception("plan %s: %s", plan_id, reason)
    try:
        plan_algo_failed(plan_id=plan_id, reason=reason, actor=EXECUTION_ACTOR)
    except ExecutionRefused as refused:
        logger.warning("plan %s: no fallback (%s)", plan_id, refused)


def plan_algo_failed(*, plan_id: int, reason: str, actor: Actor) -> ExecutionPlan:
    """A plan's algorithm failed (an exception, a telemetry breach): fall back to the last stable parameter version
    or the conservative protocol, or halt (see :mod:`execution.fallback`)."""
    from execution.fallback import plan_algo_failed as fallback

    return fallback(plan_id=plan_id, reason=reason, actor=actor)


def plan_fallback_to_rfq(
    *, plan_id: int, actor: Actor, reason: str = "", dealers: list[str] | None = None, version: int | None = None
) -> ExecutionPlan:
    """Switch a plan's residual to an RFQ to trusted dealers (see :mod:`execution.fallback`)."""
    from execution.fallback import plan_fallback_to_rfq as switch

    return switch(plan_id=plan_id, actor=actor, reason=reason, dealers=dealers, version=version)


def plans_stalled_find(*, grace_s: float = 5.0) -> list[int]:
    """Running plans whose tick chain looks lost (a child overdue by more than ``grace_s``), for the sweep."""
    return selectors.plans_stalled(now=datetime.now(UTC), grace=timedelta(seconds=grace_s))
