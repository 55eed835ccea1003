"""Celery tasks of the RFQ engine: thin wrappers over its services, each safe to run twice."""

from __future__ import annotations

from typing import Any

from celery import shared_task

# Module references, not names: the engine queues these tasks and these tasks run the engine, so each side reads
# the other's attributes when a task runs, not while the modules load.
from rfq.engine import auto, desk_orders, lifecycle, reask, selection
from rfq.scoring import governance


@shared_task(name="rfq.tasks.rfq_wave_next", acks_late=True)
def rfq_wave_next_task(rfq_id: int) -> list[str]:
    """Widen the RFQ to its next wave of dealers when the live quotes do not cover it."""
    return selection.rfq_wave_next(rfq_id=rfq_id)


@shared_task(name="rfq.tasks.rfq_auto_decide", acks_late=True)
def rfq_auto_decide_task(rfq_id: int) -> dict[str, Any]:
    """Automatic mode: recommend and act within the limits (a second run finds the RFQ accepted and does nothing)."""
    return auto.rfq_auto_decide(rfq_id=rfq_id)


@shared_task(name="rfq.tasks.rfqs_expire", acks_late=True)
def rfqs_expire_task() -> list[str]:
    """Beat: expire RFQs past their time and release the desk orders they held."""
    return lifecycle.rfqs_expire_due()


@shared_task(name="rfq.tasks.scoring_train", acks_late=True)
def scoring_train_task() -> int | None:
    """Beat: train a new dealer-scoring version (validated at best; promotion stays a risk officer's)."""
    return governance.scoring_train_scheduled()


@shared_task(name="rfq.tasks.scoring_monitor", acks_late=True)
def scoring_monitor_task() -> dict[str, Any]:
    """Beat: the challenger's shadow metrics beside the live model's, and the live model's drift."""
    return {"shadow": governance.scoring_shadow_evaluate(), "drift": governance.scoring_drift_check()}


@shared_task(name="rfq.tasks.rfq_expire", acks_late=True)
def rfq_expire_task(rfq_id: int) -> bool:
    """At an RFQ's expiry: close it if nothing was accepted (the beat sweep catches any this one misses)."""
    return lifecycle.rfq_expire(rfq_id=rfq_id)


@shared_task(name="rfq.tasks.rfqs_reask", acks_late=True)
def rfqs_reask_task() -> list[str]:
    """Beat: ask again on the open RFQs left with no quote to take and nothing more to wait for."""
    return reask.rfqs_reask_due()


@shared_task(name="rfq.tasks.desk_orders_aggregate", acks_late=True)
def desk_orders_aggregate_task() -> dict[str, Any]:
    """Beat, every aggregation window: settle the RFQs whose desk orders nothing works any more, aggregate the orders
    waiting (crossed at the validated price, the rest to RFQs) and send the RFQs. Safe to run twice: an order is
    taken once, a second run finds nothing new."""
    runs = desk_orders.desk_orders_work_all(actor=desk_orders.WORK_ACTOR)
    return {run.instrument: {"sent": run.sent, "cancelled": run.cancelled, "refused": run.refused} for run in runs}
