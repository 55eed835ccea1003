"""Sending a plan's child orders: the pre-trade check of each, then execution on the venues."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import Sum

from desk import clock
from desk.audit import Actor
from desk.fields import to_decimal
from desk.models import VenueBook
from execution import selectors
from execution.models import (
    ChildOrder,
    ExecutionPlan,
    PlanStatus,
    Position,
)
from execution.services.common import DEFAULT_SLIPPAGE_BPS, EXECUTION_ACTOR, marketable_limit_price
from execution.services.venue_fills import child_execute, child_refused
from execution.services.venue_orders import child_order_queue, venue_port_enabled
from execution.venue import (
    STALE_PRICE,
    NoVenue,
    StaleBook,
    underlying_config,
    venue_book_check_fresh,
    venue_books_ensure,
)
from risk.orders import DEFAULT_BOOK, MarketState, ProposedOrder
from risk.services import limit_check


def _market_state(plan: ExecutionPlan, book: str, mid: Decimal, row: VenueBook) -> MarketState:
    instrument = plan.instrument
    config = underlying_config(instrument.base_currency)
    position = Position.objects.filter(book=book, instrument=instrument).first()
    realized = Position.objects.filter(book=book).aggregate(total=Sum("realized_pnl"))["total"] or Decimal(0)
    unrealized = Decimal(0)
    if position is not None and position.quantity:
        unrealized = position.quantity * (mid - position.average_price) * instrument.multiplier
    return MarketState(
        mid=mid,
        position=position.quantity if position else Decimal(0),
        recent_volume=row.volume_5m / instrument.multiplier,
        realized_pnl_today=realized,
        unrealized_pnl_today=unrealized,
        volatility_ratio=to_decimal(float(row.volatility) / config.volatility_reference),
    )


def child_order_proposed(*, child: ChildOrder, now: datetime) -> ProposedOrder:
    """The pre-trade check's view of a child order: a marketable limit ``max_slippage_bps`` through the market mid
    (rounded to the tick, away from the mid), in the plan's book, with the market state of the venues now.
    Raises :class:`~execution.venue.StaleBook` when the market service stopped ticking the book."""
    plan = child.plan
    instrument = plan.instrument
    venue_books_ensure(underlying=instrument.base_currency, now=now)
    row = selectors.venue_books(underlying=instrument.base_currency)[0]
    venue_book_check_fresh(row, now=now)
    mid = row.mid
    limit_price = marketable_limit_price(
        mid=mid,
        slippage_bps=Decimal(str(plan.parameters.get("max_slippage_bps", DEFAULT_SLIPPAGE_BPS))),
        side=plan.side,
        tick=instrument.tick_size,
    )
    book = str(plan.parameters.get("book", DEFAULT_BOOK))
    return ProposedOrder(
        book=book,
        trader=plan.created_by.username,
        instrument=instrument.symbol,
        underlying=instrument.base_currency,
        side=plan.side,
        quantity=child.quantity,
        limit_price=limit_price,
        market=_market_state(plan, book, mid, row),
        multiplier=instrument.multiplier,
        reference=child.client_order_id,
        strategy=str(plan.parameters.get("strategy", "")),
    )


def child_order_send(*, child_order_id: int, actor: Actor = EXECUTION_ACTOR) -> ChildOrder:
    """Send one child order: pre-trade check, then route and execute it on the simulated venues.

    Idempotent: a child that is no longer pending (sent, filled, rejected, cancelled), or whose plan is not
    running, is returned as it is. A refused child is ``rejected`` with the limits named (see the module's refusal
    rule). A passed one is routed, filled, and booked (fill, child, venue rows, position, plan, audit) in one
    transaction.
    """
    child = ChildOrder.objects.select_related("plan__instrument", "plan__created_by").get(pk=child_order_id)
    if child.status not in selectors.PENDING_CHILD_STATES or child.plan.status != PlanStatus.RUNNING:
        return child
    now = clock.now()
    try:
        order = child_order_proposed(child=child, now=now)
    except NoVenue as error:
        return child_refused(child_order_id, reason=str(error), limits=[], actor=actor)
    except StaleBook as error:
        return child_refused(child_order_id, reason=str(error), limits=[STALE_PRICE], actor=actor)
    # Outside any transaction: a refusal's audit must survive whatever happens next.
    report = limit_check(order=order, actor=actor)
    if not report.passed:
        return child_refused(child_order_id, reason=report.message, limits=report.limits, actor=actor)
    if venue_port_enabled():
        # Over the asynchronous port: queued in the outbox now, filled when the venue reports (venue_orders).
        return child_order_queue(child_order_id, order=order, actor=actor)
    return child_execute(child_order_id, order=order, report=report, actor=actor)
