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
from desk.models import AuditEvent
from execution import selectors, services
from execution.fix.gateway import VenueGatewayThread
from execution.models import (
    ChildOrder,
    ChildOrderStatus,
    ExecutionPlan,
    Fill,
    FillException,
    FillExceptionReason,
    PlanStatus,
    Position,
    VenueOutbox,
    VenueReport,
)
from execution.services.venue_orders import venues_up
from risk.services import kill_switch_engage
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
    # and the latency to acknowledgement and to fill is there per venue
    latencies = selectors.venue_latencies()
    assert sum(row["orders"] for row in latencies.values()) == children.count()
    for row in latencies.values():
        assert row["ack_ms_median"] is not None
        assert 0 <= row["ack_ms_median"] <= row["fill_ms_median"]


def _plan(trader, instrument, quantity: str = "0.4", slices: int = 2, side: str = "buy") -> ExecutionPlan:  # noqa: ANN001
    plan = services.plan_create(
        instrument=instrument,
        side=side,
        quantity=Decimal(quantity),
        algorithm="twap",
        parameters={"horizon_s": 1, "slices": slices, "seed": 7},
        actor=trader,
    )
    return services.plan_start(plan_id=plan.pk, actor=trader)


def _settled(plan: ExecutionPlan) -> bool:
    plan.refresh_from_db()
    return plan.status == PlanStatus.COMPLETED


def test_sessions_that_drop_mid_order_lose_and_repeat_nothing(trader, instrument, settings, celery_worker) -> None:  # noqa: ANN001
    # given venues that drop the session after a third of their fills
    settings.DESK_VENUE = "fix"
    venue_books_ensure(underlying="BTC", now=clock.now())
    venues = fix_venues_start(behaviour=VenueBehaviour(fill_latency_s=0.05, max_parts=3, drop_rate=0.35), seed=3)
    gateway = VenueGatewayThread(addresses=venues.addresses(), status_timeout_s=1.0).start()
    try:
        wait_for(lambda: len(venues_up()) == 3, what="venues up")
        # when two plans are worked through the drops (the desk reconnects, reconciles, resumes)
        plans = [_plan(trader, instrument, "0.6", 3, "buy"), _plan(trader, instrument, "0.2", 2, "sell")]
        wait_for(lambda: all(_settled(plan) for plan in plans), timeout=60, what="both plans completed")
    finally:
        gateway.stop()
        venues.stop()
    # then every fill the venues made was booked once, and the desk's position is the venues' record
    fills = Fill.objects.filter(child_order__plan__in=plans)
    assert fills.count() == sum(len(venue.fills) for venue in venues.venues.values())
    assert Position.objects.get(instrument=instrument).quantity == venue_positions(venues, instrument.symbol)
    assert venue_positions(venues, instrument.symbol) == Decimal("0.4")
    assert AuditEvent.objects.filter(action="venue.down").exists()  # the drops did happen
    assert chain_verify().ok


def test_an_order_not_acknowledged_in_time_is_asked_about(trader, instrument, settings, celery_worker) -> None:  # noqa: ANN001
    # given a venue slow to acknowledge (10 s on average) and a desk that asks after 1 s
    settings.DESK_VENUE = "fix"
    venue_books_ensure(underlying="BTC", now=clock.now())
    venues = fix_venues_start(behaviour=VenueBehaviour(ack_latency_s=10.0, fill_latency_s=10.0))
    gateway = VenueGatewayThread(addresses=venues.addresses(), status_timeout_s=1.0).start()
    try:
        wait_for(lambda: len(venues_up()) == 3, what="venues up")
        plan = _plan(trader, instrument, "0.1", 1)
        # when the order stays unacknowledged past the timeout
        wait_for(
            lambda: ChildOrder.objects.filter(plan=plan, status=ChildOrderStatus.ACKNOWLEDGED).exists(),
            timeout=8,
            what="acknowledged by the status answer",
        )
    finally:
        gateway.stop()
        venues.stop()
    # then the desk asked (OrderStatusRequest) and took the venue's Order Status as the acknowledgement
    child = ChildOrder.objects.get(plan=plan)
    assert child.status_requested_at is not None
    assert VenueReport.objects.filter(exec_type="I", child_order=child).exists()


def test_bad_reports_are_held_or_refused_and_move_no_position(
    trader,
    instrument,
    fix_venues,
    venue_gateway,
    celery_worker,  # noqa: ANN001
) -> None:
    # given an order acknowledged at a venue that holds its fills back
    for venue in fix_venues.venues.values():
        venue.paused = True
    plan = _plan(trader, instrument, "0.1", 1)
    wait_for(lambda: ChildOrder.objects.filter(plan=plan, status=ChildOrderStatus.ACKNOWLEDGED).exists(), what="ack")
    child = ChildOrder.objects.get(plan=plan)
    venue = fix_venues.venues[child.venue]
    order = venue.by_cl_ord_id[child.client_order_id]

    def trade(exec_id: str, cl_ord_id: str, qty: str, px: str, cum: str) -> list[tuple[int, str]]:
        return [
            (37, order.order_id),
            (11, cl_ord_id),
            (17, exec_id),
            (150, "F"),
            (39, "1"),
            (55, order.symbol),
            (54, "1"),
            (38, str(order.quantity)),
            (32, qty),
            (31, px),
            (151, "0"),
            (14, cum),
            (6, px),
        ]

    limit = child.limit_price
    # when the venue reports a fill of an unknown order, an over-fill, a fill beyond the limit, and garbled bytes
    fix_venues.call(venue._send, "8", trade("X-1", "NO-SUCH-ORDER", "0.1", str(limit), "0.1"))
    fix_venues.call(venue._send, "8", trade("X-2", child.client_order_id, "0.5", str(limit), "0.5"))
    fix_venues.call(venue._send, "8", trade("X-3", child.client_order_id, "0.05", str(limit + 1000), "0.05"))
    fix_venues.call(venue._write, b"8=FIX.4.4\x019=5\x0135=8\x0110=000\x01")
    fix_venues.call(venue._send, "8", [(37, "O"), (11, child.client_order_id)])  # ExecID, ExecType... missing

    # then each is held for review or refused, with its reason, audited, and no position moved
    wait_for(lambda: FillException.objects.count() == 3, what="three exceptions")
    reasons = dict(FillException.objects.values_list("exec_id", "reason"))
    assert reasons == {
        f"{child.venue}:X-1": FillExceptionReason.UNKNOWN_CHILD,
        f"{child.venue}:X-2": FillExceptionReason.OVERFILL,
        f"{child.venue}:X-3": FillExceptionReason.OUTSIDE_LIMIT,
    }
    wait_for(lambda: AuditEvent.objects.filter(action="venue_message.garbled").exists(), what="garbled audited")
    assert not Fill.objects.exists()
    assert not Position.objects.filter(quantity__gt=0).exists()
    child.refresh_from_db()
    assert child.filled_quantity == 0
    assert child.status == ChildOrderStatus.ACKNOWLEDGED
    # the malformed report got a session-level Reject naming the missing tag, and the session stayed up
    wait_for(lambda: any(b"35=3\x01" in raw and b"371=17" in raw for raw in _received(venue)), what="Reject")
    assert child.venue in venues_up()


def _received(venue) -> list[bytes]:  # noqa: ANN001
    return list(getattr(venue, "received", []))


def test_a_kill_switch_cancels_the_open_venue_orders_and_says_when_the_last_is_confirmed(
    trader,
    risk_officer,
    instrument,
    fix_venues,
    venue_gateway,
    celery_worker,  # noqa: ANN001
) -> None:
    # given orders working at the venues (their fills held back)
    for venue in fix_venues.venues.values():
        venue.paused = True
    plan = _plan(trader, instrument, "0.3", 3)
    wait_for(
        lambda: ChildOrder.objects.filter(plan=plan, status=ChildOrderStatus.ACKNOWLEDGED).count() == 3,
        what="three orders working",
    )

    # when risk engages the firm's kill switch
    kill_switch_engage(scope="firm", scope_key="", reason="test: stop everything", actor=risk_officer)

    # then each open order is cancelled at its venue, and the desk records when the last cancel was confirmed
    wait_for(lambda: AuditEvent.objects.filter(action="venue.cancels_acknowledged").exists(), what="all cancelled")
    children = ChildOrder.objects.filter(plan=plan, sent_at__isnull=False)  # (a re-plan may cancel unsent ones)
    assert children.count() == 3
    assert set(children.values_list("status", flat=True)) == {ChildOrderStatus.CANCELLED}
    assert all(child.cancel_requested_at is not None for child in children)
    venue_orders = [order for venue in fix_venues.venues.values() for order in venue.orders.values()]
    assert sorted(order.status for order in venue_orders) == ["4", "4", "4"]
    done = AuditEvent.objects.get(action="venue.cancels_acknowledged")
    assert done.after["orders"] == 3
    assert ExecutionPlan.objects.get(pk=plan.pk).status == PlanStatus.HALTED
    assert not Fill.objects.exists()
