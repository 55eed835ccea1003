"""Risk telemetry on running plans: alerts stored and broadcast, actions taken through the execution services and
stored as replayable decision records, one open alert per plan and metric, acknowledgement by a person."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from desk import events
from desk.audit import audit_record, chain_verify
from desk.decisions import decision_replay
from desk.market import venue_books_ensure
from desk.models import DecisionKind, DecisionRecord, VenueBook
from execution.models import ChildOrder, ChildOrderStatus, Fill, PlanStatus
from flows import risk_actions
from flows.risk_actions import plan_telemetry_evaluate, plans_telemetry_evaluate
from risk import selectors
from risk.models import Alert, AlertAction, AlertLevel
from risk.services import RiskPermissionDenied, RiskRefused
from risk.telemetry_services import alert_acknowledge
from tests import factories
from tests.risk import factories as risk_factories

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def sent_events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    sent: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(events, "event_send_now", lambda *, group, event, payload: sent.append((event, payload)))
    return sent


def _running_plan(  # noqa: ANN202
    trader,  # noqa: ANN001
    *,
    slippage: str,
    fills: int = 6,
    mid_now: str = "100",
    volume_5m: str = "1000",
    sizes: list[int] | None = None,
    mids: list[tuple[str, str]] | None = None,
):
    """A running buy plan of BTC-USD with ``fills`` fills of 1 at 100 × (1 + slippage) against a mid of 100, each
    with its fill audit event (as execution.services writes it), and the venue's book at ``mid_now``."""
    instrument = factories.instrument_create(symbol="BTC-USD")
    plan = risk_factories.plan_create(instrument=instrument, created_by=trader, quantity="20")
    venue_books_ensure(underlying="BTC", now=NOW)
    VenueBook.objects.filter(underlying="BTC").update(
        mid=Decimal(mid_now), volume_5m=Decimal(volume_5m), volatility=Decimal("0.6")
    )
    for seq in range(1, fills + 1):
        size = Decimal(sizes[seq - 1]) if sizes else Decimal(1)
        before, after = (Decimal(m) for m in mids[seq - 1]) if mids else (Decimal(100), Decimal(100))
        price = before * (1 + Decimal(slippage))
        at = NOW - timedelta(seconds=20 * (fills - seq) + 400)
        child = ChildOrder.objects.create(
            plan=plan,
            seq=seq,
            client_order_id=f"P{plan.pk}-{seq}",
            quantity=size,
            status=ChildOrderStatus.FILLED,
            scheduled_at=at,
            sent_at=at,
            filled_quantity=size,
        )
        exec_id = f"LIT1-{child.client_order_id}"
        Fill.objects.create(
            exec_id=exec_id,
            child_order=child,
            instrument=instrument,
            side="buy",
            quantity=size,
            price=price,
            executed_at=at,
        )
        audit_record(
            actor="system:execution",
            action="child_order.fill",
            obj=child,
            after={"exec_id": exec_id, "price": price, "mid_before": before, "mid_after": after},
        )
    return plan


def test_slippage_above_pause_pauses_the_plan_and_records_the_decision(
    trader, sent_events, django_capture_on_commit_callbacks
) -> None:  # noqa: ANN001, E501
    # given a running plan whose fills paid 0.30 % over the mid (pause above 0.25 %)
    plan = _running_plan(trader, slippage="0.003")
    # when risk evaluates its telemetry
    with django_capture_on_commit_callbacks(execute=True):
        alerts = plan_telemetry_evaluate(plan_id=plan.pk, now=NOW)
    # then one action alert is stored, the plan is paused through the execution service
    assert [(a.kind, a.level, a.action) for a in alerts] == [("slippage", AlertLevel.ACTION, AlertAction.PAUSE)]
    alert = alerts[0]
    assert alert.value == Decimal("0.003")
    assert alert.threshold == Decimal("0.0025")
    assert alert.action_result == "pause taken: plan paused"
    plan.refresh_from_db()
    assert plan.status == PlanStatus.PAUSED
    # and the decision is stored with its inputs and replays to the same output
    record = DecisionRecord.objects.get(kind=DecisionKind.RISK_ACTION)
    assert record.object_id == str(plan.pk)
    assert record.inputs["metric"] == "slippage"
    assert len(record.inputs["telemetry"]["fills"]) == 6
    replay = decision_replay(record)
    assert replay.matches
    assert replay.inputs_intact
    # and the desk heard of it, and the audit chain holds
    fired = [payload for event, payload in sent_events if event == "risk.alert"]
    assert [p["alert"] for p in fired] == [alert.pk]
    assert chain_verify().ok
    assert list(selectors.alerts_open()) == [alert]


def test_a_plain_alert_takes_no_action_and_is_not_repeated(trader) -> None:  # noqa: ANN001
    # 0.15 % slippage: above the 0.10 % alert, below the 0.25 % pause
    plan = _running_plan(trader, slippage="0.0015")
    first = plan_telemetry_evaluate(plan_id=plan.pk, now=NOW)
    again = plan_telemetry_evaluate(plan_id=plan.pk, now=NOW)
    assert [(a.kind, a.level, a.action) for a in first] == [("slippage", AlertLevel.ALERT, AlertAction.NONE)]
    assert again == []
    plan.refresh_from_db()
    assert plan.status == PlanStatus.RUNNING
    assert not DecisionRecord.objects.filter(kind=DecisionKind.RISK_ACTION).exists()


def test_acknowledged_alert_closes_and_a_persisting_breach_alerts_again(trader, risk_officer, compliance) -> None:  # noqa: ANN001
    plan = _running_plan(trader, slippage="0.0015")
    (alert,) = plan_telemetry_evaluate(plan_id=plan.pk, now=NOW)
    with pytest.raises(RiskPermissionDenied):
        alert_acknowledge(alert_id=alert.pk, actor=compliance)
    alert_acknowledge(alert_id=alert.pk, actor=risk_officer)
    assert not selectors.alerts_open().exists()
    with pytest.raises(RiskRefused, match="already acknowledged"):
        alert_acknowledge(alert_id=alert.pk, actor=risk_officer)
    assert len(plan_telemetry_evaluate(plan_id=plan.pk, now=NOW)) == 1
    assert Alert.objects.count() == 2


def test_participation_halt_and_impact_reduce_call_the_execution_services(trader, monkeypatch) -> None:  # noqa: ANN001
    # given a plan that is 30 % of the last 5 minutes' volume and moved the mid 0.2 % (reduce above 0.15 %)
    plan = _running_plan(trader, slippage="0", fills=6, mid_now="100.2", volume_5m="10")
    for child in ChildOrder.objects.filter(plan=plan):
        Fill.objects.filter(child_order=child).update(executed_at=NOW - timedelta(seconds=60))
    calls: list[tuple[str, int]] = []
    monkeypatch.setitem(risk_actions.ACTION_CALLS, "reduce", lambda plan_id, reason: calls.append(("reduce", plan_id)))
    monkeypatch.setitem(risk_actions.ACTION_CALLS, "halt", lambda plan_id, reason: calls.append(("halt", plan_id)))
    # when the beat evaluates every running plan
    alerts = plans_telemetry_evaluate(now=NOW)
    # then both actions went through the execution services, each with its decision record
    assert sorted((a.kind, a.action) for a in alerts) == [("impact", "reduce"), ("participation", "halt")]
    assert sorted(calls) == [("halt", plan.pk), ("reduce", plan.pk)]
    assert DecisionRecord.objects.filter(kind=DecisionKind.RISK_ACTION).count() == 2


def test_plans_not_running_or_without_fills_raise_nothing(trader) -> None:  # noqa: ANN001
    plan = _running_plan(trader, slippage="0.003")
    plan.status = PlanStatus.PAUSED
    plan.save(update_fields=["status"])
    assert plan_telemetry_evaluate(plan_id=plan.pk, now=NOW) == []
    empty = risk_factories.plan_create(instrument=plan.instrument, created_by=trader)
    assert plan_telemetry_evaluate(plan_id=empty.pk, now=NOW) == []
    assert not Alert.objects.exists()


def test_the_beat_task_evaluates_running_plans(trader) -> None:  # noqa: ANN001
    from flows.tasks import telemetry_sweep

    _running_plan(trader, slippage="0.0015")
    assert telemetry_sweep.run() == 1
    # safe to run twice: the open alert is not raised again
    assert telemetry_sweep.run() == 0


def test_alerts_api_lists_and_acknowledges(trader, compliance, client_for) -> None:  # noqa: ANN001
    plan = _running_plan(trader, slippage="0.0015")
    (alert,) = plan_telemetry_evaluate(plan_id=plan.pk, now=NOW)
    listed = client_for(trader).get("/api/v1/risk/alerts/", {"plan": plan.pk})
    assert listed.status_code == 200
    rows = listed.json()["results"]
    assert [(row["id"], row["kind"], row["instrument"], row["value"]) for row in rows] == [
        (alert.pk, "slippage", "BTC-USD", "0.001500000000")
    ]
    assert client_for(trader).get("/api/v1/risk/alerts/", {"plan": "x"}).status_code == 400
    url = f"/api/v1/risk/alerts/{alert.pk}/acknowledge/"
    assert client_for(compliance).post(url).status_code == 403
    acknowledged = client_for(trader).post(url)
    assert acknowledged.status_code == 200
    assert acknowledged.json()["acknowledged"] is True
    assert client_for(trader).post(url).status_code == 400
    assert client_for(trader).get("/api/v1/risk/alerts/").json()["results"] == []


def test_leakage_above_reroute_switches_the_plan(trader, monkeypatch) -> None:  # noqa: ANN001
    # given a market that runs ahead of each child in proportion to its size (the mid rises 1 bp per contract
    # between our fills): leakage correlation 1
    sizes = [3, 1, 4, 1, 5, 2]
    mids, mid = [], Decimal(100)
    for size in sizes:
        before = mid * (1 + Decimal("0.0001") * size)
        mids.append((str(before), str(before)))
        mid = before
    plan = _running_plan(trader, slippage="0", sizes=sizes, mids=mids, mid_now=str(mids[0][0]))
    calls: list[int] = []
    monkeypatch.setitem(risk_actions.ACTION_CALLS, "reroute", lambda plan_id, reason: calls.append(plan_id))
    alerts = {a.kind: a for a in plan_telemetry_evaluate(plan_id=plan.pk, now=NOW)}
    assert alerts["leakage"].action == AlertAction.REROUTE
    assert alerts["leakage"].value == pytest.approx(Decimal(1), abs=Decimal("1e-6"))
    assert calls == [plan.pk]
