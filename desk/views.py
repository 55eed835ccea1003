"""Pages of the desk and the health endpoint. Thin: check the role, call a selector, render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from desk import selectors
from desk.health import health_report
from desk.roles import user_roles
from rfq import selectors as rfq_selectors


@login_required
@permission_required("rfq.view_blotter", raise_exception=True)
@require_GET
def blotter(request: HttpRequest) -> HttpResponse:
    context = {
        "orders": selectors.blotter_orders(),
        "rfqs": selectors.blotter_rfqs(),
        "plans": selectors.blotter_plans(),
        "fills": selectors.blotter_fills(),
        "dealers": rfq_selectors.dealer_connections(),
        "roles": user_roles(request.user),
    }
    return render(request, "desk/blotter.html", context)


@never_cache
@require_GET
async def healthz(request: HttpRequest) -> JsonResponse:
    report = await health_report()
    return JsonResponse(report, status=200 if report["ok"] else 503)
