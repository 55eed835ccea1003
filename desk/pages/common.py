"""What every desk page shares: the role gate and the base context."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest

from desk.roles import user_roles


def desk_page(*perms: str) -> Callable:
    """Login, then ``rfq.view_blotter`` (no dealer passes) and ``perms``: 403 otherwise, whatever the page shows."""

    def decorate(view: Callable) -> Callable:
        checked = permission_required(("rfq.view_blotter", *perms), raise_exception=True)(view)
        return login_required(checked)

    return decorate


def base_context(request: HttpRequest) -> dict[str, Any]:
    return {"roles": user_roles(request.user)}
