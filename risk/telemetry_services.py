"""Writes of risk telemetry: evaluate running plans, store alerts, take the actions, acknowledge alerts.

A running plan's metrics (:mod:`risk.telemetry`) at or above an alert threshold raise a :class:`~risk.models.Alert`
(audited, broadcast as ``risk.alert`` after commit so that the risk page shows it as it fires). Strictly above an
action threshold, risk also acts through the execution services, as ``system:risk_telemetry``:

- slippage → pause (:func:`execution.services.plan_pause`);
- impact → reduce child size: the plan falls back to smaller children (:func:`execution.fallback.plan_algo_failed`,
  the conservative protocol);
- participation → halt: the plan is paused for a person (the execution app has no per-plan halt service);
- fill variance → review: the alert waits for a person, nothing is changed;
- leakage → re-route to an RFQ to trusted dealers (:func:`execution.fallback.plan_fallback_to_rfq`).

Every action is stored as a ``risk_action`` decision record with its inputs (the telemetry figures and the
thresholds), whose replayer recomputes the decision. At most one open alert per plan, metric and level: a breach
that persists does not flood the desk, and a new one is raised once a person acknowledges the last.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from desk.audit import Actor, actor_label, audit_record
from desk.decisions import decision_record, decision_replayer_register
from desk.events import broadcast
from desk.fields import to_decimal
from desk.models import DecisionKind
from execution.models import ExecutionPlan, PlanStatus
from risk import selectors
from risk.models import Alert
from risk.services import RiskPermissionDenied, RiskRefused
from risk.telemetry import (
    ACTION,
    HALT,
    NONE,
    PAUSE,
    REDUCE,
    REROUTE,
    REVIEW,
    PlanTelemetryInput,
    TelemetryBreach,
    TelemetryThresholds,
    telemetry_evaluate,
)

__all__ = [
    "ALERT_EVENT",
    "TELEMETRY_ACTOR",
    "alert_acknowledge",
    "plan_telemetry_evaluate",
    "plans_telemetry_evaluate",
    "telemetry_thresholds",
]

logger = logging.getLogger(__name__)

TELEMETRY_ACTOR = "system:risk_telemetry"
ALERT_EVENT = "risk.alert"
ACK_PERMS = ("risk.change_alert", "risk.engage_killswitch", "execution.change_executionplan")


def telemetry_thresholds() -> TelemetryThresholds:
    """The thresholds in force: ``settings.RISK_TELEMETRY_THRESHOLDS`` over the defaults."""
    return TelemetryThresholds.from_mapping(getattr(settings, "RISK_TELEMETRY_THRESHOLDS", None))


def _pause(plan_id: int, reason: str) -> None:
    from execution.services import plan_pause

    plan_pause(plan_id=plan_id, actor=TELEMETRY_ACTOR, reason=reason)


def _reduce(plan_id: int, reason: str) -> None:
    from execution.fallback import plan_algo_failed

    plan_algo_failed(plan_id=plan_id, reason=reason, actor=TELEMETRY_ACTOR)


def _reroute(plan_id: int, reason: str) -> None:
    from execution.fallback import plan_fallback_to_rfq

    plan_fallback_to_rfq(plan_id=plan_id, actor=TELEMETRY_ACTOR, reason=reason)


# Looked up at call time, so that a test can watch one without reaching into the execution app.
ACTION_CALLS: dict[str, Callable[[int, str], None]] = {PAUSE: _pause, HALT: _pause, REDUCE: _reduce, REROUTE: _reroute}


def _action_take(plan: ExecutionPlan, breach: TelemetryBreach) -> str:
    call = ACTION_CALLS.get(breach.action)
    if call is None:
        return "flagged for review" if breach.action == REVIEW else ""
    try:
        call(plan.pk, f"risk telemetry ({breach.action}): {breach.message}")
    except (ValidationError, PermissionDenied) as error:
        # The plan moved on (paused, finished) since it was read: the alert stands, the action is not taken.
        text = "; ".join(getattr(error, "messages", None) or [str(error)])
        return f"not taken: {text}"[:255]
    status = ExecutionPlan.objects.values_list("status", flat=True).get(pk=plan.pk)
    return f"{breach.action} taken: plan {status}"


def _alert_public(alert: Alert) -> dict[str, Any]:
    return {
        "alert": alert.pk,
        "scope": alert.scope,
        "scope_key": alert.scope_key,
        "kind": alert.kind,
        "level": alert.level,
        "value": alert.value,
        "threshold": alert.threshold,
        "action": alert.action,
        "action_result": alert.action_result,
        "message": alert.message,
        "plan": alert.plan_id,
        "created_at": alert.created_at,
        "acknowledged": alert.acknowledged,
    }


def _alert_raise(plan: ExecutionPlan, breach: TelemetryBreach, data: PlanTelemetryInput, now: datetime) -> Alert | None:
    with transaction.atomic():
        if Alert.objects.filter(plan=plan, kind=breach.metric, level=breach.level, acknowledged=False).exists():
            return None
        try:
            with transaction.atomic():
                alert = Alert.objects.create(
                    scope="plan",
                    scope_key=str(plan.pk),
                    kind=breach.metric,
                    level=breach.level,
                    value=to_decimal(breach.value),
                    threshold=to_decimal(breach.threshold),
                    action=breach.action,
                    message=breach.message[:255],
                    plan=plan,
                    created_at=now,
                )
        except IntegrityError:
            # Another evaluation raised the same alert first.
            return None
        if breach.level == ACTION and breach.action != NONE:
            alert.action_result = _action_take(plan, breach)
            alert.save(update_fields=["action_result"])
            decision_record(
                kind=DecisionKind.RISK_ACTION,
                actor=TELEMETRY_ACTOR,
                inputs={"metric": breach.metric, "telemetry": data.as_dict()},
                output=_decision_output(breach),
                explanation=f"{breach.message}; {alert.action_result}",
                obj=plan,
            )
        audit_record(actor=TELEMETRY_ACTOR, action="risk.alert", obj=alert, after=_alert_public(alert))
        broadcast(event=ALERT_EVENT, payload=_alert_public(alert) | {"instrument": plan.instrument.symbol})
    return alert


def _decision_output(breach: TelemetryBreach) -> dict[str, Any]:
    return {
        "metric": breach.metric,
        "level": breach.level,
        "action": breach.action,
        "value": breach.value,
        "threshold": breach.threshold,
    }


def risk_action_replay(inputs: dict[str, Any]) -> dict[str, Any]:
    """Recompute a telemetry action from its stored inputs (the replayer of ``risk_action`` decisions)."""
    data = PlanTelemetryInput.from_dict(inputs["telemetry"])
    for breach in telemetry_evaluate(data):
        if breach.metric == inputs["metric"]:
            return _decision_output(breach)
    return {"metric": inputs["metric"], "level": NONE, "action": NONE, "value": None, "threshold": None}


decision_replayer_register(DecisionKind.RISK_ACTION, risk_action_replay)


def plan_telemetry_evaluate(*, plan_id: int, now: datetime | None = None) -> list[Alert]:
    """Evaluate one running plan's telemetry; return the alerts raised now (those already open are not repeated).
    A plan that is not running, or has no fill yet, raises nothing."""
    now = now or datetime.now(UTC)
    plan = ExecutionPlan.objects.select_related("instrument").filter(pk=plan_id).first()
    if plan is None or plan.status != PlanStatus.RUNNING:
        return []
    data = selectors.plan_telemetry_input(plan=plan, now=now, thresholds=telemetry_thresholds())
    if data is None:
        return []
    alerts = []
    for breach in telemetry_evaluate(data):
        alert = _alert_raise(plan, breach, data, now)
        if alert is not None:
            alerts.append(alert)
    return alerts


def plans_telemetry_evaluate(*, now: datetime | None = None) -> list[Alert]:
    """Evaluate every running plan (the beat task); one plan's failure is logged and does not stop the others."""
    alerts: list[Alert] = []
    for plan_id in ExecutionPlan.objects.filter(status=PlanStatus.RUNNING).values_list("pk", flat=True):
        try:
            alerts += plan_telemetry_evaluate(plan_id=plan_id, now=now)
        except Exception:
            logger.exception("risk telemetry failed for plan %s", plan_id)
    return alerts


def alert_acknowledge(*, alert_id: int, actor: Actor) -> Alert:
    """A person acknowledges an open alert (a trader or a risk officer); audited, ``risk.alert`` broadcast."""
    if not isinstance(actor, AbstractBaseUser) or not actor.is_active or not any(actor.has_perm(p) for p in ACK_PERMS):
        raise RiskPermissionDenied(f"{actor_label(actor)} may not acknowledge alerts (needs {' or '.join(ACK_PERMS)})")
    with transaction.atomic():
        alert = Alert.objects.select_for_update().filter(pk=alert_id).first()
        if alert is None:
            raise RiskRefused({"alert": f"no alert {alert_id}"})
        if alert.acknowledged:
            raise RiskRefused({"alert": f"alert {alert_id} is already acknowledged"})
        alert.acknowledged, alert.acknowledged_by, alert.acknowledged_at = True, actor, datetime.now(UTC)
        alert.save(update_fields=["acknowledged", "acknowledged_by", "acknowledged_at"])
        audit_record(
            actor=actor,
            action="risk.alert.acknowledge",
            obj=alert,
            before={"acknowledged": False},
            after={"acknowledged": True},
        )
        broadcast(event=ALERT_EVENT, payload=_alert_public(alert))
    return alert
