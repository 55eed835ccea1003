"""The end of an RFQ: expiry or cancellation (a kill switch cancels the open RFQs under its scope) of the RFQ, its
quote requests and quotes, and what becomes of the desk orders it aggregated (:func:`rfq_orders_settle`).

An RFQ's desk orders are never left with nothing working them. While the RFQ asks dealers (draft, sent, quoted; or
partly accepted with a firm quote still there to take) they stay ``aggregated``. Once it no longer asks, they are
``working`` while something still works their rest (a dealer order not yet filled or rejected, or an execution plan
working a split's rest: :func:`rfq.ports.residual_working`); once nothing does, what is left of each goes back to
``new`` (``desk_order.release``), and the next aggregation takes it again: crossed, asked of dealers in a new RFQ,
re-asked there, or split to a plan, by the same wait-or-split logic. A partly accepted RFQ is closed then (its live
quotes expire): its rest is asked again in the new RFQ, never taken twice."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet

from desk import clock
from desk.audit import Actor, audit_record
from desk.events import broadcast
from desk.fields import decimal_plain
from desk.models import DecisionKind, DecisionRecord
from rfq.models import (
    RFQ,
    DealerOrder,
    DealerOrderStatus,
    DeskOrder,
    DeskOrderStatus,
    Firmness,
    Quote,
    QuoteRequest,
    QuoteRequestStatus,
    QuoteStatus,
    RFQStatus,
)
from rfq.ports import residual_working

LIFECYCLE_ACTOR = "system:rfq-lifecycle"
RELEASE_ACTION = "desk_order.release"
# An RFQ in these states still asks dealers: its orders stay aggregated in it.
ASKING = (RFQStatus.DRAFT, RFQStatus.SENT, RFQStatus.QUOTED)
# The states of an order an RFQ holds (in it, or worked after it).
HELD = (DeskOrderStatus.AGGREGATED, DeskOrderStatus.WORKING)


def _orders_held(rfq: RFQ) -> list[DeskOrder]:
    """The RFQ's orders still held (aggregated, or worked after an RFQ), locked."""
    return list(DeskOrder.objects.select_for_update(of=("self",)).filter(rfqs=rfq, status__in=HELD).order_by("id"))


def _still_asking(rfq: RFQ, now: datetime) -> bool:
    if rfq.status in ASKING:
        # One past its expiry is closed by rfq_expire, which settles its orders then.
        return True
    if rfq.status != RFQStatus.PARTIALLY_ACCEPTED or (rfq.expires_at is not None and rfq.expires_at <= now):
        return False
    return rfq.quotes.filter(status=QuoteStatus.LIVE, firmness=Firmness.FIRM, valid_until__gt=now).exists()


def _still_worked(rfq: RFQ) -> bool:
    pending = DealerOrder.objects.filter(
        quote__rfq=rfq, status__in=(DealerOrderStatus.SENT, DealerOrderStatus.PARTIALLY_FILLED)
    ).exists()
    return pending or residual_working(rfq=rfq)


def _working_elsewhere(order: DeskOrder, rfq: RFQ, now: datetime) -> bool:
    """Whether another RFQ of the order still asks for it or works it: an RFQ a plan's rest switched to, or the
    newer RFQ of an order handed back and aggregated again. That RFQ settles it."""
    others = RFQ.objects.filter(orders=order).exclude(pk=rfq.pk)
    return any(_still_asking(other, now) or _still_worked(other) for other in others)


def rfq_orders_settle(*, rfq: RFQ, actor: Actor = LIFECYCLE_ACTOR, now: datetime | None = None) -> list[int]:
    """Put the desk orders ``rfq`` holds in the state its own state calls for (see the module): ``aggregated``
    while it asks, ``working`` while a dealer order or a plan still works them, else back to ``new`` with what is
    left (a partly accepted RFQ is closed then, its live quotes expired). Call it inside a transaction holding the
    RFQ's row lock. Safe to run twice. Returns the ids of the orders released."""
    now = now or clock.now()
    orders = _orders_held(rfq)
    if not orders or _still_asking(rfq, now):
        return []
    orders = [order for order in orders if not _working_elsewhere(order, rfq, now)]
    if not orders:
        return []
    if _still_worked(rfq):
        for order in orders:
            if order.status == DeskOrderStatus.AGGREGATED:
                order.status = DeskOrderStatus.WORKING
                order.save(update_fields=["status", "updated_at"])
                audit_record(
                    actor=actor,
                    action="desk_order.working",
                    obj=order,
                    before={"status": DeskOrderStatus.AGGREGATED},
                    after={"status": order.status, "rfq": rfq.reference, "reason": f"RFQ {rfq.status}, still worked"},
                )
        return []
    left = sum((order.quantity - order.filled_quantity for order in orders), Decimal(0))
    if rfq.status == RFQStatus.PARTIALLY_ACCEPTED:
        quotes = Quote.objects.filter(rfq=rfq, status=QuoteStatus.LIVE).update(status=QuoteStatus.EXPIRED)
        rfq.close_reason = (
            rfq.close_reason
            or (f"partly accepted: the rest ({decimal_plain(left)}) back to its orders, to be aggregated again")[:255]
        )
        rfq.version += 1
        rfq.save(update_fields=["close_reason", "version"])
        audit_record(
            actor=actor,
            action="rfq.residual_release",
            obj=rfq,
            after={"status": rfq.status, "quotes_expired": quotes, "left": left, "reason": rfq.close_reason},
        )
    released = []
    for order in orders:
        before = order.status
        order.status = DeskOrderStatus.NEW
        order.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=actor,
            action=RELEASE_ACTION,
            obj=order,
            before={"status": before},
            after={
                "status": order.status,
                "rfq": rfq.reference,
                "left": order.quantity - order.filled_quantity,
                "reason": f"RFQ {rfq.status}",
            },
        )
        released.append(order.pk)
    broadcast(event="desk_orders.released", payload={"rfq": rfq.reference, "orders": len(released), "left": left})
    return released


def rfq_orders_settle_by_id(*, rfq_id: int, actor: Actor = LIFECYCLE_ACTOR, now: datetime | None = None) -> list[int]:
    """:func:`rfq_orders_settle` in a transaction of its own (or the caller's), the RFQ locked."""
    with transaction.atomic():
        rfq = RFQ.objects.select_for_update().filter(pk=rfq_id).first()
        return [] if rfq is None else rfq_orders_settle(rfq=rfq, actor=actor, now=now)


def rfqs_orders_settle_due(*, now: datetime | None = None) -> list[str]:
    """Settle every RFQ that holds desk orders but no longer asks dealers (accepted, partly accepted, rejected,
    cancelled, expired): the beat's catch-all, for a partly accepted RFQ whose last quote expired, a last-look
    reject, a dealer order filled or a plan ended whose own settling was missed. The references of the RFQs whose
    orders were released."""
    now = now or clock.now()
    due = (
        RFQ.objects.filter(orders__status__in=HELD)
        .exclude(status__in=ASKING)
        .order_by("pk")
        .values_list("pk", "reference")
        .distinct()
    )
    return [reference for pk, reference in due if rfq_orders_settle_by_id(rfq_id=pk, now=now)]


def rfq_orders_transfer(*, from_rfq_id: int, to_rfq_id: int, actor: Actor) -> list[int]:
    """Hand the desk orders ``from_rfq`` holds to ``to_rfq``, which now works their rest (a plan's rest switched to
    an RFQ): they are aggregated in it, its fills are allocated to them and its end settles them. Inside the
    caller's transaction; both RFQs locked (lower id first). Returns the orders' ids."""
    with transaction.atomic():
        locked = {rfq.pk: rfq for rfq in RFQ.objects.select_for_update().filter(pk__in=[from_rfq_id, to_rfq_id])}
        source, target = locked[from_rfq_id], locked[to_rfq_id]
        orders = _orders_held(source)
        if not orders:
            return []
        target.orders.add(*orders)
        for order in orders:
            before = order.status
            order.status = DeskOrderStatus.AGGREGATED
            order.save(update_fields=["status", "updated_at"])
            audit_record(
                actor=actor,
                action="desk_order.transfer",
                obj=order,
                before={"status": before, "rfq": source.reference},
                after={"status": order.status, "rfq": target.reference},
            )
        broadcast(event="desk_orders.transferred", payload={"from": source.reference, "to": target.reference})
    return [order.pk for order in orders]


def _rfq_close(
    *, rfq: RFQ, status: str, quote_status: str, actor: Actor, action: str, reason: str, **extra: Any
) -> None:
    """Close a locked open RFQ: its open requests expire, its live quotes take ``quote_status``, its waves stop and
    its desk orders are settled (:func:`rfq_orders_settle`); the ``reason`` is what the trader reads; audited as
    ``action``."""
    before = rfq.status
    rfq.status, rfq.version, rfq.waves, rfq.close_reason = status, rfq.version + 1, [], reason[:255]
    rfq.save(update_fields=["status", "version", "waves", "close_reason"])
    requests = QuoteRequest.objects.filter(
        rfq=rfq, status__in=[QuoteRequestStatus.PENDING, QuoteRequestStatus.SENT, QuoteRequestStatus.QUOTED]
    ).update(status=QuoteRequestStatus.EXPIRED)
    quotes = Quote.objects.filter(rfq=rfq, status=QuoteStatus.LIVE).update(status=quote_status)
    released = rfq_orders_settle(rfq=rfq, actor=actor)
    after = {
        "status": rfq.status,
        "requests": requests,
        "quotes": quotes,
        "orders_released": released,
        "reason": reason,
        **extra,
    }
    audit_record(actor=actor, action=action, obj=rfq, before={"status": before}, after=after)


def expiry_reason(*, rfq: RFQ) -> str:
    """Why an RFQ ends at its expiry without a fill, in the trader's words: what the dealers asked did."""
    statuses = list(QuoteRequest.objects.filter(rfq=rfq).values_list("status", flat=True))
    asked, declined = len(statuses), statuses.count(QuoteRequestStatus.DECLINED)
    quotes = Quote.objects.filter(rfq=rfq).count()
    reasks = DecisionRecord.objects.filter(
        kind=DecisionKind.REASK, object_type="rfq.rfq", object_id=str(rfq.pk)
    ).count()
    asked_again = "" if not reasks else f", asked again {reasks}×"
    if quotes:
        return f"closed at expiry: no quote taken ({quotes} quote(s) from {asked} dealer(s) not accepted{asked_again})"
    if asked and declined == asked:
        return f"closed at expiry: every dealer asked declined ({asked})"
    return f"closed at expiry: no dealer answered in time ({asked} asked{asked_again})"


def rfq_expire(*, rfq_id: int, actor: Actor = LIFECYCLE_ACTOR, now: datetime | None = None) -> bool:
    """Expire one RFQ whose time is up and nothing was accepted: its open requests and live quotes expire, its
    desk orders are settled (released: nothing works them any more). False (nothing changed) when it is not due or
    no longer open."""
    now = now or clock.now()
    with transaction.atomic():
        rfq = RFQ.objects.select_for_update().filter(pk=rfq_id).first()
        if rfq is None or rfq.status not in (RFQStatus.SENT, RFQStatus.QUOTED, RFQStatus.DRAFT):
            return False
        if rfq.expires_at is None or rfq.expires_at > now:
            return False
        reason = rfq.close_reason or expiry_reason(rfq=rfq)
        _rfq_close(
            rfq=rfq,
            status=RFQStatus.EXPIRED,
            quote_status=QuoteStatus.EXPIRED,
            actor=actor,
            action="rfq.expire",
            reason=reason,
        )
        broadcast(event="rfq.expired", payload={"rfq": rfq.reference, "reason": reason})
    return True


def rfqs_expire_due(*, now: datetime | None = None) -> list[str]:
    """Expire every open RFQ past its expiry; returns their references."""
    now = now or clock.now()
    due = RFQ.objects.filter(
        status__in=[RFQStatus.SENT, RFQStatus.QUOTED, RFQStatus.DRAFT], expires_at__lte=now
    ).values_list("pk", "reference")
    return [reference for pk, reference in due if rfq_expire(rfq_id=pk, now=now)]


CANCELLABLE = (RFQStatus.DRAFT, RFQStatus.SENT, RFQStatus.QUOTED, RFQStatus.PARTIALLY_ACCEPTED)


def rfq_cancel(*, rfq_id: int, actor: Actor, reason: str) -> bool:
    """Cancel an open RFQ: its live quotes are cancelled (never accepted from now on), its open requests expire,
    its waves stop and its desk orders are settled (released, or working while a dealer order sent still works
    them). Dealer orders already sent stay with their dealers
    (a fill or a last-look reject still books). False when it was no longer open."""
    with transaction.atomic():
        rfq = RFQ.objects.select_for_update().filter(pk=rfq_id).first()
        if rfq is None or rfq.status not in CANCELLABLE:
            return False
        _rfq_close(
            rfq=rfq,
            status=RFQStatus.CANCELLED,
            quote_status=QuoteStatus.CANCELLED,
            actor=actor,
            action="rfq.cancel",
            reason=f"cancelled: {reason}",
        )
    broadcast(event="rfq.cancelled", payload={"rfq": rfq.reference, "reason": reason})
    return True


def rfqs_open_under(*, scope: str, scope_key: str) -> QuerySet[RFQ]:
    """The open RFQs a kill switch at (``scope``, ``scope_key``) covers: every one for the firm, desk, book and
    strategy scopes (RFQs are the desk's), those on an underlying's or an instrument's legs, a trader's own, or
    those sent to a dealer."""
    rfqs = RFQ.objects.filter(status__in=CANCELLABLE)
    if scope == "underlying":
        rfqs = rfqs.filter(
            Q(legs__instrument__base_currency=scope_key) | Q(legs__instrument__underlying__base_currency=scope_key)
        )
    elif scope == "instrument":
        rfqs = rfqs.filter(legs__instrument__symbol=scope_key)
    elif scope == "trader":
        rfqs = rfqs.filter(created_by__username=scope_key)
    elif scope == "dealer":
        rfqs = rfqs.filter(quote_requests__dealer__code=scope_key)
    return rfqs.distinct()


def rfqs_cancel_under(*, scope: str, scope_key: str, actor: Actor, reason: str) -> list[str]:
    """Cancel every open RFQ under a kill switch's scope; their references."""
    rows = list(rfqs_open_under(scope=scope, scope_key=scope_key).values_list("pk", "reference"))
    return [reference for pk, reference in rows if rfq_cancel(rfq_id=pk, actor=actor, reason=reason)]
