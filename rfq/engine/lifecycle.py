"""The end of an RFQ: expiry or cancellation (a kill switch cancels the open RFQs under its scope) of the RFQ, its
quote requests and quotes, and the release of the desk orders it aggregated (those not filled go back to ``new`` so
that the next aggregation takes them again)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet

from desk import clock
from desk.audit import Actor, audit_record
from desk.events import broadcast
from desk.models import DecisionKind, DecisionRecord
from rfq.models import (
    RFQ,
    DeskOrder,
    DeskOrderStatus,
    Quote,
    QuoteRequest,
    QuoteRequestStatus,
    QuoteStatus,
    RFQStatus,
)

LIFECYCLE_ACTOR = "system:rfq-lifecycle"


def _orders_release(*, rfq: RFQ, actor: Actor) -> list[int]:
    released = []
    for order in DeskOrder.objects.select_for_update().filter(rfqs=rfq, status=DeskOrderStatus.AGGREGATED):
        if order.filled_quantity > 0:
            order.status = DeskOrderStatus.WORKING
        else:
            order.status = DeskOrderStatus.NEW
        order.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=actor,
            action="desk_order.release",
            obj=order,
            before={"status": DeskOrderStatus.AGGREGATED},
            after={"status": order.status, "rfq": rfq.reference, "reason": f"RFQ {rfq.status}"},
        )
        released.append(order.pk)
    return released


def _rfq_close(
    *, rfq: RFQ, status: str, quote_status: str, actor: Actor, action: str, reason: str, **extra: Any
) -> None:
    """Close a locked open RFQ: its open requests expire, its live quotes take ``quote_status``, its waves stop and
    its aggregated desk orders are released; the ``reason`` is what the trader reads; audited as ``action``."""
    before = rfq.status
    rfq.status, rfq.version, rfq.waves, rfq.close_reason = status, rfq.version + 1, [], reason[:255]
    rfq.save(update_fields=["status", "version", "waves", "close_reason"])
    requests = QuoteRequest.objects.filter(
        rfq=rfq, status__in=[QuoteRequestStatus.PENDING, QuoteRequestStatus.SENT, QuoteRequestStatus.QUOTED]
    ).update(status=QuoteRequestStatus.EXPIRED)
    quotes = Quote.objects.filter(rfq=rfq, status=QuoteStatus.LIVE).update(status=quote_status)
    released = _orders_release(rfq=rfq, actor=actor)
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
    aggregated desk orders are released. False (nothing changed) when it is not due or no longer open."""
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
    its waves stop and its unfilled desk orders are released. Dealer orders already sent stay with their dealers
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
