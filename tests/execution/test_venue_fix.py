"""Child orders over FIX: the simulated venues as FIX 4.4 acceptors on real sockets, the desk's venue gateway as
the initiator, a real Celery worker thread and a real database. Every child is sent once, acknowledged, filled
(in parts), booked once, and the desk's positions equal the venues' own record."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from django.db.models import Count, Sum

from desk import clock
from desk.audit import chain_verify
from desk.market import venue_books_ensure
from execution import services
from execution.fix.gateway import VenueGatewayThread
from execution.models import (
    ChildOrder,
    ChildOrderStatus,
    ExecutionPlan,
    Fill,
    PlanStatus,
    Position,
    VenueOutbox,
    VenueReport,
)
from execution.services.venue_orders import venues_up
from sim.fix_venues import FixVenues, VenueBehaviour, fix_venues_start

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(condition: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def fix_venues(settings) -> Iterator[FixVenues]:  # noqa: ANN001
    settings.DESK_VENUE = "fix"
    venue_books_ensure(underlying="BTC", now=clock.now())
    venues = fix_venues_start(behaviour=VenueBehaviour(ack_latency_s=0.01, fill_latency_s=0.03, max_parts=3))
    yield venues
    venues.stop()


@pytest.fixture
def venue_gateway(fix_venues: FixVenues) -> Iterator[VenueGatewayThread]:
    gateway = VenueGatewayThread(addresses=fix_venues.addresses(), status_timeout_s=2.0).start()
    wait_for(lambda: len(venues_up()) == len(fix_venues.venues), what="every venue up")
    yield gateway
    gateway.stop()


def venue_positions(venues: FixVenues, symbol: str) -> Decimal:
    return sum((venue.positions().get(symbol, Decimal(0)) for venue in venues.venues.values()), Decimal(0))


def test_a_plan_goes_out_over_fix_and_is_booked_once(
    trader,
    instrument,
    fix_venues,
    venue_gateway,
    celery_worker,  # noqa: ANN001
) -> None:
    # given a running TWAP plan of 1 BTC in 4 children
    plan = services.plan_create(
        instrument=instrument,
        side="buy",
        quantity=Decimal("1"),
        algorithm="twap",
        parameters={"horizon_s": 2, "slices": 4, "seed": 7},
        actor=trader,
    )
    services.plan_start(plan_id=plan.pk, actor=trader)

    # when the worker sends the children and the venues report
    wait_for(lambda: ExecutionPlan.objects.get(pk=plan.pk).status == PlanStatus.COMPLETED, timeout=30, what="completed")

    # then every child went out once, was acknowledged and filled, and booked once
    # (children a re-plan replaced before they were due are cancelled without ever leaving)
    children = ChildOrder.objects.filter(plan=plan, sent_at__isnull=False)
    assert set(children.values_list("status", flat=True)) == {ChildOrderStatus.FILLED}
    assert all(child.acknowledged_at is not None and child.venue for child in children)
    assert VenueOutbox.objects.filter(child_order__plan=plan).count() == children.count() >= 1
    filled = Fill.objects.filter(child_order__plan=plan)
    assert filled.aggregate(q=Sum("quantity"))["q"] == Decimal("1")
    assert not filled.values("exec_id").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert VenueReport.objects.filter(exec_type="0").count() == children.count()
    # and the desk's position equals what the venues recorded
    assert Position.objects.get(instrument=instrument).quantity == venue_positions(fix_venues, instrument.symbol)
    assert venue_positions(fix_venues, instrument.symbol) == Decimal("1")
    assert chain_verify().ok
