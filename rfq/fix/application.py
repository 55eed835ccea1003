"""FIX 4.4 application messages of the dealer flow, mapped to and from :mod:`rfq.services`.

Outbound (desk → dealer):

- **QuoteRequest (R)**: QuoteReqID(131), NoRelatedSym(146)=1 with Symbol(55), Side(54) and OrderQty(38) (the size
  shown to this dealer), plus for a package NoLegs(555) with LegSymbol(600), LegSide(624), LegRatioQty(623) and
  LegQty(687); Symbol is then ``[N/A]`` as FIX prescribes for multileg instruments. ExpireTime(126) when the RFQ
  has one. Never an Account(1), Parties(453) or any other field naming the desk's client.
- **NewOrderSingle (D)** to accept a quote. FIX 4.4 offers two ways to hit a quote: QuoteResponse (AJ) or a
  NewOrderSingle with OrdType(40)=D ("previously quoted") carrying QuoteID(117). We use the NewOrderSingle: the
  dealer answers it with an ExecutionReport like any order, every engine supports it, and ClOrdID(11) gives a
  key that is unique per order (a duplicate ClOrdID is refused by the database). Price(44) is the quoted price
  accepted (the package price for packages), Side and OrderQty are the desk's.

Inbound (dealer → desk):

- **Quote (S)**: QuoteID(117), QuoteReqID(131), ValidUntilTime(62), QuoteType(537) 0 = indicative, else firm.
  Single instrument: BidPx(132), OfferPx(133), BidSize(134), OfferSize(135). Package: NoLegs(555) in leg order,
  each with LegBidPx(681), LegOfferPx(684) and LegQty(687) (the size for both sides; FIX 4.4 has no per-leg bid and
  offer size); the top-level OfferPx (or BidPx when there is no offer) is the net package price, the price the
  desk pays per package as a buyer of it.
- **QuoteRequestReject (AG)**: QuoteReqID(131), QuoteRequestRejectReason(658), Text(58).
- **ExecutionReport (8)**: ClOrdID(11), ExecID(17), ExecType(150) F = fill (LastQty(32) at LastPx(31)), 8 =
  rejected on last look (Text(58) the reason); ExecType 0 (new) is an acknowledgement and changes nothing.

A message the desk refuses (unknown QuoteReqID, expired RFQ, bad price…) gets a BusinessMessageReject (j) with the
reason from the service; one that lacks a field required only in its case (LastQty/LastPx on a fill, the package
price on a Quote for a multi-leg QuoteRequest) gets one with BusinessRejectReason 5 (conditionally required field
missing); a message with a missing or malformed field gets a session Reject (3) before it reaches the services.

A message with PossResend(97)=Y may have been processed already under another MsgSeqNum: it is ignored (no reply)
when its business object exists (the dealer's QuoteID, a declined QuoteReqID, an order already rejected on last
look; a fill's ExecID is idempotent in the service itself), and processed like any other message otherwise.

A dealer's live quotes are cancelled when its session drops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal

import simplefix
from asgiref.sync import sync_to_async

from desk import clock
from rfq import services
from rfq.fix import codec, store
from rfq.fix.messages import (
    BusinessProblem,
    BusinessRefused,
    BusinessRejectReason,
    Problem,
    RejectReason,
    business_id,
    business_reject,
    conditional_problem,
)
from rfq.fix.session import Session
from rfq.fix.store import Outgoing
from rfq.models import (
    Counterparty,
    DealerOrder,
    DealerOrderStatus,
    Quote,
    QuoteRequest,
    QuoteRequestStatus,
    RFQLeg,
    Side,
    shown_quantity,
)

logger = logging.getLogger(__name__)

SIDE_TO_FIX = {Side.BUY: "1", Side.SELL: "2"}
NOT_APPLICABLE = "[N/A]"

# Field formats checked before a message reaches the services: a bad one is a session Reject (3).
_PRICE_TAGS = frozenset({31, 32, 38, 44, 132, 133, 134, 135, 681, 684, 687, 151, 14, 6})
_TIMESTAMP_TAGS = frozenset({62, 60, 52, 122})
_REQUIRED = {
    "S": (117, 131, 62),
    "AG": (131, 658),
    "8": (37, 17, 150, 39, 11),
}
_ENUMS = {
    150: frozenset("0123456789ABCDEFGHI"),
    537: frozenset({"0", "1", "2", "3"}),
    54: frozenset("123456789ABCDEFG"),
}
_LEG_TAGS = frozenset({555, 600, 602, 603, 624, 623, 654, 681, 684, 687, 686, 685, 690, 588, 587, 610, 611, 612})


def _qty(value: Decimal) -> str:
    return codec.format_decimal(value)


# ----------------------------------------------------------------------------- outbound builders


def quote_request_body(request: QuoteRequest) -> list[tuple[int, str]]:
    """The body of the QuoteRequest (R) for one dealer. Names instruments and sizes, never the client."""
    rfq = request.rfq
    legs = list(RFQLeg.objects.filter(rfq=rfq).select_related("instrument").order_by("leg_no"))
    shown = Decimal(request.shown_fraction)
    body: list[tuple[int, str]] = [(131, request.quote_req_id), (146, "1")]
    if len(legs) == 1:
        leg = legs[0]
        body += [
            (55, leg.instrument.symbol),
            (54, SIDE_TO_FIX[leg.side]),
            (38, _qty(shown_quantity(leg.quantity, shown, leg.instrument.lot_size))),
        ]
    else:
        # A package: one unit of it, the legs say what one unit holds (field order as in FIX44 QuotReqGrp).
        body += [(55, NOT_APPLICABLE), (54, "1"), (38, "1"), (555, str(len(legs)))]
        for leg in legs:
            body += [
                (600, leg.instrument.symbol),
                (623, str(leg.ratio)),
                (624, SIDE_TO_FIX[leg.side]),
                (687, _qty(shown_quantity(leg.quantity, shown, leg.instrument.lot_size))),
            ]
    if rfq.expires_at is not None:
        # ExpireTime belongs to the NoRelatedSym entry in FIX 4.4, hence last, inside the group.
        body.append((126, codec.format_utc_timestamp(rfq.expires_at)))
    return body


def dealer_order_body(order: DealerOrder) -> list[tuple[int, str]]:
    """The body of the NewOrderSingle (D) that accepts a quote."""
    symbol = order.leg.instrument.symbol if order.leg is not None else NOT_APPLICABLE
    return [
        (11, order.cl_ord_id),
        (117, order.quote.quote_id),
        (55, symbol),
        (54, SIDE_TO_FIX[order.side]),
        (60, codec.format_utc_timestamp(order.created_at)),
        (38, _qty(order.quantity)),
        (40, "D"),
        (44, codec.format_decimal(order.price)),
    ]


# ----------------------------------------------------------------------------- inbound parsing


def _groups(message: simplefix.FixMessage, count_tag: int, first_tag: int) -> list[dict[int, str]]:
    """The entries of a repeating group: each starts with ``first_tag``, after the ``count_tag`` field."""
    entries: list[dict[int, str]] = []
    inside = False
    for raw_tag, raw_value in message.pairs:
        tag, value = int(raw_tag), raw_value.decode("latin-1")
        if tag == count_tag:
            inside = True
            continue
        if not inside:
            continue
        if tag == first_tag:
            entries.append({})
        elif tag not in _LEG_TAGS:
            inside = False
            continue
        if entries:
            entries[-1][tag] = value
    return entries


def _decimal(values: dict[int, str] | simplefix.FixMessage, tag: int) -> Decimal | None:
    text = values.get(tag) if isinstance(values, dict) else codec.field(values, tag)
    return None if text is None else codec.parse_decimal(text)


def quote_legs(message: simplefix.FixMessage) -> list[services.QuoteLegInput]:
    """The per-leg prices and sizes of a Quote (S)."""
    if codec.field(message, 555) is None:
        return [
            services.QuoteLegInput(
                leg_no=1,
                bid_price=_decimal(message, 132),
                bid_size=_decimal(message, 134),
                offer_price=_decimal(message, 133),
                offer_size=_decimal(message, 135),
            )
        ]
    legs = []
    for index, entry in enumerate(_groups(message, 555, 600), start=1):
        size = _decimal(entry, 687)
        leg_no = int(entry[654]) if entry.get(654, "").isdigit() else index
        legs.append(
            services.QuoteLegInput(
                leg_no=leg_no,
                bid_price=_decimal(entry, 681),
                bid_size=size if entry.get(681) else None,
                offer_price=_decimal(entry, 684),
                offer_size=size if entry.get(684) else None,
            )
        )
    return legs


def check_fields(message: simplefix.FixMessage) -> Problem | None:
    """Required fields, number and timestamp formats, enumerations and group counts of an inbound app message."""
    kind = codec.msg_type(message)
    for tag in _REQUIRED.get(kind, ()):
        if message.get(tag) is None:
            return Problem(RejectReason.REQUIRED_TAG_MISSING, tag)
    for raw_tag, raw_value in message.pairs:
        tag, value = int(raw_tag), raw_value.decode("latin-1")
        try:
            if tag in _PRICE_TAGS:
                codec.parse_decimal(value)
            elif tag in _TIMESTAMP_TAGS:
                codec.parse_utc_timestamp(value)
        except ValueError:
            return Problem(RejectReason.INCORRECT_DATA_FORMAT, tag)
        if tag in _ENUMS and value not in _ENUMS[tag]:
            return Problem(RejectReason.VALUE_INCORRECT, tag)
    first_in_group = _tag_after(message, 555)
    if first_in_group is not None and first_in_group in _LEG_TAGS and first_in_group != 600:
        # The entry must open with LegSymbol(600), else its fields would be read into no leg or the wrong one.
        return Problem(RejectReason.REPEATING_GROUP_OUT_OF_ORDER, first_in_group)
    repeated = codec.repeated_tag(message, _LEG_TAGS)
    if repeated is not None:
        return Problem(RejectReason.TAG_APPEARS_MORE_THAN_ONCE, repeated)
    count = codec.field(message, 555)
    if count is not None:
        if not count.isdigit():
            return Problem(RejectReason.INCORRECT_DATA_FORMAT, 555)
        if int(count) != len(_groups(message, 555, 600)):
            return Problem(RejectReason.INCORRECT_NUM_IN_GROUP, 555)
    return None


def _tag_after(message: simplefix.FixMessage, tag: int) -> int | None:
    """The tag that follows the first ``tag`` in the message, or None."""
    wire = codec.tags(message)
    if tag not in wire:
        return None
    index = wire.index(tag) + 1
    return wire[index] if index < len(wire) else None


# ----------------------------------------------------------------------------- the application


class DealerApplication:
    """The dealer flow of the desk over FIX: RFQs out, quotes in, acceptances out, executions in."""

    supported = frozenset({"S", "AG", "8"})

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def check(self, message: simplefix.FixMessage) -> Problem | None:
        return check_fields(message)

    def handle(self, *, session: Session, message: simplefix.FixMessage, seq: int) -> Sequence[Outgoing]:
        """Apply one inbound message through the services; a refusal becomes a BusinessMessageReject."""
        kind = codec.msg_type(message)
        handler: Callable[[Session, simplefix.FixMessage], None] = {
            "S": self._on_quote,
            "AG": self._on_quote_request_reject,
            "8": self._on_execution_report,
        }[kind]
        if codec.field(message, 97) == "Y" and _already_processed(session, message):
            logger.info(
                "FIX %s: %s #%d is a PossResend of %r, already processed",
                session.peer_comp_id,
                kind,
                seq,
                business_id(message),
            )
            return []
        try:
            problem = conditional_problem(message)
            if problem is not None:
                raise BusinessRefused(problem)
            handler(session, message)
        except BusinessRefused as exc:
            logger.info("FIX %s: %s #%d refused: %s", session.peer_comp_id, kind, seq, exc.problem.text)
            return [business_reject(ref_seq=seq, ref_msg_type=kind, problem=exc.problem)]
        except services.QuoteRefused as exc:
            ref_id = codec.field(message, {"S": 117, "AG": 131, "8": 11}[kind]) or ""
            text = "; ".join(exc.messages)
            logger.info("FIX %s: %s #%d refused: %s", session.peer_comp_id, kind, seq, text)
            return [business_reject(ref_seq=seq, ref_msg_type=kind, problem=BusinessProblem(0, ref_id, text))]
        return []

    def _on_quote(self, session: Session, message: simplefix.FixMessage) -> None:
        assert session.counterparty is not None
        valid_until = codec.parse_utc_timestamp(codec.field(message, 62) or "")
        legs = quote_legs(message)
        quote_req_id = codec.field(message, 131) or ""
        has_legs = codec.field(message, 555) is not None
        package_price = None
        if has_legs:
            package_price = _decimal(message, 133) if message.get(133) is not None else _decimal(message, 132)
        if package_price is None and _is_package(session.counterparty, quote_req_id):
            missing = "OfferPx(133) or BidPx(132), the package price," if has_legs else "NoLegs(555), the leg prices,"
            text = f"{missing} is required on a Quote for a multi-leg QuoteRequest"
            reason = BusinessRejectReason.CONDITIONALLY_REQUIRED_FIELD_MISSING
            raise BusinessRefused(BusinessProblem(int(reason), business_id(message), text))
        firmness = "indicative" if codec.field(message, 537) == "0" else "firm"
        services.quote_receive(
            dealer=session.counterparty,
            quote_req_id=quote_req_id,
            quote_id=codec.field(message, 117) or "",
            legs=legs,
            valid_until=valid_until,
            firmness=firmness,
            package_price=package_price,
        )

    def _on_quote_request_reject(self, session: Session, message: simplefix.FixMessage) -> None:
        assert session.counterparty is not None
        reason = codec.field(message, 58) or f"QuoteRequestRejectReason {codec.field(message, 658)}"
        services.quote_request_decline(
            dealer=session.counterparty, quote_req_id=codec.field(message, 131) or "", reason=reason
        )

    def _on_execution_report(self, session: Session, message: simplefix.FixMessage) -> None:
        assert session.counterparty is not None
        exec_type = codec.field(message, 150)
        cl_ord_id = codec.field(message, 11) or ""
        if exec_type == "F":
            services.dealer_order_fill(
                dealer=session.counterparty,
                cl_ord_id=cl_ord_id,
                exec_id=codec.field(message, 17) or "",
                quantity=codec.parse_decimal(codec.field(message, 32) or ""),
                price=codec.parse_decimal(codec.field(message, 31) or ""),
            )
        elif exec_type == "8":
            services.dealer_order_reject(
                dealer=session.counterparty, cl_ord_id=cl_ord_id, reason=codec.field(message, 58) or "last look"
            )
        elif exec_type != "0":
            raise services.QuoteRefused(f"ExecType {exec_type} is not handled: send F (fill) or 8 (rejected)")

    # ------------------------------------------------------------------ session events

    async def on_logon(self, session: Session) -> None:
        """Deliver what waited for this dealer: pending QuoteRequests and unsent DealerOrders."""
        if session.counterparty is None:
            return
        request_ids, order_ids = await sync_to_async(_waiting_for)(session.counterparty.pk)
        for request_id in request_ids:
            await self.deliver_quote_request(session, request_id)
        for order_id in order_ids:
            await self.deliver_dealer_order(session, order_id)

    async def on_disconnect(self, session: Session) -> None:
        if session.counterparty is None:
            return
        cancelled = await sync_to_async(services.dealer_quotes_cancel)(
            dealer=session.counterparty, reason="FIX session disconnected"
        )
        if cancelled:
            logger.info("FIX %s: %d live quotes cancelled on disconnect", session.peer_comp_id, cancelled)

    async def deliver(self, session: Session, *, kind: str, obj_id: int) -> bool:
        """Deliver one outbound event (``kind`` quote_request or dealer_order) on a logged-on session."""
        if kind == "quote_request":
            return await self.deliver_quote_request(session, obj_id)
        if kind == "dealer_order":
            return await self.deliver_dealer_order(session, obj_id)
        logger.warning("FIX outbound event of unknown kind %r ignored", kind)
        return False

    async def deliver_quote_request(self, session: Session, request_id: int) -> bool:
        record = session.record
        assert record is not None

        def guard() -> bool:
            request = (
                QuoteRequest.objects.filter(pk=request_id, dealer=session.counterparty).select_related("rfq").first()
            )
            if request is None or request.status != QuoteRequestStatus.PENDING:
                return False
            expired = request.rfq.expires_at is not None and request.rfq.expires_at <= clock.now()
            if request.rfq.status not in services.OPEN_RFQ_STATES or expired:
                # Cancelled or done while the dealer was away: asking for a price now would only mislead it.
                return False
            return not store.outbound_exists(session_pk=record.pk, msg_type="R", tag=131, value=request.quote_req_id)

        def effect() -> Sequence[Outgoing]:
            request = QuoteRequest.objects.select_related("rfq").get(pk=request_id)
            services.quote_request_mark_sent(quote_request=request)
            return [Outgoing("R", quote_request_body(request))]

        return await session.send_application(effect, guard=guard)

    async def deliver_dealer_order(self, session: Session, order_id: int) -> bool:
        record = session.record
        assert record is not None

        def guard() -> bool:
            order = DealerOrder.objects.filter(pk=order_id, dealer=session.counterparty).first()
            if order is None or order.status != DealerOrderStatus.SENT:
                return False
            return not store.outbound_exists(session_pk=record.pk, msg_type="D", tag=11, value=order.cl_ord_id)

        def effect() -> Sequence[Outgoing]:
            order = DealerOrder.objects.select_related("quote", "leg__instrument").get(pk=order_id)
            return [Outgoing("D", dealer_order_body(order))]

        return await session.send_application(effect, guard=guard)


def _is_package(dealer: Counterparty, quote_req_id: str) -> bool:
    """Whether this dealer's QuoteRequest is for a multi-leg RFQ (False for an unknown one: the service refuses it)."""
    requests = QuoteRequest.objects.filter(dealer=dealer, quote_req_id=quote_req_id).values("rfq_id")
    return RFQLeg.objects.filter(rfq_id__in=requests).count() > 1


def _already_processed(session: Session, message: simplefix.FixMessage) -> bool:
    """Whether the business effect of this message exists already (the PossResend(97)=Y check)."""
    dealer = session.counterparty
    kind = codec.msg_type(message)
    if kind == "S":
        return Quote.objects.filter(dealer=dealer, quote_id=codec.field(message, 117) or "").exists()
    if kind == "AG":
        requests = QuoteRequest.objects.filter(dealer=dealer, quote_req_id=codec.field(message, 131) or "")
        return requests.filter(status=QuoteRequestStatus.DECLINED).exists()
    if kind == "8" and codec.field(message, 150) == "8":
        orders = DealerOrder.objects.filter(dealer=dealer, cl_ord_id=codec.field(message, 11) or "")
        return orders.filter(status=DealerOrderStatus.REJECTED).exists()
    # A fill is idempotent by ExecID in the service; an acknowledgement (ExecType 0) changes nothing.
    return False


def _waiting_for(counterparty_pk: int) -> tuple[list[int], list[int]]:
    requests = QuoteRequest.objects.filter(dealer_id=counterparty_pk, status=QuoteRequestStatus.PENDING)
    orders = DealerOrder.objects.filter(dealer_id=counterparty_pk, status=DealerOrderStatus.SENT)
    return list(requests.order_by("pk").values_list("pk", flat=True)), list(
        orders.order_by("pk").values_list("pk", flat=True)
    )


def parse_valid_until(text: str) -> datetime:
    """ValidUntilTime(62) as an aware UTC datetime (exposed for the simulated dealers and tests)."""
    return codec.parse_utc_timestamp(text)
