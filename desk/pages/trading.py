"""The desk's trading pages: RFQ ticket, quote board, risk, compliance. Thin: check the role on the server, parse a
form, call one service or selector, render. Every page needs ``rfq.view_blotter`` first, so a dealer never sees one."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from itertools import islice
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.utils.functional import cached_property
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from desk import clock, selectors
from desk.audit import chain_verify
from desk.forms import PACKAGE_LEGS, AuditFilterForm, DealerSelection, KillSwitchForm, LimitForm, RFQTicketForm
from desk.models import AuditEvent, DecisionKind, DecisionRecord
from desk.pages import queries
from desk.pages.common import base_context, desk_page
from rfq import selectors as rfq_selectors
from rfq import services as rfq_services
from rfq.engine.auto import auto_limit_for, rfq_act
from rfq.engine.selection import rfq_send_selected
from rfq.models import TradingMode
from risk import selectors as risk_selectors
from risk import services as risk_services
from risk.models import LimitScope
from risk.telemetry_services import alert_acknowledge

AUDIT_PAGE_SIZE = 50
# Who may acknowledge a risk alert (as ``risk.telemetry_services.ACK_PERMS``): traders and risk officers.
ALERT_ACK_PERMS = ("risk.change_alert", "risk.engage_killswitch", "execution.change_executionplan")
EXPORT_CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}


def _auto_allowed(user: Any) -> bool:
    limit = auto_limit_for(user)
    return limit is not None and limit.enabled


@desk_page("rfq.add_rfq")
@require_http_methods(["GET", "POST"])
def rfq_new(request: HttpRequest) -> HttpResponse:
    """The RFQ ticket: a Django form; on success the RFQ is created and sent in one transaction, to the dealers the
    desk chooses (in waves, :func:`rfq.engine.selection.rfq_send_selected`) or to the ones the trader ticked. Its
    script shows the pre-trade estimate and the dealers the desk would ask as the legs are typed."""
    auto_allowed = _auto_allowed(request.user)
    form = RFQTicketForm(request.POST if request.method == "POST" else None, auto_allowed=auto_allowed)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            # The fat-finger guards first, outside the transaction: a refusal's audit outlives it.
            for number, report in rfq_services.rfq_legs_guard(legs=data["legs"], actor=request.user):
                for refusal in report.refusals:
                    form.add_error(f"leg{data['leg_numbers'][number - 1]}_quantity", refusal.message)
        if form.is_valid():
            data = form.cleaned_data
            try:
                with transaction.atomic():
                    rfq = rfq_services.rfq_create(
                        legs=data["legs"],
                        actor=request.user,
                        package_type=data["package_type"],
                        expires_in=timedelta(seconds=data["expires_in_s"]),
                        mode=data["mode"],
                        risk_aversion=data["risk_aversion"],
                    )
                    if data["selection"] == DealerSelection.DESK:
                        rfq_send_selected(rfq=rfq, actor=request.user)
                    else:
                        rfq_services.rfq_send(rfq=rfq, dealers=list(data["dealers"]), actor=request.user)
            except rfq_services.QuoteRefused as error:
                form.add_error(None, error.messages)
            else:
                return redirect("desk:rfq-board", reference=rfq.reference)
        status = 400
    connections = {c.code: c for c in rfq_selectors.dealer_connections()}
    dealer_rows = [(box, connections.get(str(box.data["value"]))) for box in form["dealers"]]
    context = base_context(request) | {
        "form": form,
        "legs": form.leg_rows(),
        "instruments": selectors.ticket_instruments(),
        "dealer_rows": dealer_rows,
        "package_legs": {key: [[t, s] for t, s in legs] for key, legs in PACKAGE_LEGS.items()},
        "auto_allowed": auto_allowed,
        "mode_value": form["mode"].value() or TradingMode.MANUAL,
        "selection_value": form["selection"].value() or DealerSelection.DESK,
    }
    return render(request, "desk/rfq_new.html", context, status=status)


def _desk_rfq(reference: str) -> Any:
    rfq = rfq_selectors.desk_rfqs_list().filter(reference=reference).first()
    if rfq is None:
        raise Http404("no such RFQ")
    return rfq


def _auto_actions(rfq: Any) -> list[DecisionRecord]:
    """What the desk did itself on ``rfq`` in automatic mode: its ``auto_accept`` decision records, newest first."""
    return list(
        DecisionRecord.objects.filter(
            kind=DecisionKind.AUTO_ACCEPT, object_type="rfq.rfq", object_id=str(rfq.pk)
        ).order_by("-pk")
    )


def _auto_declined(rfq: Any) -> list[AuditEvent]:
    """The automatic-mode recommendations the desk left to the trader (beyond the limits), newest first."""
    return list(
        AuditEvent.objects.filter(action="rfq.auto_declined", object_type="rfq.rfq", object_id=str(rfq.pk)).order_by(
            *selectors.AUDIT_NEWEST_FIRST
        )[:5]
    )


def _board_context(request: HttpRequest, rfq: Any) -> dict[str, Any]:
    auto = rfq.mode == TradingMode.AUTO
    return base_context(request) | {
        "rfq": rfq,
        "can_accept": request.user.has_perm("rfq.change_rfq"),
        "auto": auto,
        "auto_actions": _auto_actions(rfq) if auto else [],
        "auto_declined": _auto_declined(rfq) if auto else [],
    }


@desk_page("rfq.view_rfq")
@require_GET
def rfq_board(request: HttpRequest, reference: str) -> HttpResponse:
    """The quote board: the page is a shell; its script loads the RFQ from the API and reloads it on each event,
    and the recommendation panel asks the engine again whenever the quotes change."""
    rfq = _desk_rfq(reference)
    return render(request, "desk/rfq_board.html", _board_context(request, rfq))


@desk_page("rfq.view_rfq")
@require_GET
def rfq_auto_panel(request: HttpRequest, reference: str) -> HttpResponse:
    """The automatic-mode panel of the board alone (what the desk did itself), for its script to refresh."""
    rfq = _desk_rfq(reference)
    return render(request, "desk/_rfq_auto.html", _board_context(request, rfq))


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@desk_page("rfq.change_rfq")
@require_POST
def rfq_act_page(request: HttpRequest, reference: str) -> HttpResponse:
    """Carry out the recommendation the desk made for this RFQ (``decision_id``, a stored ``quote_decision``):
    accept or split as recommended, through :func:`rfq.engine.auto.rfq_act`. JSON (201 / 400) for the board's
    script, else a redirect to the board with a message."""
    rfq = _desk_rfq(reference)
    raw = request.POST.get("decision_id", "")
    record = None
    if raw.isdigit():
        record = DecisionRecord.objects.filter(
            pk=int(raw), kind=DecisionKind.QUOTE_DECISION, object_type="rfq.rfq", object_id=str(rfq.pk)
        ).first()
    error: dict[str, Any] | None = None
    if record is None:
        error = {"decision_id": "no recommendation with this id for this RFQ"}
    else:
        try:
            with transaction.atomic():
                done = rfq_act(rfq=rfq, output=record.output, actor=request.user)
        except ValidationError as refused:  # the RFQ rules' or the risk checks' refusal, saying why
            error = {"detail": " ".join(refused.messages)}
    if error is not None:
        if _wants_json(request):
            return JsonResponse(error, status=400)
        text = "; ".join(f"{k}: {v}" if k != "detail" else v for k, v in error.items())
        messages.error(request, f"Not carried out: {text}")
        return render(request, "desk/rfq_board.html", _board_context(request, rfq), status=400)
    action = record.output["action"]
    summary = f"{action.capitalize()} as recommended: {len(done['dealer_orders'])} dealer order(s)"
    if done.get("plan"):
        summary += f", the rest to the algorithms (plan {done['plan']})"
    if _wants_json(request):
        return JsonResponse(done | {"action": action, "message": summary + "."}, status=201)
    messages.success(request, summary + ".")
    return redirect("desk:rfq-board", reference=rfq.reference)


def _gauges(usage: list[risk_selectors.LimitUsage]) -> list[dict[str, Any]]:
    """Limit usage grouped by scope and key, each limit with its percentage (None for the per-order kinds)."""
    scopes: dict[tuple[str, str], dict[str, Any]] = {}
    for row in usage:
        limit = row.limit
        scope = scopes.setdefault(
            (limit.scope, limit.scope_key),
            {"scope": limit.get_scope_display(), "scope_value": limit.scope, "key": limit.scope_key, "limits": []},
        )
        pct = None if row.ratio is None else float(row.ratio) * 100
        scope["limits"].append({"row": row, "pct": pct, "shown": None if pct is None else min(pct, 100.0)})
    return list(scopes.values())


def _markets() -> list[dict[str, Any]]:
    """Per underlying, the monitor's stored verdict and its circuit breaker beside the venues' latest books (the same
    in every process: the verdicts are read from the database)."""
    books = {row["underlying"]: row for row in queries.market_books()}
    markets = []
    for row in risk_selectors.market_health_board(underlyings=books):
        health = None
        if row.health is not None:
            checks = ", ".join(row.health.checks)
            health = {
                "state": row.health.state,
                "checks": row.health.checks,
                "reason": f"{checks}: {row.health.reason}" if checks else "",
                "since": row.health.since,
            }
        markets.append(
            {
                "underlying": row.underlying,
                "health": health,
                "circuit_breaker": row.circuit_breaker,
                "switch_state": row.switch_state,
                "venues": books.get(row.underlying, {}).get("venues", []),
            }
        )
    return markets


SCOPE_ORDER = {value: depth for depth, value in enumerate(LimitScope.values)}
"""Broadest first: the limits are listed as the hierarchy's tree (firm, desk, book, ... instrument)."""


def _risk_context(
    request: HttpRequest, form: KillSwitchForm | None = None, limit_form: LimitForm | None = None
) -> dict[str, Any]:
    usage = sorted(
        risk_selectors.limit_usage(),
        key=lambda row: (SCOPE_ORDER.get(row.limit.scope, 99), row.limit.scope_key, row.limit.kind),
    )
    return base_context(request) | {
        "usage": [(row, None if row.ratio is None else min(float(row.ratio) * 100, 100.0)) for row in usage],
        "scope_depth": SCOPE_ORDER,
        "limit_form": limit_form or LimitForm(),
        "can_set_limits": request.user.has_perm("risk.add_limit") and request.user.has_perm("risk.change_limit"),
        "gauges": _gauges(usage),
        "switches": risk_selectors.kill_switches_list(),
        "engage_form": form or KillSwitchForm(),
        "can_engage": request.user.has_perm("risk.engage_killswitch"),
        "can_rearm": request.user.has_perm("risk.rearm_killswitch"),
        "markets": _markets(),
        "alerts": queries.risk_alerts(),
        "can_ack": any(request.user.has_perm(p) for p in ALERT_ACK_PERMS),
    }


@desk_page("risk.view_limit", "risk.view_killswitch")
@require_GET
def risk_page(request: HttpRequest) -> HttpResponse:
    return render(request, "desk/risk.html", _risk_context(request))


def _switch_action(request: HttpRequest, service: Callable[..., Any], done: str) -> HttpResponse:
    form = KillSwitchForm(request.POST)
    if form.is_valid():
        try:
            switch = service(**form.cleaned_data, actor=request.user)
        except risk_services.RiskRefused as error:
            if hasattr(error, "error_dict") and set(error.error_dict) <= set(form.fields):
                form.add_error(None, error)
            else:
                form.add_error(None, error.messages)
        else:
            label = switch.scope + (f" {switch.scope_key}" if switch.scope_key else "")
            messages.success(request, f"Kill switch {label} {done}.")
            return redirect("desk:risk")
    return render(request, "desk/risk.html", _risk_context(request, form), status=400)


@desk_page("risk.engage_killswitch")
@require_POST
def risk_engage(request: HttpRequest) -> HttpResponse:
    return _switch_action(request, risk_services.kill_switch_engage, "engaged")


@desk_page("risk.engage_killswitch")
@require_POST
def risk_reduce(request: HttpRequest) -> HttpResponse:
    """Put a scope in REDUCING: only orders that shrink the position pass until a risk officer re-arms it."""

    def reduce(**fields: Any) -> Any:
        return risk_services.scope_state_set(state="reducing", **fields)

    return _switch_action(request, reduce, "set to reduce only")


@desk_page("risk.add_limit", "risk.change_limit")
@require_POST
def risk_limit_set(request: HttpRequest) -> HttpResponse:
    """Set one limit through the risk service (audited, broadcast); each refusal beside its field."""
    form = LimitForm(request.POST)
    if form.is_valid():
        try:
            limit = risk_services.limit_set(**form.cleaned_data, actor=request.user)
        except risk_services.RiskRefused as error:
            if hasattr(error, "error_dict") and set(error.error_dict) <= set(form.fields):
                form.add_error(None, error)
            else:
                form.add_error(None, error.messages)
        else:
            key = f" {limit.scope_key}" if limit.scope_key else ""
            messages.success(
                request, f"Limit set: {limit.get_kind_display()} at {limit.scope}{key} = {limit.value.normalize():f}."
            )
            return redirect("desk:risk")
    return render(request, "desk/risk.html", _risk_context(request, limit_form=form), status=400)


@desk_page("risk.rearm_killswitch")
@require_POST
def risk_rearm(request: HttpRequest) -> HttpResponse:
    return _switch_action(request, risk_services.kill_switch_rearm, "re-armed")


@desk_page("risk.view_limit")
@require_POST
def risk_alert_ack(request: HttpRequest, alert_id: int) -> HttpResponse:
    """Acknowledge an open risk alert through the risk service, which checks the role (403 otherwise)."""
    if not any(request.user.has_perm(p) for p in ALERT_ACK_PERMS):
        raise PermissionDenied("your role may not acknowledge alerts")
    try:
        alert_acknowledge(alert_id=alert_id, actor=request.user)
    except risk_services.RiskRefused as error:
        messages.error(request, " ".join(error.messages))
        return render(request, "desk/risk.html", _risk_context(request), status=400)
    messages.success(request, f"Alert {alert_id} acknowledged.")
    return redirect("desk:risk")


async def _stream(lines: Iterator[str], batch: int = 500) -> AsyncIterator[str]:
    # The rows come from the ORM (synchronous): pull them in batches on the one thread that owns the connection.
    pull = sync_to_async(lambda: "".join(islice(lines, batch)), thread_sensitive=True)
    while chunk := await pull():
        yield chunk


def _json_or_blank(value: Any) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


class _CountedPaginator(Paginator):
    """A paginator told its count (the audit log's comes from its chain, not from counting the table)."""

    def __init__(self, object_list: Any, per_page: int, *, known_count: int) -> None:
        super().__init__(object_list, per_page)
        self.known_count = known_count

    @cached_property
    def count(self) -> int:
        return self.known_count


@desk_page("desk.view_auditevent")
@require_GET
def compliance(request: HttpRequest) -> HttpResponse:
    """The audit log, filtered and paginated, read-only, with the chain's verification (incremental: from the last
    verified position, after sealing what is committed); ``?format=csv|jsonl`` streams the same filter as an export
    (``desk.export_audit``), sealed and anchored first, whose first line states the verification."""
    form = AuditFilterForm(request.GET or None)
    export_format = request.GET.get("format", "")
    valid = form.is_valid() if form.is_bound else True
    filters = form.audit_filter() if form.is_bound and valid else selectors.AuditFilter()
    if export_format:
        if not request.user.has_perm("desk.export_audit"):
            return HttpResponse("your role may not export the audit trail", status=403, content_type="text/plain")
        if export_format not in EXPORT_CONTENT_TYPES:
            return HttpResponseBadRequest("format: csv or jsonl", content_type="text/plain")
        if not valid:
            return HttpResponseBadRequest(form.errors.as_text(), content_type="text/plain")
        report = chain_verify(checkpoint=True)
        lines = selectors.audit_export_lines(filters=filters, report=report, export_format=export_format)
        response = StreamingHttpResponse(_stream(lines), content_type=EXPORT_CONTENT_TYPES[export_format])
        stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{export_format}"'
        response["X-Audit-Chain"] = selectors.audit_export_statement(report=report)
        return response
    report = chain_verify()
    paginator = _CountedPaginator(
        selectors.audit_events_filtered(filters=filters),
        AUDIT_PAGE_SIZE,
        known_count=selectors.audit_events_count(filters=filters, report=report),
    )
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("format", None)
    context = base_context(request) | {
        "form": form if form.is_bound else AuditFilterForm(),
        "page": page,
        "rows": [(event, _json_or_blank(event.before), _json_or_blank(event.after)) for event in page],
        "report": report,
        "query": query.urlencode(),
        "choices": selectors.audit_choices(),
        "can_export": request.user.has_perm("desk.export_audit"),
    }
    return render(request, "desk/compliance.html", context, status=200 if valid else 400)
