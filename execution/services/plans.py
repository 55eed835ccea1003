"""The plan lifecycle: create (schedule its children), start, pause, resume, cancel."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Model

from desk import clock
from desk.audit import Actor, audit_record, json_normalize
from desk.fields import to_decimal
from desk.models import Instrument, InstrumentKind, Side
from execution import replan, selectors
from execution.algo_params import algo_params_live
from execution.errors import ExecutionRefused
from execution.models import (
    Algorithm,
    ChildOrder,
    ChildOrderStatus,
    ExecutionPlan,
    PlanStatus,
)
from execution.ports import calibrated_impact
from execution.schedule import plan_schedule, underlying_config_or_refuse
from execution.services.common import (
    DEFAULT_SLIPPAGE_BPS,
    OPEN_PLAN_STATES,
    marketable_limit_price,
    plan_locked,
    plan_public,
    progress,
    status_set,
    tick_queue,
)
from execution.services.permissions import STEER_PERMS, require
from execution.venue import (
    underlying_config,
    venue_books_ensure,
)
from risk.checks import PRICE_COLLAR_BPS
from risk.orders import DEFAULT_BOOK, OrderSize
from risk.services import fat_finger_check


def instrument_algo_workable(*, instrument: Instrument) -> bool:
    """Whether the algorithms can work ``instrument`` on the venues: spot and perpetuals, not options."""
    return instrument.kind != InstrumentKind.OPTION


def _plan_guard(
    *, instrument: Instrument, side: str, quantity: Decimal, parameters: dict[str, Any], slippage: Decimal, user: Any
) -> None:
    """The fat-finger guards on the plan's parent order (:func:`risk.services.fat_finger_check`): its quantity and
    its notional at its worst price (the venue mid through ``max_slippage_bps``, what its child orders will carry)
    against the defaults (the size limit rows bound its children), and that price's distance from the mid against
    the price collar. Refused: :class:`ExecutionRefused` naming ``quantity`` (size, notional) or ``parameters`` (the
    slippage beyond the collar); the refusal is audited."""
    now = clock.now()
    underlying = instrument.base_currency
    venue_books_ensure(underlying=underlying, now=now)
    row = selectors.venue_books(underlying=underlying)[0]
    reference = underlying_config(underlying).volatility_reference
    order = OrderSize(
        book=str(parameters.get("book", DEFAULT_BOOK)),
        trader=user.get_username(),
        instrument=instrument.symbol,
        underlying=underlying,
        side=side,
        quantity=quantity,
        multiplier=Decimal(instrument.multiplier),
        mid=row.mid,
        limit_price=marketable_limit_price(mid=row.mid, slippage_bps=slippage, side=side, tick=instrument.tick_size),
        volatility_ratio=to_decimal(float(row.volatility) / reference) if reference > 0 else Decimal(1),
        reference=f"plan-new/{instrument.symbol}",
        strategy=str(parameters.get("strategy", "")),
    )
    report = fat_finger_check(order=order, actor=user, size_rows=False)
    if not report.passed:
        fields: dict[str, list[str]] = {}
        for refusal in report.refusals:
            field = "parameters" if refusal.limit == PRICE_COLLAR_BPS else "quantity"
            fields.setdefault(field, []).append(refusal.message)
        raise ExecutionRefused(fields)


def plan_create(
    *,
    instrument: Instrument,
    side: str,
    quantity: Decimal,
    algorithm: str,
    parameters: dict[str, Any],
    actor: Actor,
    rfq_leg: Model | None = None,
) -> ExecutionPlan:
    """A draft plan and its child orders, scheduled by the algorithm's kernel. ``client_order_id`` is
    ``P<plan>-<seq>``: a retried send re-uses it. Bad input (side, quantity, algorithm, horizon, kernel
    parameters) raises :class:`ExecutionRefused` and stores nothing."""
    require(actor, "execution.add_executionplan")
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
    if not instrument_algo_workable(instrument=instrument):
        raise ExecutionRefused({"instrument": "the simulated venues trade spot and perpetuals, not options"})
    if not isinstance(parameters, dict):
        raise ExecutionRefused({"parameters": "parameters must be an object"})
    # The algorithm's live parameter version sets the defaults; the plan's own parameters override them.
    algo_params = algo_params_live(algorithm=algorithm)
    if algo_params is not None:
        parameters = algo_params.params | parameters
    try:
        replan.replan_tolerances(parameters)
    except ValueError as error:
        raise ExecutionRefused({"parameters": str(error)}) from None
    underlying_config_or_refuse(instrument.base_currency)
    if algorithm == Algorithm.ALMGREN_CHRISS and "impact_scale" not in parameters:
        parameters = parameters | calibrated_impact(instrument)
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
    _plan_guard(
        instrument=instrument, side=side, quantity=quantity, parameters=parameters, slippage=slippage, user=user
    )
    # Stored as JSON (Decimals as strings), and free of the private keys the schedule is given below.
    stored = json_normalize({k: v for k, v in parameters.items() if not str(k).startswith("_")})
    stored.setdefault("seed", secrets.randbelow(2**31))
    now = clock.now()
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
            after=plan_public(plan)
            | {
                "parameters": stored,
                "algo_params": algo_params.pk if algo_params else None,
                "rfq_leg": rfq_leg.pk if rfq_leg else None,
                "children": [str(q) for q in schedule.quantities],
                "offsets_s": [round(o, 6) for o in schedule.offsets_s],
            },
        )
        progress(plan, children=len(schedule.quantities))
    return plan


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
    require(actor, *STEER_PERMS)
    with transaction.atomic():
        plan = plan_locked(plan_id, version)
        if plan.status != PlanStatus.DRAFT:
            raise ExecutionRefused(f"plan {plan_id} is {plan.status}, only a draft can be started")
        now = clock.now()
        _children_retime(plan, now)
        venue_books_ensure(underlying=plan.instrument.base_currency, now=now)
        plan.baseline = replan.plan_baseline(plan=plan, now=now, row=replan.primary_book(plan))
        plan.save(update_fields=["baseline"])
        status_set(plan, PlanStatus.RUNNING, actor=actor, action="execution_plan.start")
        tick_queue(plan)
    return plan


def plan_pause(*, plan_id: int, actor: Actor, reason: str = "", version: int | None = None) -> ExecutionPlan:
    """Pause a running plan: no child leaves until it is resumed (a child already being sent finishes first)."""
    require(actor, *STEER_PERMS)
    with transaction.atomic():
        plan = plan_locked(plan_id, version)
        if plan.status != PlanStatus.RUNNING:
            raise ExecutionRefused(f"plan {plan_id} is {plan.status}, only a running plan can be paused")
        status_set(plan, PlanStatus.PAUSED, actor=actor, action="execution_plan.pause", reason=reason)
    return plan


def plan_resume(*, plan_id: int, actor: Actor, reason: str = "", version: int | None = None) -> ExecutionPlan:
    """Resume a paused or halted plan. Overdue children are re-timed from now with their spacing kept; a halted
    plan's children still pass the pre-trade check, so an engaged kill switch halts it again."""
    require(actor, *STEER_PERMS)
    with transaction.atomic():
        plan = plan_locked(plan_id, version)
        if plan.status not in (PlanStatus.PAUSED, PlanStatus.HALTED):
            raise ExecutionRefused(f"plan {plan_id} is {plan.status}, only a paused or halted plan can be resumed")
        _children_retime(plan, clock.now())
        status_set(plan, PlanStatus.RUNNING, actor=actor, action="execution_plan.resume", reason=reason)
        tick_queue(plan)
    return plan


def plan_cancel(*, plan_id: int, actor: Actor, reason: str = "", version: int | None = None) -> ExecutionPlan:
    """Cancel an open plan: its children not yet sent are cancelled; fills already booked stay."""
    require(actor, *STEER_PERMS)
    with transaction.atomic():
        plan = plan_locked(plan_id, version)
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
        status_set(
            plan,
            PlanStatus.CANCELLED,
            actor=actor,
            action="execution_plan.cancel",
            reason=reason or f"{len(pending)} children cancelled",
        )
    return plan
