"""Telemetry that leaves the desk the way operators expect: ``/metrics`` in the Prometheus text format, and
structured logs (one JSON object per line).

``/metrics`` (exposition format 0.0.4, written by hand: no client library is installed) carries

- ``desk_child_orders`` (gauge, by status) and ``desk_order_rejection_ratio``: rejected over decided child orders
  (filled, partially filled or rejected);
- ``desk_market_data_age_seconds`` (by underlying and venue): seconds since the market service last ticked the
  venue book, and ``desk_validated_price_age_seconds`` (by underlying): since the market-health monitor last
  validated a price (absent when none);
- ``desk_plan_progress_ratio`` and ``desk_plan_filled_quantity`` (by plan, instrument, status) of the open plans;
- ``desk_limit_usage_ratio`` (by scope, key and kind) where the desk keeps a figure;
- ``desk_pnl`` (by book and component realized / unrealized, quote currency), spot and perpetual positions marked at
  the venue mid, options at their mark on the desk's implied-volatility surface (:func:`desk.marks.mark_surface`);
- ``desk_risk_alerts_open`` (by kind and level);
- ``desk_kill_switch_state`` (by scope, key and state; 1 for the switch's state, 0 for the others) and
  ``desk_kill_switch_engaged`` (by scope and key) of every kill switch ever set;
- per underlying the monitor has a verdict on: ``desk_circuit_breaker_engaged`` (1 when its switch is engaged by the
  market-health monitor's circuit breaker), ``desk_market_health_state`` (by state, 1 for the current one),
  ``desk_market_health_check`` (by check, 1 for the checks behind the state) and
  ``desk_market_health_state_seconds`` (in the state since), all read from the stored verdicts, so that every
  process answers the same.

Access: ``Authorization: Bearer <DESK_METRICS_TOKEN>`` (the scraper), or a logged-in user with
``risk.view_limit``; anyone else gets 401 (no credentials) or 403.
"""

from __future__ import annotations

import hmac
import logging
import math
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from pythonjsonlogger.json import JsonFormatter

from desk import clock

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METRICS_PERM = "risk.view_limit"

# LogRecord attributes that are not a caller's ``extra``.


def json_formatter() -> logging.Formatter:
    """One JSON object per line (python-json-logger): ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, the
    caller's ``extra`` fields, and ``exc`` with the traceback when there is one. Values JSON cannot hold are written as
    text (datetimes in ISO 8601)."""
    return JsonFormatter(
        "{levelname}{name}{message}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger", "exc_info": "exc"},
        timestamp="ts",
    )


class ClientErrorsWithoutTraceback(logging.Filter):
    """A 4xx answer is the client's mistake, not the desk's: its log line keeps the message and drops the traceback
    Django attaches (a refused permission would otherwise print a full stack for every 403)."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500:
            record.exc_info, record.exc_text = None, None
        return True


def _escape(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float | Decimal | int) -> str:
    number = float(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    return repr(number)


class Exposition:
    """Builds the text format: each metric's ``# HELP`` and ``# TYPE`` once, then its samples."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def metric(
        self, name: str, help_text: str, samples: Iterable[tuple[dict[str, object], float | Decimal | int]]
    ) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} gauge")
        for labels, value in samples:
            text = ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items())
            self.lines.append(f"{name}{{{text}}} {_number(value)}" if text else f"{name} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def metrics_text(*, now: datetime | None = None) -> str:
    """The desk's metrics in the Prometheus text format (see the module)."""
    # Imported here, not at the top: the logging configuration loads this module (JsonFormatter) before the apps'
    # models are ready.
    from desk.market import SECONDS_PER_YEAR
    from desk.marks import mark_surface
    from desk.models import InstrumentKind, VenueBook
    from execution.models import ChildOrder, ChildOrderStatus, ExecutionPlan, PlanStatus, Position
    from risk.market_health import Check
    from risk.models import Alert, MarketHealthState, ScopeState
    from risk.reference import validated_price_get
    from risk.selectors import kill_switches_list, limit_usage, market_health_board

    now = now or clock.now()
    out = Exposition()

    counts = dict(ChildOrder.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    out.metric(
        "desk_child_orders",
        "Child orders by status.",
        (({"status": status}, counts.get(status, 0)) for status in ChildOrderStatus.values),
    )
    decided = sum(
        counts.get(s, 0)
        for s in (ChildOrderStatus.FILLED, ChildOrderStatus.PARTIALLY_FILLED, ChildOrderStatus.REJECTED)
    )
    rejected = counts.get(ChildOrderStatus.REJECTED, 0)
    out.metric(
        "desk_order_rejection_ratio",
        "Rejected child orders over decided ones (filled, partially filled or rejected); 0 before any.",
        [({}, rejected / decided if decided else 0.0)],
    )

    books = list(VenueBook.objects.order_by("underlying", "pk"))
    out.metric(
        "desk_market_data_age_seconds",
        "Seconds since the market service last ticked the venue book.",
        (
            (
                {"underlying": row.underlying, "venue": row.venue},
                (now - (row.ticked_at or row.updated_at)).total_seconds(),
            )
            for row in books
        ),
    )
    underlyings = sorted({row.underlying for row in books})
    validated = [(u, validated_price_get(underlying=u)) for u in underlyings]
    out.metric(
        "desk_validated_price_age_seconds",
        "Seconds since the market-health monitor last validated the underlying's price.",
        (({"underlying": u, "state": v.state}, v.age_s(now)) for u, v in validated if v is not None),
    )

    plans = ExecutionPlan.objects.filter(
        status__in=(PlanStatus.DRAFT, PlanStatus.RUNNING, PlanStatus.PAUSED, PlanStatus.HALTED)
    ).select_related("instrument")
    plan_rows = [({"plan": p.pk, "instrument": p.instrument.symbol, "status": p.status}, p) for p in plans]
    out.metric(
        "desk_plan_progress_ratio",
        "Filled over planned quantity of the open execution plans.",
        ((labels, p.filled_quantity / p.quantity) for labels, p in plan_rows),
    )
    out.metric(
        "desk_plan_filled_quantity",
        "Contracts filled by the open execution plans.",
        ((labels, p.filled_quantity) for labels, p in plan_rows),
    )

    out.metric(
        "desk_limit_usage_ratio",
        "Used over set, for the limits where the desk keeps a figure (positions).",
        (
            ({"scope": u.limit.scope, "scope_key": u.limit.scope_key, "kind": u.limit.kind}, u.ratio)
            for u in limit_usage()
            if u.ratio is not None
        ),
    )

    mids = {row.underlying: row.mid for row in reversed(books)}
    realized: dict[str, Decimal] = {}
    unrealized: dict[str, Decimal] = {}
    surfaces: dict[str, Any] = {}
    for position in Position.objects.select_related("instrument"):
        realized[position.book] = realized.get(position.book, Decimal(0)) + position.realized_pnl
        instrument = position.instrument
        mid = mids.get(instrument.base_currency)
        if mid is None or not position.quantity:
            continue
        if instrument.kind == InstrumentKind.OPTION:
            if instrument.expiry is None or instrument.expiry <= now or not instrument.strike:
                continue
            if instrument.base_currency not in surfaces:
                surfaces[instrument.base_currency] = mark_surface(instrument.base_currency)
            surface = surfaces[instrument.base_currency]
            t_years = (instrument.expiry - now).total_seconds() / SECONDS_PER_YEAR
            priced = surface.price(
                spot=float(mid), strike=float(instrument.strike), t_years=t_years, kind=instrument.option_type
            )
            mid = Decimal(repr(float(priced.price)))
        marked = position.quantity * (mid - position.average_price) * instrument.multiplier
        unrealized[position.book] = unrealized.get(position.book, Decimal(0)) + marked
    out.metric(
        "desk_pnl",
        "P&L by book, quote currency: realized, and unrealized at the venue mid (options at the desk's surface).",
        [({"book": book, "component": "realized"}, value) for book, value in sorted(realized.items())]
        + [({"book": book, "component": "unrealized"}, value) for book, value in sorted(unrealized.items())],
    )

    open_alerts = Alert.objects.filter(acknowledged=False).values_list("kind", "level").annotate(n=Count("id"))
    out.metric(
        "desk_risk_alerts_open",
        "Unacknowledged risk alerts by kind and level.",
        (({"kind": kind, "level": level}, n) for kind, level, n in open_alerts.values_list("kind", "level", "n")),
    )

    switches = list(kill_switches_list())
    out.metric(
        "desk_kill_switch_state",
        "Kill switches: 1 for the scope's state (active, reducing, halted), 0 for the others.",
        (
            ({"scope": switch.scope, "scope_key": switch.scope_key, "state": state}, int(switch.state == state))
            for switch in switches
            for state in ScopeState.values
        ),
    )
    out.metric(
        "desk_kill_switch_engaged",
        "Kill switches: 1 when engaged (the scope halted).",
        (({"scope": switch.scope, "scope_key": switch.scope_key}, int(switch.engaged)) for switch in switches),
    )
    board = [row for row in market_health_board() if row.health is not None]
    out.metric(
        "desk_circuit_breaker_engaged",
        "Per underlying: 1 when its kill switch is engaged by the market-health monitor's circuit breaker.",
        (({"underlying": row.underlying}, int(row.circuit_breaker)) for row in board),
    )
    out.metric(
        "desk_market_health_state",
        "Per underlying: 1 for the market-health monitor's state (healthy, degraded, halted), 0 for the others.",
        (
            ({"underlying": row.underlying, "state": state}, int(row.health.state == state))
            for row in board
            if row.health is not None
            for state in MarketHealthState.values
        ),
    )
    out.metric(
        "desk_market_health_check",
        "Per underlying: 1 for each market-health check behind the current state, 0 for the others.",
        (
            ({"underlying": row.underlying, "check": str(check)}, int(str(check) in row.health.checks))
            for row in board
            if row.health is not None
            for check in Check
        ),
    )
    out.metric(
        "desk_market_health_state_seconds",
        "Per underlying: seconds since the market-health state last changed.",
        (
            ({"underlying": row.underlying, "state": row.health.state}, (now - row.health.since).total_seconds())
            for row in board
            if row.health is not None
        ),
    )
    return out.text()


def _authorized(request: HttpRequest) -> int:
    """200 when allowed, else the status to answer: 401 (no or bad credentials), 403 (no permission)."""
    token = settings.DESK_METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, given = header.partition(" ")
        if token and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return 200
        return 401
    user = request.user
    if not user.is_authenticated:
        return 401
    return 200 if user.has_perm(METRICS_PERM) else 403


def metrics_view(request: HttpRequest) -> HttpResponse:
    """``GET /metrics``: the scraper with ``Authorization: Bearer $DESK_METRICS_TOKEN``, or a logged-in user with
    ``risk.view_limit``."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    status = _authorized(request)
    if status == 401:
        return HttpResponse("authentication required\n", status=401, headers={"WWW-Authenticate": "Bearer"})
    if status == 403:
        return HttpResponse(f"needs {METRICS_PERM}\n", status=403)
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE)
