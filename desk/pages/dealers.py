"""Dealer scorecards and dealer-scoring model governance. Promote and roll back go through ``rfq.scoring.services``,
which refuse anyone without ``rfq.promote_scoring_model`` (the risk officer); the page refuses them first."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from desk.forms import ScorecardContextForm
from desk.pages import queries
from desk.pages.common import base_context, desk_page
from rfq.models import ScoringModelStatus, ScoringModelVersion
from rfq.scoring import services as scoring_services
from rfq.scoring.selectors import scoring_model_live

PROMOTE = scoring_services.PROMOTE_PERMISSION


@desk_page("rfq.view_counterparty")
@require_GET
def dealers_page(request: HttpRequest) -> HttpResponse:
    """Per dealer: the live model's score and its largest contributions, observed rates, markout curve."""
    form = ScorecardContextForm(request.GET or None)
    valid = form.is_valid() if form.is_bound else True
    data = queries.dealer_scorecards(context=form.scoring_context())
    chart = {
        "horizons": data["horizons"],
        "dealers": [{"dealer": c["dealer"], "bps": c["markouts"]} for c in data["cards"] if c["markouts"]],
    }
    context = base_context(request) | data | {"form": form, "chart": chart}
    return render(request, "desk/dealers.html", context, status=200 if valid else 400)


def _challenger(live: ScoringModelVersion | None, wanted: str | None) -> ScoringModelVersion | None:
    versions = ScoringModelVersion.objects.exclude(pk=getattr(live, "pk", None))
    if wanted:
        return versions.filter(version=wanted).first() if wanted.isdigit() else None
    return versions.filter(status=ScoringModelStatus.VALIDATED).order_by("-version").first()


def _models_context(request: HttpRequest, error: str = "") -> dict[str, Any]:
    live = scoring_model_live()
    challenger = _challenger(live, request.GET.get("challenger"))
    versions = list(ScoringModelVersion.objects.select_related("created_by", "promoted_by").order_by("-version"))
    can_promote = request.user.has_perm(PROMOTE)
    rollback_to = next(
        (v for v in versions if v.status == ScoringModelStatus.RETIRED and v.promoted_at is not None), None
    )
    return base_context(request) | {
        "live": live,
        "challenger": challenger,
        "comparison": queries.model_comparison(live, challenger) if live and challenger else None,
        "versions": [(v, queries.model_metrics(v)) for v in versions],
        "can_promote": can_promote,
        "rollback_to": rollback_to,
        "error": error,
    }


@desk_page()
@require_GET
def models_page(request: HttpRequest) -> HttpResponse:
    """Versions with their status and hold-out metrics; the challenger (``?challenger=<version>``, else the newest
    validated one) against the live one."""
    return render(request, "desk/models.html", _models_context(request))


def _governance(request: HttpRequest, action: Any) -> HttpResponse:
    try:
        version = action()
    except ScoringModelVersion.DoesNotExist:
        raise Http404("no such model version") from None
    except scoring_services.ScoringModelRefused as error:
        return render(request, "desk/models.html", _models_context(request, " ".join(error.messages)), status=400)
    messages.success(request, f"Scoring model version {version.version} is live.")
    return redirect("desk:models")


@desk_page(PROMOTE)
@require_POST
def model_promote(request: HttpRequest, version: int) -> HttpResponse:
    def promote() -> ScoringModelVersion:
        target = ScoringModelVersion.objects.get(version=version)
        return scoring_services.scoring_model_promote(version=target, actor=request.user)

    return _governance(request, promote)


@desk_page(PROMOTE)
@require_POST
def model_rollback(request: HttpRequest) -> HttpResponse:
    """Back to the last retired live version, or to ``to`` (a version number) when given."""
    wanted = request.POST.get("to", "").strip()

    def rollback() -> ScoringModelVersion:
        target = None
        if wanted:
            if not wanted.isdigit():
                raise scoring_services.ScoringModelRefused(f"to: {wanted!r} is not a version number")
            target = ScoringModelVersion.objects.get(version=int(wanted))
        return scoring_services.scoring_model_rollback(actor=request.user, to=target)

    return _governance(request, rollback)
