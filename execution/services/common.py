"""What the execution services share: plan locking, progress broadcasts, status changes, the plan's end."""

from __future__ import annotations

import logging
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from desk import clock
from desk.audit import Actor, audit_record
from desk.bus import publish
from desk.events import broadcast
from execution import selectors, tasks
from execution.errors import ExecutionRefused
from execution.models import (
    ExecutionPlan,
    Fill,
    PlanStatus,
)
from execution.venue import (
    STALE_PRICE,
)
from risk.services import KILL_SWITCH_LIMIT, SCOPE_REDUCING_LIMIT

logger = logging.getLogger(__name__)

EXECUTION_ACTOR = "system:execution"
PLAN_PROGRESS = "plan.progress"
# Domain events (desk.bus), announced inside the transaction that books the fill or ends the plan: a plan working
# an RFQ's rest (a split) has its fills allocated to the RFQ's desk orders, and its end settles them (flows).
PLAN_FILL = "execution.plan_fill"
PLAN_END = "execution.plan_end"
PLAN_END_STATES = (PlanStatus.COMPLETED, PlanStatus.CANCELLED, PlanStatus.SWITCHED)
# Refusals after which sending the plan's next child would only be refused again: the plan halts.
HALTING_LIMITS = frozenset(
    {KILL_SWITCH_LIMIT, SCOPE_REDUCING_LIMIT, "max_position", "max_daily_loss", STALE_PRICE, "validated_price"}
)
OPEN_PLAN_STATES = (PlanStatus.DRAFT, PlanStatus.RUNNING, PlanStatus.PAUSED, PlanStatus.HALTED)
DEFAULT_SLIPPAGE_BPS = Decimal(50)
# The worker looks at a running plan at least this often (seconds), even when its next child is far away.
MAX_TICK_S = 30.0


def marketable_limit_price(*, mid: Decimal, slippage_bps: Decimal, side: str, tick: Decimal) -> Decimal:
    """A marketable limit ``slippage_bps`` through ``mid``, rounded to the tick away from the mid: the price a plan's
    child orders carry (and its worst price when the plan is created)."""
    buy = side == "buy"
    slippage = slippage_bps / Decimal(10_000)
    price = mid * (1 + slippage if buy else 1 - slippage)
    ticks = (price / tick).to_integral_value(rounding=ROUND_CEILING if buy else ROUND_FLOOR)
    return ticks * tick


def plan_public(plan: ExecutionPlan) -> dict[str, Any]:
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


def progress(plan: ExecutionPlan, **extra: Any) -> None:
    broadcast(event=PLAN_PROGRESS, payload=plan_public(plan) | extra)


def plan_locked(plan_id: int, version: int | None) -> ExecutionPlan:
    plan = ExecutionPlan.objects.select_for_update(of=("self",)).select_related("instrument").get(pk=plan_id)
    if version is not None and plan.version != version:
        raise ExecutionRefused(f"plan {plan_id} changed (version {plan.version}, not {version}): reload and retry")
    return plan


def tick_queue(plan: ExecutionPlan) -> None:
    tasks.plan_tick.delay_on_commit(plan.pk)


def status_set(plan: ExecutionPlan, status: str, *, actor: Actor, action: str, reason: str = "") -> None:
    before = plan.status
    plan.status, plan.version = status, plan.version + 1
    fields = ["status", "version"]
    now = clock.now()
    if status == PlanStatus.RUNNING and plan.start_at is None:
        plan.start_at = now
        fields.append("start_at")
    if status in PLAN_END_STATES:
        plan.end_at = now
        fields.append("end_at")
    plan.save(update_fields=fields)
    after: dict[str, Any] = {"status": status, "version": plan.version}
    if reason:
        after["reason"] = reason
    audit_record(actor=actor, action=action, obj=plan, before={"status": before}, after=after)
    progress(plan, reason=reason)
    if status in PLAN_END_STATES and before not in PLAN_END_STATES:
        publish(PLAN_END, plan=plan, actor=actor)


def plan_fill_announce(*, plan: ExecutionPlan, fill: Fill, book: str) -> None:
    """Announce a plan's fill, booked with its position in this transaction (the flows react in it too)."""
    publish(PLAN_FILL, plan=plan, fill=fill, book=book)


def plan_finish_if_done(plan: ExecutionPlan, *, actor: Actor) -> None:
    if (
        plan.status == PlanStatus.RUNNING
        and selectors.child_order_next(plan_id=plan.pk) is None
        and not selectors.child_orders_open_at_venue(plan_id=plan.pk)
    ):
        shortfall = plan.quantity - plan.filled_quantity
        status_set(
            plan,
            PlanStatus.COMPLETED,
            actor=actor,
            action="execution_plan.complete",
            reason=f"shortfall {shortfall}" if shortfall else "",
        )
