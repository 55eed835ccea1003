"""The telemetry flow: a running plan's breach pauses it or re-routes its residual to an RFQ, through the execution
services, with the alert and the decision stored by risk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from desk.audit import audit_record
from desk.market import venue_books_ensure
from desk.models import DecisionKind, DecisionRecord, VenueBook
from execution.models import ChildOrder, ChildOrderStatus, ExecutionPlan, Fill, PlanStatus
from flows.tasks import telemetry_sweep
from risk.models import Alert, AlertAction
from tests.risk import factories as risk_factories

pytestmark = pytest.mark.django_db


def _plan_with_fills(trader, instrument, *, mids: list[Decimal], sizes: list[int], slippage: str) -> ExecutionPlan:  # noqa: ANN001
    """A running buy plan with one filled child per size (filled at the mid before it times 1 + slippage, more than
    5 minutes ago, each with the fill's audit event as execution writes it) and one planned child left."""
    now = datetime.now(UTC)
    plan = risk_factories.plan_create(instrument=instrument, created_by=trader, quantity="40")
    venue_books_ensure(underlying="BTC", now=now)
    VenueBook.objects.filter(underlying="BTC").update(mid=mids[0], volume_5m=Decimal(1000), volatility=Decimal("0.6"))
    for seq, (size, mid) in enumerate(zip(sizes, mids, strict=True), start=1):
        at = now - timedelta(seconds=20 * (len(sizes) - seq) + 400)
        child = ChildOrder.objects.create(
            plan=plan,
            seq=seq,
            client_order_id=f"P{plan.pk}-{seq}",
            quantity=Decimal(size),
            status=ChildOrderStatus.FILLED,
            scheduled_at=at,
            sent_at=at,
            filled_quantity=Decimal(size),
        )
        price = mid * (1 + Decimal(slippage))
        exec_id = f"LIT1-{child.client_order_id}"
        Fill.objects.create(
            exec_id=exec_id,
            child_order=child,
            instrument=instrument,
            side="buy",
            quantity=Decimal(size),
            price=price,
            executed_at=at,
        )
        audit_record(
            actor="system:execution",
            action="child_order.fill",
            obj=child,
            after={"exec_id": exec_id, "price": price, "mid_before": mid, "mid_after": mid},
        )
    ChildOrder.objects.create(
        plan=plan,
        seq=len(sizes) + 1,
        client_order_id=f"P{plan.pk}-{len(sizes) + 1}",
        quantity=Decimal(4),
        status=ChildOrderStatus.PLANNED,
        scheduled_at=now + timedelta(minutes=1),
    )
    return plan


def test_a_slippage_breach_pauses_the_plan(trader, instrument) -> None:  # noqa: ANN001
    # given a running plan whose fills paid 0.30 % over the mid (pause above 0.25 %)
    plan = _plan_with_fills(trader, instrument, mids=[Decimal(100)] * 6, sizes=[1] * 6, slippage="0.003")

    # when the beat sweeps the running plans
    raised = telemetry_sweep.run()

    # then the plan is paused through the execution service, and risk stored the alert and the decision
    plan.refresh_from_db()
    assert plan.status == PlanStatus.PAUSED
    alert = Alert.objects.get(plan=plan, action=AlertAction.PAUSE)
    assert alert.action_result == "pause taken: plan paused"
    assert raised == Alert.objects.count()
    assert DecisionRecord.objects.filter(kind=DecisionKind.RISK_ACTION, object_id=str(plan.pk)).exists()


def test_a_leakage_breach_reroutes_the_residual_to_an_rfq(trader, instrument, dealer) -> None:  # noqa: ANN001
    # given a market that runs ahead of each child in proportion to its size (leakage correlation 1) and a trusted
    # dealer for the residual
    sizes, mids, mid = [3, 1, 4, 1, 5, 2], [], Decimal(100)
    for size in sizes:
        mid *= 1 + Decimal("0.0001") * size
        mids.append(mid)
    plan = _plan_with_fills(trader, instrument, mids=mids, sizes=sizes, slippage="0")

    # when the beat sweeps the running plans
    telemetry_sweep.run()

    # then the plan's planned child is switched to an RFQ to the dealer, and the alert says so
    plan.refresh_from_db()
    assert plan.fallback_rfq is not None
    assert list(plan.fallback_rfq.quote_requests.values_list("dealer__code", flat=True)) == [dealer.code]
    child = ChildOrder.objects.get(plan=plan, status=ChildOrderStatus.CANCELLED)
    assert child.reject_reason == f"switched to {plan.fallback_rfq.reference}"
    alert = Alert.objects.get(plan=plan, kind="leakage")
    assert alert.action == AlertAction.REROUTE
    assert alert.action_result.startswith("reroute taken: plan ")
