"""The desk-wide status bar on every page: the halts and reduce-only states in force (those covering this user
first), the market feeds' health, and the worker's last heartbeat. Rendered with each page (a context processor)
and again, as a fragment, whenever the page's websocket says something changed (``/desk/status/``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from desk.pages.common import desk_page
from desk.tasks import HEARTBEAT_KEY
from risk.models import KillSwitch, ScopeState
from risk.selectors import market_health_board

USER_WIDE = ("firm", "desk")
"""Scopes whose halt stops everything a trader does."""


def status_bar(user: Any) -> dict[str, Any]:
    """What the bar shows for ``user`` (see the module)."""
    rows = KillSwitch.objects.exclude(state=ScopeState.ACTIVE).order_by("scope", "scope_key")
    username = user.get_username()
    states = []
    for switch in rows:
        mine = switch.scope in USER_WIDE or (switch.scope == "trader" and switch.scope_key == username)
        states.append(
            {
                "scope": switch.scope,
                "scope_key": switch.scope_key,
                "state": switch.state,
                "reason": switch.reason,
                "changed_by": switch.changed_by,
                "mine": mine,
            }
        )
    states.sort(key=lambda s: (not s["mine"], s["state"] != ScopeState.HALTED))
    heartbeat = cache.get(HEARTBEAT_KEY)
    return {
        "states": states,
        "halted_for_me": any(s["mine"] and s["state"] == ScopeState.HALTED for s in states),
        # The monitor's stored verdicts: the same in every process, whichever one runs the monitor.
        "feeds": [
            {"underlying": row.underlying, "state": row.health.state, "checks": row.health.checks}
            for row in market_health_board()
            if row.health is not None
        ],
        "heartbeat": datetime.fromisoformat(heartbeat) if heartbeat else None,
    }


def status_bar_context(request: HttpRequest) -> dict[str, Any]:
    """The context processor: the bar for a signed-in desk user (dealers and the login page get none)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_perm("rfq.view_blotter"):
        return {}
    return {"status_bar": status_bar(user)}


@desk_page()
@require_GET
def status_bar_fragment(request: HttpRequest) -> HttpResponse:
    return render(request, "desk/_status_bar.html", {"status_bar": status_bar(request.user)})
