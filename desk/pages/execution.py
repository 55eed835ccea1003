"""The execution pages: every plan with its progress, one plan's children and fills with its schedule against the
fills and the market's volume, and the pause / resume / cancel actions (the execution services check the role)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from desk.forms import PlanActionForm, PlanStatusFilterForm
from desk.pages import queries
from desk.pages.common import base_context, desk_page
from execution import selectors as execution_selectors
from execution import services as execution_services
from execution.models import ExecutionPlan, PlanStatus

PLAN_ROWS = 100
ACTIONS = {
    "pause": (execution_services.plan_pause, "paused", (PlanStatus.RUNNING,)),
    "resume": (execution_services.plan_resume, "resumed", (PlanStatus.PAUSED, PlanStatus.HALTED)),
    "cancel": (
        execution_services.plan_cancel,
        "cancelled",
        (PlanStatus.DRAFT, PlanStatus.RUNNING, PlanStatus.PAUSED, PlanStatus.HALTED),
    ),
}


def _can_steer(request: HttpRequest) -> bool:
    return any(request.user.has_perm(p) for p in execution_services.STEER_PERMS)


@desk_page("execution.view_executionplan")
@require_GET
def execution_list(request: HttpRequest) -> HttpResponse:
    """Every plan (``?status=``), newest first, with a progress bar each; the page's script keeps them live."""
    form = PlanStatusFilterForm(request.GET or None)
    status = form.cleaned_data["status"] if form.is_bound and form.is_valid() else ""
    plans = list(execution_selectors.plans_list(status=status or None)[:PLAN_ROWS])
    context = base_context(request) | {
        "form": form if form.is_bound else PlanStatusFilterForm(),
        "rows": [(plan, queries.plan_progress_pct(plan)) for plan in plans],
    }
    return render(request, "desk/execution_list.html", context, status=400 if form.is_bound and form.errors else 200)


def _plan_or_404(plan_id: int) -> ExecutionPlan:
    try:
        return execution_selectors.plan_detail(plan_id=plan_id)
    except ExecutionPlan.DoesNotExist:
        raise Http404(f"no execution plan {plan_id}") from None


def _detail_context(request: HttpRequest, plan: ExecutionPlan, form: PlanActionForm | None = None) -> dict[str, Any]:
    children = list(plan.child_orders.all())
    can_steer = _can_steer(request)
    return base_context(request) | {
        "plan": plan,
        "pct": queries.plan_progress_pct(plan),
        "children": children,
        "fills": sorted(
            (f for c in children for f in c.fills.all()), key=lambda f: (f.executed_at, f.pk), reverse=True
        ),
        "chart": queries.plan_chart(plan),
        "market_now": queries.plan_market_now(plan),
        "alerts": queries.risk_alerts(plan_id=plan.pk),
        "actions": [name for name, (_, _, states) in ACTIONS.items() if can_steer and plan.status in states],
        "action_form": form or PlanActionForm(),
        "can_steer": can_steer,
    }


@desk_page("execution.view_executionplan")
@require_GET
def execution_detail(request: HttpRequest, plan_id: int) -> HttpResponse:
    plan = _plan_or_404(plan_id)
    return render(request, "desk/execution_detail.html", _detail_context(request, plan))


@desk_page("execution.view_executionplan")
@require_POST
def execution_action(request: HttpRequest, plan_id: int, action: str) -> HttpResponse:
    """Pause, resume or cancel: the form carries the version the user saw, so a plan that moved is refused."""
    if action not in ACTIONS:
        raise Http404(f"no plan action {action!r}")
    if not _can_steer(request):
        raise PermissionDenied(f"your role may not steer plans (needs {' or '.join(execution_services.STEER_PERMS)})")
    service, done, _ = ACTIONS[action]
    form = PlanActionForm(request.POST)
    if form.is_valid():
        try:
            # The service checks the role (ExecutionPermissionDenied is a PermissionDenied: a 403).
            service(plan_id=plan_id, actor=request.user, **form.cleaned_data)
        except ExecutionPlan.DoesNotExist:
            raise Http404(f"no execution plan {plan_id}") from None
        except execution_services.ExecutionRefused as error:
            form.add_error(None, error.messages)
        else:
            messages.success(request, f"Plan {plan_id} {done}.")
            return redirect("desk:execution-detail", plan_id=plan_id)
    plan = _plan_or_404(plan_id)
    return render(request, "desk/execution_detail.html", _detail_context(request, plan, form), status=400)
