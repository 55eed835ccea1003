"""Celery tasks of the execution worker: thin wrappers over :mod:`execution.services`, safe to run twice.

``acks_late`` (with the desk's ``task_reject_on_worker_lost``): a tick whose worker dies is redelivered, and sending
it again is harmless because every child is idempotent. A tick lost for good (the worker died holding it, the broker
dropped it) is recovered by ``plans_sweep`` from beat.
"""

from __future__ import annotations

from celery import shared_task

from execution import services


@shared_task(
    name="execution.tasks.plan_tick",
    acks_late=True,
    autoretry_for=(Exception,),
    max_retries=5,
    retry_backoff=True,
    retry_backoff_max=10,
)
def plan_tick(plan_id: int, tick_seq: int | None = None) -> int:
    """Send the plan's due children; re-queue itself for the next one while the plan runs and this tick owns the
    plan's tick chain. Returns the number of children it tried to send."""
    outcome = services.plan_work(plan_id=plan_id, tick_seq=tick_seq)
    if outcome.next_seq is not None:
        plan_tick.apply_async(args=(plan_id, outcome.next_seq), countdown=outcome.next_in_s)
    return outcome.sent


@shared_task(name="execution.tasks.plans_sweep", acks_late=True)
def plans_sweep() -> list[int]:
    """Beat: queue a tick for every running plan whose tick chain looks lost."""
    stalled = services.plans_stalled_find()
    for plan_id in stalled:
        plan_tick.delay(plan_id)
    return stalled
