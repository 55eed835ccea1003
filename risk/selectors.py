"""Read queries of the risk domain: limits in force, the tightest limit per kind, switches, limit usage."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import reduce
from operator import or_

from django.db.models import Q, QuerySet

from desk.models import AuditEvent, VenueBook
from execution.models import ExecutionPlan, Fill, Position
from execution.venue import NoVenue, underlying_config
from risk.models import Alert, KillSwitch, Limit, LimitKind, LimitScope, ScopeState
from risk.orders import DEFAULT_BOOK
from risk.telemetry import PlanFill, PlanTelemetryInput, TelemetryThresholds

# Broadest first. Trader, dealer and underlying sit side by side below the strategy; the order only breaks ties.
SCOPE_RANK: dict[str, int] = {
    LimitScope.FIRM: 0,
    LimitScope.DESK: 1,
    LimitScope.BOOK: 2,
    LimitScope.STRATEGY: 3,
    LimitScope.TRADER: 4,
    LimitScope.DEALER: 5,
    LimitScope.UNDERLYING: 6,
    LimitScope.INSTRUMENT: 7,
}
# The scopes that take no key: there is one of each.
KEYLESS_SCOPES = frozenset({LimitScope.FIRM, LimitScope.DESK})

ScopeKey = tuple[str, str]
RATIO_QUANTUM = Decimal("0.000001")


def order_scopes(
    *, book: str, trader: str, underlying: str, instrument: str, strategy: str = "", dealer: str = ""
) -> list[ScopeKey]:
    """The (scope, scope_key) pairs an order falls under, broadest first. The firm and desk scopes have the empty
    key; the strategy is the book when none is named; the dealer scope only when the order goes to a dealer."""
    scopes = [
        (LimitScope.FIRM, ""),
        (LimitScope.DESK, ""),
        (LimitScope.BOOK, book),
        (LimitScope.STRATEGY, strategy or book),
        (LimitScope.TRADER, trader),
        (LimitScope.UNDERLYING, underlying),
        (LimitScope.INSTRUMENT, instrument),
    ]
    if dealer:
        scopes.insert(5, (LimitScope.DEALER, dealer))
    return scopes


def _scopes_q(scopes: Iterable[ScopeKey]) -> Q:
    return reduce(or_, (Q(scope=scope, scope_key=key) for scope, key in scopes))


def limits_in_force() -> QuerySet[Limit]:
    """Every active limit, broadest scope first."""
    return Limit.objects.filter(is_active=True).select_related("updated_by")


def limits_for(*, scopes: Sequence[ScopeKey]) -> list[Limit]:
    """Every active limit among ``scopes`` (one query), by kind, tightest first (the broader scope on a tie)."""
    return sorted(
        Limit.objects.filter(_scopes_q(scopes), is_active=True),
        key=lambda limit: (limit.kind, limit.value, SCOPE_RANK[limit.scope]),
    )


def tightest_of(rows: Iterable[Limit]) -> dict[str, Limit]:
    """The first limit of each kind in ``rows`` (sorted as :func:`limits_for` sorts them)."""
    tightest: dict[str, Limit] = {}
    for limit in rows:
        tightest.setdefault(limit.kind, limit)
    return tightest


def limits_tightest(*, scopes: Sequence[ScopeKey]) -> dict[str, Limit]:
    """The tightest active limit of each kind among ``scopes`` (one query): the smallest value wins, the broader
    scope on a tie."""
    rows = limits_for(scopes=scopes)
    tightest: dict[str, Limit] = {}
    for limit in rows:
        tightest.setdefault(limit.kind, limit)
    return tightest


# The desk-wide scopes whose limits a stress replay takes (the firm's and the desk's: both cover the replayed book).
DESK_WIDE_SCOPES: tuple[ScopeKey, ...] = ((LimitScope.FIRM, ""), (LimitScope.DESK, ""))


def stress_limits() -> dict[str, Limit]:
    """The desk's standing limits a stress replay uses, kind → the tightest active row at the firm or desk scope:
    ``max_daily_loss`` (quote currency) and ``max_position`` (contracts), when set."""
    tightest = tightest_of(limits_for(scopes=DESK_WIDE_SCOPES))
    return {kind: tightest[kind] for kind in (LimitKind.MAX_DAILY_LOSS, LimitKind.MAX_POSITION) if kind in tightest}


def kill_switches_list(*, engaged: bool | None = None) -> QuerySet[KillSwitch]:
    """Kill switches, all of them or only the engaged (True) or armed (False) ones."""
    switches = KillSwitch.objects.all()
    return switches if engaged is None else switches.filter(engaged=engaged)


def kill_switches_engaged_for(*, scopes: Sequence[ScopeKey]) -> list[KillSwitch]:
    """The engaged switches among ``scopes``, broadest first (one query)."""
    rows = KillSwitch.objects.filter(_scopes_q(scopes), engaged=True)
    return sorted(rows, key=lambda switch: SCOPE_RANK[switch.scope])


def scope_states_for(*, scopes: Sequence[ScopeKey]) -> list[KillSwitch]:
    """The switches among ``scopes`` that are not ACTIVE (HALTED or REDUCING), broadest first (one query)."""
    rows = KillSwitch.objects.filter(_scopes_q(scopes)).exclude(state=ScopeState.ACTIVE)
    return sorted(rows, key=lambda switch: SCOPE_RANK[switch.scope])


def dealer_exposure(*, dealer: str, now: datetime) -> Decimal:
    """Notional exposed to ``dealer`` (its code), quote currency: its open dealer orders (sent, partially filled)
    at their full quantity, plus those filled since 00:00 UTC. A leg's notional is quantity × price × multiplier;
    a package order's is the sum over its legs of units × ratio × the leg's quoted price × multiplier."""
    from rfq.models import DealerOrder, DealerOrderStatus

    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    orders = (
        DealerOrder.objects.filter(dealer__code=dealer)
        .filter(
            Q(status__in=[DealerOrderStatus.SENT, DealerOrderStatus.PARTIALLY_FILLED])
            | Q(status=DealerOrderStatus.FILLED, updated_at__gte=midnight)
        )
        .select_related("leg__instrument")
        .prefetch_related("quote__legs__leg__instrument")
    )
    total = Decimal(0)
    for order in orders:
        if order.leg is not None:
            total += abs(order.quantity * order.price * order.leg.instrument.multiplier)
            continue
        for quote_leg in order.quote.legs.all():
            leg = quote_leg.leg
            price = quote_leg.offer_price if leg.side == "buy" else quote_leg.bid_price
            if price is not None:
                total += abs(order.quantity * leg.ratio * price * leg.instrument.multiplier)
    return total


def plans_under(*, scope: str, scope_key: str) -> QuerySet[ExecutionPlan]:
    """Execution plans that a switch at (scope, scope_key) covers.

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


@dataclass(frozen=True)
class LimitUsage:
    """How much of a standing limit is used. ``used`` is None for the per-order kinds (collar, notional,
    participation) and where the desk keeps no figure at that scope (positions are per book, not per trader; the
    daily P&L comes from the caller's marks)."""

    limit: Limit
    used: Decimal | None
    ratio: Decimal | None
    detail: str


def _positions_in_scope(scope: str, scope_key: str) -> QuerySet[Position] | None:
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


def limit_usage(*, scope: str | None = None, scope_key: str | None = None) -> list[LimitUsage]:
    """Usage of the limits in force, optionally of one scope (and key).

    The position limit applies to each book's position in each instrument, so its usage at a scope is the largest
    absolute such position in it, contracts, against the limit as set (before volatility scaling). A dealer's
    exposure limit is used by its open dealer orders and today's fills (:func:`dealer_exposure`).
    """
    limits = limits_in_force()
    if scope is not None:
        limits = limits.filter(scope=scope)
    if scope_key is not None:
        limits = limits.filter(scope_key=scope_key)
    usage: list[LimitUsage] = []
    for limit in limits:
        if limit.kind == LimitKind.MAX_DEALER_EXPOSURE and limit.scope == LimitScope.DEALER:
            used = dealer_exposure(dealer=limit.scope_key, now=datetime.now(UTC))
            ratio = (used / limit.value).quantize(RATIO_QUANTUM) if limit.value else None
            usage.append(LimitUsage(limit, used, ratio, f"open and filled today with {limit.scope_key}"))
            continue
        if limit.kind != LimitKind.MAX_POSITION:
            detail = "from the caller's marks" if limit.kind == LimitKind.MAX_DAILY_LOSS else "checked per order"
            usage.append(LimitUsage(limit, None, None, detail))
            continue
        positions = _positions_in_scope(limit.scope, limit.scope_key)
        if positions is None:
            usage.append(LimitUsage(limit, None, None, "positions are kept per book, not per trader"))
            continue
        largest = max(positions, key=lambda p: abs(p.quantity), default=None)
        if largest is None:
            usage.append(LimitUsage(limit, Decimal(0), Decimal(0), "no position"))
            continue
        used = abs(largest.quantity)
        ratio = (used / limit.value).quantize(RATIO_QUANTUM) if limit.value else None
        usage.append(LimitUsage(limit, used, ratio, f"{largest.book} {largest.instrument.symbol} {largest.quantity}"))
    return usage


def alerts_open(*, plan_id: int | None = None) -> QuerySet[Alert]:
    """Unacknowledged risk alerts, newest first (with their plan and its instrument), optionally of one plan.
    The risk page lists these; ``risk.alert`` events announce new ones as they fire."""
    alerts = Alert.objects.filter(acknowledged=False).select_related("plan__instrument").order_by("-created_at", "-id")
    return alerts if plan_id is None else alerts.filter(plan_id=plan_id)


PARTICIPATION_WINDOW = timedelta(minutes=5)


def plan_telemetry_input(
    *, plan: ExecutionPlan, now: datetime, thresholds: TelemetryThresholds
) -> PlanTelemetryInput | None:
    """The telemetry inputs of a plan, in floats (None before its first fill or without a venue book).

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
        reference = underlying_config(plan.instrument.base_currency).volatility_reference
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
