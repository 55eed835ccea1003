"""Writes of the RFQ domain: send, quote, decline, withdraw, accept, fill, last-look reject.

Each function is one transaction that checks its input, locks the rows it changes, writes its audit event and
sends its events after commit. Business refusals raise :class:`QuoteRefused`, whose message names the reason.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum

from desk.audit import Actor, audit_record
from desk.events import broadcast
from desk.models import Instrument
from execution.hedging_services import delta_hedge_after_fill
from execution.models import Fill
from execution.services import position_book_fill
from rfq.models import (
    RFQ,
    Connectivity,
    Counterparty,
    CounterpartyStatus,
    DealerOrder,
    DealerOrderStatus,
    DeskOrder,
    Firmness,
    PackageType,
    Quote,
    QuoteLeg,
    QuoteRequest,
    QuoteRequestStatus,
    QuoteStatus,
    RFQLeg,
    RFQStatus,
    Side,
    TradingMode,
)
from rfq.packages import package_legs_check
from risk.orders import DEFAULT_BOOK

FIX_OUTBOUND_GROUP = "fix.outbound"
OPEN_RFQ_STATES = (RFQStatus.SENT, RFQStatus.QUOTED)


class QuoteLate(Exception):
    """A quote for an RFQ that has expired: recorded as late (audited), never stored as live, never accepted."""


class QuoteRefused(ValidationError):
    """A dealer's or the desk's request that the RFQ rules refuse; the message says why."""


@dataclass(frozen=True)
class QuoteLegInput:
    leg_no: int
    bid_price: Decimal | None = None
    bid_size: Decimal | None = None
    offer_price: Decimal | None = None
    offer_size: Decimal | None = None


def _dealer_actor(dealer: Counterparty) -> str:
    return f"dealer:{dealer.code}"


def _notify_gateway(*, kind: str, obj_id: int, dealer: Counterparty) -> None:
    """Tell the FIX gateway (any process, through the channel layer) that something waits for a FIX dealer."""
    if dealer.connectivity != Connectivity.FIX:
        return
    message = {"type": "fix.outbound", "kind": kind, "id": obj_id, "dealer": dealer.code}

    def send() -> None:
        async_to_sync(get_channel_layer().group_send)(FIX_OUTBOUND_GROUP, message)

    transaction.on_commit(send)


def _quote_public(quote: Quote) -> dict[str, Any]:
    return {
        "rfq": quote.rfq.reference,
        "dealer": quote.dealer.code,
        "quote_id": quote.quote_id,
        "firmness": quote.firmness,
        "status": quote.status,
        "package_price": quote.package_price,
        "valid_until": quote.valid_until,
    }


@dataclass(frozen=True)
class LegInput:
    instrument: Instrument
    side: str
    quantity: Decimal
    ratio: int = 1


def _legs_tradable(*, legs: list[LegInput], now: datetime, package_type: str | None = None) -> None:
    """Refuse (naming the leg) an inactive, expired or halted instrument, and a package whose legs do not make it."""
    from risk.selectors import kill_switches_engaged_for

    for number, leg in enumerate(legs, start=1):
        instrument = leg.instrument
        if not instrument.is_active:
            raise QuoteRefused(f"leg {number}: {instrument.symbol} is not tradable")
        if instrument.expiry is not None and instrument.expiry <= now:
            raise QuoteRefused(f"leg {number}: {instrument.symbol} expired at {instrument.expiry.isoformat()}")
        underlying = instrument.underlying.base_currency if instrument.underlying_id else instrument.base_currency
        halted = kill_switches_engaged_for(
            scopes=[("firm", ""), ("desk", ""), ("underlying", underlying), ("instrument", instrument.symbol)]
        )
        if halted:
            switch = halted[0]
            raise QuoteRefused(
                f"leg {number}: {instrument.symbol} is halted ({switch.scope} kill switch"
                f"{' ' + switch.scope_key if switch.scope_key else ''} engaged)"
            )
    if package_type is not None:
        from rfq.engine.market import package_leg

        described = [
            package_leg(
                RFQLeg(leg_no=n, instrument=leg.instrument, side=leg.side, ratio=leg.ratio, quantity=leg.quantity),
                now=now,
            )
            for n, leg in enumerate(legs, start=1)
        ]
        errors = package_legs_check(package_type, described)
        if errors:
            raise QuoteRefused(f"inconsistent {package_type} package: " + "; ".join(errors))


def rfq_create(
    *,
    legs: list[LegInput],
    actor: Any,
    package_type: str = PackageType.SINGLE,
    expires_in: timedelta = timedelta(seconds=60),
    orders: tuple[DeskOrder, ...] = (),
    disclosed: bool = False,
    mode: str = TradingMode.MANUAL,
    risk_aversion: float = 0.05,
    allow_legging: bool = False,
) -> RFQ:
    """A draft RFQ with its legs. Quantities must be whole lots of their instrument. In automatic ``mode`` the desk
    acts on its own recommendations within the risk officer's limits (:mod:`rfq.engine.auto`)."""
    if mode not in TradingMode.values:
        raise QuoteRefused(f"mode must be one of {', '.join(TradingMode.values)}")
    if not (risk_aversion >= 0):
        raise QuoteRefused("risk_aversion must be zero or more")
    if not legs:
        raise QuoteRefused("an RFQ needs at least one leg")
    if package_type == PackageType.SINGLE and len(legs) != 1:
        raise QuoteRefused("a single-instrument RFQ has exactly one leg")
    if package_type != PackageType.SINGLE and len(legs) < 2:
        raise QuoteRefused(f"a {package_type} package needs at least two legs")
    if not timedelta(seconds=5) <= expires_in <= timedelta(hours=1):
        raise QuoteRefused("expires_in must be between 5 s and 1 h")
    for number, leg in enumerate(legs, start=1):
        if leg.side not in Side.values:
            raise QuoteRefused(f"leg {number}: side must be buy or sell")
        if leg.quantity <= 0 or leg.quantity % leg.instrument.lot_size != 0:
            raise QuoteRefused(
                f"leg {number}: quantity {leg.quantity} is not a positive multiple of the lot {leg.instrument.lot_size}"
            )
        if leg.ratio < 1:
            raise QuoteRefused(f"leg {number}: ratio must be at least 1")
    _legs_tradable(legs=legs, now=datetime.now(UTC), package_type=package_type)
    with transaction.atomic():
        rfq = RFQ.objects.create(
            reference=f"RFQ-{datetime.now(UTC):%y%m%d}-{uuid.uuid4().hex[:8].upper()}",
            package_type=package_type,
            disclosed=disclosed,
            created_by=actor,
            expires_at=datetime.now(UTC) + expires_in,
            mode=mode,
            risk_aversion=risk_aversion,
            allow_legging=allow_legging,
        )
        RFQLeg.objects.bulk_create(
            RFQLeg(
                rfq=rfq, leg_no=number, instrument=leg.instrument, side=leg.side, ratio=leg.ratio, quantity=leg.quantity
            )
            for number, leg in enumerate(legs, start=1)
        )
        if orders:
            rfq.orders.set(orders)
        audit_record(
            actor=actor,
            action="rfq.create",
            obj=rfq,
            after={
                "package_type": package_type,
                "legs": [[leg.instrument.symbol, leg.side, leg.ratio, leg.quantity] for leg in legs],
                "expires_at": rfq.expires_at,
                "mode": mode,
            },
        )
    return rfq


def _requests_create(*, rfq: RFQ, dealers: list[Counterparty], now: datetime) -> list[QuoteRequest]:
    inactive = [d.code for d in dealers if d.status != CounterpartyStatus.ACTIVE]
    if inactive:
        raise QuoteRefused(f"dealers not active: {', '.join(inactive)}")
    return [
        QuoteRequest.objects.create(
            rfq=rfq,
            dealer=dealer,
            quote_req_id=f"{rfq.reference}-{uuid.uuid4().hex[:10]}",
            channel=dealer.connectivity,
            # REST dealers pull their RFQs: available at once. FIX ones wait for the gateway to deliver.
            status=QuoteRequestStatus.PENDING if dealer.connectivity == Connectivity.FIX else QuoteRequestStatus.SENT,
            sent_at=None if dealer.connectivity == Connectivity.FIX else now,
        )
        for dealer in dealers
    ]


def _arrival_mid(*, rfq: RFQ, legs: list[RFQLeg], now: datetime) -> Decimal | None:
    """The market's mark of the RFQ when it goes out (None without a market for it): the benchmark of its cost."""
    from rfq.engine.market import NoMarket, rfq_market

    try:
        return Decimal(repr(rfq_market(rfq=rfq, legs=legs, now=now).mid)).quantize(Decimal("1e-8"))
    except (NoMarket, ValueError, ZeroDivisionError):
        return None


def rfq_send(*, rfq: RFQ, dealers: list[Counterparty], actor: Actor) -> list[QuoteRequest]:
    """Send a draft RFQ to the chosen dealers: one QuoteRequest each (pending until its transport delivers it)."""
    if not dealers:
        raise QuoteRefused("an RFQ needs at least one dealer")
    with transaction.atomic():
        rfq = RFQ.objects.select_for_update().get(pk=rfq.pk)
        if rfq.status != RFQStatus.DRAFT:
            raise QuoteRefused(f"RFQ {rfq.reference} is {rfq.status}, only a draft can be sent")
        legs = list(rfq.legs.select_related("instrument"))
        if not legs:
            raise QuoteRefused(f"RFQ {rfq.reference} has no legs")
        now = datetime.now(UTC)
        _legs_tradable(legs=[LegInput(leg.instrument, leg.side, leg.quantity, leg.ratio) for leg in legs], now=now)
        requests = _requests_create(rfq=rfq, dealers=dealers, now=now)
        rfq.status, rfq.sent_at, rfq.version = RFQStatus.SENT, now, rfq.version + 1
        rfq.arrival_mid = _arrival_mid(rfq=rfq, legs=legs, now=now)
        rfq.save(update_fields=["status", "sent_at", "version", "arrival_mid"])
        audit_record(
            actor=actor,
            action="rfq.send",
            obj=rfq,
            before={"status": RFQStatus.DRAFT},
            after={"status": rfq.status, "dealers": [d.code for d in dealers]},
        )
        for request in requests:
            _notify_gateway(kind="quote_request", obj_id=request.pk, dealer=request.dealer)
        broadcast(event="rfq.sent", payload={"rfq": rfq.reference, "dealers": len(dealers)})
    return requests


def quote_requests_add(*, rfq: RFQ, dealers: list[Counterparty], actor: Actor) -> list[QuoteRequest]:
    """Widen a sent RFQ to more dealers (the next wave). Dealers already asked are skipped; none learns who else
    was asked."""
    with transaction.atomic():
        rfq = RFQ.objects.select_for_update().get(pk=rfq.pk)
        if rfq.status not in OPEN_RFQ_STATES:
            raise QuoteRefused(f"RFQ {rfq.reference} is {rfq.status}: it cannot be widened")
        asked = set(rfq.quote_requests.values_list("dealer_id", flat=True))
        dealers = [d for d in dealers if d.pk not in asked]
        if not dealers:
            return []
        requests = _requests_create(rfq=rfq, dealers=dealers, now=datetime.now(UTC))
        audit_record(actor=actor, action="rfq.widen", obj=rfq, after={"dealers": [d.code for d in dealers]})
        for request in requests:
            _notify_gateway(kind="quote_request", obj_id=request.pk, dealer=request.dealer)
    return requests


def quote_request_mark_sent(*, quote_request: QuoteRequest) -> QuoteRequest:
    """Record that a transport delivered the QuoteRequest to its dealer (idempotent)."""
    with transaction.atomic():
        request = QuoteRequest.objects.select_for_update().get(pk=quote_request.pk)
        if request.status != QuoteRequestStatus.PENDING:
            return request
        request.status, request.sent_at = QuoteRequestStatus.SENT, datetime.now(UTC)
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
    expired = rfq.expires_at is not None and rfq.expires_at <= datetime.now(UTC)
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
    if valid_until <= datetime.now(UTC):
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
                actor=_dealer_actor(dealer),
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
        public = _quote_public(quote) | {"legs": [asdict(leg) for leg in legs]}
        audit_record(actor=_dealer_actor(dealer), action="quote.receive", obj=quote, after=public)
        broadcast(event="quote.received", payload=public)
        if rfq.mode == TradingMode.AUTO:
            from rfq.tasks import rfq_auto_decide_task

            rfq_auto_decide_task.delay_on_commit(rfq.pk)
    return quote


def quote_request_decline(*, dealer: Counterparty, quote_req_id: str, reason: str) -> QuoteRequest:
    """The dealer declines to quote (FIX QuoteRequestReject, AG)."""
    with transaction.atomic():
        request = _open_request(dealer=dealer, quote_req_id=quote_req_id)
        request.status = QuoteRequestStatus.DECLINED
        request.save(update_fields=["status"])
        audit_record(
            actor=_dealer_actor(dealer), action="quote_request.decline", obj=request, after={"reason": reason[:200]}
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
        audit_record(actor=_dealer_actor(dealer), action="quote.withdraw", obj=quote, after={"status": quote.status})
        broadcast(event="quote.withdrawn", payload=_quote_public(quote))
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
                actor=_dealer_actor(dealer),
                action="quote.cancel_all",
                obj=dealer,
                after={"reason": reason[:200], "quotes": [q.quote_id for q in quotes]},
            )
            broadcast(event="quotes.cancelled", payload={"dealer": dealer.code, "count": len(quotes)})
    return len(quotes)


def quote_accept(
    *, quote: Quote, actor: Actor, quantity: Decimal | None = None, leg_no: int | None = None
) -> DealerOrder:
    """The desk takes a live, firm, unexpired quote: a DealerOrder (FIX NewOrderSingle with the QuoteID) goes to the
    dealer, who fills it or rejects it on last look. ``quantity`` (single-leg RFQs) takes part of the order from
    this quote, within its size; the RFQ stays open (partially accepted) until the accepted quantity covers it.

    A package is all or none: its quote is taken whole at the package price, unless the trader allowed legging on
    the RFQ; then ``leg_no`` takes one leg of the quote at its own price, and the RFQ is accepted once every leg is
    (possibly from different dealers).

    Before the dealer order is created, what is taken passes the pre-trade check (:mod:`risk.acceptance`): a
    refusal raises :class:`QuoteRefused` naming the limit, the figure and the threshold; only its audit is kept."""
    from risk.acceptance import TakenLeg, acceptance_check

    with transaction.atomic():
        quote = Quote.objects.select_for_update(of=("self",)).select_related("rfq", "dealer").get(pk=quote.pk)
        rfq = RFQ.objects.select_for_update().get(pk=quote.rfq_id)
        if quote.status != QuoteStatus.LIVE:
            raise QuoteRefused(f"quote {quote.quote_id} is {quote.status}")
        if quote.firmness != Firmness.FIRM:
            raise QuoteRefused(f"quote {quote.quote_id} is indicative: ask the dealer for a firm price")
        if quote.valid_until <= datetime.now(UTC):
            raise QuoteRefused(f"quote {quote.quote_id} expired at {quote.valid_until.isoformat()}")
        if rfq.status not in (*OPEN_RFQ_STATES, RFQStatus.PARTIALLY_ACCEPTED):
            raise QuoteRefused(f"RFQ {rfq.reference} is {rfq.status}")
        legs = list(quote.legs.select_related("leg"))
        complete = True
        if len(legs) == 1:
            rfq_leg = legs[0].leg
            buy = rfq_leg.side == Side.BUY
            price = legs[0].offer_price if buy else legs[0].bid_price
            if price is None:
                raise QuoteRefused(f"quote {quote.quote_id} has no {'offer' if buy else 'bid'}")
            taken = DealerOrder.objects.filter(quote__rfq=rfq).exclude(status=DealerOrderStatus.REJECTED).aggregate(
                total=Sum("quantity")
            )["total"] or Decimal(0)
            left = rfq_leg.quantity - taken
            wanted = left if quantity is None else quantity
            size = legs[0].offer_size if buy else legs[0].bid_size
            lot = rfq_leg.instrument.lot_size
            if wanted <= 0 or wanted > left or wanted % lot != 0:
                raise QuoteRefused(f"quantity {wanted} must be a positive multiple of {lot} up to the {left} left")
            if quantity is not None and size is not None and wanted > size:
                raise QuoteRefused(f"quantity {wanted} is more than the quote's size {size}")
            side, quantity, leg = rfq_leg.side, wanted, rfq_leg
            complete = taken + wanted >= rfq_leg.quantity
            risk_legs = [TakenLeg(rfq_leg, side, wanted, price)]
        elif leg_no is not None:
            if not rfq.allow_legging:
                raise QuoteRefused(f"RFQ {rfq.reference} is all or none: legging was not allowed")
            chosen = next((ql for ql in legs if ql.leg.leg_no == leg_no), None)
            if chosen is None:
                raise QuoteRefused(f"quote {quote.quote_id} has no leg {leg_no}")
            buy = chosen.leg.side == Side.BUY
            price = chosen.offer_price if buy else chosen.bid_price
            if price is None:
                raise QuoteRefused(f"quote {quote.quote_id} has no {'offer' if buy else 'bid'} for leg {leg_no}")
            done_legs = set(
                DealerOrder.objects.filter(quote__rfq=rfq, leg__isnull=False)
                .exclude(status=DealerOrderStatus.REJECTED)
                .values_list("leg__leg_no", flat=True)
            )
            if leg_no in done_legs:
                raise QuoteRefused(f"leg {leg_no} of RFQ {rfq.reference} is already taken")
            side, quantity, leg = chosen.leg.side, chosen.leg.quantity, chosen.leg
            complete = len(done_legs | {leg_no}) == rfq.legs.count()
            risk_legs = [TakenLeg(chosen.leg, side, quantity, price)]
        else:
            if quantity is not None:
                raise QuoteRefused("a package is taken whole (all or none)")
            units = min(ql.leg.quantity / ql.leg.ratio for ql in legs)
            # The order is in package units (each leg's quantity / its ratio) at the net package price per unit.
            price, side, quantity, leg = quote.package_price, Side.BUY, units, None
            risk_legs = [
                TakenLeg(ql.leg, ql.leg.side, units * ql.leg.ratio, leg_price)
                for ql in sorted(legs, key=lambda ql: ql.leg.leg_no)
                if (leg_price := ql.offer_price if ql.leg.side == Side.BUY else ql.bid_price) is not None
            ]
        # The refusal's audit commits with this transaction; nothing else is written when refused.
        refused = acceptance_check(quote=quote, taken=risk_legs, actor=actor)
        if refused is None:
            order = DealerOrder.objects.create(
                cl_ord_id=f"D-{uuid.uuid4().hex[:16]}",
                quote=quote,
                dealer=quote.dealer,
                leg=leg,
                side=side,
                quantity=quantity,
                price=price,
            )
            quote.status = QuoteStatus.ACCEPTED
            quote.save(update_fields=["status"])
            rfq.status = RFQStatus.ACCEPTED if complete else RFQStatus.PARTIALLY_ACCEPTED
            rfq.version += 1
            rfq.save(update_fields=["status", "version"])
            audit_record(
                actor=actor,
                action="quote.accept",
                obj=quote,
                before={"status": QuoteStatus.LIVE},
                after={"status": quote.status, "cl_ord_id": order.cl_ord_id, "price": price, "quantity": quantity},
            )
            _notify_gateway(kind="dealer_order", obj_id=order.pk, dealer=quote.dealer)
            broadcast(event="quote.accepted", payload={"rfq": rfq.reference, "quote_id": quote.quote_id})
    if refused is not None:
        raise QuoteRefused(f"quote {quote.quote_id} refused by risk: {refused.message}")
    return order


def _open_dealer_order(*, dealer: Counterparty, cl_ord_id: str) -> DealerOrder:
    order = (
        DealerOrder.objects.select_for_update(of=("self",))
        .select_related("quote", "leg__instrument")
        .filter(dealer=dealer, cl_ord_id=cl_ord_id)
        .first()
    )
    if order is None:
        raise QuoteRefused(f"unknown ClOrdID {cl_ord_id}")
    return order


def _package_leg_prices(order: DealerOrder) -> list[tuple[RFQLeg, Decimal]]:
    """Each leg of a package order with its price: the dealer's price for the desk's side of the leg, the first leg
    carrying whatever makes ``Σ sign · ratio · price`` equal the package price exactly."""
    quote_legs = list(order.quote.legs.select_related("leg__instrument").order_by("leg__leg_no"))
    priced = []
    for ql in quote_legs:
        price = ql.offer_price if ql.leg.side == Side.BUY else ql.bid_price
        if price is None:
            raise QuoteRefused(
                f"the quote has no {'offer' if ql.leg.side == Side.BUY else 'bid'} for leg {ql.leg.leg_no}"
            )
        priced.append([ql.leg, price])
    signed = sum(((1 if leg.side == Side.BUY else -1) * leg.ratio * price for leg, price in priced), Decimal(0))
    first = priced[0][0]
    priced[0][1] += (order.price - signed) * (1 if first.side == Side.BUY else -1) / first.ratio
    return [(leg, price) for leg, price in priced]


def _fill_book_leg(*, order: DealerOrder, leg: RFQLeg, exec_id: str, quantity: Decimal, price: Decimal) -> Fill:
    fill = Fill.objects.create(
        exec_id=exec_id,
        quote=order.quote,
        instrument=leg.instrument,
        side=leg.side,
        quantity=quantity,
        price=price,
        executed_at=datetime.now(UTC),
    )
    position_book_fill(book=DEFAULT_BOOK, instrument=leg.instrument, side=leg.side, quantity=quantity, price=price)
    # An options fill changes the book's delta: the hedger looks at it once this commits.
    delta_hedge_after_fill(instrument=leg.instrument, book=DEFAULT_BOOK, trader=order.quote.rfq.created_by)
    return fill


def dealer_order_fill(*, dealer: Counterparty, cl_ord_id: str, exec_id: str, quantity: Decimal, price: Decimal) -> Fill:
    """The dealer confirms a fill of an accepted quote. A repeated ExecID returns the fill already booked. A package
    order fills in package units at the package price; each leg is booked as its own fill (ratio × units at the
    leg's quoted price) so that positions, hedging and TCA see the legs."""
    with transaction.atomic():
        order = _open_dealer_order(dealer=dealer, cl_ord_id=cl_ord_id)
        booked_id = f"{dealer.code}:{exec_id}" if order.leg is not None else f"{dealer.code}:{exec_id}:L1"
        existing = Fill.objects.filter(exec_id=booked_id).first()
        if existing is not None:
            return existing
        if order.status not in (DealerOrderStatus.SENT, DealerOrderStatus.PARTIALLY_FILLED):
            raise QuoteRefused(f"order {cl_ord_id} is {order.status}")
        if quantity <= 0 or order.filled_quantity + quantity > order.quantity:
            raise QuoteRefused(f"fill of {quantity} exceeds the order's open {order.quantity - order.filled_quantity}")
        if price != order.price:
            raise QuoteRefused(f"fill price {price} differs from the accepted price {order.price}")
        if order.leg is not None:
            fill = _fill_book_leg(order=order, leg=order.leg, exec_id=booked_id, quantity=quantity, price=price)
            symbols = [order.leg.instrument.symbol]
        else:
            fills = [
                _fill_book_leg(
                    order=order,
                    leg=leg,
                    exec_id=f"{dealer.code}:{exec_id}:L{leg.leg_no}",
                    quantity=quantity * leg.ratio,
                    price=leg_price,
                )
                for leg, leg_price in _package_leg_prices(order)
            ]
            fill, symbols = fills[0], [f.instrument.symbol for f in fills]
        order.filled_quantity += quantity
        order.status = (
            DealerOrderStatus.FILLED if order.filled_quantity == order.quantity else DealerOrderStatus.PARTIALLY_FILLED
        )
        order.save(update_fields=["filled_quantity", "status", "updated_at"])
        if order.status == DealerOrderStatus.FILLED:
            Quote.objects.filter(pk=order.quote_id).update(status=QuoteStatus.FILLED)
        if order.leg is not None and order.quote.rfq.orders.exists():
            # rfq.aggregation builds on this module: imported here, not at the top, to keep the import graph acyclic.
            from rfq.aggregation import rfq_fill_allocate

            rfq_fill_allocate(dealer_order=order)
        audit_record(
            actor=_dealer_actor(dealer),
            action="dealer_order.fill",
            obj=order,
            after={"exec_id": exec_id, "quantity": quantity, "price": price, "status": order.status, "legs": symbols},
        )
        broadcast(
            event="fill", payload={"cl_ord_id": cl_ord_id, "instrument": ", ".join(symbols), "quantity": quantity}
        )
    return fill


def dealer_order_reject(*, dealer: Counterparty, cl_ord_id: str, reason: str) -> DealerOrder:
    """The dealer rejects an accepted quote on last look: the RFQ goes back to taking quotes if others are live."""
    with transaction.atomic():
        order = _open_dealer_order(dealer=dealer, cl_ord_id=cl_ord_id)
        if order.status != DealerOrderStatus.SENT:
            raise QuoteRefused(f"order {cl_ord_id} is {order.status}: only an unfilled order can be rejected")
        order.status, order.reject_reason = DealerOrderStatus.REJECTED, reason[:255]
        order.save(update_fields=["status", "reject_reason", "updated_at"])
        Quote.objects.filter(pk=order.quote_id).update(status=QuoteStatus.LAST_LOOK_REJECTED)
        rfq = RFQ.objects.select_for_update().get(pk=order.quote.rfq_id)
        still_live = rfq.quotes.filter(status=QuoteStatus.LIVE).exists()
        rfq.status = RFQStatus.QUOTED if still_live else RFQStatus.REJECTED
        rfq.version += 1
        rfq.save(update_fields=["status", "version"])
        audit_record(
            actor=_dealer_actor(dealer),
            action="dealer_order.last_look_reject",
            obj=order,
            after={"reason": reason[:200], "rfq_status": rfq.status},
        )
        broadcast(event="last_look.rejected", payload={"rfq": rfq.reference, "dealer": dealer.code})
    return order
