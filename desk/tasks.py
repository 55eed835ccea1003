"""Desk core tasks: diagnostics that prove the worker -> channel layer -> browser path (and beat) are alive, and the
refit of the implied-volatility surfaces options are marked with."""

from __future__ import annotations

import socket

from celery import shared_task
from django.core.cache import cache

from desk import clock, marks
from desk.events import broadcast


@shared_task(name="desk.tasks.desk_ping")
def desk_ping(*, message: str, requested_by: str) -> dict[str, str]:
    payload = {
        "message": message,
        "requested_by": requested_by,
        "worker": socket.gethostname(),
        "at": clock.now().isoformat(),
    }
    broadcast(event="ping", payload=payload)
    return payload


HEARTBEAT_KEY = "desk:heartbeat"
"""The cache key of the worker's last heartbeat (ISO time): the status bar of every page shows its age."""


@shared_task(name="desk.tasks.desk_heartbeat")
def desk_heartbeat() -> None:
    at = clock.now().isoformat()
    cache.set(HEARTBEAT_KEY, at, timeout=None)
    broadcast(event="heartbeat", payload={"at": at})


@shared_task(name="desk.tasks.vol_surfaces_refit", acks_late=True)
def vol_surfaces_refit() -> dict[str, str]:
    """Beat: fit the desk's implied-volatility surfaces to the market's latest quotes (see :mod:`desk.marks`)."""
    return marks.vol_surfaces_refit()
