"""Helpers of the engine's database tests: the mark of the venues' books and a dealer's quote on an RFQ."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from desk.market import venue_books_ensure
from desk.models import VenueBook
from rfq.models import RFQ, Counterparty, Quote, QuoteRequest
from rfq.services import QuoteLegInput, quote_receive


def btc_mark() -> float:
    """The venues' BTC mid, once their books exist."""
    venue_books_ensure(underlying="BTC", now=datetime.now(UTC))
    return float(VenueBook.objects.filter(underlying="BTC").first().mid)


def quote_give(
    rfq: RFQ, dealer: Counterparty, *, offer: float, bid: float, size: str = "5", valid_s: float = 60
) -> Quote:
    """``dealer`` answers its request on ``rfq`` with a firm two-way quote valid ``valid_s`` seconds."""
    request = QuoteRequest.objects.get(rfq=rfq, dealer=dealer)
    return quote_receive(
        dealer=dealer,
        quote_req_id=request.quote_req_id,
        quote_id=f"Q-{dealer.code}-{rfq.pk}-{offer}",
        legs=[
            QuoteLegInput(
                leg_no=1,
                bid_price=Decimal(f"{bid:.2f}"),
                bid_size=Decimal(size),
                offer_price=Decimal(f"{offer:.2f}"),
                offer_size=Decimal(size),
            )
        ],
        valid_until=datetime.now(UTC) + timedelta(seconds=valid_s),
    )
