"""Read queries for the desk's pages."""

from __future__ import annotations

from django.db.models import QuerySet

from desk.models import AuditEvent
from execution.models import ExecutionPlan, Fill
from rfq.models import RFQ, DeskOrder


def blotter_orders(*, limit: int = 50) -> QuerySet[DeskOrder]:
    return DeskOrder.objects.select_related("account", "instrument", "trader")[:limit]


def blotter_rfqs(*, limit: int = 50) -> QuerySet[RFQ]:
    return RFQ.objects.prefetch_related("legs__instrument")[:limit]


def blotter_plans(*, limit: int = 50) -> QuerySet[ExecutionPlan]:
    return ExecutionPlan.objects.select_related("instrument")[:limit]


def blotter_fills(*, limit: int = 50) -> QuerySet[Fill]:
    return Fill.objects.select_related("instrument")[:limit]


def audit_events(*, limit: int = 50) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.order_by("-seq")[:limit]
