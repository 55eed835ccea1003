"""The execution pages without a browser: roles checked on the server for every page and action, refusals that name
what is wrong and keep what was typed, and the chart's series against independent references."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from desk.market import underlying_reference
from desk.pages import queries
from execution import selectors, services
from execution.models import ChildOrderStatus, ExecutionPlan, PlanStatus

pytestmark = pytest.mark.django_db


def _plan(trader, instrument, **overrides) -> ExecutionPlan:  # noqa: ANN001
    fields = {
        "instrument": instrument,
        "side": "buy",
        "quantity": Decimal("1"),
        "algorithm": "twap",
        "parameters": {"horizon_s": 60, "slices": 4, "seed": 7},
        "actor": trader,
    }
    fields.update(overrides)
    return services.plan_create(**fields)


def _status(plan: ExecutionPlan) -> str:
    return ExecutionPlan.objects.values_list("status", flat=True).get(pk=plan.pk)


# --- roles ---------------------------------------------------------------------------------------------------


def test_dealer_never_sees_an_execution_page_nor_steers_a_plan(client_for, dealer, trader, instrument) -> None:  # noqa: ANN001
    plan = services.plan_start(plan_id=_plan(trader, instrument).pk, actor=trader)
    client = client_for(dealer.user)

    for url in ["/desk/execution/", f"/desk/execution/{plan.pk}/"]:
        assert client.get(url).status_code == 403, url
    for action in ["pause", "resume", "cancel"]:
        assert client.post(f"/desk/execution/{plan.pk}/{action}/").status_code == 403, action
    assert _status(plan) == PlanStatus.RUNNING


def test_anonymous_is_sent_to_login(client, trader, instrument) -> None:  # noqa: ANN001
    plan = _plan(trader, instrument)
    for url in ["/desk/execution/", f"/desk/execution/{plan.pk}/"]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/desk/login/")
    response = client.post(f"/desk/execution/{plan.pk}/cancel/")
    assert response.status_code == 302
    assert _status(plan) == PlanStatus.DRAFT


def test_compliance_sees_plans_but_changes_nothing(client_for, compliance, trader, instrument) -> None:  # noqa: ANN001
    plan = services.plan_start(plan_id=_plan(trader, instrument).pk, actor=trader)
    client = client_for(compliance)

    page = client.get(f"/desk/execution/{plan.pk}/")
    assert page.status_code == 200
    assert b'id="plan-pause"' not in page.content
    assert b"does not steer" in page.content
    for action in ["pause", "cancel"]:
        assert client.post(f"/desk/execution/{plan.pk}/{action}/", {"reason": "x"}).status_code == 403
    assert _status(plan) == PlanStatus.RUNNING


def test_trader_pauses_resumes_and_cancels_through_the_services(client_for, trader, instrument) -> None:  # noqa: ANN001
    plan = services.plan_start(plan_id=_plan(trader, instrument).pk, actor=trader)
    client = client_for(trader)
    page = client.get(f"/desk/execution/{plan.pk}/")
    assert b'id="plan-pause"' in page.content
    assert b'id="plan-resume"' not in page.content

    response = client.post(f"/desk/execution/{plan.pk}/pause/", {"reason": "news due"})
    assert response.status_code == 302
    assert response["Location"] == f"/desk/execution/{plan.pk}/"
    assert _status(plan) == PlanStatus.PAUSED
    paused = client.get(response["Location"])
    assert f"Plan {plan.pk} paused.".encode() in paused.content
    assert b'id="plan-resume"' in paused.content

    assert client.post(f"/desk/execution/{plan.pk}/resume/").status_code == 302
    assert _status(plan) == PlanStatus.RUNNING
    assert client.post(f"/desk/execution/{plan.pk}/cancel/", {"reason": "done for today"}).status_code == 302
    assert _status(plan) == PlanStatus.CANCELLED
    statuses = set(selectors.plan_detail(plan_id=plan.pk).child_orders.values_list("status", flat=True))
    assert statuses == {ChildOrderStatus.CANCELLED}


def test_risk_officer_may_pause_a_traders_plan(client_for, risk_officer, trader, instrument) -> None:  # noqa: ANN001
    plan = services.plan_start(plan_id=_plan(trader, instrument).pk, actor=trader)
    assert client_for(risk_officer).post(f"/desk/execution/{plan.pk}/pause/").status_code == 302
    assert _status(plan) == PlanStatus.PAUSED


# --- bad input -------------------------------------------------------------------------------------------------


def test_a_refused_action_says_why_and_keeps_the_reason_typed(client_for, trader, instrument) -> None:  # noqa: ANN001
    plan = services.plan_start(plan_id=_plan(trader, instrument).pk, actor=trader)
    client = client_for(trader)

    response = client.post(f"/desk/execution/{plan.pk}/resume/", {"reason": "try me"})

    assert response.status_code == 400
    text = response.content.decode()
    assert "only a paused or halted plan can be resumed" in text
    assert 'value="try me"' in text
    assert _status(plan) == PlanStatus.RUNNING


def test_a_too_long_reason_names_the_field(client_for, trader, instrument) -> None:  # noqa: ANN001
    plan = services.plan_start(plan_id=_plan(trader, instrument).pk, actor=trader)

    response = client_for(trader).post(f"/desk/execution/{plan.pk}/pause/", {"reason": "x" * 201})

    assert response.status_code == 400
    assert "Reason: Ensure this value has at most 200 characters" in response.content.decode()
    assert _status(plan) == PlanStatus.RUNNING


def test_unknown_plan_and_action_are_404(client_for, trader, instrument) -> None:  # noqa: ANN001
    plan = _plan(trader, instrument)
    client = client_for(trader)
    assert client.get("/desk/execution/999999/").status_code == 404
    assert client.post("/desk/execution/999999/pause/").status_code == 404
    assert client.post(f"/desk/execution/{plan.pk}/explode/").status_code == 404
    assert client.get(f"/desk/execution/{plan.pk}/pause/").status_code == 405


# --- what the pages show -----------------------------------------------------------------------------------------


def test_the_list_shows_progress_and_filters_by_status(client_for, trader, instrument) -> None:  # noqa: ANN001
    running = services.plan_start(plan_id=_plan(trader, instrument).pk, actor=trader)
    draft = _plan(trader, instrument, quantity=Decimal("2"))
    ExecutionPlan.objects.filter(pk=running.pk).update(filled_quantity=Decimal("0.25"))
    client = client_for(trader)

    text = client.get("/desk/execution/").content.decode()
    assert f'data-plan="{running.pk}" data-status="running"' in text
    assert f'data-plan="{draft.pk}" data-status="draft"' in text
    assert 'aria-valuenow="25"' in text

    only_drafts = client.get("/desk/execution/?status=draft").content.decode()
    assert f'data-plan="{draft.pk}"' in only_drafts
    assert f'data-plan="{running.pk}"' not in only_drafts
    bad = client.get("/desk/execution/?status=nonsense")
    assert bad.status_code == 400
    assert "Status:" in bad.content.decode()


def test_the_schedule_series_is_the_cumulative_child_quantities(trader, instrument) -> None:  # noqa: ANN001
    plan = selectors.plan_detail(plan_id=_plan(trader, instrument).pk)
    children = list(plan.child_orders.all())

    chart = queries.plan_chart(plan)

    origin = min(c.scheduled_at for c in children)
    expected_x = [(c.scheduled_at - origin).total_seconds() for c in children]
    expected_y = np.cumsum([float(c.quantity) for c in children])
    assert [p["x"] for p in chart["schedule"]] == pytest.approx(expected_x)
    assert [p["y"] for p in chart["schedule"]] == pytest.approx(expected_y)
    assert chart["schedule"][-1]["y"] == pytest.approx(float(plan.quantity))
    assert chart["filled"] == []
    assert len(chart["market"]) == queries.MARKET_VOLUME_BINS


def test_the_market_volume_matches_the_closed_form_integral_of_the_profile() -> None:
    # given the simulated BTC market: a U-shaped intraday profile w(x) = (1 + a(2x-1)^2) / (1 + a/3)
    config = underlying_reference("BTC")
    a, daily = config.volume_profile_amplitude, config.daily_volume
    start = datetime(2026, 5, 4, 23, 30, tzinfo=UTC)  # straddles midnight: the U's high end
    horizon_s = 3_600.0

    bins = queries.plan_market_volume(
        start=start, horizon_s=horizon_s, daily_volume=daily, amplitude=a, multiplier=0.5, bins=400
    )

    # then the bins add up to the exact integral (antiderivative of the parabola, taken per day), in contracts
    def antiderivative(x: float) -> float:
        return (x + a * ((2 * x - 1) ** 3 + 1) / 6) / (1 + a / 3)

    x0 = 23.5 / 24
    exact_coins = daily * ((antiderivative(1.0) - antiderivative(x0)) + antiderivative(0.5 / 24))
    assert sum(b["y"] for b in bins) == pytest.approx(exact_coins / 0.5, rel=1e-5)
    assert bins[0]["x"] == pytest.approx(horizon_s / 400 / 2)
    # and more trades near midnight than half an hour after it
    assert bins[199]["y"] > bins[-1]["y"]


def test_the_detail_shows_children_fills_and_the_chart_after_a_fill(client_for, trader, instrument) -> None:  # noqa: ANN001
    plan = services.plan_start(plan_id=_plan(trader, instrument).pk, actor=trader)
    first = selectors.child_order_next(plan_id=plan.pk)
    services.child_order_send(child_order_id=first.pk)
    plan.refresh_from_db()
    assert plan.filled_quantity == first.quantity

    response = client_for(trader).get(f"/desk/execution/{plan.pk}/")

    assert response.status_code == 200
    text = response.content.decode()
    assert text.count("<tr data-seq=") == 4
    assert 'data-status="filled"' in text
    chart = response.context["chart"]
    assert chart["filled"][-1]["y"] == pytest.approx(float(first.quantity))
    assert response.context["pct"] == pytest.approx(float(first.quantity / plan.quantity) * 100)
    assert "vendor/chart.umd.min.js" in text
    # Served from the desk itself, never from a CDN (no script or stylesheet from another origin).
    assert not re.search(r'(src|href)="(https?:)?//', text)


def test_the_market_now_share_is_our_volume_over_the_venues(trader, instrument) -> None:  # noqa: ANN001
    plan = services.plan_start(plan_id=_plan(trader, instrument).pk, actor=trader)
    services.child_order_send(child_order_id=selectors.child_order_next(plan_id=plan.pk).pk)
    detail = selectors.plan_detail(plan_id=plan.pk)

    now = queries.plan_market_now(detail)

    ours = sum(f.quantity for c in detail.child_orders.all() for f in c.fills.all())
    assert now is not None
    assert now["ours_5m"] == ours
    assert now["share"] == pytest.approx(float(ours / now["volume_5m"]))
    assert datetime.now(UTC) - timedelta(minutes=1) < detail.child_orders.get(seq=1).sent_at
