"""Writes of risk telemetry: store the alerts of a plan's telemetry, record the actions taken, acknowledge alerts.

A running plan's metrics (:mod:`risk.telemetry`) at or above an alert threshold raise a :class:`~risk.models.Alert`
(audited, broadcast as ``risk.alert`` after commit so that the risk page shows it as it fires). Strictly above an
action threshold, the caller's ``act`` takes the action on the plan, as ``system:risk_telemetry``, inside the
alert's transaction: the telemetry flow (:mod:`flows.risk_actions`) gathers each running plan's inputs and acts
through the execution services (pause, reduce child size, halt, re-route to an RFQ); a fill variance breach is only
flagged for review by a person.

Every action is stored as a ``risk_action`` decision record with its inputs (the telemetry figures and the
thresholds), whose replayer recomputes the decision. At most one open alert per plan, metric and level: a breach
that persists does not flood the desk, and a new one is raised once a person acknowledges the last.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Model

from desk import clock
from desk.audit import Actor, actor_label, audit_record
from desk.decisions import decision_record, decision_replayer_register
from desk.events import broadcast
from desk.fields import to_decimal
from desk.models import DecisionKind
from risk.models import Alert
from risk.services import RiskPermissionDenied, RiskRefused
from risk.telemetry import (
    ACTION,
    NONE,
    REVIEW,
    PlanTelemetryInput,
    TelemetryBreach,
    TelemetryThresholds,
    telemetry_evaluate,
)

__all__ = [
    "ALERT_EVENT",
    "TELEMETRY_ACTOR",
    "PlanAct",
    "alert_acknowledge",
    "plan_alerts_raise",
    "telemetry_thresholds",
]

TELEMETRY_ACTOR = "system:risk_telemetry"
ALERT_EVENT = "risk.alert"
ACK_PERMS = ("risk.change_alert", "risk.engage_killswitch", "execution.change_executionplan")


def telemetry_thresholds() -> TelemetryThresholds:
    """The thresholds in force: ``settings.RISK_TELEMETRY_THRESHOLDS`` over the defaults."""
    return TelemetryThresholds.from_mapping(getattr(settings, "RISK_TELEMETRY_THRESHOLDS", None))


PlanAct = Callable[[int, str, str], str]
"""Takes a telemetry action on a plan: called with the plan's id, the action (pause, halt, reduce, reroute) and the
reason; returns the plan's status afterwards, or raises ``ValidationError`` / ``PermissionDenied`` when the plan
refuses it (it moved on since it was read)."""


def _action_take(plan: Model, breach: TelemetryBreach, act: PlanAct) -> str:
    if breach.action == REVIEW:
        return "flagged for review"
    try:
        status = act(plan.pk, breach.action, f"risk telemetry ({breach.action}): {breach.message}")
    except (ValidationError, PermissionDenied) as error:
        # The plan moved on (paused, finished) since it was read: the alert stands, the action is not taken.
        text = "; ".join(getattr(error, "messages", None) or [str(error)])
        return f"not taken: {text}"[:255]
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


def _alert_raise(
    plan: Model, breach: TelemetryBreach, data: PlanTelemetryInput, now: datetime, act: PlanAct
) -> Alert | None:
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
            alert.action_result = _action_take(plan, breach, act)
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


def plan_alerts_raise(*, plan: Model, data: PlanTelemetryInput, now: datetime, act: PlanAct) -> list[Alert]:
    """Raise the alerts of a running execution ``plan`` (with its instrument) whose telemetry inputs are ``data``;
    return those raised now (those already open are not repeated). Above an action threshold ``act`` takes the
    action, in the alert's transaction, and the decision is recorded."""
    alerts = []
    for breach in telemetry_evaluate(data):
        alert = _alert_raise(plan, breach, data, now, act)
        if alert is not None:
            alerts.append(alert)
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
        alert.acknowledged, alert.acknowledged_by, alert.acknowledged_at = True, actor, clock.now()
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
