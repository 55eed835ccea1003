"""The execution worker: plans worked by a real Celery worker (thread) on the configured broker and database."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Count

from desk.audit import chain_verify
from desk.models import AuditEvent
from execution import services, tasks
from execution.models import ChildOrder, ChildOrderStatus, ExecutionPlan, Fill, PlanStatus, Position
from execution.services import plans
from risk.models import LimitScope
from risk.services import kill_switch_engage

pytestmark = pytest.mark.django_db(transaction=True)


def _wait(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the worker")
        time.sleep(0.1)


def _status(plan: ExecutionPlan) -> str:
    return ExecutionPlan.objects.values_list("status", flat=True).get(pk=plan.pk)


def _plan(trader, instrument, *, horizon_s: float = 2, slices: int = 4, quantity: str = "1") -> ExecutionPlan:  # noqa: ANN001
    return services.plan_create(
        instrument=instrument,
        side="buy",
        quantity=Decimal(quantity),
        algorithm="twap",
        parameters={"horizon_s": horizon_s, "slices": slices},
        actor=trader,
    )


def test_a_plan_is_worked_to_completion_by_the_real_worker(celery_worker, trader, instrument) -> None:  # noqa: ANN001
    # given a TWAP of 1 BTC over 2 s in 4 slices
    plan = _plan(trader, instrument)

    # when it starts (the first tick is queued on commit)
    started = time.monotonic()
    services.plan_start(plan_id=plan.pk, actor=trader)
    _wait(lambda: _status(plan) == PlanStatus.COMPLETED)

    # then every child was sent once, on schedule, and the books reconcile
    elapsed = time.monotonic() - started
    fills = list(Fill.objects.filter(child_order__plan=plan).select_related("child_order").order_by("executed_at"))
    assert len(fills) == 4
    assert len({f.exec_id for f in fills}) == 4
    assert set(ChildOrder.objects.filter(plan=plan).values_list("status", flat=True)) == {ChildOrderStatus.FILLED}
    children = list(ChildOrder.objects.filter(plan=plan).order_by("seq"))
    assert all(f.executed_at >= f.child_order.scheduled_at for f in fills)  # never early
    assert children[-1].scheduled_at - children[0].scheduled_at == timedelta(seconds=1.5)  # 0, 0.5, 1.0, 1.5 s
    assert elapsed < 10
    plan.refresh_from_db()
    assert plan.filled_quantity == Decimal("1")
    assert Position.objects.get(instrument=instrument).quantity == Decimal("1")
    assert AuditEvent.objects.filter(action="child_order.fill").count() == 4
    assert chain_verify().ok


def test_a_kill_switch_stops_the_worker_mid_plan(celery_worker, trader, risk_officer, instrument) -> None:  # noqa: ANN001
    # given a plan the worker is working
    plan = _plan(trader, instrument, horizon_s=4, slices=8)
    services.plan_start(plan_id=plan.pk, actor=trader)
    _wait(lambda: Fill.objects.filter(child_order__plan=plan).exists())

    # when risk engages the desk's kill switch
    kill_switch_engage(scope=LimitScope.DESK, scope_key="", reason="test halt", actor=risk_officer)
    time.sleep(1.5)

    # then the plan is halted and no child left after the halt
    assert _status(plan) == PlanStatus.HALTED
    halted_at = AuditEvent.objects.get(action="execution_plan.halt", object_id=str(plan.pk)).occurred_at
    fills = Fill.objects.filter(child_order__plan=plan)
    assert 1 <= fills.count() < 8
    assert not fills.filter(executed_at__gt=halted_at).exists()
    assert ChildOrder.objects.filter(plan=plan, status=ChildOrderStatus.PLANNED).exists()


def test_the_sweep_recovers_a_plan_whose_tick_was_lost(celery_worker, trader, instrument, monkeypatch) -> None:  # noqa: ANN001
    # given a running plan whose first tick never reached the broker
    monkeypatch.setattr(plans, "tick_queue", lambda plan: None)
    plan = _plan(trader, instrument, horizon_s=1, slices=2)
    services.plan_start(plan_id=plan.pk, actor=trader)
    ChildOrder.objects.filter(plan=plan).update(scheduled_at=datetime.now(UTC) - timedelta(seconds=10))
    time.sleep(0.5)
    assert not Fill.objects.exists()

    # when beat's sweep runs
    tasks.plans_sweep.delay()

    # then the plan is worked to the end
    _wait(lambda: _status(plan) == PlanStatus.COMPLETED)
    assert Fill.objects.filter(child_order__plan=plan).count() == 2


def test_ticks_run_twice_send_each_child_once(trader, instrument, monkeypatch) -> None:  # noqa: ANN001
    # given a running plan whose children are all due, and no tick queued for a worker
    monkeypatch.setattr(plans, "tick_queue", lambda plan: None)
    plan = _plan(trader, instrument)
    services.plan_start(plan_id=plan.pk, actor=trader)
    ChildOrder.objects.filter(plan=plan).update(scheduled_at=datetime.now(UTC) - timedelta(seconds=1))

    # when the tick task body runs twice in this process (a redelivery)
    first = tasks.plan_tick.run(plan.pk)
    second = tasks.plan_tick.run(plan.pk)

    # then each child was booked once
    assert (first, second) == (4, 0)
    per_child = Fill.objects.values("child_order").annotate(n=Count("id"))
    assert [row["n"] for row in per_child] == [1, 1, 1, 1]
    assert _status(plan) == PlanStatus.COMPLETED
