"""Read queries of the execution domain: plans with their children and fills, due children, positions, venues."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Prefetch, QuerySet

from desk.models import InstrumentKind
from execution.models import (
    ChildOrder,
    ChildOrderStatus,
    ExecutionPlan,
    Fill,
    FillException,
    PlanStatus,
    Position,
    VenueBook,
)

# Children that have not left the desk yet.
PENDING_CHILD_STATES = (ChildOrderStatus.PLANNED, ChildOrderStatus.CHECKED)


def plans_list(*, status: str | None = None) -> QuerySet[ExecutionPlan]:
    """Execution plans, newest first, optionally of one status."""
    plans = ExecutionPlan.objects.select_related("instrument", "created_by")
    return plans if status is None else plans.filter(status=status)


def plan_detail(*, plan_id: int) -> ExecutionPlan:
    """One plan with its child orders and their fills prefetched (three queries)."""
    children = ChildOrder.objects.order_by("seq").prefetch_related(
        Prefetch("fills", queryset=Fill.objects.order_by("executed_at", "id"))
    )
    return (
        ExecutionPlan.objects.select_related("instrument", "created_by")
        .prefetch_related(Prefetch("child_orders", queryset=children))
        .get(pk=plan_id)
    )


def child_orders_due(*, plan_id: int, now: datetime) -> list[int]:
    """Ids of the plan's children still to send whose time has come, in sequence order."""
    return list(
        ChildOrder.objects.filter(plan_id=plan_id, status__in=PENDING_CHILD_STATES, scheduled_at__lte=now)
        .order_by("seq")
        .values_list("pk", flat=True)
    )


def child_order_next(*, plan_id: int) -> ChildOrder | None:
    """The plan's next child still to send, or None."""
    return ChildOrder.objects.filter(plan_id=plan_id, status__in=PENDING_CHILD_STATES).order_by("seq").first()


def plans_stalled(*, now: datetime, grace: timedelta) -> list[int]:
    """Running plans with a child overdue by more than ``grace``: their tick chain was lost (a worker died with
    the tick in hand, or the broker dropped it)."""
    return list(
        ExecutionPlan.objects.filter(
            status=PlanStatus.RUNNING,
            child_orders__status__in=PENDING_CHILD_STATES,
            child_orders__scheduled_at__lt=now - grace,
        )
        .distinct()
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def positions_list(*, book: str | None = None) -> QuerySet[Position]:
    """Positions, optionally of one book."""
    positions = Position.objects.select_related("instrument")
    return positions if book is None else positions.filter(book=book)


def fill_exceptions_list(*, status: str | None = None) -> QuerySet[FillException]:
    """Execution reports kept for review, newest first, optionally of one status."""
    rows = FillException.objects.select_related("reviewed_by")
    return rows if status is None else rows.filter(status=status)


def option_books() -> list[tuple[str, str]]:
    """(book, underlying) of every book holding options, sorted: what the beat hedger checks."""
    rows = (
        Position.objects.filter(instrument__kind=InstrumentKind.OPTION)
        .exclude(quantity=0)
        .values_list("book", "instrument__base_currency")
        .distinct()
    )
    return sorted(set(rows))


def venue_books(*, underlying: str) -> list[VenueBook]:
    """The underlying's venue rows in a fixed order (the order fills lock them in)."""
    return list(VenueBook.objects.filter(underlying=underlying).order_by("pk"))


def fill_by_exec_id(exec_id: str) -> Fill | None:
    """The fill booked under ``exec_id`` (unique), or None."""
    return Fill.objects.filter(exec_id=exec_id).first()
