"""Re-plans: a plan whose fills or market deviate from its schedule beyond a tolerance re-slices what is left,
stored as a replayable decision record."""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from desk.audit import chain_verify
from desk.decisions import decision_replay
from desk.models import AuditEvent, DecisionKind, DecisionRecord, VenueBook
from execution import replan, services
from execution.models import ChildOrder, ChildOrderStatus, ExecutionPlan, PlanStatus
from execution.selectors import PENDING_CHILD_STATES

pytestmark = pytest.mark.django_db


def _running(trader, instrument, *, slices: int = 4, **parameters: Any) -> ExecutionPlan:  # noqa: ANN001
    plan = services.plan_create(
        instrument=instrument,
        side="buy",
        quantity=Decimal("1"),
        algorithm="twap",
        parameters={"horizon_s": 60, "slices": slices, "seed": 3} | parameters,
        actor=trader,
    )
    return services.plan_start(plan_id=plan.pk, actor=trader)


def _pending(plan: ExecutionPlan) -> list[ChildOrder]:
    return list(ChildOrder.objects.filter(plan=plan, status__in=PENDING_CHILD_STATES).order_by("seq"))


def _first_due(plan: ExecutionPlan) -> ChildOrder:
    return ChildOrder.objects.filter(plan=plan).order_by("seq").first()


def _market(instrument, **changes: float) -> None:  # noqa: ANN001
    for row in VenueBook.objects.filter(underlying=instrument.base_currency):
        for name, factor in changes.items():
            setattr(row, name, getattr(row, name) * Decimal(str(factor)))
        row.save()


def test_a_plan_on_schedule_in_an_unchanged_market_is_not_replanned(trader, instrument) -> None:  # noqa: ANN001
    plan = _running(trader, instrument)
    first = _first_due(plan)
    services.child_order_send(child_order_id=first.pk)

    record = replan.plan_replan_check(plan_id=plan.pk, now=first.scheduled_at)

    assert record is None
    assert len(_pending(plan)) == 3
    assert not DecisionRecord.objects.filter(kind=DecisionKind.REPLAN).exists()


def test_fills_lagging_beyond_the_tolerance_reslice_the_residual_evenly(trader, instrument) -> None:  # noqa: ANN001
    # given a 4-slice TWAP whose first child (0.25 of 1) never filled: 25 % behind, tolerance 10 %
    plan = _running(trader, instrument)
    first = _first_due(plan)
    ChildOrder.objects.filter(pk=first.pk).update(status=ChildOrderStatus.REJECTED)
    old = _pending(plan)

    # when the worker checks the plan at the first child's time
    record = replan.plan_replan_check(plan_id=plan.pk, now=first.scheduled_at)

    # then the residual is re-sliced over the time left, and the old children are cancelled, not reused
    assert record is not None
    assert "lag" in record.output["reasons"][0]
    assert record.output["deviation"] == pytest.approx(-0.25)
    new = _pending(plan)
    assert sum(c.quantity for c in new) == sum(c.quantity for c in old) == Decimal("0.75")
    assert max(c.quantity for c in new) - min(c.quantity for c in new) <= instrument.lot_size
    assert {c.seq for c in new}.isdisjoint({c.seq for c in old})
    assert set(ChildOrder.objects.filter(pk__in=[c.pk for c in old]).values_list("status", flat=True)) == {
        ChildOrderStatus.CANCELLED
    }
    assert new[-1].scheduled_at == old[-1].scheduled_at
    plan.refresh_from_db()
    assert plan.replans == 1
    assert AuditEvent.objects.filter(action="execution_plan.replan", object_id=str(plan.pk)).count() == 1


def test_a_volatility_spike_front_loads_the_residual(trader, instrument) -> None:  # noqa: ANN001
    plan = _running(trader, instrument, slices=8)
    first = _first_due(plan)
    services.child_order_send(child_order_id=first.pk)

    _market(instrument, volatility=3)
    record = replan.plan_replan_check(plan_id=plan.pk, now=first.scheduled_at)

    assert record is not None
    assert "volatility is 3.00x" in record.explanation
    quantities = [c.quantity for c in _pending(plan)]
    assert sum(quantities) == Decimal("0.875")
    assert quantities == sorted(quantities, reverse=True)
    assert quantities[0] > quantities[-1]


def test_thin_volume_and_a_wide_spread_back_load_into_more_smaller_children(trader, instrument) -> None:  # noqa: ANN001
    plan = _running(trader, instrument)
    first = _first_due(plan)
    services.child_order_send(child_order_id=first.pk)
    VenueBook.objects.filter(underlying="BTC").update(volume_5m=Decimal(100))
    plan.refresh_from_db()
    ExecutionPlan.objects.filter(pk=plan.pk).update(
        baseline=replan.plan_baseline(plan=plan, now=first.scheduled_at, row=replan.primary_book(plan))
    )

    _market(instrument, volume_5m=0.25, half_spread_bps=3)
    record = replan.plan_replan_check(plan_id=plan.pk, now=first.scheduled_at)

    assert record is not None
    assert len(record.output["reasons"]) == 2
    quantities = [c.quantity for c in _pending(plan)]
    assert len(quantities) == 12  # 3 left, times min(4, max(spread 3x, 1 / volume 0.25x))
    assert quantities == sorted(quantities)
    assert sum(quantities) == Decimal("0.75")


def test_the_reslice_matches_a_plain_numpy_reference() -> None:
    # given a residual of 0.9 (9000 lots) over 5 periods in a market 2x as volatile as assumed
    inputs = {
        "quantity": "1",
        "filled": "0.1",
        "baseline_filled": "0",
        "lot": "0.0001",
        "min_child": "0",
        "max_child": "0",
        "schedule": [[1, "0.1", True]] + [[k, "0.18", False] for k in range(2, 7)],
        "pending": [[k, "0.18", 10.0 * (k - 1)] for k in range(2, 7)],
        "market_assumed": {"volatility": "0.5", "half_spread_bps": "2", "volume_5m": "0"},
        "market_now": {"volatility": "1.0", "half_spread_bps": "2", "volume_5m": "0"},
        "tolerances": dict(replan.REPLAN_DEFAULTS),
    }

    output = replan.replan_compute(inputs)

    theta = 2 * math.log(2)
    weights = np.exp(-theta * np.arange(5) / 5)
    reference = weights / weights.sum() * 9000
    lots = [int(Decimal(q) / Decimal("0.0001")) for q in output["children"]]
    assert sum(lots) == 9000
    assert np.max(np.abs(np.array(lots) - reference)) < 1.0
    assert output["tilt"] == pytest.approx(theta)
    assert output["offsets_s"] == [0.0, 12.5, 25.0, 37.5, 50.0]


def test_a_replan_decision_replays_to_the_same_output(trader, instrument) -> None:  # noqa: ANN001
    plan = _running(trader, instrument)
    first = _first_due(plan)
    ChildOrder.objects.filter(pk=first.pk).update(status=ChildOrderStatus.REJECTED)
    record = replan.plan_replan_check(plan_id=plan.pk, now=first.scheduled_at)

    replay = decision_replay(record)

    assert replay.matches
    assert replay.inputs_intact
    seq, quantity, due = record.inputs["schedule"][0]
    assert (seq, Decimal(quantity), due) == (first.seq, first.quantity, True)
    assert record.inputs["market_now"]["volatility"] == record.inputs["market_assumed"]["volatility"]
    assert chain_verify().ok


def test_the_worker_replans_on_its_tick_and_then_works_the_new_children(trader, instrument) -> None:  # noqa: ANN001
    # given a running plan whose market turned 3x as volatile after its first child
    plan = _running(trader, instrument)
    first = _first_due(plan)
    services.plan_work(plan_id=plan.pk, now=first.scheduled_at)
    _market(instrument, volatility=3)

    # when the next tick comes
    services.plan_work(plan_id=plan.pk, now=first.scheduled_at + timedelta(seconds=1))
    # and the rest of the plan is worked
    services.plan_work(plan_id=plan.pk, now=first.scheduled_at + timedelta(seconds=120))

    plan.refresh_from_db()
    assert plan.replans == 1
    assert plan.status == PlanStatus.COMPLETED
    assert plan.filled_quantity == Decimal("1")


def test_a_plan_may_turn_replans_off_and_bad_tolerances_are_refused(trader, instrument) -> None:  # noqa: ANN001
    plan = _running(trader, instrument, replan=False)
    first = _first_due(plan)
    ChildOrder.objects.filter(pk=first.pk).update(status=ChildOrderStatus.REJECTED)

    assert replan.plan_replan_check(plan_id=plan.pk, now=first.scheduled_at) is None
    with pytest.raises(services.ExecutionRefused, match="replan_fill_tolerance"):
        _running(trader, instrument, replan_fill_tolerance=0)
    assert ExecutionPlan.objects.count() == 1
