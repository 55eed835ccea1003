"""Pages of the desk and the health endpoint. Thin: check the role, call a selector, render."""

from __future__ import annotations

from typing import Any

from axes.helpers import get_cool_off
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from desk import selectors
from desk.forms import BlotterFilterForm
from desk.health import health_report
from desk.pages.queries import BlotterFilter, blotter_tables
from desk.roles import user_roles
from rfq import selectors as rfq_selectors


@login_required
@permission_required("rfq.view_blotter", raise_exception=True)
@require_GET
def blotter(request: HttpRequest) -> HttpResponse:
    """Orders, RFQs, plans and fills, filtered by the query string (status, instrument, side, trader, day); the
    page's script reloads the tables, same filters, on every desk event."""
    form = BlotterFilterForm(request.GET or None)
    valid = form.is_valid() if form.is_bound else True
    filters = BlotterFilter(**form.filters()) if form.is_bound and valid else BlotterFilter()
    context = {
        **blotter_tables(filters=filters),
        "form": form,
        "filtered": filters != BlotterFilter(),
        "symbols": selectors.ticket_instruments().values_list("symbol", flat=True),
        "dealers": rfq_selectors.dealer_connections(),
        "roles": user_roles(request.user),
    }
    return render(request, "desk/blotter.html", context, status=200 if valid else 400)


@never_cache
@require_GET
async def healthz(request: HttpRequest) -> JsonResponse:
    report = await health_report()
    return JsonResponse(report, status=200 if report["ok"] else 503)


def login_locked_out(request: HttpRequest, *args: Any) -> HttpResponse:
    """The login page again when django-axes locks a login out (``AXES_LOCKOUT_CALLABLE``), answered 429: it says the
    login is locked, for how long, and keeps the username typed. Axes passes the original response and the
    credentials after ``request``; neither is needed here."""
    cool_off = get_cool_off(request)
    minutes = int(cool_off.total_seconds() // 60) if cool_off else None
    wait = f"try again in {minutes} minutes" if minutes else "ask an administrator to unlock it"
    form = AuthenticationForm(request, initial={"username": request.POST.get("username", "")})
    context = {
        "form": form,
        "next": request.POST.get("next", ""),
        "locked_out": f"Too many failed logins: this login is locked, {wait} (each failed attempt meanwhile restarts "
        "the wait).",
    }
    return render(request, "desk/login.html", context, status=429)
