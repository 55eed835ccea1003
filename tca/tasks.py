"""TCA's Celery tasks: thin wrappers over :mod:`tca.services`, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from tca import services


@shared_task(name="tca.tasks.calibration_refit")
def calibration_refit() -> list[int]:
    """Refit the pre-trade models on the desk's recent fills and store the fits (beat: hourly). Returns their ids."""
    return [fit.pk for fit in services.calibration_refit()]


@shared_task(name="tca.tasks.pnl_snapshot")
def pnl_snapshot() -> int:
    """Today's start-of-day positions, marks and greeks, once per UTC day (beat: every minute; a no-op once taken)."""
    return services.pnl_snapshot_take()
