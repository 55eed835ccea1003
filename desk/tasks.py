"""Desk core tasks: diagnostics that prove the worker -> channel layer -> browser path (and beat) are alive, the
refit of the implied-volatility surfaces options are marked with, and the audit sealer's beat tasks."""

from __future__ import annotations

import logging
import socket

from celery import shared_task
from django.core.cache import cache

from desk import clock, marks
from desk.audit import chain_verify
from desk.events import broadcast

logger = logging.getLogger(__name__)


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


@shared_task(name="desk.tasks.audit_seal")
def audit_seal() -> dict[str, object]:
    """Chain the audit events committed since the last run, anchor the checkpoints due, and verify what was just
    chained (incrementally, so the compliance page only has the last seconds left to walk)."""
    report = chain_verify()
    if not report.ok:
        logger.error("audit chain BROKEN at #%s: %s", report.broken_seq, report.reason)
    return {"ok": report.ok, "head_seq": report.head_seq, "checked": report.checked}


@shared_task(name="desk.tasks.audit_verify_full")
def audit_verify_full() -> dict[str, object]:
    """Walk the whole audit chain and compare every anchored checkpoint (daily: the pages verify incrementally)."""
    report = chain_verify(full=True)
    if not report.ok:
        logger.error("audit chain BROKEN at #%s: %s", report.broken_seq, report.reason)
    return {"ok": report.ok, "head_seq": report.head_seq, "checked": report.checked}
