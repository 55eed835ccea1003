"""Scope states ACTIVE / REDUCING / HALTED: REDUCING lets only risk-reducing orders pass, HALTED is the kill switch,
only a risk officer re-arms; from the service, the API and the command, audited."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from desk.models import AuditEvent
from execution.models import PlanStatus
from risk import services
from risk.models import KillSwitch, LimitScope, ScopeState
from tests.risk import factories as risk_factories
from tests.risk.factories import market_state, proposed_order

pytestmark = pytest.mark.django_db


def _check(**overrides: Any) -> services.CheckReport:
    return services.limit_check(order=proposed_order(**overrides), actor="system:test")


def test_reducing_refuses_an_order_that_grows_the_position_and_names_the_scope(risk_officer) -> None:  # noqa: ANN001
    services.scope_state_set(scope="book", scope_key="desk", state="reducing", reason="loss review", actor=risk_officer)

    grows = _check(market=market_state(position="3"))  # long 3, buys 1 more

    assert grows.limits == ["scope_reducing"]
    refusal = grows.refusals[0]
    assert (refusal.scope, refusal.scope_key) == ("book", "desk")
    assert (refusal.observed, refusal.threshold) == (4.0, 3.0)
    assert "book:desk is REDUCING" in refusal.message
    assert "position 3 → 4" in refusal.message
    event = AuditEvent.objects.get(action="risk.refused")
    assert event.after["limit"] == "scope_reducing"
    # a flip through flat to the same size does not reduce risk
    assert _check(side="sell", quantity="2", market=market_state(position="1")).limits == ["scope_reducing"]
    # opening from flat does not either
    assert _check(market=market_state(position="0")).limits == ["scope_reducing"]


@pytest.mark.parametrize(("position", "side", "quantity"), [("3", "sell", "1"), ("-3", "buy", "2"), ("2", "sell", "3")])
def test_reducing_lets_a_risk_reducing_order_pass(risk_officer, position: str, side: str, quantity: str) -> None:  # noqa: ANN001
    services.scope_state_set(scope="desk", scope_key="", state="reducing", reason="drill", actor=risk_officer)

    report = _check(side=side, quantity=quantity, market=market_state(position=position))

    assert report.passed, report.message


def test_reducing_covers_its_part_of_the_hierarchy_only(risk_officer) -> None:  # noqa: ANN001
    services.scope_state_set(scope="underlying", scope_key="ETH", state="reducing", reason="x", actor=risk_officer)

    assert _check().passed  # a BTC order
    assert _check(underlying="ETH", instrument="ETH-USD").limits == ["scope_reducing"]


def test_halted_refuses_even_a_reducing_order_and_engaging_from_reducing_halts_plans(
    risk_officer, trader, instrument
) -> None:  # noqa: ANN001
    plan = risk_factories.plan_create(instrument=instrument, created_by=trader)
    services.scope_state_set(scope="desk", scope_key="", state="reducing", reason="first", actor=risk_officer)
    plan.refresh_from_db()
    assert plan.status == PlanStatus.RUNNING  # reducing lets plans run; their growing children are refused

    switch = services.scope_state_set(scope="desk", scope_key="", state="halted", reason="worse", actor=risk_officer)

    assert (switch.state, switch.engaged) == (ScopeState.HALTED, True)
    plan.refresh_from_db()
    assert plan.status == PlanStatus.HALTED
    assert _check(side="sell", market=market_state(position="3")).limits == ["kill_switch"]


def test_only_a_risk_officer_rearms_a_reducing_scope_and_every_change_is_audited(
    risk_officer, trader, settings
) -> None:  # noqa: ANN001
    settings.RISK_BOOKS = ("desk", "B1")
    services.scope_state_set(scope="book", scope_key="B1", state="reducing", reason="review", actor="system:monitor")
    for actor in (trader, "system:monitor"):
        with pytest.raises(services.RiskPermissionDenied):
            services.scope_state_set(scope="book", scope_key="B1", state="active", reason="ok", actor=actor)
    with pytest.raises(services.RiskPermissionDenied):
        services.scope_state_set(scope="book", scope_key="B1", state="halted", reason="no", actor=trader)
    assert KillSwitch.objects.get(scope="book", scope_key="B1").state == ScopeState.REDUCING

    switch = services.scope_state_set(scope="book", scope_key="B1", state="active", reason="ok", actor=risk_officer)

    assert (switch.state, switch.engaged) == (ScopeState.ACTIVE, False)
    assert _check(book="B1").passed
    set_event = AuditEvent.objects.get(action="risk.scope_state")
    assert (set_event.before["state"], set_event.after["state"]) == ("active", "reducing")
    rearm = AuditEvent.objects.get(action="risk.kill_switch.rearm")
    assert (rearm.before["state"], rearm.after["state"]) == ("reducing", "active")


def test_bad_state_requests_are_named_and_change_nothing(risk_officer) -> None:  # noqa: ANN001
    with pytest.raises(services.RiskRefused) as refused:
        services.scope_state_set(scope="desk", scope_key="", state="paused", reason="x", actor=risk_officer)
    assert "state" in refused.value.message_dict
    with pytest.raises(services.RiskRefused, match="not engaged"):
        services.scope_state_set(scope="desk", scope_key="", state="active", reason="x", actor=risk_officer)
    with pytest.raises(services.RiskRefused) as refused:
        services.scope_state_set(scope="desk", scope_key="", state="reducing", reason=" ", actor=risk_officer)
    assert "reason" in refused.value.message_dict
    assert not KillSwitch.objects.exists()


def test_a_switch_cannot_be_engaged_without_being_halted() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        KillSwitch.objects.create(scope="desk", scope_key="", state=ScopeState.REDUCING, engaged=True)


def test_the_api_sets_and_lists_the_state(risk_officer, trader, client_for, settings) -> None:  # noqa: ANN001
    settings.RISK_STRATEGIES = ("basis",)

    def post(user, body: dict[str, str]):  # noqa: ANN001, ANN202
        return client_for(user).post("/api/v1/risk/kill-switches/state/", body, content_type="application/json")

    body = {"scope": "strategy", "scope_key": "basis", "state": "reducing", "reason": "drill"}
    assert post(trader, body).status_code == 403
    response = post(risk_officer, body)
    assert response.status_code == 200, response.content
    assert (response.json()["state"], response.json()["engaged"]) == ("reducing", False)
    listed = client_for(risk_officer).get("/api/v1/risk/kill-switches/?state=reducing").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [(row["scope"], row["scope_key"], row["state"]) for row in rows] == [("strategy", "basis", "reducing")]
    bad = post(risk_officer, {**body, "state": "paused"})
    assert bad.status_code == 400
    assert "state" in bad.json()
    # the existing engage endpoint sets HALTED
    engaged = client_for(risk_officer).post(
        "/api/v1/risk/kill-switches/engage/",
        {"scope": "strategy", "scope_key": "basis", "reason": "stop"},
        content_type="application/json",
    )
    assert engaged.json()["state"] == "halted"
    assert post(risk_officer, {**body, "state": "active"}).json()["state"] == "active"


def test_the_command_sets_the_state_as_a_risk_officer(risk_officer, trader) -> None:  # noqa: ANN001
    out = StringIO()
    call_command(
        "scope_state", "--scope", "underlying", "--key", "BTC", "--state", "halted", "--reason", "feed",
        "--user", risk_officer.username, stdout=out,
    )  # fmt: skip
    assert out.getvalue().strip() == "underlying:BTC is halted"
    assert KillSwitch.objects.get(scope=LimitScope.UNDERLYING, scope_key="BTC").engaged
    with pytest.raises(CommandError, match="rearm_killswitch"):
        call_command(
            "scope_state", "--scope", "underlying", "--key", "BTC", "--state", "active", "--reason", "ok",
            "--user", trader.username,
        )  # fmt: skip
    with pytest.raises(CommandError, match="scope_key"):
        call_command(
            "scope_state", "--scope", "book", "--state", "halted", "--reason", "x", "--user", risk_officer.username
        )
