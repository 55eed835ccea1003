"""Versioned algorithm parameters, automatic fallbacks of a failing plan, and the switch of a residual to an RFQ."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Permission

from desk.audit import chain_verify
from desk.decisions import decision_replay
from desk.models import AuditEvent, DecisionKind, DecisionRecord
from desk.roles import Role
from execution import algo_params, fallback, services
from execution.errors import ExecutionPermissionDenied, ExecutionRefused
from execution.models import AlgoParamStatus, ChildOrder, ChildOrderStatus, ExecutionPlan, PlanStatus
from execution.selectors import PENDING_CHILD_STATES
from execution.services import worker
from rfq.models import RFQ, QuoteRequest, RFQStatus
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def quant(db):  # noqa: ANN001, ANN201
    user = factories.user_create(role=Role.RISK_OFFICER, username="quant-t")
    user.user_permissions.add(
        Permission.objects.get(codename="promote_algoparams"), Permission.objects.get(codename="add_algoparamversion")
    )
    return user


def _live(quant, params: dict[str, Any], algorithm: str = "twap"):  # noqa: ANN001, ANN202
    version = algo_params.algo_params_create(algorithm=algorithm, params=params, actor=quant, notes="test")
    algo_params.algo_params_validate(version_id=version.pk, actor=quant)
    return algo_params.algo_params_promote(version_id=version.pk, actor=quant, reason="test")


def _running(trader, instrument, **parameters: Any) -> ExecutionPlan:  # noqa: ANN001
    plan = services.plan_create(
        instrument=instrument,
        side="buy",
        quantity=Decimal("1"),
        algorithm="twap",
        parameters={"horizon_s": 60, "seed": 5} | parameters,
        actor=trader,
    )
    return services.plan_start(plan_id=plan.pk, actor=trader)


def _pending(plan: ExecutionPlan) -> list[ChildOrder]:
    return list(ChildOrder.objects.filter(plan=plan, status__in=PENDING_CHILD_STATES).order_by("seq"))


# --- versions ------------------------------------------------------------------------------------------------------


def test_a_live_version_sets_the_defaults_of_new_plans_and_is_recorded(quant, trader, instrument) -> None:  # noqa: ANN001
    version = _live(quant, {"slices": 5, "size_jitter": 0})

    plan = _running(trader, instrument)
    override = _running(trader, instrument, slices=2)

    assert version.status == AlgoParamStatus.LIVE
    assert version.number == 1
    assert plan.algo_params_id == version.pk
    assert plan.parameters["slices"] == 5
    assert ChildOrder.objects.filter(plan=plan).count() == 5
    assert ChildOrder.objects.filter(plan=override).count() == 2
    actions = list(AuditEvent.objects.filter(object_id=str(version.pk)).values_list("action", flat=True))
    assert {"algo_params.create", "algo_params.validate", "algo_params.promote"} <= set(actions)


def test_promotion_retires_the_live_version_and_rollback_restores_it(quant) -> None:  # noqa: ANN001
    first = _live(quant, {"slices": 5})
    second = _live(quant, {"slices": 8})
    first.refresh_from_db()
    assert (first.status, second.status, second.number) == (AlgoParamStatus.RETIRED, AlgoParamStatus.LIVE, 2)

    restored = algo_params.algo_params_rollback(algorithm="twap", actor=quant, reason="v2 slipped")

    second.refresh_from_db()
    assert restored.pk == first.pk
    assert restored.status == AlgoParamStatus.LIVE
    assert second.status == AlgoParamStatus.RETIRED
    assert algo_params.algo_params_live(algorithm="twap").pk == first.pk


def test_a_version_whose_kernel_divides_by_zero_is_not_validated(quant) -> None:  # noqa: ANN001
    version = algo_params.algo_params_create(
        algorithm="almgren_chriss", params={"slices": 2, "horizon_s": 60, "eta": 1, "gamma": 10}, actor=quant
    )

    with pytest.raises(ExecutionRefused, match="kernel refuses"):
        algo_params.algo_params_validate(version_id=version.pk, actor=quant)

    version.refresh_from_db()
    assert version.status == AlgoParamStatus.DRAFT


def test_versions_are_changed_only_with_the_permission(quant, trader) -> None:  # noqa: ANN001
    version = algo_params.algo_params_create(algorithm="twap", params={"slices": 3}, actor=quant)

    with pytest.raises(ExecutionPermissionDenied, match="promote_algoparams"):
        algo_params.algo_params_validate(version_id=version.pk, actor=trader)
    with pytest.raises(ExecutionPermissionDenied):
        algo_params.algo_params_create(algorithm="twap", params={}, actor=trader)
    with pytest.raises(ExecutionRefused, match="book"):
        algo_params.algo_params_create(algorithm="twap", params={"book": "x"}, actor=quant)
    with pytest.raises(ExecutionRefused, match="validated"):
        algo_params.algo_params_promote(version_id=version.pk, actor=quant)


# --- automatic fallback --------------------------------------------------------------------------------------------


def test_a_failed_algorithm_falls_back_to_the_last_stable_version(quant, trader, risk_officer, instrument) -> None:  # noqa: ANN001
    # given v1 was live, v2 is live now, and a plan runs v2
    stable = _live(quant, {"slices": 3})
    current = _live(quant, {"slices": 10})
    plan = _running(trader, instrument)
    services.child_order_send(child_order_id=_pending(plan)[0].pk)

    # when risk telemetry reports a breach
    plan = services.plan_algo_failed(plan_id=plan.pk, reason="slippage 0.31 % above 0.25 %", actor=risk_officer)

    # then the residual runs v1's parameters, audited and recorded as a decision that replays
    assert plan.algo_params_id == stable.pk != current.pk
    assert plan.protocol == ""
    assert plan.fallbacks == 1
    assert plan.status == PlanStatus.RUNNING
    assert [c.quantity for c in _pending(plan)] == [Decimal("0.3")] * 3
    record = DecisionRecord.objects.get(kind=DecisionKind.FALLBACK)
    assert record.output["action"] == "stable"
    assert record.inputs["reason"].startswith("slippage")
    assert decision_replay(record).matches
    assert AuditEvent.objects.filter(action="execution_plan.fallback", object_id=str(plan.pk)).exists()
    assert chain_verify().ok


def test_without_a_stable_version_the_plan_falls_back_to_small_twap_children(trader, instrument) -> None:  # noqa: ANN001
    plan = _running(trader, instrument, slices=4)
    residual = sum(c.quantity for c in _pending(plan))

    plan = services.plan_algo_failed(plan_id=plan.pk, reason="exception", actor="system:risk")

    children = _pending(plan)
    assert plan.protocol == fallback.CONSERVATIVE
    assert plan.algorithm == "twap"
    assert plan.algo_params_id is None
    assert sum(c.quantity for c in children) == residual
    assert len(children) == fallback.CONSERVATIVE_MIN_SLICES
    assert max(c.quantity for c in children) <= residual / 20


def test_a_second_failure_on_the_conservative_protocol_halts_the_plan(trader, instrument) -> None:  # noqa: ANN001
    plan = _running(trader, instrument)
    services.plan_algo_failed(plan_id=plan.pk, reason="first", actor="system:risk")

    plan = services.plan_algo_failed(plan_id=plan.pk, reason="second", actor="system:risk")

    assert plan.status == PlanStatus.HALTED
    assert DecisionRecord.objects.filter(kind=DecisionKind.FALLBACK).latest("id").output["action"] == "halt"


def test_an_exception_while_working_falls_back_automatically(trader, instrument, monkeypatch) -> None:  # noqa: ANN001
    plan = _running(trader, instrument, slices=4)
    first = _pending(plan)[0]

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("venue adapter bug")

    monkeypatch.setattr(worker, "child_order_send", broken)
    outcome = services.plan_work(plan_id=plan.pk, now=first.scheduled_at)

    plan.refresh_from_db()
    assert outcome.next_seq is None  # the fallback queued the plan's next tick itself
    assert plan.fallbacks == 1
    assert plan.protocol == fallback.CONSERVATIVE
    assert "venue adapter bug" in DecisionRecord.objects.get(kind=DecisionKind.FALLBACK).inputs["reason"]


def test_a_fallback_needs_a_steering_role_and_an_open_plan(trader, compliance, instrument) -> None:  # noqa: ANN001
    plan = _running(trader, instrument)
    with pytest.raises(ExecutionPermissionDenied):
        services.plan_algo_failed(plan_id=plan.pk, reason="x", actor=compliance)
    services.plan_cancel(plan_id=plan.pk, actor=trader)
    with pytest.raises(ExecutionRefused, match="nothing to fall back"):
        services.plan_algo_failed(plan_id=plan.pk, reason="x", actor=trader)
    assert not DecisionRecord.objects.exists()


# --- switch to an RFQ ----------------------------------------------------------------------------------------------


def test_a_risk_officer_switches_the_residual_to_an_rfq(trader, risk_officer, instrument, dealer, other_dealer) -> None:  # noqa: ANN001
    # given a plan with one of four children filled
    plan = _running(trader, instrument, slices=4)
    services.child_order_send(child_order_id=_pending(plan)[0].pk)

    plan = services.plan_fallback_to_rfq(plan_id=plan.pk, actor=risk_officer, reason="market too thin")

    rfq = RFQ.objects.get(pk=plan.fallback_rfq_id)
    assert plan.status == PlanStatus.SWITCHED
    assert plan.end_at is not None
    assert rfq.status == RFQStatus.SENT
    assert rfq.created_by == risk_officer
    leg = rfq.legs.get()
    assert (leg.instrument, leg.side, leg.quantity) == (instrument, "buy", Decimal("0.75"))
    assert set(QuoteRequest.objects.filter(rfq=rfq).values_list("dealer__code", flat=True)) == {"ALPHA", "BRAVO"}
    assert not _pending(plan)
    assert ChildOrder.objects.filter(plan=plan, status=ChildOrderStatus.CANCELLED).count() == 3
    record = DecisionRecord.objects.get(kind=DecisionKind.FALLBACK)
    assert record.output == {"dealers": ["ALPHA", "BRAVO"]}
    assert decision_replay(record).matches
    assert AuditEvent.objects.filter(action="execution_plan.fallback_rfq", object_id=str(plan.pk)).exists()


def test_an_untrusted_dealer_or_an_empty_residual_is_refused(trader, instrument, dealer) -> None:  # noqa: ANN001
    plan = _running(trader, instrument, slices=2)

    with pytest.raises(ExecutionRefused) as refused:
        services.plan_fallback_to_rfq(plan_id=plan.pk, actor=trader, dealers=["ZULU"])
    assert "dealers" in refused.value.message_dict
    assert not RFQ.objects.exists()
    assert len(_pending(plan)) == 2

    for child in _pending(plan):
        services.child_order_send(child_order_id=child.pk)
    with pytest.raises(ExecutionRefused):
        services.plan_fallback_to_rfq(plan_id=plan.pk, actor=trader)
    assert not RFQ.objects.exists()


def test_the_fallback_rfq_endpoint(client_for, trader, compliance, instrument, dealer) -> None:  # noqa: ANN001
    plan = _running(trader, instrument, slices=2)
    url = f"/api/v1/execution/plans/{plan.pk}/fallback-rfq/"

    denied = client_for(compliance).post(url, {"reason": "x"}, content_type="application/json")
    response = client_for(trader).post(url, {"reason": "thin", "dealers": ["ALPHA"]}, content_type="application/json")

    assert denied.status_code == 403
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == PlanStatus.SWITCHED
    assert RFQ.objects.get(pk=body["fallback_rfq"]).legs.get().quantity == Decimal("1")
