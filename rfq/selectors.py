"""Read queries of the RFQ domain."""

from __future__ import annotations

from django.db.models import QuerySet

from rfq.models import RFQ, Counterparty, DeskOrder


def desk_orders_list() -> QuerySet[DeskOrder]:
    return DeskOrder.objects.select_related("account", "instrument", "trader")


def dealer_rfqs_list(*, dealer: Counterparty) -> QuerySet[RFQ]:
    """RFQs this dealer was asked to quote, and only those (never who else was asked, never the client)."""
    return RFQ.objects.filter(quote_requests__dealer=dealer).prefetch_related("legs__instrument").distinct()
