"""TCA test data: dealer fills booked through the RFQ services, algorithm fills on an execution plan."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

from django.contrib.auth.models import User

from desk.models import Instrument
from execution.models import Algorithm, ChildOrder, ExecutionPlan, Fill
from rfq import services
from rfq.models import Counterparty, Side
from tests import factories

_ids = itertools.count(1)


def dealer_fill_create(
    *,
    trader: User,
    instrument: Instrument,
    dealer: Counterparty,
    bid: str = "99",
    offer: str = "101",
    side: str = Side.BUY,
    fill_quantity: str = "5",
) -> Fill:
    """An RFQ for 5 sent to ``dealer``, its quote accepted and filled (in full by default) at the touch."""
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer], side=side)
    quote = factories.quote_create(rfq=rfq, dealer=dealer, bid=bid, offer=offer)
    order = services.quote_accept(quote=quote, actor=trader)
    return services.dealer_order_fill(
        dealer=dealer,
        cl_ord_id=order.cl_ord_id,
        exec_id=f"E{next(_ids)}",
        quantity=Decimal(fill_quantity),
        price=order.price,
    )


def plan_create(
    *,
    trader: User,
    instrument: Instrument,
    quantity: str = "10",
    algorithm: str = Algorithm.TWAP,
    side: str = Side.BUY,
    limits: tuple[str | None, ...] = ("100.00", "100.50"),
) -> ExecutionPlan:
    """A plan with one child order per limit price (``None``: no limit), in slice order."""
    plan = ExecutionPlan.objects.create(
        instrument=instrument, side=side, quantity=Decimal(quantity), algorithm=algorithm, created_by=trader
    )
    for seq, limit in enumerate(limits, start=1):
        ChildOrder.objects.create(
            plan=plan,
            seq=seq,
            client_order_id=f"P{plan.pk}-{seq}-{next(_ids)}",
            quantity=Decimal(quantity) / len(limits),
            limit_price=None if limit is None else Decimal(limit),
            scheduled_at=datetime.now(UTC),
        )
    return plan


def algo_fill_create(
    *, plan: ExecutionPlan, seq: int, quantity: str, price: str, fee: str = "0", executed_at: datetime | None = None
) -> Fill:
    """A venue fill of the plan's child order ``seq`` (test data: the execution services are not under test)."""
    child = plan.child_orders.get(seq=seq)
    return Fill.objects.create(
        exec_id=f"V{next(_ids)}",
        child_order=child,
        instrument=plan.instrument,
        side=plan.side,
        quantity=Decimal(quantity),
        price=Decimal(price),
        fee=Decimal(fee),
        executed_at=executed_at or datetime.now(UTC),
    )
