"""Celery tasks of the risk domain: thin wrappers over the services."""

from __future__ import annotations

from celery import shared_task

from risk.telemetry_services import plans_telemetry_evaluate


@shared_task(acks_late=True, ignore_result=True)
def telemetry_sweep() -> int:
    """Evaluate the telemetry of every running plan (beat, every few seconds); safe to run twice: an open alert is
    not raised again."""
    return len(plans_telemetry_evaluate())
