"""The asynchronous venue port: the messages of a child order's life at a venue, as FIX 4.4 names them.

The desk sends :class:`NewOrder` (NewOrderSingle, D), :class:`CancelRequest` (OrderCancelRequest, F),
:class:`ReplaceRequest` (OrderCancelReplaceRequest, G) and :class:`StatusRequest` (OrderStatusRequest, H); the venue
answers with :class:`ExecutionReport` (8): New, Trade (partial fill or fill, told apart by OrdStatus), Canceled,
Replaced, Rejected, Expired, Order Status. Everything here is pure: the FIX body of each message
(:func:`fix_body`) and the parsed, checked report (:func:`execution_report_parse`); the outbox, the session and the
booking live in :mod:`execution.services.venue_orders` and :mod:`execution.fix`.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

import simplefix

from desk.fix import codec

SIDE_TO_FIX = {"buy": "1", "sell": "2"}
FIX_TO_SIDE = {value: key for key, value in SIDE_TO_FIX.items()}
ORD_TYPE_LIMIT = "2"
TIF_DAY = "0"


class ExecType(enum.StrEnum):
    """ExecType (150), FIX 4.4."""

    NEW = "0"
    CANCELED = "4"
    REPLACED = "5"
    PENDING_CANCEL = "6"
    REJECTED = "8"
    PENDING_NEW = "A"
    EXPIRED = "C"
    PENDING_REPLACE = "E"
    TRADE = "F"
    ORDER_STATUS = "I"


class OrdStatus(enum.StrEnum):
    """OrdStatus (39), FIX 4.4."""

    NEW = "0"
    PARTIALLY_FILLED = "1"
    FILLED = "2"
    CANCELED = "4"
    REPLACED = "5"
    PENDING_CANCEL = "6"
    REJECTED = "8"
    PENDING_NEW = "A"
    EXPIRED = "C"
    PENDING_REPLACE = "E"


@dataclass(frozen=True)
class NewOrder:
    """NewOrderSingle (D): a limit order (OrdType 2), good for the day (TimeInForce 0) unless said otherwise."""

    cl_ord_id: str
    symbol: str
    side: str
    quantity: Decimal
    price: Decimal
    ord_type: str = ORD_TYPE_LIMIT
    time_in_force: str = TIF_DAY

    msg_type = "D"


@dataclass(frozen=True)
class CancelRequest:
    """OrderCancelRequest (F) of the order live under ``orig_cl_ord_id``."""

    cl_ord_id: str
    orig_cl_ord_id: str
    symbol: str
    side: str
    quantity: Decimal

    msg_type = "F"


@dataclass(frozen=True)
class ReplaceRequest:
    """OrderCancelReplaceRequest (G): the order under ``orig_cl_ord_id`` with a new quantity and limit."""

    cl_ord_id: str
    orig_cl_ord_id: str
    symbol: str
    side: str
    quantity: Decimal
    price: Decimal
    ord_type: str = ORD_TYPE_LIMIT
    time_in_force: str = TIF_DAY

    msg_type = "G"


@dataclass(frozen=True)
class StatusRequest:
    """OrderStatusRequest (H) of the order under ``cl_ord_id``."""

    cl_ord_id: str
    symbol: str
    side: str

    msg_type = "H"


PortMessage = NewOrder | CancelRequest | ReplaceRequest | StatusRequest
_KINDS: dict[str, type[NewOrder] | type[CancelRequest] | type[ReplaceRequest] | type[StatusRequest]] = {
    "D": NewOrder,
    "F": CancelRequest,
    "G": ReplaceRequest,
    "H": StatusRequest,
}


def port_message_json(message: PortMessage) -> dict[str, Any]:
    """The message as the outbox stores it (decimals as strings, its MsgType under ``msg_type``)."""
    data = {key: str(value) if isinstance(value, Decimal) else value for key, value in asdict(message).items()}
    return data | {"msg_type": message.msg_type}


def port_message_from_json(data: dict[str, Any]) -> PortMessage:
    kind = _KINDS[data["msg_type"]]
    values = {key: value for key, value in data.items() if key != "msg_type"}
    for name in ("quantity", "price"):
        if name in values:
            values[name] = Decimal(values[name])
    return kind(**values)


def fix_body(message: PortMessage, *, transact_time: str) -> list[tuple[int, str]]:
    """The FIX 4.4 body of a port message (header added by the session store)."""
    body: list[tuple[int, str]] = [(11, message.cl_ord_id)]
    if isinstance(message, CancelRequest | ReplaceRequest):
        body.append((41, message.orig_cl_ord_id))
    body += [(55, message.symbol), (54, SIDE_TO_FIX[message.side])]
    if isinstance(message, StatusRequest):
        return body
    body.append((60, transact_time))
    body.append((38, codec.format_decimal(message.quantity)))
    if isinstance(message, NewOrder | ReplaceRequest):
        body += [(40, message.ord_type), (44, codec.format_decimal(message.price)), (59, message.time_in_force)]
    return body


class ReportProblem(ValueError):
    """An ExecutionReport the desk cannot read: the tag and what is wrong with it."""

    def __init__(self, tag: int, text: str) -> None:
        super().__init__(text)
        self.tag = tag
        self.text = text


@dataclass(frozen=True)
class ExecutionReport:
    """ExecutionReport (8) as the desk reads it. Quantities in contracts, prices in quote currency per coin."""

    order_id: str
    cl_ord_id: str
    orig_cl_ord_id: str
    exec_id: str
    exec_type: str
    ord_status: str
    symbol: str
    side: str
    order_qty: Decimal
    price: Decimal | None
    last_qty: Decimal
    last_px: Decimal | None
    leaves_qty: Decimal
    cum_qty: Decimal
    avg_px: Decimal
    text: str = ""
    commission: Decimal = Decimal(0)

    @property
    def is_trade(self) -> bool:
        return self.exec_type == ExecType.TRADE

    def as_json(self) -> dict[str, Any]:
        return {key: str(value) if isinstance(value, Decimal) else value for key, value in asdict(self).items()}


_REQUIRED = ((37, "OrderID"), (11, "ClOrdID"), (17, "ExecID"), (150, "ExecType"), (39, "OrdStatus"))


def _decimal(message: simplefix.FixMessage, tag: int, *, required: bool = True) -> Decimal | None:
    text = codec.field(message, tag)
    if text is None:
        if required:
            raise ReportProblem(tag, f"required tag {tag} missing")
        return None
    try:
        value = codec.parse_decimal(text)
    except ValueError:
        raise ReportProblem(tag, f"tag {tag} is not a number: {text!r}") from None
    if value < 0:
        raise ReportProblem(tag, f"tag {tag} is negative: {text}")
    return value


def execution_report_parse(message: simplefix.FixMessage) -> ExecutionReport:
    """The report of an ExecutionReport (8), or :class:`ReportProblem` naming the tag that is missing or wrong."""
    for tag, name in _REQUIRED:
        if not codec.field(message, tag):
            raise ReportProblem(tag, f"{name}({tag}) missing")
    exec_type = codec.field(message, 150) or ""
    ord_status = codec.field(message, 39) or ""
    if exec_type not in ExecType.__members__.values():
        raise ReportProblem(150, f"ExecType {exec_type!r} unknown")
    if ord_status not in OrdStatus.__members__.values():
        raise ReportProblem(39, f"OrdStatus {ord_status!r} unknown")
    side = FIX_TO_SIDE.get(codec.field(message, 54) or "")
    if side is None:
        raise ReportProblem(54, f"Side {codec.field(message, 54)!r} is not 1 or 2")
    trade = exec_type == ExecType.TRADE
    last_qty = _decimal(message, 32, required=trade) or Decimal(0)
    last_px = _decimal(message, 31, required=trade)
    if trade and (last_qty <= 0 or last_px is None or last_px <= 0):
        raise ReportProblem(32 if last_qty <= 0 else 31, "a trade needs LastQty(32) and LastPx(31) above zero")
    cum_qty = _decimal(message, 14)
    leaves_qty = _decimal(message, 151)
    avg_px = _decimal(message, 6)
    assert cum_qty is not None
    assert leaves_qty is not None
    assert avg_px is not None
    return ExecutionReport(
        order_id=codec.field(message, 37) or "",
        cl_ord_id=codec.field(message, 11) or "",
        orig_cl_ord_id=codec.field(message, 41) or "",
        exec_id=codec.field(message, 17) or "",
        exec_type=exec_type,
        ord_status=ord_status,
        symbol=codec.field(message, 55) or "",
        side=side,
        order_qty=_decimal(message, 38, required=False) or Decimal(0),
        price=_decimal(message, 44, required=False),
        last_qty=last_qty,
        last_px=last_px,
        leaves_qty=leaves_qty,
        cum_qty=cum_qty,
        avg_px=avg_px,
        text=(codec.field(message, 58) or "")[:200],
        commission=_decimal(message, 12, required=False) or Decimal(0),
    )


def child_of_cl_ord_id(cl_ord_id: str) -> str:
    """The child order's ``client_order_id`` behind a ClOrdID: itself, or the one a cancel or replace
    (``<client order id>~<n>``) derives from."""
    return cl_ord_id.split("~", 1)[0]
