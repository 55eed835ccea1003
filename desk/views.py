"""Pages of the desk and the health endpoint. Thin: check the role, call a selector, render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
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
