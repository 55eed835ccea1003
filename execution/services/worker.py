"""The worker's loop: send what is due, re-plan, claim the next tick; an algorithm failure falls back."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import DatabaseError

from desk import clock
from desk.audit import Actor
from execution import fallback, replan, selectors
from execution.errors import ExecutionRefused
from execution.models import (
    ExecutionPlan,
    PlanStatus,
)
from execution.services.children import child_order_send
from execution.services.common import EXECUTION_ACTOR, MAX_TICK_S

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TickOutcome:
    """What one tick did: children it tried to send, and when (seconds) the next tick, if it owns the chain."""

    sent: int
    next_in_s: float | None
    next_seq: int | None


def plan_work(*, plan_id: int, tick_seq: int | None = None, now: datetime | None = None) -> TickOutcome:
    """Send every due child of a running plan (one transaction each), then claim the next tick.

    Only one tick chain per plan re-schedules itself: the tick that moves ``tick_seq`` from its own number to the
    next wins (a conditional update), so a tick delivered twice, a tick of a resumed plan, or one queued by the
    sweep, sends what is due and ends. ``tick_seq`` None takes the plan's current number (a fresh start).
    """
    plan = ExecutionPlan.objects.filter(pk=plan_id).first()
    if plan is None or plan.status != PlanStatus.RUNNING:
        return TickOutcome(0, None, None)
    now = now or clock.now()
    sent = 0
    for child_id in selectors.child_orders_due(plan_id=plan_id, now=now):
        try:
            child_order_send(child_order_id=child_id)
        except DatabaseError:
            raise  # the task retries: the database, not the algorithm, failed
        except Exception as error:
            _algo_failed_by_worker(plan_id, f"working child {child_id} raised {error!r}")
            return TickOutcome(sent, None, None)
        sent += 1
        if not ExecutionPlan.objects.filter(pk=plan_id, status=PlanStatus.RUNNING).exists():
            return TickOutcome(sent, None, None)
    try:
        replan.plan_replan_check(plan_id=plan_id, now=now)
    except DatabaseError:
        raise
    except Exception as error:
        _algo_failed_by_worker(plan_id, f"re-plan raised {error!r}")
        return TickOutcome(sent, None, None)
    following = selectors.child_order_next(plan_id=plan_id)
    if following is None:
        return TickOutcome(sent, None, None)
    seq = plan.tick_seq if tick_seq is None else tick_seq
    claimed = ExecutionPlan.objects.filter(pk=plan_id, status=PlanStatus.RUNNING, tick_seq=seq).update(tick_seq=seq + 1)
    if not claimed:
        return TickOutcome(sent, None, None)
    wait = (following.scheduled_at - clock.now()).total_seconds()
    return TickOutcome(sent, min(max(wait, 0.0), MAX_TICK_S), seq + 1)


def _algo_failed_by_worker(plan_id: int, reason: str) -> None:
    """The worker's fallback on an exception: a fallback refused (the plan ended meanwhile) is only logged; the
    fallback queues the plan's next tick itself."""
    logger.exception("plan %s: %s", plan_id, reason)
    try:
        plan_algo_failed(plan_id=plan_id, reason=reason, actor=EXECUTION_ACTOR)
    except ExecutionRefused as refused:
        logger.warning("plan %s: no fallback (%s)", plan_id, refused)


def plan_algo_failed(*, plan_id: int, reason: str, actor: Actor) -> ExecutionPlan:
    """A plan's algorithm failed (an exception, a telemetry breach): fall back to the last stable parameter version
    or the conservative protocol, or halt (see :mod:`execution.fallback`)."""
    return fallback.plan_algo_failed(plan_id=plan_id, reason=reason, actor=actor)


def plan_fallback_to_rfq(
    *, plan_id: int, actor: Actor, reason: str = "", dealers: list[str] | None = None, version: int | None = None
) -> ExecutionPlan:
    """Switch a plan's residual to an RFQ to trusted dealers (see :mod:`execution.fallback`)."""
    return fallback.plan_fallback_to_rfq(plan_id=plan_id, actor=actor, reason=reason, dealers=dealers, version=version)


def plans_stalled_find(*, grace_s: float = 5.0) -> list[int]:
    """Running plans whose tick chain looks lost (a child overdue by more than ``grace_s``), for the sweep."""
    return selectors.plans_stalled(now=clock.now(), grace=timedelta(seconds=grace_s))
