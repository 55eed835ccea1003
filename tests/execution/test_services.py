"""Execution services: plan schedules from the kernels, the plan lifecycle, child orders through risk to the venues."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db.models import F, Sum

from desk.market import venue_books_ensure
from desk.models import AuditEvent, VenueBook
from execution import services
from execution.models import ChildOrder, ChildOrderStatus, ExecutionPlan, Fill, PlanStatus, Position
from execution.services import ExecutionRefused, children
from risk.models import LimitKind, LimitScope
from risk.services import kill_switch_engage
from tests.risk.factories import limit_create

pytestmark = pytest.mark.django_db


def _plan(trader, instrument, **overrides: Any) -> ExecutionPlan:  # noqa: ANN001
    fields: dict[str, Any] = {
        "instrument": instrument,
        "side": "buy",
        "quantity": Decimal("1"),
        "algorithm": "twap",
        "parameters": {"horizon_s": 2, "slices": 4, "seed": 7},
        "actor": trader,
    }
    fields.update(overrides)
    return services.plan_create(**fields)


def _running(trader, instrument, **overrides: Any) -> ExecutionPlan:  # noqa: ANN001
    plan = _plan(trader, instrument, **overrides)
    return services.plan_start(plan_id=plan.pk, actor=trader)


def _children(plan: ExecutionPlan) -> list[ChildOrder]:
    return list(ChildOrder.objects.filter(plan=plan).order_by("seq"))


@pytest.mark.parametrize(
    ("algorithm", "parameters"),
    [
        ("twap", {"horizon_s": 60, "slices": 7}),
        ("twap", {"horizon_s": 60, "slices": 7, "size_jitter": 0.3, "time_jitter": 0.3}),
        ("vwap", {"horizon_s": 3600, "slices": 12, "min_child": "0.01"}),
        ("pov", {"horizon_s": 3600, "slices": 6, "participation": 0.2, "cap": 0.3}),
        ("almgren_chriss", {"horizon_s": 600, "slices": 9, "risk_aversion": 1e-4, "max_child": "0.5"}),
    ],
)
def test_the_schedule_sums_exactly_to_the_parent_in_whole_lots(trader, instrument, algorithm, parameters) -> None:  # noqa: ANN001
    # given a parent of 1.2345 contracts (lots of 0.0001)
    plan = _plan(trader, instrument, quantity=Decimal("1.2345"), algorithm=algorithm, parameters=parameters)

    children = _children(plan)

    assert sum(c.quantity for c in children) == Decimal("1.2345")
    assert all(c.quantity > 0 and c.quantity % instrument.lot_size == 0 for c in children)
    assert [c.client_order_id for c in children] == [f"P{plan.pk}-{i}" for i in range(1, len(children) + 1)]
    times = [c.scheduled_at for c in children]
    assert times == sorted(times)
    assert times[-1] - times[0] <= timedelta(seconds=parameters["horizon_s"])
    assert plan.status == PlanStatus.DRAFT
    assert AuditEvent.objects.filter(action="execution_plan.create", object_id=str(plan.pk)).count() == 1


def test_twap_children_are_equal_and_evenly_spaced(trader, instrument) -> None:  # noqa: ANN001
    plan = _plan(trader, instrument, parameters={"horizon_s": 2, "slices": 4, "seed": 1})

    children = _children(plan)

    assert [c.quantity for c in children] == [Decimal("0.25")] * 4
    gaps = {(b.scheduled_at - a.scheduled_at) for a, b in zip(children, children[1:], strict=False)}
    assert gaps == {timedelta(seconds=0.5)}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"parameters": {"horizon_s": 0, "slices": 4}}, "parameters"),
        ({"parameters": {"slices": 4}}, "parameters"),
        ({"quantity": Decimal("-1")}, "quantity"),
        ({"quantity": Decimal("0.00005")}, "quantity"),
        ({"algorithm": "sniper"}, "algorithm"),
        ({"side": "hold"}, "side"),
        # eta - gamma * tau / 2 <= 0: the Almgren-Chriss kernel would divide by zero
        (
            {"algorithm": "almgren_chriss", "parameters": {"horizon_s": 60, "slices": 2, "eta": 1, "gamma": 10}},
            "parameters",
        ),
        ({"algorithm": "pov", "parameters": {"horizon_s": 1, "slices": 2, "participation": 0.01}}, "parameters"),
    ],
)
def test_bad_plans_are_refused_with_a_message_and_nothing_stored(trader, instrument, overrides, field) -> None:  # noqa: ANN001
    with pytest.raises(ExecutionRefused) as refused:
        _plan(trader, instrument, **overrides)

    assert field in refused.value.message_dict
    assert not ExecutionPlan.objects.exists()
    assert not ChildOrder.objects.exists()


def test_a_risk_officer_may_not_create_a_plan(risk_officer, instrument) -> None:  # noqa: ANN001
    with pytest.raises(services.ExecutionPermissionDenied):
        _plan(risk_officer, instrument)


def test_a_sent_child_is_filled_on_a_venue_and_booked_once(trader, instrument) -> None:  # noqa: ANN001
    # given a running plan
    plan = _running(trader, instrument)
    first = _children(plan)[0]

    # when the first child is sent twice (a retried task)
    sent = services.child_order_send(child_order_id=first.pk)
    again = services.child_order_send(child_order_id=first.pk)

    # then one fill is booked, on a simulated venue, within the child's limit
    fill = Fill.objects.get()
    assert sent.status == again.status == ChildOrderStatus.FILLED
    assert fill.exec_id == f"{sent.venue}-P{plan.pk}-1"
    assert fill.quantity == first.quantity == sent.filled_quantity
    assert Decimal("99000") < fill.price <= sent.limit_price
    assert sent.sent_at is not None
    plan.refresh_from_db()
    assert plan.filled_quantity == Decimal("0.25")
    position = Position.objects.get(book="desk", instrument=instrument)
    assert position.quantity == Decimal("0.25")
    assert position.average_price == fill.price
    assert position.realized_pnl == -fill.fee
    assert AuditEvent.objects.filter(action="child_order.fill", object_id=str(first.pk)).count() == 1


def test_a_buy_moves_the_shared_mid_up_by_its_permanent_impact(trader, instrument) -> None:  # noqa: ANN001
    plan = _running(trader, instrument, quantity=Decimal("40"), parameters={"horizon_s": 2, "slices": 2})
    first = _children(plan)[0]
    services.child_order_send(child_order_id=first.pk)  # creates the books at the default mid, then trades
    mids_before = set(VenueBook.objects.filter(underlying="BTC").values_list("mid", flat=True))

    services.child_order_send(child_order_id=_children(plan)[1].pk)

    mids_after = set(VenueBook.objects.filter(underlying="BTC").values_list("mid", flat=True))
    assert len(mids_before) == len(mids_after) == 1  # every venue of the underlying shares the market mid
    # 20 BTC of 20 000 a day, linear permanent coefficient 0.05, volatility 0.65 against 0.60: +0.54 bps
    (before,), (after,) = mids_before, mids_after
    assert after / before - 1 == pytest.approx(
        Decimal("0.00005") * Decimal("0.65") / Decimal("0.60"), rel=Decimal("1e-6")
    )


def test_plan_create_refuses_a_plan_past_the_fat_finger_guards(trader, instrument) -> None:  # noqa: ANN001
    # given a 10 bps collar and a 1 000 per-order notional limit
    limit_create(scope=LimitScope.DESK, kind=LimitKind.PRICE_COLLAR_BPS, value="10")
    limit_create(scope=LimitScope.DESK, kind=LimitKind.MAX_ORDER_NOTIONAL, value="1000")

    # when a plan is created whose children would be priced 50 bps through the mid
    with pytest.raises(ExecutionRefused) as refused:
        _plan(trader, instrument)

    # then the collar refuses it on its parameters (every child would be refused), while the per-order notional,
    # which bounds each child, does not refuse the parent
    (message,) = refused.value.message_dict["parameters"]
    assert message.startswith("price_collar_bps: limit 10.833333 bps (set 10, widened ×1.083333 by volatility)")
    assert "is 50 bps from mid" in message
    assert "quantity" not in refused.value.message_dict
    assert not ExecutionPlan.objects.exists()
    assert AuditEvent.objects.get(action="risk.refused").after["limit"] == "price_collar_bps"


def test_a_collar_refusal_is_named_audited_and_carried_to_the_next_child(trader, instrument) -> None:  # noqa: ANN001
    # given a running plan whose children are priced 50 bps through the mid, and a 10 bps collar set since (the plan
    # itself would be refused under it: see test_plan_create_refuses_a_plan_past_the_fat_finger_guards)
    plan = _running(trader, instrument)
    limit_create(scope=LimitScope.DESK, kind=LimitKind.PRICE_COLLAR_BPS, value="10")
    first, second = _children(plan)[:2]

    child = services.child_order_send(child_order_id=first.pk)

    assert child.status == ChildOrderStatus.REJECTED
    assert "price_collar_bps" in child.reject_reason
    refusal = AuditEvent.objects.get(action="risk.refused", object_id=first.client_order_id)
    assert refusal.after["limit"] == "price_collar_bps"
    reject = AuditEvent.objects.get(action="child_order.reject", object_id=str(first.pk))
    assert reject.after["plan_action"] == "continue"
    assert reject.after["carried_to"] == second.client_order_id
    second.refresh_from_db()
    assert second.quantity == Decimal("0.5")
    plan.refresh_from_db()
    assert plan.status == PlanStatus.RUNNING
    assert not Fill.objects.exists()


def test_a_position_limit_refusal_halts_the_plan(trader, instrument) -> None:  # noqa: ANN001
    limit_create(scope=LimitScope.INSTRUMENT, scope_key=instrument.symbol, kind=LimitKind.MAX_POSITION, value="0.3")
    plan = _running(trader, instrument)
    first, second = _children(plan)[:2]
    services.child_order_send(child_order_id=first.pk)

    refused = services.child_order_send(child_order_id=second.pk)

    assert refused.status == ChildOrderStatus.REJECTED
    assert "max_position" in refused.reject_reason
    plan.refresh_from_db()
    assert plan.status == PlanStatus.HALTED
    assert AuditEvent.objects.filter(action="execution_plan.halt", object_id=str(plan.pk)).count() == 1
    third = _children(plan)[2]
    assert services.child_order_send(child_order_id=third.pk).status == ChildOrderStatus.PLANNED


def test_a_kill_switch_halts_a_running_plan_and_no_further_child_is_sent(trader, risk_officer, instrument) -> None:  # noqa: ANN001
    plan = _running(trader, instrument)
    children = _children(plan)
    services.child_order_send(child_order_id=children[0].pk)

    kill_switch_engage(scope=LimitScope.DESK, scope_key="", reason="test", actor=risk_officer)
    sent = [services.child_order_send(child_order_id=c.pk) for c in children[1:]]
    outcome = services.plan_work(plan_id=plan.pk, now=datetime.now(UTC) + timedelta(hours=1))

    plan.refresh_from_db()
    assert plan.status == PlanStatus.HALTED
    assert [c.status for c in sent] == [ChildOrderStatus.PLANNED] * 3
    assert outcome.sent == 0
    assert Fill.objects.count() == 1


def test_a_kill_switch_engaged_while_a_child_is_checked_stops_it(trader, risk_officer, instrument, monkeypatch) -> None:  # noqa: ANN001
    # given a child that passed the pre-trade check just before the switch was engaged
    plan = _running(trader, instrument)
    first = _children(plan)[0]
    real_check = children.limit_check

    def check_then_engage(**kwargs: Any) -> Any:
        report = real_check(**kwargs)
        kill_switch_engage(scope=LimitScope.DESK, scope_key="", reason="race", actor=risk_officer)
        return report

    monkeypatch.setattr(children, "limit_check", check_then_engage)

    child = services.child_order_send(child_order_id=first.pk)

    assert child.status == ChildOrderStatus.PLANNED
    assert not Fill.objects.exists()


def test_pause_resume_and_cancel(trader, risk_officer, instrument) -> None:  # noqa: ANN001
    plan = _running(trader, instrument)
    children = _children(plan)

    paused = services.plan_pause(plan_id=plan.pk, actor=risk_officer, reason="news")
    held = services.child_order_send(child_order_id=children[0].pk)
    assert paused.status == PlanStatus.PAUSED
    assert held.status == ChildOrderStatus.PLANNED

    ChildOrder.objects.filter(plan=plan).update(scheduled_at=F("scheduled_at") - timedelta(minutes=5))
    resumed = services.plan_resume(plan_id=plan.pk, actor=trader, version=paused.version)
    retimed = _children(plan)
    assert resumed.status == PlanStatus.RUNNING
    assert retimed[0].scheduled_at >= datetime.now(UTC) - timedelta(seconds=5)  # overdue children start from now
    assert retimed[1].scheduled_at - retimed[0].scheduled_at == children[1].scheduled_at - children[0].scheduled_at
    services.child_order_send(child_order_id=children[0].pk)

    cancelled = services.plan_cancel(plan_id=plan.pk, actor=trader, reason="done for today")
    assert cancelled.status == PlanStatus.CANCELLED
    assert [c.status for c in _children(plan)] == [ChildOrderStatus.FILLED] + [ChildOrderStatus.CANCELLED] * 3
    assert services.child_order_send(child_order_id=children[1].pk).status == ChildOrderStatus.CANCELLED
    with pytest.raises(ExecutionRefused, match="cannot be cancelled"):
        services.plan_cancel(plan_id=plan.pk, actor=trader)
    with pytest.raises(ExecutionRefused, match="only a paused or halted"):
        services.plan_resume(plan_id=plan.pk, actor=trader)
    actions = list(
        AuditEvent.objects.filter(object_id=str(plan.pk), object_type="execution.executionplan").values_list(
            "action", flat=True
        )
    )
    assert actions == [
        "execution_plan.create",
        "execution_plan.start",
        "execution_plan.pause",
        "execution_plan.resume",
        "execution_plan.cancel",
    ]


def test_a_stale_version_is_refused(trader, instrument) -> None:  # noqa: ANN001
    plan = _running(trader, instrument)

    with pytest.raises(ExecutionRefused, match="changed"):
        services.plan_pause(plan_id=plan.pk, actor=trader, version=plan.version - 1)


def test_a_compliance_user_may_not_steer_a_plan(trader, compliance, instrument) -> None:  # noqa: ANN001
    plan = _running(trader, instrument)

    with pytest.raises(services.ExecutionPermissionDenied):
        services.plan_pause(plan_id=plan.pk, actor=compliance)


def test_a_plan_worked_to_the_end_completes_and_reconciles(
    trader, instrument, django_capture_on_commit_callbacks, monkeypatch
) -> None:  # noqa: ANN001
    events: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr("desk.events.event_send_now", lambda *, group, event, payload: events.append((event, payload)))
    plan = _running(trader, instrument, side="sell", quantity=Decimal("2"), parameters={"horizon_s": 2, "slices": 4})

    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.plan_work(plan_id=plan.pk, now=datetime.now(UTC) + timedelta(seconds=3))

    plan.refresh_from_db()
    assert outcome.sent == 4
    assert outcome.next_seq is None
    assert plan.status == PlanStatus.COMPLETED
    assert plan.filled_quantity == Decimal("2")
    assert Fill.objects.filter(child_order__plan=plan).aggregate(q=Sum("quantity"))["q"] == Decimal("2")
    assert Position.objects.get(instrument=instrument).quantity == Decimal("-2")
    progress = [payload for event, payload in events if event == "plan.progress"]
    assert [p["filled_quantity"] for p in progress if "fill" in p] == [Decimal(q) for q in ("0.5", "1", "1.5", "2")]
    assert progress[-1]["status"] == PlanStatus.COMPLETED


def test_one_tick_chain_per_plan(trader, instrument) -> None:  # noqa: ANN001
    # given a running plan whose first child is due
    plan = _running(trader, instrument)

    # when the same tick runs twice (a redelivery)
    first = services.plan_work(plan_id=plan.pk, tick_seq=0)
    second = services.plan_work(plan_id=plan.pk, tick_seq=0)

    # then both send what is due, but only the first re-schedules
    assert first.sent == 1
    assert first.next_seq == 1
    assert 0 <= first.next_in_s <= 0.5
    assert second.sent == 0
    assert second.next_seq is None
    assert Fill.objects.count() == 1


def test_the_sweep_finds_plans_whose_tick_was_lost(trader, instrument) -> None:  # noqa: ANN001
    plan = _running(trader, instrument)
    assert services.plans_stalled_find(grace_s=5) == []

    ChildOrder.objects.filter(plan=plan).update(scheduled_at=datetime.now(UTC) - timedelta(seconds=30))

    assert services.plans_stalled_find(grace_s=5) == [plan.pk]


def test_sending_a_child_is_a_bounded_number_of_queries(trader, instrument, django_assert_max_num_queries) -> None:  # noqa: ANN001
    plan = _running(trader, instrument)
    first, second = _children(plan)[:2]
    services.child_order_send(child_order_id=first.pk)  # the venue rows and the position exist from now on

    # 27 today: reads and the pre-trade check (7), then locks, three venue rows, fill, child, position, plan, audit
    with django_assert_max_num_queries(30):
        services.child_order_send(child_order_id=second.pk)


def test_no_child_leaves_on_a_stale_book(trader, instrument) -> None:  # noqa: ANN001
    # given venue books the market service last ticked a minute ago
    plan = _running(trader, instrument)
    first = _children(plan)[0]
    venue_books_ensure(underlying="BTC", now=datetime.now(UTC))
    VenueBook.objects.update(ticked_at=datetime.now(UTC) - timedelta(minutes=1))

    child = services.child_order_send(child_order_id=first.pk)

    assert child.status == ChildOrderStatus.REJECTED
    assert child.reject_reason.startswith("stale_price")
    plan.refresh_from_db()
    assert plan.status == PlanStatus.HALTED
    assert not Fill.objects.exists()
