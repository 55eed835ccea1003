"""Celery tasks of the flows: thin, each safe to run twice."""

from __future__ import annotations

from celery import shared_task

from flows.risk_actions import plans_telemetry_evaluate


@shared_task(acks_late=True, ignore_result=True)
def telemetry_sweep() -> int:
    """Evaluate the risk telemetry of every running plan (beat, every few seconds); safe to run twice: an open alert
    is not raised again."""
    return len(plans_telemetry_evaluate())
