"""Telemetry breach -> pause, reduce or re-route the plan.

Trigger: the beat task :func:`flows.tasks.telemetry_sweep` (every few seconds) evaluates every running execution
plan. Reaction: for each plan, execution's selectors gather its telemetry inputs (fills, mids, the venue's volume),
risk stores the alerts of the metrics at or above their thresholds (:func:`risk.telemetry_services.plan_alerts_raise`)
and, strictly above an action threshold, this flow takes the action through the execution services, as
``system:risk_telemetry``, in the alert's transaction:

- slippage -> pause (:func:`execution.services.plan_pause`); participation -> halt: paused for a person (execution
  has no per-plan halt service);
- impact -> reduce child size: the conservative fallback (:func:`execution.fallback.plan_algo_failed`);
- leakage -> re-route the residual to an RFQ to trusted dealers (:func:`execution.fallback.plan_fallback_to_rfq`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from desk import clock
from execution import selectors as execution_selectors
from execution.fallback import plan_algo_failed, plan_fallback_to_rfq
from execution.services import plan_pause
from risk.models import Alert
from risk.telemetry import HALT, PAUSE, REDUCE, REROUTE
from risk.telemetry_services import TELEMETRY_ACTOR, plan_alerts_raise, telemetry_thresholds

logger = logging.getLogger(__name__)


def _pause(plan_id: int, reason: str) -> None:
    plan_pause(plan_id=plan_id, actor=TELEMETRY_ACTOR, reason=reason)


def _reduce(plan_id: int, reason: str) -> None:
    plan_algo_failed(plan_id=plan_id, reason=reason, actor=TELEMETRY_ACTOR)


def _reroute(plan_id: int, reason: str) -> None:
    plan_fallback_to_rfq(plan_id=plan_id, actor=TELEMETRY_ACTOR, reason=reason)


# Looked up at call time, so that a test can watch one without reaching into the execution app.
ACTION_CALLS: dict[str, Callable[[int, str], None]] = {PAUSE: _pause, HALT: _pause, REDUCE: _reduce, REROUTE: _reroute}


def _act(plan_id: int, action: str, reason: str) -> str:
    ACTION_CALLS[action](plan_id, reason)
    return execution_selectors.plan_status(plan_id=plan_id)


def plan_telemetry_evaluate(*, plan_id: int, now: datetime | None = None) -> list[Alert]:
    """Evaluate one running plan's telemetry; return the alerts raised now (those already open are not repeated).
    A plan that is not running, or has no fill yet, raises nothing."""
    now = now or clock.now()
    plan = execution_selectors.plan_running(plan_id=plan_id)
    if plan is None:
        return []
    data = execution_selectors.plan_telemetry_input(plan=plan, now=now, thresholds=telemetry_thresholds())
    if data is None:
        return []
    return plan_alerts_raise(plan=plan, data=data, now=now, act=_act)


def plans_telemetry_evaluate(*, now: datetime | None = None) -> list[Alert]:
    """Evaluate every running plan; one plan's failure is logged and does not stop the others."""
    alerts: list[Alert] = []
    for plan_id in execution_selectors.plans_running_ids():
        try:
            alerts += plan_telemetry_evaluate(plan_id=plan_id, now=now)
        except Exception:
            logger.exception("risk telemetry failed for plan %s", plan_id)
    return alerts
