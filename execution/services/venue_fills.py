"""A child order executed on the venues (fill, venue rows, position, plan) or refused (rejected, carried, halted)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction

from desk import clock
from desk.audit import Actor, audit_record
from desk.fields import to_decimal
from desk.models import Side, VenueBook
from execution import selectors
from execution.models import (
    ChildOrder,
    ChildOrderStatus,
    ExecutionPlan,
    Fill,
    PlanStatus,
)
from execution.services.common import HALTING_LIMITS, plan_fill_announce, plan_finish_if_done, progress, status_set
from execution.services.positions import position_book_fill
from execution.venue import (
    VenueFill,
    coins,
    underlying_config,
    venue,
    venue_quote,
    venue_route,
)
from risk.orders import ProposedOrder
from risk.services import CheckReport


def pending_locked(child_order_id: int) -> tuple[ExecutionPlan, ChildOrder] | None:
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


def child_refused(child_order_id: int, *, reason: str, limits: list[str], actor: Actor) -> ChildOrder:
    with transaction.atomic():
        locked = pending_locked(child_order_id)
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
            status_set(
                plan, PlanStatus.HALTED, actor=actor, action="execution_plan.halt", reason=f"child refused: {reason}"
            )
        else:
            plan.version += 1
            plan.save(update_fields=["version"])
            progress(plan, child=child.client_order_id, child_status=child.status, limits=limits)
            plan_finish_if_done(plan, actor=actor)
    return child


def child_execute(child_order_id: int, *, order: ProposedOrder, report: CheckReport, actor: Actor) -> ChildOrder:
    with transaction.atomic():
        locked = pending_locked(child_order_id)
        if locked is None:
            return ChildOrder.objects.get(pk=child_order_id)
        plan, child = locked
        instrument = plan.instrument
        now = clock.now()
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
        return child_refused(
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
    plan_fill_announce(plan=plan, fill=fill, book=order.book)
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
    progress(plan, child=child.client_order_id, child_status=child.status, venue=venue, price=price, fill=fill.exec_id)
    plan_finish_if_done(plan, actor=actor)
