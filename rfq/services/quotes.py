"""Dealer-side quotes: delivery of a request, a quote received (or late), declined, withdrawn, cancelled."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from desk.audit import audit_record
from desk.events import broadcast
from rfq import tasks
from rfq.models import (
    RFQ,
    Counterparty,
    Firmness,
    Quote,
    QuoteLeg,
    QuoteRequest,
    QuoteRequestStatus,
    QuoteStatus,
    RFQStatus,
    TradingMode,
)
from rfq.services.common import (
    OPEN_RFQ_STATES,
    QuoteLate,
    QuoteRefused,
    dealer_actor,
    quote_public,
    utcnow,
)


@dataclass(frozen=True)
class QuoteLegInput:
    leg_no: int
    bid_price: Decimal | None = None
    bid_size: Decimal | None = None
    offer_price: Decimal | None = None
    offer_size: Decimal | None = None


def quote_request_mark_sent(*, quote_request: QuoteRequest) -> QuoteRequest:
    """Record that a transport delivered the QuoteRequest to its dealer (idempotent)."""
    with transaction.atomic():
        request = QuoteRequest.objects.select_for_update().get(pk=quote_request.pk)
        if request.status != QuoteRequestStatus.PENDING:
            return request
        request.status, request.sent_at = QuoteRequestStatus.SENT, utcnow()
        request.save(update_fields=["status", "sent_at"])
        audit_record(
            actor=f"system:{request.channel}", action="quote_request.sent", obj=request, after={"status": "sent"}
        )
    return request


def _open_request(*, dealer: Counterparty, quote_req_id: str) -> QuoteRequest:
    request = (
        QuoteRequest.objects.select_for_update(of=("self",))
        .select_related("rfq")
        .filter(quote_req_id=quote_req_id, dealer=dealer)
        .first()
    )
    if request is None:
        # The same answer whether the id is unknown or another dealer's: nothing leaks.
        raise QuoteRefused(f"unknown QuoteReqID {quote_req_id}")
    if request.status == QuoteRequestStatus.DECLINED:
        raise QuoteRefused(f"QuoteReqID {quote_req_id} is {request.status}")
    rfq = request.rfq
    expired = rfq.expires_at is not None and rfq.expires_at <= utcnow()
    if expired or rfq.status == RFQStatus.EXPIRED or request.status == QuoteRequestStatus.EXPIRED:
        raise QuoteLate(f"RFQ {rfq.reference} expired at {rfq.expires_at.isoformat() if rfq.expires_at else '?'}")
    if rfq.status not in OPEN_RFQ_STATES:
        raise QuoteRefused(f"RFQ {rfq.reference} is {rfq.status}: no longer taking quotes")
    return request


def _check_legs(*, rfq: RFQ, legs: list[QuoteLegInput]) -> dict[int, Any]:
    rfq_legs = {leg.leg_no: leg for leg in rfq.legs.all()}
    numbers = [leg.leg_no for leg in legs]
    if len(set(numbers)) != len(numbers):
        raise QuoteRefused("a leg is quoted twice")
    if set(numbers) != set(rfq_legs):
        raise QuoteRefused(f"legs quoted {sorted(numbers)} do not match the RFQ's legs {sorted(rfq_legs)}")
    for leg in legs:
        if leg.bid_price is None and leg.offer_price is None:
            raise QuoteRefused(f"leg {leg.leg_no}: neither bid nor offer")
        for name in ("bid_price", "offer_price", "bid_size", "offer_size"):
            value = getattr(leg, name)
            if value is not None and value <= 0:
                raise QuoteRefused(f"leg {leg.leg_no}: {name} must be positive")
        if leg.bid_price is not None and leg.offer_price is not None and leg.bid_price > leg.offer_price:
            raise QuoteRefused(f"leg {leg.leg_no}: bid {leg.bid_price} above offer {leg.offer_price}")
    return rfq_legs


def quote_receive(
    *,
    dealer: Counterparty,
    quote_req_id: str,
    quote_id: str,
    legs: list[QuoteLegInput],
    valid_until: datetime,
    firmness: str = Firmness.FIRM,
    package_price: Decimal | None = None,
) -> Quote:
    """Store a dealer's quote for an open RFQ sent to it. Refused whole (nothing stored) when any part is bad."""
    if firmness not in Firmness.values:
        raise QuoteRefused(f"firmness must be one of {', '.join(Firmness.values)}")
    if valid_until.tzinfo is None:
        raise QuoteRefused("valid_until must carry a time zone (UTC)")
    if valid_until <= utcnow():
        raise QuoteRefused(f"valid_until {valid_until.isoformat()} is already past")
    try:
        return _quote_store(
            dealer=dealer,
            quote_req_id=quote_req_id,
            quote_id=quote_id,
            legs=legs,
            valid_until=valid_until,
            firmness=firmness,
            package_price=package_price,
        )
    except QuoteLate as late:
        with transaction.atomic():
            audit_record(
                actor=dealer_actor(dealer),
                action="quote.late",
                object_type="rfq.quoterequest",
                object_id=quote_req_id,
                after={"quote_id": quote_id, "reason": str(late), "legs": [asdict(leg) for leg in legs]},
            )
        raise QuoteRefused(f"late: {late}; the quote was recorded as late and cannot be accepted") from None


def _quote_store(
    *,
    dealer: Counterparty,
    quote_req_id: str,
    quote_id: str,
    legs: list[QuoteLegInput],
    valid_until: datetime,
    firmness: str,
    package_price: Decimal | None,
) -> Quote:
    with transaction.atomic():
        request = _open_request(dealer=dealer, quote_req_id=quote_req_id)
        rfq = RFQ.objects.select_for_update().get(pk=request.rfq_id)
        rfq_legs = _check_legs(rfq=rfq, legs=legs)
        if len(rfq_legs) > 1 and package_price is None:
            raise QuoteRefused("a multi-leg RFQ needs a package price")
        try:
            with transaction.atomic():
                quote = Quote.objects.create(
                    rfq=rfq,
                    quote_request=request,
                    dealer=dealer,
                    quote_id=quote_id,
                    firmness=firmness,
                    package_price=package_price,
                    valid_until=valid_until,
                )
        except IntegrityError:
            raise QuoteRefused(f"QuoteID {quote_id} was already used by this dealer") from None
        QuoteLeg.objects.bulk_create(
            QuoteLeg(
                quote=quote,
                leg=rfq_legs[leg.leg_no],
                bid_price=leg.bid_price,
                bid_size=leg.bid_size,
                offer_price=leg.offer_price,
                offer_size=leg.offer_size,
            )
            for leg in legs
        )
        request.status = QuoteRequestStatus.QUOTED
        request.save(update_fields=["status"])
        if rfq.status == RFQStatus.SENT:
            rfq.status, rfq.version = RFQStatus.QUOTED, rfq.version + 1
            rfq.save(update_fields=["status", "version"])
        public = quote_public(quote) | {"legs": [asdict(leg) for leg in legs]}
        audit_record(actor=dealer_actor(dealer), action="quote.receive", obj=quote, after=public)
        broadcast(event="quote.received", payload=public)
        if rfq.mode == TradingMode.AUTO:
            tasks.rfq_auto_decide_task.delay_on_commit(rfq.pk)
    return quote


def quote_request_decline(*, dealer: Counterparty, quote_req_id: str, reason: str) -> QuoteRequest:
    """The dealer declines to quote (FIX QuoteRequestReject, AG). A decline after the RFQ expired is refused like any
    other refusal (:class:`QuoteRefused`, a 400 over REST, a BusinessMessageReject over FIX): there is nothing left
    to decline, and nothing is changed."""
    with transaction.atomic():
        try:
            request = _open_request(dealer=dealer, quote_req_id=quote_req_id)
        except QuoteLate as late:
            raise QuoteRefused(f"late: {late}; QuoteReqID {quote_req_id} is no longer open to decline") from None
        request.status = QuoteRequestStatus.DECLINED
        request.save(update_fields=["status"])
        audit_record(
            actor=dealer_actor(dealer), action="quote_request.decline", obj=request, after={"reason": reason[:200]}
        )
        broadcast(event="quote_request.declined", payload={"rfq": request.rfq.reference, "dealer": dealer.code})
    return request


def quote_withdraw(*, dealer: Counterparty, quote_id: str) -> Quote:
    """The dealer pulls a live quote."""
    with transaction.atomic():
        quote = (
            Quote.objects.select_for_update(of=("self",))
            .select_related("rfq")
            .filter(dealer=dealer, quote_id=quote_id)
            .first()
        )
        if quote is None:
            raise QuoteRefused(f"unknown QuoteID {quote_id}")
        if quote.status != QuoteStatus.LIVE:
            raise QuoteRefused(f"quote {quote_id} is {quote.status}, only a live quote can be withdrawn")
        quote.status = QuoteStatus.CANCELLED
        quote.save(update_fields=["status"])
        audit_record(actor=dealer_actor(dealer), action="quote.withdraw", obj=quote, after={"status": quote.status})
        broadcast(event="quote.withdrawn", payload=quote_public(quote))
    return quote


def dealer_quotes_cancel(*, dealer: Counterparty, reason: str) -> int:
    """Cancel every live quote of a dealer (its session dropped, or it was suspended). Returns how many."""
    with transaction.atomic():
        quotes = list(Quote.objects.select_for_update().filter(dealer=dealer, status=QuoteStatus.LIVE))
        for quote in quotes:
            quote.status = QuoteStatus.CANCELLED
            quote.save(update_fields=["status"])
        if quotes:
            audit_record(
                actor=dealer_actor(dealer),
                action="quote.cancel_all",
                obj=dealer,
                after={"reason": reason[:200], "quotes": [q.quote_id for q in quotes]},
            )
            broadcast(event="quotes.cancelled", payload={"dealer": dealer.code, "count": len(quotes)})
    return len(quotes)
