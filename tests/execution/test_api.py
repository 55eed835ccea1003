"""The execution API: traders create and steer plans, risk officers steer them too, every desk role reads them; a
bad plan is a 400 that names the field and stores nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from desk.models import AuditEvent
from execution import services
from execution.models import ExecutionPlan, PlanStatus

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.execution.urls")]

BASE = "/api/v1/execution"


def _post(client: Client, path: str, body: dict[str, Any]) -> Any:
    return client.post(f"{BASE}{path}", body, content_type="application/json")


def _create(client: Client, instrument, **overrides: Any) -> Any:  # noqa: ANN001
    body = {
        "instrument": getattr(instrument, "symbol", instrument),
        "side": "buy",
        "quantity": "1",
        "algorithm": "twap",
        "parameters": {"horizon_s": 60, "slices": 4},
    }
    body.update(overrides)
    return _post(client, "/plans/create/", body)


def test_a_trader_creates_and_starts_a_plan(trader, instrument, client_for) -> None:  # noqa: ANN001
    client = client_for(trader)

    created = _create(client, instrument)
    plan_id = created.json()["id"]
    started = _post(client, f"/plans/{plan_id}/start/", {})
    detail = client.get(f"{BASE}/plans/{plan_id}/")

    assert created.status_code == 201
    assert created.json()["status"] == PlanStatus.DRAFT
    assert [c["client_order_id"] for c in created.json()["child_orders"]] == [f"P{plan_id}-{i}" for i in (1, 2, 3, 4)]
    assert started.status_code == 200
    assert started.json()["status"] == PlanStatus.RUNNING
    body = detail.json()
    assert body["status"] == PlanStatus.RUNNING
    assert sum(Decimal(c["quantity"]) for c in body["child_orders"]) == Decimal(1)
    assert body["created_by"] == trader.username


def test_detail_shows_child_orders_with_their_fills(trader, compliance, instrument, client_for) -> None:  # noqa: ANN001
    plan = services.plan_create(
        instrument=instrument,
        side="sell",
        quantity=Decimal("1"),
        algorithm="twap",
        parameters={"horizon_s": 60, "slices": 2},
        actor=trader,
    )
    services.plan_start(plan_id=plan.pk, actor=trader)
    first = plan.child_orders.order_by("seq").first()
    services.child_order_send(child_order_id=first.pk)

    response = client_for(compliance).get(f"{BASE}/plans/{plan.pk}/")

    assert response.status_code == 200
    first_row, second_row = response.json()["child_orders"]
    assert first_row["status"] == "filled"
    (fill,) = first_row["fills"]
    assert fill["exec_id"] == f"{first_row['venue']}-P{plan.pk}-1"
    assert Decimal(fill["quantity"]) == Decimal("0.5")
    assert second_row["fills"] == []
    positions = client_for(compliance).get(f"{BASE}/positions/").json()["results"]
    assert [(p["instrument"], Decimal(p["quantity"])) for p in positions] == [(instrument.symbol, Decimal("-0.5"))]


def test_the_list_filters_by_status(trader, instrument, client_for) -> None:  # noqa: ANN001
    client = client_for(trader)
    draft = _create(client, instrument).json()["id"]
    running = _create(client, instrument).json()["id"]
    _post(client, f"/plans/{running}/start/", {})

    everything = client.get(f"{BASE}/plans/").json()["results"]
    only_running = client.get(f"{BASE}/plans/", {"status": "running"}).json()["results"]

    assert {row["id"] for row in everything} == {draft, running}
    assert [row["id"] for row in only_running] == [running]


def test_a_risk_officer_pauses_resumes_and_cancels(trader, risk_officer, instrument, client_for) -> None:  # noqa: ANN001
    plan_id = _create(client_for(trader), instrument).json()["id"]
    _post(client_for(trader), f"/plans/{plan_id}/start/", {})
    risk = client_for(risk_officer)

    paused = _post(risk, f"/plans/{plan_id}/pause/", {"reason": "volatility"})
    resumed = _post(risk, f"/plans/{plan_id}/resume/", {"version": paused.json()["version"]})
    stale = _post(risk, f"/plans/{plan_id}/pause/", {"version": paused.json()["version"]})
    cancelled = _post(risk, f"/plans/{plan_id}/cancel/", {"reason": "enough"})
    again = _post(risk, f"/plans/{plan_id}/cancel/", {})

    assert (paused.status_code, paused.json()["status"]) == (200, PlanStatus.PAUSED)
    assert (resumed.status_code, resumed.json()["status"]) == (200, PlanStatus.RUNNING)
    assert stale.status_code == 400
    assert "changed" in str(stale.json())
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, PlanStatus.CANCELLED)
    assert again.status_code == 400


def test_roles_without_the_permission_get_403(trader, risk_officer, compliance, instrument, client_for) -> None:  # noqa: ANN001
    plan_id = _create(client_for(trader), instrument).json()["id"]

    assert _create(client_for(risk_officer), instrument).status_code == 403
    assert _create(client_for(compliance), instrument).status_code == 403
    assert _post(client_for(compliance), f"/plans/{plan_id}/start/", {}).status_code == 403
    assert Client().get(f"{BASE}/plans/").status_code in (401, 403)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"parameters": {"horizon_s": 0}}, "parameters"),
        ({"quantity": "-1"}, "quantity"),
        ({"quantity": "0.00001"}, "quantity"),
        ({"algorithm": "sniper"}, "algorithm"),
        ({"symbol": "NOPE"}, "instrument"),
        (
            {"algorithm": "almgren_chriss", "parameters": {"horizon_s": 60, "slices": 2, "eta": 1, "gamma": 10}},
            "parameters",
        ),
    ],
)
def test_a_bad_plan_is_a_400_naming_the_field(trader, instrument, client_for, overrides, field) -> None:  # noqa: ANN001
    symbol = overrides.pop("symbol", instrument)
    response = _create(client_for(trader), symbol, **overrides)

    assert response.status_code == 400
    assert field in response.json()
    assert not ExecutionPlan.objects.exists()


def test_an_unknown_plan_is_a_404(trader, client_for) -> None:  # noqa: ANN001
    client = client_for(trader)

    assert client.get(f"{BASE}/plans/999/").status_code == 404
    assert _post(client, "/plans/999/pause/", {}).status_code == 404


@pytest.mark.parametrize(
    ("overrides", "field", "named"),
    [
        ({"quantity": "6000"}, "quantity", "max_order_quantity: limit 5000, order 6000 [default for BTC-USD"),
        ({"quantity": "600"}, "quantity", "max_order_notional: limit 50000000, order 600 × "),
        (
            {"parameters": {"horizon_s": 60, "slices": 4, "max_slippage_bps": 2000}},
            "parameters",
            "price_collar_bps: limit ",
        ),
    ],
)
def test_a_plan_past_the_fat_finger_guards_is_a_400_naming_limit_value_and_threshold(  # noqa: ANN001
    trader, instrument, client_for, overrides, field, named
) -> None:
    # given no limit set: the defaults (50M notional, a quarter of BTC's 20 000 a day, a 500 bps collar) hold
    response = _create(client_for(trader), instrument, **overrides)

    assert response.status_code == 400, response.content
    assert any(message.startswith(named) for message in response.json()[field]), response.json()
    assert not ExecutionPlan.objects.exists()
    assert AuditEvent.objects.filter(action="risk.refused", actor="user:trader-t").exists()
