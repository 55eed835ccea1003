"""Writes of the RFQ domain, one module per aggregate: send, quote, decline, withdraw, accept, fill, last-look reject.

- :mod:`~rfq.services.rfqs`: the RFQ lifecycle on the desk's side (create, send, widen);
- :mod:`~rfq.services.quotes`: the dealers' side of a request (delivered, quoted, late, declined, withdrawn);
- :mod:`~rfq.services.dealer_orders`: the desk takes a quote, the dealer fills or rejects the order;
- :mod:`~rfq.services.desk_orders`: desk orders entered (checked by field and by the pre-trade check), and their
  fills (each moves the position from the desk's book to the order's account or book);
- :mod:`~rfq.services.common`: refusals, the FIX gateway notice, the clock.

Each function is one transaction that checks its input, locks the rows it changes, writes its audit event and
sends its events after commit. Business refusals raise :class:`QuoteRefused`, whose message names the reason.
"""

from rfq.services.common import FIX_OUTBOUND_GROUP, OPEN_RFQ_STATES, FillIdReused, QuoteLate, QuoteRefused
from rfq.services.dealer_orders import DEALER_FILL, dealer_order_fill, dealer_order_reject, quote_accept
from rfq.services.desk_orders import (
    DESK_ORDER_FILL,
    DeskOrderRefused,
    desk_order_create,
    desk_order_enter,
    desk_order_refusal_record,
)
from rfq.services.quotes import (
    QuoteLegInput,
    dealer_quotes_cancel,
    quote_receive,
    quote_request_decline,
    quote_request_mark_sent,
    quote_withdraw,
)
from rfq.services.rfqs import LegInput, quote_requests_add, rfq_create, rfq_legs_guard, rfq_send

__all__ = [
    "DEALER_FILL",
    "DESK_ORDER_FILL",
    "DeskOrderRefused",
    "FIX_OUTBOUND_GROUP",
    "OPEN_RFQ_STATES",
    "FillIdReused",
    "LegInput",
    "QuoteLate",
    "QuoteLegInput",
    "QuoteRefused",
    "dealer_order_fill",
    "dealer_order_reject",
    "dealer_quotes_cancel",
    "desk_order_create",
    "desk_order_enter",
    "desk_order_refusal_record",
    "quote_accept",
    "quote_receive",
    "quote_request_decline",
    "quote_request_mark_sent",
    "quote_requests_add",
    "quote_withdraw",
    "rfq_create",
    "rfq_legs_guard",
    "rfq_send",
]
