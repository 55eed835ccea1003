"""The desk orders page: a trader enters desk orders, sees each one's state, fills and average price live (the page
reloads its table on every desk event), and aggregates now rather than wait for the window. Thin: parse the form,
call one service, render."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from desk import selectors
from desk.forms import DeskOrderForm
from desk.pages.common import base_context, desk_page
from desk.templatetags.desk_numbers import plain
from flows.desk_orders import books_known
from rfq import selectors as rfq_selectors
from rfq import services as rfq_services
from rfq.engine.desk_orders import AggregationRun, desk_orders_work_all
from risk.orders import DEFAULT_BOOK

ORDER_ROWS = 100


def _context(request: HttpRequest, form: DeskOrderForm) -> dict[str, Any]:
    return {
        **base_context(request),
        "form": form,
        "orders": rfq_selectors.desk_orders_list()[:ORDER_ROWS],
        "symbols": selectors.ticket_instruments().values_list("symbol", flat=True),
        "accounts": selectors.accounts_active().values_list("code", flat=True),
        "books": [book for book in books_known() if book != DEFAULT_BOOK],
        "window_s": settings.DESK_ORDERS_WINDOW_S,
    }


@desk_page("rfq.view_deskorder")
@require_http_methods(["GET", "POST"])
def desk_orders_page(request: HttpRequest) -> HttpResponse:
    """GET: the form and the orders. POST (``rfq.add_deskorder``): enter one order; a refusal shows each field's
    reason beside it (400) and keeps what was typed; an entered order waits for the next aggregation."""
    if request.method != "POST":
        return render(request, "desk/orders.html", _context(request, DeskOrderForm()))
    if not request.user.has_perm("rfq.add_deskorder"):
        raise PermissionDenied("your role does not allow entering desk orders (needs rfq.add_deskorder)")
    form = DeskOrderForm(request.POST)
    if not form.is_valid():
        rfq_services.desk_order_refusal_record(
            errors={name: " ".join(problems) for name, problems in form.errors.items()},
            submitted={name: request.POST.get(name) for name in form.fields},
            actor=request.user,
            channel="page",
        )
        return render(request, "desk/orders.html", _context(request, form), status=400)
    try:
        order = rfq_services.desk_order_enter(trader=request.user, channel="page", **form.order_input())
    except rfq_services.DeskOrderRefused as error:
        for name, problems in error.message_dict.items():
            form.add_error(name if name in form.fields else None, problems)
        return render(request, "desk/orders.html", _context(request, form), status=400)
    messages.success(
        request,
        f"Order {order.pk} entered: {order.side} {plain(order.quantity)} {order.instrument.symbol} for "
        f"{order.position_book}; it is aggregated within {settings.DESK_ORDERS_WINDOW_S:g} s, or now.",
    )
    return redirect("desk:orders")


def _run_summary(run: AggregationRun) -> str:
    result = run.result
    if run.refused or result is None:
        return f"{run.instrument}: {run.refused}"
    crossed = sum((cross.quantity for cross in result.crosses), Decimal(0))
    parts = [f"{len(result.orders)} order(s) taken"]
    if crossed:
        parts.append(f"{plain(crossed)} crossed at {plain(result.price)}")
    if run.sent:
        parts.append(f"sent {', '.join(run.sent)}")
    for reference, why in run.cancelled.items():
        parts.append(f"{reference} not sent ({why})")
    if result.left_new:
        parts.append(f"{len(result.left_new)} left waiting (limit away from the validated price)")
    return f"{run.instrument}: " + "; ".join(parts)


@desk_page("rfq.add_deskorder", "rfq.add_rfq")
@require_POST
def desk_orders_aggregate(request: HttpRequest) -> HttpResponse:
    """Aggregate now, for the trader pressing: what the beat does every window."""
    runs = desk_orders_work_all(owner=request.user, actor=request.user)
    if not runs:
        messages.info(request, "No desk order waiting.")
    for run in runs:
        (messages.warning if run.refused else messages.success)(request, _run_summary(run))
    return redirect("desk:orders")
