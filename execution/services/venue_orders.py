"""Child orders at the venues over the asynchronous port (``settings.DESK_VENUE == "fix"``): queued in the outbox,
acknowledged, filled in parts, cancelled, replaced or rejected by what the venue reports.

Exactly once across the wire
----------------------------
- :func:`child_order_queue` routes a child that passed the pre-trade check and stores its NewOrderSingle in the
  outbox (:class:`~execution.models.VenueOutbox`) under its ClOrdID (the child's ``client_order_id``), in the
  transaction that marks the child ``sent``. Nothing is sent there: the venue gateway (:mod:`execution.fix`)
  takes the row (:func:`outbox_take`) in the transaction that stores the FIX message with its MsgSeqNum, so a
  crash before leaves it to be taken after the restart, and a crash after leaves the session to resend it.
- :func:`venue_report_apply` runs in the transaction that records the inbound FIX message: a report counts once
  per (venue, ExecID) (:class:`~execution.models.VenueReport`), and a fill whose CumQty the child already holds
  moves nothing. A trade for an unknown or finished order, beyond the order's quantity, or at a price outside its
  limit becomes a :class:`~execution.models.FillException` for review and moves no position.
- After a logon the gateway asks the venue for the status of every order the desk thinks open
  (:func:`orders_to_reconcile`); an Order Status report books what the desk missed (the CumQty above what it
  holds, at the price the venue's AvgPx implies) and closes what the venue closed. Only then is the venue marked up
  (:func:`venue_up`) and the outbox drained. While running, orders sent and not acknowledged, or whose cancel is
  not confirmed, are asked about past a timeout (:func:`orders_in_flight`).
- A venue that disconnects pauses the running plans with orders at it (:func:`venue_down`); they resume when it is
  back and reconciled. A kill switch cancels the open venue orders of the plans it halts (:func:`orders_cancel`)
  and, once the last cancel is confirmed, records ``venue.cancels_acknowledged``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from desk import clock
from desk.audit import Actor, audit_record
from desk.events import broadcast
from desk.fix import codec
from desk.fix.store import LOGGED_ON, Outgoing
from desk.models import VenueBook
from execution import selectors
from execution.crash import crash_point
from execution.fills import VenueReport as FillReport
from execution.fills import fill_exception_record, venue_fill_receive
from execution.models import (
    ChildOrder,
    ChildOrderStatus,
    ExecutionPlan,
    FillException,
    FillExceptionReason,
    OutboxKind,
    PlanStatus,
    VenueFixMessage,
    VenueOutbox,
    VenueReport,
    VenueReportOutcome,
    VenueSessionRecord,
)
from execution.services.common import plan_finish_if_done, progress, status_set, tick_queue
from execution.services.venue_fills import pending_locked
from execution.venue import coins, underlying_config, venue_quote, venue_route
from execution.venue_orders import (
    CancelRequest,
    ExecType,
    ExecutionReport,
    NewOrder,
    OrdStatus,
    PortMessage,
    StatusRequest,
    child_of_cl_ord_id,
    fix_body,
    port_message_from_json,
    port_message_json,
)
from risk.orders import ProposedOrder

logger = logging.getLogger(__name__)

VENUE_ACTOR = "system:venues"
FIX_MODE = "fix"
OPEN_AT_VENUE = (ChildOrderStatus.SENT, ChildOrderStatus.ACKNOWLEDGED, ChildOrderStatus.PARTIALLY_FILLED)
ANY_VENUE = "*"
CANCELS_DONE_EVENT = "execution.venue_cancels_done"


def venue_port_enabled() -> bool:
    """Whether child orders leave over the asynchronous port (FIX venues) rather than the in-process venue."""
    return settings.DESK_VENUE == FIX_MODE


def venues_up() -> list[str]:
    """Venues whose session is logged on and reconciled: the only ones new orders are routed to."""
    return list(
        VenueSessionRecord.objects.filter(status=LOGGED_ON, reconciled_at__isnull=False).values_list(
            "target_comp_id", flat=True
        )
    )


def _carry_remainder(plan: ExecutionPlan, child: ChildOrder) -> str | None:
    """The unfilled part of a child the venue closed goes to the plan's next pending child (as a refused child's
    quantity does); its client order id, or None when there is none (the plan then ends with a shortfall)."""
    remainder = child.quantity - child.filled_quantity
    if remainder <= 0:
        return None
    following = (
        ChildOrder.objects.select_for_update()
        .filter(plan=plan, status__in=selectors.PENDING_CHILD_STATES, seq__gt=child.seq)
        .order_by("seq")
        .first()
    )
    if following is None:
        return None
    following.quantity += remainder
    following.save(update_fields=["quantity"])
    return following.client_order_id


def child_order_queue(child_order_id: int, *, order: ProposedOrder, actor: Actor) -> ChildOrder:
    """Route a child that passed the pre-trade check to the cheapest venue that is up, and store its
    NewOrderSingle in the outbox; the child is ``sent``. With no venue up the plan pauses until one returns."""
    with transaction.atomic():
        locked = pending_locked(child_order_id)
        if locked is None:
            return ChildOrder.objects.get(pk=child_order_id)
        plan, child = locked
        instrument = plan.instrument
        now = clock.now()
        rows = list(VenueBook.objects.filter(underlying=instrument.base_currency, venue__in=venues_up()))
        if not rows:
            plan.paused_for_venue = ANY_VENUE
            plan.save(update_fields=["paused_for_venue"])
            status_set(plan, PlanStatus.PAUSED, actor=actor, action="execution_plan.pause", reason="no venue is up")
            return child
        impact = underlying_config(instrument.base_currency).impact
        chosen = venue_route(
            [venue_quote(row, now=now) for row in rows],
            side=plan.side,
            coins=coins(child.quantity, instrument.multiplier),
            impact=impact,
        )
        child.status, child.venue, child.sent_at = ChildOrderStatus.SENT, chosen.venue, now
        child.limit_price, child.cl_ord_id = order.limit_price, child.client_order_id
        child.save(update_fields=["status", "venue", "sent_at", "limit_price", "cl_ord_id"])
        message = NewOrder(
            cl_ord_id=child.client_order_id,
            symbol=instrument.symbol,
            side=plan.side,
            quantity=child.quantity,
            price=order.limit_price,
        )
        VenueOutbox.objects.create(
            venue=chosen.venue,
            kind=OutboxKind.NEW,
            child_order=child,
            cl_ord_id=message.cl_ord_id,
            fields=port_message_json(message),
        )
        audit_record(
            actor=actor,
            action="child_order.send",
            obj=child,
            before={"status": ChildOrderStatus.PLANNED},
            after={"status": child.status, "venue": chosen.venue} | port_message_json(message),
        )
        progress(plan, child=child.client_order_id, child_status=child.status, venue=chosen.venue)
        crash_point("before_send")
    return child


# ---------------------------------------------------------------------- the gateway's side: outbox and requests


def outbox_pending(*, venue: str) -> list[int]:
    """Ids of the venue's outbox rows not sent yet, oldest first."""
    return list(
        VenueOutbox.objects.filter(venue=venue, sent_at__isnull=True).order_by("pk").values_list("pk", flat=True)
    )


def outbox_take(*, outbox_id: int) -> list[Outgoing]:
    """The FIX message of an outbox row, marking it sent (call in the session store's transaction); nothing when
    it was taken already."""
    row = VenueOutbox.objects.select_for_update().filter(pk=outbox_id, sent_at__isnull=True).first()
    if row is None:
        return []
    row.sent_at = clock.now()
    row.save(update_fields=["sent_at"])
    message = port_message_from_json(row.fields)
    return [Outgoing(message.msg_type, fix_body(message, transact_time=codec.format_utc_timestamp(row.sent_at)))]


def _status_request(child: ChildOrder) -> PortMessage:
    return StatusRequest(
        cl_ord_id=child.cl_ord_id or child.client_order_id, symbol=child.plan.instrument.symbol, side=child.plan.side
    )


def status_request_take(*, child_order_id: int) -> list[Outgoing]:
    """An OrderStatusRequest for the child, noting when it was asked (call in the session store's transaction)."""
    child = ChildOrder.objects.select_for_update().select_related("plan__instrument").get(pk=child_order_id)
    child.status_requested_at = clock.now()
    child.save(update_fields=["status_requested_at"])
    message = _status_request(child)
    return [Outgoing(message.msg_type, fix_body(message, transact_time=""))]


def orders_to_reconcile(*, venue: str) -> list[int]:
    """Children the desk holds open at the venue (sent and not finished): their status is asked after a logon."""
    return list(
        ChildOrder.objects.filter(venue=venue, status__in=OPEN_AT_VENUE, outbox__sent_at__isnull=False)
        .distinct()
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def orders_in_flight(*, venue: str, timeout_s: float, now: datetime | None = None) -> list[int]:
    """Children whose NewOrderSingle went out and was not acknowledged, or whose cancel was not confirmed, for
    longer than ``timeout_s`` (and not asked about for as long): the venue is asked for their status."""
    now = now or clock.now()
    cutoff = now - timedelta(seconds=timeout_s)
    open_ = ChildOrder.objects.filter(venue=venue, status__in=OPEN_AT_VENUE, outbox__sent_at__lt=cutoff)
    waiting = open_.filter(status=ChildOrderStatus.SENT) | open_.filter(cancel_requested_at__lt=cutoff)
    quiet = waiting.filter(status_requested_at__isnull=True) | waiting.filter(status_requested_at__lt=cutoff)
    return sorted(set(quiet.values_list("pk", flat=True)))


def venue_down(*, venue: str, actor: Actor = VENUE_ACTOR) -> list[int]:
    """The venue's session dropped: it is no longer reconciled, and the running plans with orders open at it pause
    (``paused_for_venue``) until it is back. Their ids."""
    with transaction.atomic():
        VenueSessionRecord.objects.filter(target_comp_id=venue).update(reconciled_at=None)
        plan_ids = set(
            ChildOrder.objects.filter(venue=venue, status__in=OPEN_AT_VENUE).values_list("plan_id", flat=True)
        )
        paused = []
        for plan in (
            ExecutionPlan.objects.select_for_update(of=("self",))
            .select_related("instrument")
            .filter(pk__in=plan_ids, status=PlanStatus.RUNNING)
            .order_by("pk")
        ):
            plan.paused_for_venue = venue
            plan.save(update_fields=["paused_for_venue"])
            status_set(
                plan,
                PlanStatus.PAUSED,
                actor=actor,
                action="execution_plan.pause",
                reason=f"venue {venue} disconnected",
            )
            paused.append(plan.pk)
        audit_record(actor=actor, action="venue.down", obj=None, after={"venue": venue, "plans_paused": paused})
    return paused


def venue_up(*, venue: str, actor: Actor = VENUE_ACTOR) -> list[int]:
    """The venue is logged on and reconciled: new orders may go to it, and the plans its disconnection (or the lack
    of any venue) paused run again. Their ids."""
    with transaction.atomic():
        VenueSessionRecord.objects.filter(target_comp_id=venue).update(reconciled_at=clock.now())
        resumed = []
        for plan in (
            ExecutionPlan.objects.select_for_update(of=("self",))
            .select_related("instrument")
            .filter(status=PlanStatus.PAUSED, paused_for_venue__in=(venue, ANY_VENUE))
            .order_by("pk")
        ):
            plan.paused_for_venue = ""
            plan.save(update_fields=["paused_for_venue"])
            status_set(
                plan, PlanStatus.RUNNING, actor=actor, action="execution_plan.resume", reason=f"venue {venue} is back"
            )
            tick_queue(plan)
            # Its last fills may have come while it was paused: then it is done now.
            plan_finish_if_done(plan, actor=actor)
            resumed.append(plan.pk)
        audit_record(actor=actor, action="venue.up", obj=None, after={"venue": venue, "plans_resumed": resumed})
    return resumed


def orders_cancel(*, plan_ids: Iterable[int], reason: str, actor: Actor) -> int:
    """Queue an OrderCancelRequest for every order of these plans open at a venue (call in the transaction that
    halted them); how many. ``reason`` (the kill switch) is kept on each child until the venue confirms."""
    children = list(
        ChildOrder.objects.select_for_update()
        .select_related("plan__instrument")
        .filter(plan_id__in=plan_ids, status__in=OPEN_AT_VENUE, cancel_requested_at__isnull=True)
        .order_by("pk")
    )
    now = clock.now()
    for child in children:
        child.cancel_requested_at, child.cancel_reason = now, reason[:255]
        child.save(update_fields=["cancel_requested_at", "cancel_reason"])
        message = CancelRequest(
            cl_ord_id=f"{child.client_order_id}~C",
            orig_cl_ord_id=child.cl_ord_id or child.client_order_id,
            symbol=child.plan.instrument.symbol,
            side=child.plan.side,
            quantity=child.quantity,
        )
        VenueOutbox.objects.create(
            venue=child.venue,
            kind=OutboxKind.CANCEL,
            child_order=child,
            cl_ord_id=message.cl_ord_id,
            fields=port_message_json(message),
        )
        audit_record(
            actor=actor,
            action="child_order.cancel_request",
            obj=child,
            after={"cl_ord_id": message.cl_ord_id, "venue": child.venue, "reason": reason},
        )
    return len(children)


def _cancels_check_done(child: ChildOrder, actor: Actor) -> None:
    """When the last order cancelled for a reason (a kill switch) is closed at its venue, say so."""
    if child.cancel_requested_at is None or not child.cancel_reason:
        return
    still_open = ChildOrder.objects.filter(
        cancel_reason=child.cancel_reason, cancel_requested_at__isnull=False, status__in=OPEN_AT_VENUE
    ).exclude(pk=child.pk)
    if still_open.exists():
        return
    count = ChildOrder.objects.filter(cancel_reason=child.cancel_reason, cancel_requested_at__isnull=False).count()
    payload = {"reason": child.cancel_reason, "orders": count, "last_acknowledged_at": clock.now().isoformat()}
    audit_record(actor=actor, action="venue.cancels_acknowledged", obj=None, after=payload)
    transaction.on_commit(lambda: broadcast(event=CANCELS_DONE_EVENT, payload=payload))


# ---------------------------------------------------------------------- what the venue reports


def _record(
    venue: str, report: ExecutionReport, child: ChildOrder | None, outcome: str, detail: str = ""
) -> VenueReport:
    return VenueReport.objects.create(
        venue=venue,
        exec_id=report.exec_id[:64],
        exec_type=report.exec_type,
        ord_status=report.ord_status,
        cl_ord_id=report.cl_ord_id[:72],
        child_order=child,
        outcome=outcome,
        detail=detail[:255],
        fields=report.as_json(),
        received_at=clock.now(),
    )


def _hold(
    venue: str, report: ExecutionReport, child: ChildOrder | None, reason: str, detail: str, actor: Actor
) -> VenueReport:
    """A trade the desk will not book: a fill exception for review (audited there), and the report recorded."""
    fill_exception_record(
        report=FillReport(
            client_order_id=report.cl_ord_id[:64],
            exec_id=f"{venue}:{report.exec_id}"[:64],
            quantity=report.last_qty,
            price=report.last_px or Decimal(0),
            venue=venue,
        ),
        reason=reason,
        detail=detail,
        child=child,
        actor=actor,
    )
    return _record(venue, report, child, VenueReportOutcome.HELD, detail)


def _refuse(venue: str, report: ExecutionReport, child: ChildOrder | None, detail: str, actor: Actor) -> VenueReport:
    audit_record(
        actor=actor,
        action="venue_report.refuse",
        obj=child,
        after={"venue": venue, "detail": detail, "report": report.as_json()},
    )
    return _record(venue, report, child, VenueReportOutcome.REFUSED, detail)


def venue_report_apply(*, venue: str, report: ExecutionReport, actor: Actor = VENUE_ACTOR) -> VenueReport:
    """Apply one ExecutionReport from ``venue`` (see the module); the recorded report (the earlier one when this
    ExecID was seen before). Call inside the transaction that records the inbound message."""
    seen = VenueReport.objects.filter(venue=venue, exec_id=report.exec_id[:64]).first()
    if seen is not None:
        return seen
    child_key = child_of_cl_ord_id(report.cl_ord_id or report.orig_cl_ord_id)
    child_row = ChildOrder.objects.filter(client_order_id=child_key, venue=venue).first()
    if child_row is None:
        detail = f"no order {report.cl_ord_id} was sent to {venue}"
        if report.is_trade:
            return _hold(venue, report, None, FillExceptionReason.UNKNOWN_CHILD, detail, actor)
        return _refuse(venue, report, None, detail, actor)
    plan = ExecutionPlan.objects.select_for_update(of=("self",)).select_related("instrument").get(pk=child_row.plan_id)
    child = ChildOrder.objects.select_for_update().get(pk=child_row.pk)
    child.plan = plan
    if report.is_trade or (report.exec_type == ExecType.ORDER_STATUS and report.cum_qty > child.filled_quantity):
        return _trade(venue, report, plan, child, actor)
    if report.exec_type in (ExecType.NEW, ExecType.PENDING_NEW) or (
        report.exec_type == ExecType.ORDER_STATUS and report.ord_status in (OrdStatus.NEW, OrdStatus.PARTIALLY_FILLED)
    ):
        return _acknowledge(venue, report, child, actor)
    if report.exec_type in (ExecType.CANCELED, ExecType.EXPIRED) or (
        report.exec_type == ExecType.ORDER_STATUS
        and report.ord_status in (OrdStatus.CANCELED, OrdStatus.EXPIRED, OrdStatus.REJECTED)
    ):
        return _close(venue, report, plan, child, actor)
    if report.exec_type == ExecType.REJECTED:
        return _close(venue, report, plan, child, actor)
    if report.exec_type == ExecType.REPLACED:
        return _replaced(venue, report, plan, child, actor)
    return _record(venue, report, child, VenueReportOutcome.APPLIED, "nothing to change")


def _acknowledge(venue: str, report: ExecutionReport, child: ChildOrder, actor: Actor) -> VenueReport:
    if child.status != ChildOrderStatus.SENT:
        return _record(venue, report, child, VenueReportOutcome.APPLIED, f"child already {child.status}")
    child.status, child.acknowledged_at = ChildOrderStatus.ACKNOWLEDGED, clock.now()
    child.venue_order_id = report.order_id[:64]
    child.save(update_fields=["status", "acknowledged_at", "venue_order_id"])
    latency_ms = None
    if child.sent_at is not None:
        latency_ms = round((child.acknowledged_at - child.sent_at).total_seconds() * 1000, 3)
    audit_record(
        actor=actor,
        action="child_order.ack",
        obj=child,
        before={"status": ChildOrderStatus.SENT},
        after={
            "status": child.status,
            "venue": venue,
            "order_id": child.venue_order_id,
            "exec_id": report.exec_id,
            "ack_latency_ms": latency_ms,
        },
    )
    progress(child.plan, child=child.client_order_id, child_status=child.status, venue=venue)
    return _record(venue, report, child, VenueReportOutcome.APPLIED)


def _trade(venue: str, report: ExecutionReport, plan: ExecutionPlan, child: ChildOrder, actor: Actor) -> VenueReport:
    reconciling = report.exec_type == ExecType.ORDER_STATUS
    if child.status not in OPEN_AT_VENUE and not reconciling:
        return _hold(venue, report, child, FillExceptionReason.FINISHED_CHILD, f"child order is {child.status}", actor)
    if report.cum_qty > child.quantity or (report.order_qty and report.order_qty != child.quantity):
        detail = f"CumQty {report.cum_qty} of OrderQty {report.order_qty}, the order is {child.quantity}"
        return _hold(venue, report, child, FillExceptionReason.OVERFILL, detail, actor)
    if report.cum_qty <= child.filled_quantity:
        return _record(
            venue,
            report,
            child,
            VenueReportOutcome.APPLIED,
            f"CumQty {report.cum_qty} already booked ({child.filled_quantity})",
        )
    if reconciling:
        # What the desk missed: the CumQty above what it holds, at the price the venue's AvgPx leaves for it.
        quantity = report.cum_qty - child.filled_quantity
        held_value = (child.average_price or Decimal(0)) * child.filled_quantity
        price = ((report.avg_px * report.cum_qty - held_value) / quantity).quantize(Decimal("1e-8"))
        exec_id = f"{venue}:{report.order_id}:cum{report.cum_qty}"
    else:
        quantity, price, exec_id = report.last_qty, report.last_px or Decimal(0), f"{venue}:{report.exec_id}"
        if report.cum_qty - child.filled_quantity != quantity:
            detail = f"LastQty {quantity} but CumQty {report.cum_qty} after {child.filled_quantity} booked"
            return _hold(venue, report, child, FillExceptionReason.MISMATCH, detail, actor)
    limit = child.limit_price
    if limit is not None and price > 0 and (price > limit if plan.side == "buy" else price < limit):
        detail = f"{venue} filled at {price}, beyond the limit {limit}"
        return _hold(venue, report, child, FillExceptionReason.OUTSIDE_LIMIT, detail, actor)
    if price <= 0:
        return _hold(venue, report, child, FillExceptionReason.MISMATCH, "no price for the missed quantity", actor)
    booked = venue_fill_receive(
        report=FillReport(
            client_order_id=child.client_order_id,
            exec_id=exec_id[:64],
            quantity=quantity,
            price=price,
            fee=Decimal(0) if reconciling else report.commission,
            venue=venue,
        ),
        actor=actor,
    )
    if isinstance(booked, FillException):
        return _record(venue, report, child, VenueReportOutcome.HELD, booked.detail)
    child.refresh_from_db(fields=["status", "filled_quantity"])
    child.filled_at, child.average_price = clock.now(), report.avg_px
    if report.order_id and not child.venue_order_id:
        child.venue_order_id = report.order_id[:64]
    child.save(update_fields=["filled_at", "average_price", "venue_order_id"])
    if child.status not in OPEN_AT_VENUE:
        _cancels_check_done(child, actor)
    return _record(venue, report, child, VenueReportOutcome.BOOKED, "reconciled" if reconciling else "")


def _close(venue: str, report: ExecutionReport, plan: ExecutionPlan, child: ChildOrder, actor: Actor) -> VenueReport:
    if child.status not in OPEN_AT_VENUE:
        return _record(venue, report, child, VenueReportOutcome.APPLIED, f"child already {child.status}")
    before = child.status
    rejected = report.exec_type == ExecType.REJECTED or report.ord_status == OrdStatus.REJECTED
    if rejected and child.filled_quantity == 0:
        child.status, child.reject_reason = ChildOrderStatus.REJECTED, (report.text or "rejected by the venue")[:255]
    else:
        child.status = ChildOrderStatus.CANCELLED
        child.reject_reason = (report.text or f"{report.exec_type} by {venue}")[:255]
    child.save(update_fields=["status", "reject_reason"])
    carried_to = None if child.cancel_requested_at is not None else _carry_remainder(plan, child)
    audit_record(
        actor=actor,
        action="child_order.reject" if rejected else "child_order.cancel",
        obj=child,
        before={"status": before},
        after={
            "status": child.status,
            "venue": venue,
            "reason": child.reject_reason,
            "filled_quantity": child.filled_quantity,
            "carried_to": carried_to,
            "exec_id": report.exec_id,
        },
    )
    plan.version += 1
    plan.save(update_fields=["version"])
    progress(plan, child=child.client_order_id, child_status=child.status, venue=venue)
    plan_finish_if_done(plan, actor=actor)
    _cancels_check_done(child, actor)
    return _record(venue, report, child, VenueReportOutcome.APPLIED)


def _replaced(venue: str, report: ExecutionReport, plan: ExecutionPlan, child: ChildOrder, actor: Actor) -> VenueReport:
    if report.order_qty < child.filled_quantity or report.order_qty <= 0:
        return _refuse(venue, report, child, f"replaced OrderQty {report.order_qty} below the filled quantity", actor)
    before = {"cl_ord_id": child.cl_ord_id, "quantity": child.quantity, "limit_price": child.limit_price}
    child.cl_ord_id, child.quantity = report.cl_ord_id[:72], report.order_qty
    if report.price is not None:
        child.limit_price = report.price
    child.save(update_fields=["cl_ord_id", "quantity", "limit_price"])
    audit_record(
        actor=actor,
        action="child_order.replace",
        obj=child,
        before=before,
        after={"cl_ord_id": child.cl_ord_id, "quantity": child.quantity, "limit_price": child.limit_price},
    )
    return _record(venue, report, child, VenueReportOutcome.APPLIED)


def venue_message_refused(
    *, venue: str, ref_seq: int | None, cl_ord_id: str, text: str, kind: str, actor: Actor = VENUE_ACTOR
) -> ChildOrder | None:
    """The venue refused one of our messages (Reject 3, BusinessMessageReject j, OrderCancelReject 9): an order
    it refused is ``rejected`` (its quantity carried on), a refused cancel is recorded; always audited. The child,
    or None when the message named no order of ours."""
    if not cl_ord_id and ref_seq is not None:
        stored = VenueFixMessage.objects.filter(session__target_comp_id=venue, direction="out", seq=ref_seq).first()
        if stored is not None:
            cl_ord_id = codec.field(codec.decode(stored.raw.encode("latin-1")), 11) or ""
    child_row = (
        ChildOrder.objects.filter(client_order_id=child_of_cl_ord_id(cl_ord_id), venue=venue).first()
        if cl_ord_id
        else None
    )
    audit_record(
        actor=actor,
        action="venue_message.refused",
        obj=child_row,
        after={"venue": venue, "kind": kind, "ref_seq": ref_seq, "cl_ord_id": cl_ord_id, "text": text[:200]},
    )
    if child_row is None or "~" in cl_ord_id:
        return child_row
    plan = ExecutionPlan.objects.select_for_update(of=("self",)).select_related("instrument").get(pk=child_row.plan_id)
    child = ChildOrder.objects.select_for_update().get(pk=child_row.pk)
    if child.status != ChildOrderStatus.SENT:
        return child
    child.status, child.reject_reason = ChildOrderStatus.REJECTED, f"{venue} refused the order: {text}"[:255]
    child.save(update_fields=["status", "reject_reason"])
    carried_to = _carry_remainder(plan, child)
    audit_record(
        actor=actor,
        action="child_order.reject",
        obj=child,
        before={"status": ChildOrderStatus.SENT},
        after={"status": child.status, "reason": child.reject_reason, "carried_to": carried_to},
    )
    plan.version += 1
    plan.save(update_fields=["version"])
    progress(plan, child=child.client_order_id, child_status=child.status, venue=venue)
    plan_finish_if_done(plan, actor=actor)
    return child
