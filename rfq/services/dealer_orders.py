"""Dealer orders: the desk accepts a quote (after the pre-trade check), the dealer fills it or rejects it."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Sum

from desk.audit import Actor, audit_record
from desk.bus import publish
from desk.events import broadcast
from rfq import aggregation
from rfq.engine.lifecycle import rfq_orders_settle
from rfq.models import (
    RFQ,
    Counterparty,
    DealerExecution,
    DealerOrder,
    DealerOrderStatus,
    Firmness,
    Quote,
    QuoteStatus,
    RFQLeg,
    RFQStatus,
    Side,
)
from rfq.ports import BOOKED_EXEC_ID_MAX_LENGTH, BookedFill, TakenLeg, acceptance_check, dealer_fill_find
from rfq.services.common import (
    OPEN_RFQ_STATES,
    FillIdReused,
    QuoteRefused,
    dealer_actor,
    notify_gateway,
    utcnow,
)
from risk.orders import DEFAULT_BOOK

DEALER_FILL = "rfq.dealer_fill"


def quote_accept(
    *, quote: Quote, actor: Actor, quantity: Decimal | None = None, leg_no: int | None = None
) -> DealerOrder:
    """The desk takes a live, firm, unexpired quote: a DealerOrder (FIX NewOrderSingle with the QuoteID) goes to the
    dealer, who fills it or rejects it on last look. ``quantity`` (single-leg RFQs) takes part of the order from
    this quote, within its size; the RFQ stays open (partially accepted) until the accepted quantity covers it.

    A package is all or none: its quote is taken whole at the package price, unless the trader allowed legging on
    the RFQ; then ``leg_no`` takes one leg of the quote at its own price, and the RFQ is accepted once every leg is
    (possibly from different dealers).

    Before the dealer order is created, what is taken passes the pre-trade check (:func:`rfq.ports.acceptance_check`,
    :mod:`flows.acceptance`): a refusal raises :class:`QuoteRefused` naming the limit, the figure and the threshold;
    only its audit is kept."""
    with transaction.atomic():
        quote = Quote.objects.select_for_update(of=("self",)).select_related("rfq", "dealer").get(pk=quote.pk)
        rfq = RFQ.objects.select_for_update().get(pk=quote.rfq_id)
        if quote.status != QuoteStatus.LIVE:
            raise QuoteRefused(f"quote {quote.quote_id} is {quote.status}")
        if quote.firmness != Firmness.FIRM:
            raise QuoteRefused(f"quote {quote.quote_id} is indicative: ask the dealer for a firm price")
        if quote.valid_until <= utcnow():
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
            notify_gateway(kind="dealer_order", obj_id=order.pk, dealer=quote.dealer)
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


def _fill_publish(*, order: DealerOrder, leg: RFQLeg, exec_id: str, quantity: Decimal, price: Decimal) -> BookedFill:
    """Announce one leg's fill; the ``rfq.dealer_fill`` flow books it and its position in this transaction."""
    publish(
        DEALER_FILL,
        exec_id=exec_id,
        quote=order.quote,
        instrument=leg.instrument,
        side=leg.side,
        quantity=quantity,
        price=price,
        executed_at=utcnow(),
        book=DEFAULT_BOOK,
        trader=order.quote.rfq.created_by,
    )
    fill = dealer_fill_find(exec_id)
    if fill is None:
        raise QuoteRefused(f"fill {exec_id} was not booked: no flow books dealer fills on this desk")
    return fill


def _booked_ids(*, dealer: Counterparty, order: DealerOrder, exec_id: str) -> list[str]:
    """The ids the fill is booked under (``<dealer>:<ExecID>``, ``:L<n>`` per leg of a package order)."""
    if order.leg is not None:
        return [f"{dealer.code}:{exec_id}"]
    return [f"{dealer.code}:{exec_id}:L{leg_no}" for leg_no in order.quote.rfq.legs.values_list("leg_no", flat=True)]


def dealer_order_fill(
    *, dealer: Counterparty, cl_ord_id: str, exec_id: str, quantity: Decimal, price: Decimal
) -> BookedFill:
    """The dealer confirms a fill of an accepted quote. A package order fills in package units at the package price;
    each leg is booked as its own fill (ratio × units at the leg's quoted price) so that positions, hedging and TCA
    see the legs: each is announced as ``rfq.dealer_fill`` (the flow books the fill and its position in this
    transaction, and queues the delta hedge).

    The dealer's ExecID is unique per dealer (:class:`~rfq.models.DealerExecution`): repeated on the same order it
    returns the fill already booked and books nothing; reused on another order it is refused with
    :class:`FillIdReused` (audited, nothing booked), never answered with the first order's fill."""
    try:
        with transaction.atomic():
            order = _open_dealer_order(dealer=dealer, cl_ord_id=cl_ord_id)
            seen = DealerExecution.objects.filter(dealer=dealer, exec_id=exec_id).select_related("order").first()
            if seen is not None and seen.order_id != order.pk:
                raise FillIdReused(exec_id=exec_id, order=order, first_order=seen.order.cl_ord_id)
            booked_ids = _booked_ids(dealer=dealer, order=order, exec_id=exec_id)
            if seen is not None:
                existing = dealer_fill_find(booked_ids[0])
                if existing is None:
                    raise QuoteRefused(f"fill {exec_id} of order {cl_ord_id} was recorded but is not booked")
                return existing
            return _fill_book(
                dealer=dealer, order=order, exec_id=exec_id, booked_ids=booked_ids, quantity=quantity, price=price
            )
    except FillIdReused as reused:
        with transaction.atomic():
            audit_record(
                actor=dealer_actor(dealer),
                action="dealer_order.fill_id_reused",
                obj=reused.order,
                after={"exec_id": exec_id, "first_order": reused.first_order, "quantity": quantity, "price": price},
            )
        raise


def _fill_book(
    *,
    dealer: Counterparty,
    order: DealerOrder,
    exec_id: str,
    booked_ids: list[str],
    quantity: Decimal,
    price: Decimal,
) -> BookedFill:
    cl_ord_id = order.cl_ord_id
    if not exec_id or max(len(booked) for booked in booked_ids) > BOOKED_EXEC_ID_MAX_LENGTH:
        longest = BOOKED_EXEC_ID_MAX_LENGTH - (max(len(booked) for booked in booked_ids) - len(exec_id))
        raise QuoteRefused({"exec_id": [f"ExecID must be 1 to {longest} characters for dealer {dealer.code}"]})
    if order.status not in (DealerOrderStatus.SENT, DealerOrderStatus.PARTIALLY_FILLED):
        raise QuoteRefused(f"order {cl_ord_id} is {order.status}")
    if quantity <= 0 or order.filled_quantity + quantity > order.quantity:
        raise QuoteRefused(f"fill of {quantity} exceeds the order's open {order.quantity - order.filled_quantity}")
    if price != order.price:
        raise QuoteRefused(f"fill price {price} differs from the accepted price {order.price}")
    try:
        with transaction.atomic():
            DealerExecution.objects.create(dealer=dealer, exec_id=exec_id, order=order, quantity=quantity, price=price)
    except IntegrityError:
        # Another order's fill took this ExecID after our look (the unique constraint decided): a reuse all the same.
        first = DealerExecution.objects.filter(dealer=dealer, exec_id=exec_id).select_related("order").first()
        raise FillIdReused(exec_id=exec_id, order=order, first_order=first.order.cl_ord_id if first else "?") from None
    if order.leg is not None:
        fill = _fill_publish(order=order, leg=order.leg, exec_id=booked_ids[0], quantity=quantity, price=price)
        symbols = [order.leg.instrument.symbol]
    else:
        fills = [
            _fill_publish(
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
        aggregation.rfq_fill_allocate(dealer_order=order)
    audit_record(
        actor=dealer_actor(dealer),
        action="dealer_order.fill",
        obj=order,
        after={"exec_id": exec_id, "quantity": quantity, "price": price, "status": order.status, "legs": symbols},
    )
    broadcast(event="fill", payload={"cl_ord_id": cl_ord_id, "instrument": ", ".join(symbols), "quantity": quantity})
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
        if not still_live:
            rfq.close_reason = f"rejected on last look by {dealer.code} ({reason[:120]}); no other live quote"
        rfq.version += 1
        rfq.save(update_fields=["status", "version", "close_reason"])
        rfq_orders_settle(rfq=rfq, actor=dealer_actor(dealer))
        audit_record(
            actor=dealer_actor(dealer),
            action="dealer_order.last_look_reject",
            obj=order,
            after={"reason": reason[:200], "rfq_status": rfq.status},
        )
        broadcast(event="last_look.rejected", payload={"rfq": rfq.reference, "dealer": dealer.code})
    return order
