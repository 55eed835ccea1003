"""Read queries of the RFQ domain."""

from __future__ import annotations

from django.db.models import OuterRef, QuerySet, Subquery

from rfq.models import RFQ, Counterparty, DealerOrder, DeskOrder, Quote, QuoteRequest, QuoteRequestStatus


def desk_orders_list() -> QuerySet[DeskOrder]:
    return DeskOrder.objects.select_related("account", "instrument", "trader")


def dealer_rfqs_list(*, dealer: Counterparty) -> QuerySet[RFQ]:
    """RFQs delivered to this dealer, and only those, each with the dealer's own QuoteReqID
    (never who else was asked, never the client)."""
    own_request = QuoteRequest.objects.filter(rfq=OuterRef("pk"), dealer=dealer).exclude(
        status=QuoteRequestStatus.PENDING
    )
    return (
        RFQ.objects.filter(pk__in=own_request.values("rfq"))
        .annotate(dealer_quote_req_id=Subquery(own_request.values("quote_req_id")[:1]))
        .prefetch_related("legs__instrument")
        .order_by("-created_at", "-id")
    )


def dealer_quotes_list(*, dealer: Counterparty) -> QuerySet[Quote]:
    return Quote.objects.filter(dealer=dealer).select_related("rfq", "quote_request").order_by("-received_at", "-id")


def dealer_orders_list(*, dealer: Counterparty) -> QuerySet[DealerOrder]:
    return DealerOrder.objects.filter(dealer=dealer).select_related("quote", "leg__instrument")
