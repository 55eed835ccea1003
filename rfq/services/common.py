"""What the RFQ services share: their refusals, the FIX gateway notice, the dealer as an actor, the clock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.exceptions import ValidationError
from django.db import transaction

from desk import clock
from rfq.models import (
    Connectivity,
    Counterparty,
    DealerOrder,
    Quote,
    RFQStatus,
)

FIX_OUTBOUND_GROUP = "fix.outbound"
OPEN_RFQ_STATES = (RFQStatus.SENT, RFQStatus.QUOTED)


class QuoteLate(Exception):
    """A quote for an RFQ that has expired: recorded as late (audited), never stored as live, never accepted."""


class QuoteRefused(ValidationError):
    """A dealer's or the desk's request that the RFQ rules refuse; the message says why."""


class FillIdReused(QuoteRefused):
    """A dealer's ExecID already used for a fill of another of its orders: refused (a conflict), nothing booked."""

    def __init__(self, *, exec_id: str, order: DealerOrder, first_order: str) -> None:
        super().__init__(
            {
                "exec_id": [
                    f"ExecID {exec_id} was already used for a fill of order {first_order}: fill ids are unique "
                    f"per dealer; nothing was booked on order {order.cl_ord_id}"
                ]
            }
        )
        self.exec_id, self.order, self.first_order = exec_id, order, first_order


def dealer_actor(dealer: Counterparty) -> str:
    return f"dealer:{dealer.code}"


def notify_gateway(*, kind: str, obj_id: int, dealer: Counterparty) -> None:
    """Tell the FIX gateway (any process, through the channel layer) that something waits for a FIX dealer."""
    if dealer.connectivity != Connectivity.FIX:
        return
    message = {"type": "fix.outbound", "kind": kind, "id": obj_id, "dealer": dealer.code}

    def send() -> None:
        async_to_sync(get_channel_layer().group_send)(FIX_OUTBOUND_GROUP, message)

    transaction.on_commit(send)


def quote_public(quote: Quote) -> dict[str, Any]:
    return {
        "rfq": quote.rfq.reference,
        "dealer": quote.dealer.code,
        "quote_id": quote.quote_id,
        "firmness": quote.firmness,
        "status": quote.status,
        "package_price": quote.package_price,
        "valid_until": quote.valid_until,
    }


def utcnow() -> datetime:
    """The RFQ services' time (UTC): the desk clock, which a simulated history sets for its own context."""
    return clock.now()
