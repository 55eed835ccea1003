"""Read queries of the execution domain: plans with their children and fills, due children, positions, venues."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import F, Prefetch, Q, QuerySet, Sum

from desk.market import NoVenue, underlying_reference
from desk.models import Account, AuditEvent, InstrumentKind, VenueBook
from execution.models import (
    ChildOrder,
    ChildOrderStatus,
    ExecutionPlan,
    Fill,
    FillException,
    PlanStatus,
    Position,
)
from risk.models import LimitScope
from risk.orders import DEFAULT_BOOK
from risk.telemetry import PlanFill, PlanTelemetryInput, TelemetryThresholds

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


def child_orders_open_at_venue(*, plan_id: int) -> bool:
    """Whether the plan has orders sent and not finished at a venue (their fills may still come)."""
    open_states = (ChildOrderStatus.SENT, ChildOrderStatus.ACKNOWLEDGED, ChildOrderStatus.PARTIALLY_FILLED)
    return ChildOrder.objects.filter(plan_id=plan_id, status__in=open_states).exists()


def child_orders_in_flight_quantity(*, plan_id: int) -> Decimal:
    """Contracts of the plan sent to a venue and neither filled nor finished yet (their fills may still come)."""
    open_states = (ChildOrderStatus.SENT, ChildOrderStatus.ACKNOWLEDGED, ChildOrderStatus.PARTIALLY_FILLED)
    total = ChildOrder.objects.filter(plan_id=plan_id, status__in=open_states).aggregate(
        open=Sum(F("quantity") - F("filled_quantity"))
    )["open"]
    return total or Decimal(0)


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
    """(book, underlying) of every book holding options, sorted: what the beat hedger checks. A client account's
    position (its desk orders' fills, booked under the account's code) is the client's to hedge, not the desk's."""
    rows = (
        Position.objects.filter(instrument__kind=InstrumentKind.OPTION)
        .exclude(quantity=0)
        .exclude(book__in=Account.objects.values("code"))
        .values_list("book", "instrument__base_currency")
        .distinct()
    )
    return sorted(set(rows))


def venue_books(*, underlying: str) -> list[VenueBook]:
    """The underlying's venue rows in a fixed order (the order fills lock them in)."""
    return list(VenueBook.objects.filter(underlying=underlying).order_by("pk"))


def plans_under(*, scope: str, scope_key: str) -> QuerySet[ExecutionPlan]:
    """Execution plans that a risk scope (a kill switch at ``scope``, ``scope_key``) covers.

    A plan's book is ``parameters["book"]`` (:data:`~risk.orders.DEFAULT_BOOK` when absent) until plans carry a
    book column; its underlying is its instrument's base currency.
    """
    plans = ExecutionPlan.objects.all()
    if scope in (LimitScope.FIRM, LimitScope.DESK):
        return plans
    if scope == LimitScope.STRATEGY:
        named = Q(parameters__strategy=scope_key)
        unnamed = ~Q(parameters__has_key="strategy") & Q(parameters__book=scope_key)
        if scope_key == DEFAULT_BOOK:
            unnamed |= ~Q(parameters__has_key="strategy") & ~Q(parameters__has_key="book")
        return plans.filter(named | unnamed)
    if scope == LimitScope.DEALER:
        return plans.none()
    if scope == LimitScope.BOOK:
        in_book = Q(parameters__book=scope_key)
        if scope_key == DEFAULT_BOOK:
            in_book |= ~Q(parameters__has_key="book")
        return plans.filter(in_book)
    if scope == LimitScope.TRADER:
        return plans.filter(created_by__username=scope_key)
    if scope == LimitScope.UNDERLYING:
        return plans.filter(instrument__base_currency=scope_key)
    if scope == LimitScope.INSTRUMENT:
        return plans.filter(instrument__symbol=scope_key)
    raise ValueError(f"unknown scope {scope!r}")


def book_in_use(*, book: str) -> bool:
    """Whether a position or a plan is in ``book``."""
    return Position.objects.filter(book=book).exists() or ExecutionPlan.objects.filter(parameters__book=book).exists()


def strategy_in_use(*, strategy: str) -> bool:
    """Whether a plan names ``strategy`` (``parameters["strategy"]``)."""
    return ExecutionPlan.objects.filter(parameters__strategy=strategy).exists()


def positions_under(*, scope: str, scope_key: str) -> QuerySet[Position] | None:
    """The positions (with their instrument) under a risk scope; None where the desk keeps none (positions are per
    book, not per trader, strategy or dealer)."""
    positions = Position.objects.select_related("instrument")
    if scope in (LimitScope.FIRM, LimitScope.DESK):
        return positions
    if scope == LimitScope.BOOK:
        return positions.filter(book=scope_key)
    if scope == LimitScope.UNDERLYING:
        return positions.filter(instrument__base_currency=scope_key)
    if scope == LimitScope.INSTRUMENT:
        return positions.filter(instrument__symbol=scope_key)
    return None


def plans_running_ids() -> list[int]:
    """The ids of the running plans (what the risk telemetry beat evaluates)."""
    return list(ExecutionPlan.objects.filter(status=PlanStatus.RUNNING).values_list("pk", flat=True))


def plan_running(*, plan_id: int) -> ExecutionPlan | None:
    """The plan with its instrument when it is running, else None (no such plan, or not running)."""
    plan = ExecutionPlan.objects.select_related("instrument").filter(pk=plan_id).first()
    return plan if plan is not None and plan.status == PlanStatus.RUNNING else None


def plan_status(*, plan_id: int) -> str:
    """A plan's status as stored now."""
    return ExecutionPlan.objects.values_list("status", flat=True).get(pk=plan_id)


PARTICIPATION_WINDOW = timedelta(minutes=5)


def plan_telemetry_input(
    *, plan: ExecutionPlan, now: datetime, thresholds: TelemetryThresholds
) -> PlanTelemetryInput | None:
    """The risk telemetry inputs of a plan, in floats (None before its first fill or without a venue book).

    Fills come with the venue mid just before and after each, as the fill's audit event recorded them; the market
    volume, mid and volatility are the underlying's primary venue row now; volumes are in coins (contracts times
    the multiplier), as the venue counts them.
    """
    fills = list(
        Fill.objects.filter(child_order__plan=plan)
        .order_by("executed_at", "id")
        .values_list("exec_id", "quantity", "price", "executed_at")
    )
    if not fills:
        return None
    row = VenueBook.objects.filter(underlying=plan.instrument.base_currency).order_by("pk").first()
    if row is None:
        return None
    mids: dict[str, tuple[float, float]] = {}
    events = AuditEvent.objects.filter(
        action="child_order.fill", object_type="execution.childorder", object_id__in=_child_ids(plan)
    ).values_list("after", flat=True)
    for after in events:
        if isinstance(after, dict) and after.get("exec_id") and after.get("mid_before") and after.get("mid_after"):
            mids[after["exec_id"]] = (float(after["mid_before"]), float(after["mid_after"]))
    multiplier = float(plan.instrument.multiplier)
    start = fills[0][3]
    rows = []
    for exec_id, quantity, price, executed_at in fills:
        mid_before, mid_after = mids.get(exec_id, (float(price), float(price)))
        rows.append(
            PlanFill((executed_at - start).total_seconds(), float(quantity), float(price), mid_before, mid_after)
        )
    own = sum(float(q) for _, q, _, at in fills if at >= now - PARTICIPATION_WINDOW) * multiplier
    try:
        reference = underlying_reference(plan.instrument.base_currency).volatility_reference
    except NoVenue:
        reference = float(row.volatility) or 1.0
    return PlanTelemetryInput(
        side_sign=1.0 if plan.side == "buy" else -1.0,
        fills=tuple(rows),
        mid_now=float(row.mid),
        own_volume_5m=own,
        market_volume_5m=float(row.volume_5m),
        volatility=float(row.volatility),
        volatility_ratio=float(row.volatility) / reference,
        thresholds=thresholds,
    )


def _child_ids(plan: ExecutionPlan) -> list[str]:
    return [str(pk) for pk in plan.child_orders.values_list("pk", flat=True)]


def fill_by_exec_id(exec_id: str) -> Fill | None:
    """The fill booked under ``exec_id`` (unique), or None."""
    return Fill.objects.filter(exec_id=exec_id).first()


def rfq_plans_open(*, rfq_id: int) -> bool:
    """Whether a plan not yet ended (draft, running, paused, halted) works part of the RFQ ``rfq_id`` (a split's
    rest, linked through its leg)."""
    return ExecutionPlan.objects.filter(
        rfq_leg__rfq_id=rfq_id,
        status__in=[PlanStatus.DRAFT, PlanStatus.RUNNING, PlanStatus.PAUSED, PlanStatus.HALTED],
    ).exists()


def venue_latencies(*, since: datetime | None = None) -> dict[str, dict[str, float | int | None]]:
    """Per venue, the child orders sent over the venue port (since ``since``): how many, how many acknowledged, and
    the median milliseconds from the send to the acknowledgement and to the first fill (None when none yet)."""
    import statistics

    from execution.models import Fill

    children = ChildOrder.objects.filter(sent_at__isnull=False, outbox__isnull=False).exclude(venue="").distinct()
    if since is not None:
        children = children.filter(sent_at__gte=since)
    rows = list(children.values_list("pk", "venue", "sent_at", "acknowledged_at"))
    first_fill: dict[int, datetime] = {}
    for child_id, executed_at in (
        Fill.objects.filter(child_order_id__in=[row[0] for row in rows])
        .order_by("executed_at")
        .values_list("child_order_id", "executed_at")
    ):
        first_fill.setdefault(child_id, executed_at)
    result: dict[str, dict[str, float | int | None]] = {}
    for venue in sorted({row[1] for row in rows}):
        mine = [row for row in rows if row[1] == venue]
        acks = [(row[3] - row[2]).total_seconds() * 1000 for row in mine if row[3] is not None]
        fills = [(first_fill[row[0]] - row[2]).total_seconds() * 1000 for row in mine if row[0] in first_fill]
        result[venue] = {
            "orders": len(mine),
            "acknowledged": len(acks),
            "ack_ms_median": round(statistics.median(acks), 3) if acks else None,
            "fill_ms_median": round(statistics.median(fills), 3) if fills else None,
        }
    return result
