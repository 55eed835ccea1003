"""Execution reports from a venue for child orders the desk sent: booked once, or kept for review.

A report (:func:`venue_fill_receive`) is booked when its child order is open at the venue (``sent`` or
``partially_filled``) and the quantity fits what is still open. Anything else becomes a
:class:`~execution.models.FillException` for review, never a booking: a child order the desk does not know or
never sent (``unknown_child``), a child already finished (``finished_child``), more than its open quantity
(``overfill``), or an ``exec_id`` already booked with other figures (``mismatch``). The same report delivered again
is recognised by its ``exec_id``: a booked one returns its fill, an exception counts one more delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from desk import clock
from desk.audit import Actor, audit_record
from desk.events import broadcast
from execution.errors import ExecutionRefused
from execution.models import (
    ChildOrder,
    ChildOrderStatus,
    ExecutionPlan,
    Fill,
    FillException,
    FillExceptionReason,
    FillExceptionStatus,
)
from execution.services.common import plan_fill_announce, plan_finish_if_done, progress
from execution.services.permissions import require
from execution.services.positions import position_book_fill

FILL_EXCEPTION_EVENT = "execution.fill_exception"
OPEN_AT_VENUE = (ChildOrderStatus.SENT, ChildOrderStatus.ACKNOWLEDGED, ChildOrderStatus.PARTIALLY_FILLED)
REVIEW_PERMS = ("execution.change_fillexception", "risk.engage_killswitch")


@dataclass(frozen=True)
class VenueReport:
    """An execution report as a venue sends it: quantity in contracts, price in quote currency per coin."""

    client_order_id: str
    exec_id: str
    quantity: Decimal
    price: Decimal
    fee: Decimal = Decimal(0)
    venue: str = ""
    executed_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "client_order_id": self.client_order_id,
            "exec_id": self.exec_id,
            "quantity": str(self.quantity),
            "price": str(self.price),
            "fee": str(self.fee),
            "venue": self.venue,
            "executed_at": self.executed_at.isoformat() if self.executed_at else None,
        }


def _check(report: VenueReport) -> None:
    if not report.exec_id or len(report.exec_id) > 64:
        raise ExecutionRefused({"exec_id": "exec_id must be 1 to 64 characters"})
    if not report.client_order_id or len(report.client_order_id) > 64:
        raise ExecutionRefused({"client_order_id": "client_order_id must be 1 to 64 characters"})
    for name in ("quantity", "price"):
        value = getattr(report, name)
        if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
            raise ExecutionRefused({name: f"{name} must be a positive number, not {value}"})
    if not isinstance(report.fee, Decimal) or not report.fee.is_finite() or report.fee < 0:
        raise ExecutionRefused({"fee": f"fee must not be negative, not {report.fee}"})
    if report.executed_at is not None and report.executed_at.tzinfo is None:
        raise ExecutionRefused({"executed_at": "executed_at must be timezone-aware (UTC)"})


def _exception(
    report: VenueReport, *, reason: str, detail: str, child: ChildOrder | None, actor: Actor
) -> FillException:
    existing = FillException.objects.select_for_update().filter(exec_id=report.exec_id).first()
    if existing is None:
        try:
            with transaction.atomic():
                created = FillException.objects.create(
                    exec_id=report.exec_id,
                    client_order_id=report.client_order_id,
                    child_order=child,
                    reason=reason,
                    detail=detail[:255],
                    report=report.as_json(),
                    received_at=clock.now(),
                )
                audit_record(
                    actor=actor,
                    action="fill_exception.record",
                    obj=created,
                    after={"exec_id": created.exec_id, "reason": reason, "detail": created.detail}
                    | {"report": created.report},
                )
        except IntegrityError:  # the same report, delivered concurrently, won the insert
            existing = FillException.objects.select_for_update().get(exec_id=report.exec_id)
        else:
            payload = {"exception": created.pk, "exec_id": created.exec_id, "reason": reason, "detail": created.detail}
            transaction.on_commit(lambda: broadcast(event=FILL_EXCEPTION_EVENT, payload=payload))
            return created
    FillException.objects.filter(pk=existing.pk).update(deliveries=F("deliveries") + 1)
    existing.refresh_from_db(fields=["deliveries"])
    return existing


def fill_exception_record(
    *, report: VenueReport, reason: str, detail: str, child: ChildOrder | None, actor: Actor
) -> FillException:
    """Keep a report the desk does not book for review (call inside a transaction): one row per ``exec_id``, a
    report delivered again counts one more delivery."""
    return _exception(report, reason=reason, detail=detail, child=child, actor=actor)


def _same(fill: Fill, report: VenueReport) -> bool:
    return (
        fill.child_order is not None
        and fill.child_order.client_order_id == report.client_order_id
        and fill.quantity == report.quantity
        and fill.price == report.price
    )


def venue_fill_receive(*, report: VenueReport, actor: Actor = "system:execution") -> Fill | FillException:
    """Book a venue's execution report on its child order, or record it as an exception (see the module). Returns
    the fill (new, or the one already booked under this ``exec_id``) or the exception. A malformed report raises
    :class:`ExecutionRefused` and stores nothing."""

    _check(report)
    with transaction.atomic():
        booked = Fill.objects.select_related("child_order").filter(exec_id=report.exec_id).first()
        if booked is not None:
            if _same(booked, report):
                return booked
            detail = f"exec id already booked as {booked.quantity} at {booked.price}"
            return _exception(report, reason=FillExceptionReason.MISMATCH, detail=detail, child=None, actor=actor)
        plan_id = (
            ChildOrder.objects.filter(client_order_id=report.client_order_id).values_list("plan_id", flat=True).first()
        )
        if plan_id is None:
            return _exception(
                report, reason=FillExceptionReason.UNKNOWN_CHILD, detail="no such child order", child=None, actor=actor
            )
        plan = (
            ExecutionPlan.objects.select_for_update(of=("self",))
            .select_related("instrument", "created_by")
            .get(pk=plan_id)
        )
        child = ChildOrder.objects.select_for_update().get(client_order_id=report.client_order_id)
        if child.status not in OPEN_AT_VENUE:
            finished = child.status in (ChildOrderStatus.FILLED, ChildOrderStatus.REJECTED, ChildOrderStatus.CANCELLED)
            reason = FillExceptionReason.FINISHED_CHILD if finished else FillExceptionReason.UNKNOWN_CHILD
            detail = f"child order is {child.status}" + ("" if finished else ": it was never sent")
            return _exception(report, reason=reason, detail=detail, child=child, actor=actor)
        open_quantity = child.quantity - child.filled_quantity
        if report.quantity > open_quantity:
            detail = f"{report.quantity} reported, {open_quantity} open"
            return _exception(report, reason=FillExceptionReason.OVERFILL, detail=detail, child=child, actor=actor)
        now = report.executed_at or clock.now()
        fill = Fill.objects.create(
            exec_id=report.exec_id,
            child_order=child,
            instrument=plan.instrument,
            side=plan.side,
            quantity=report.quantity,
            price=report.price,
            fee=report.fee,
            executed_at=now,
        )
        before = child.status
        child.filled_quantity += report.quantity
        child.status = (
            ChildOrderStatus.FILLED if child.filled_quantity == child.quantity else ChildOrderStatus.PARTIALLY_FILLED
        )
        child.save(update_fields=["filled_quantity", "status"])
        book = str(plan.parameters.get("book", "desk"))
        position = position_book_fill(
            book=book,
            instrument=plan.instrument,
            side=plan.side,
            quantity=report.quantity,
            price=report.price,
            fee=report.fee,
        )
        plan.filled_quantity += report.quantity
        plan.version += 1
        plan.save(update_fields=["filled_quantity", "version"])
        plan_fill_announce(plan=plan, fill=fill, book=book)
        audit_record(
            actor=actor,
            action="child_order.fill",
            obj=child,
            before={"status": before},
            after={"exec_id": fill.exec_id, "status": child.status, "position": position.quantity} | report.as_json(),
        )
        progress(plan, child=child.client_order_id, child_status=child.status, price=report.price, fill=fill.exec_id)
        plan_finish_if_done(plan, actor=actor)
    return fill


def fill_exception_review(*, exception_id: int, actor: Actor, note: str) -> FillException:
    """Close an exception after review (what was done about it in ``note``); traders' supervisors and risk."""

    require(actor, *REVIEW_PERMS)
    if not note.strip():
        raise ExecutionRefused({"note": "say what the review found"})
    with transaction.atomic():
        exception = FillException.objects.select_for_update().get(pk=exception_id)
        if exception.status != FillExceptionStatus.OPEN:
            raise ExecutionRefused(f"exception {exception_id} was already reviewed")
        exception.status, exception.review_note = FillExceptionStatus.REVIEWED, note[:255]
        exception.reviewed_at = clock.now()
        exception.reviewed_by = actor if not isinstance(actor, str) else None
        exception.save(update_fields=["status", "review_note", "reviewed_at", "reviewed_by"])
        audit_record(
            actor=actor,
            action="fill_exception.review",
            obj=exception,
            before={"status": FillExceptionStatus.OPEN},
            after={"status": exception.status, "note": exception.review_note},
        )
    return exception
