"""Writes of the market-health verdicts: the monitor (:mod:`risk.monitor`) stores each underlying's state when it, or
the checks behind it, change, so that every process of the desk reads the same verdict (:mod:`risk.selectors`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import transaction

from desk.audit import audit_record
from risk.models import MarketHealth, MarketHealthState
from risk.services import RiskRefused

__all__ = ["MARKET_HEALTH_ACTOR", "market_health_record"]

MARKET_HEALTH_ACTOR = "system:market_health"


def _state(row: MarketHealth | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "underlying": row.underlying,
        "state": row.state,
        "checks": list(row.checks),
        "reason": row.reason,
        "source_feed": row.source_feed,
        "since": row.since,
    }


def _json_safe(value: Any) -> Any:
    """``value`` with every non-finite float as None (JSON, and PostgreSQL's jsonb, hold no NaN or infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def market_health_record(
    *,
    underlying: str,
    state: str,
    checks: Sequence[str],
    reason: str,
    findings: Sequence[Mapping[str, Any]],
    source_feed: str | None,
    since: datetime,
    at: datetime,
) -> MarketHealth:
    """Store the monitor's verdict on ``underlying`` (one row per underlying, created on the first verdict).

    ``state`` is a :class:`~risk.models.MarketHealthState` value, ``checks`` the checks behind it, ``findings`` their
    :meth:`~risk.market_health.Finding.as_dict`, ``source_feed`` the feed the validated price comes from (None when
    no feed is trusted), ``since`` and ``at`` the monitor's clock (UTC) at the last change of state and now. Audited
    (``risk.market_health``, actor ``system:market_health``) with the verdict before and after.
    """
    if state not in MarketHealthState.values:
        raise RiskRefused({"state": f"state must be one of {', '.join(MarketHealthState.values)}, not {state!r}"})
    underlying = (underlying or "").strip()
    if not underlying or len(underlying) > 16:
        raise RiskRefused({"underlying": "an underlying code of 1 to 16 characters"})
    if since.tzinfo is None or at.tzinfo is None:
        raise RiskRefused({"since": "the monitor's times must be UTC-aware"})
    fields = {
        "state": state,
        "checks": [str(check) for check in checks],
        "reason": reason,
        "findings": _json_safe([dict(finding) for finding in findings]),
        "source_feed": source_feed or "",
        "since": since,
        "updated_at": at,
    }
    with transaction.atomic():
        before = _state(MarketHealth.objects.select_for_update().filter(underlying=underlying).first())
        row, _ = MarketHealth.objects.update_or_create(underlying=underlying, defaults=fields)
        audit_record(actor=MARKET_HEALTH_ACTOR, action="risk.market_health", obj=row, before=before, after=_state(row))
    return row
