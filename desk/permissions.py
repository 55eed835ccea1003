"""Role checks for the API: each view names the permission its role grants (see ``desk/roles.py``)."""

from __future__ import annotations

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView


def require_perm(*perms: str) -> type[BasePermission]:
    """A DRF permission class that lets in authenticated users holding every one of ``perms``."""

    class HasPerms(BasePermission):
        message = f"your role does not allow this (needs {', '.join(perms)})"

        def has_permission(self, request: Request, view: APIView) -> bool:
            user = request.user
            return bool(user and user.is_authenticated and user.has_perms(perms))

    HasPerms.__name__ = "HasPerms_" + "_".join(p.replace(".", "_") for p in perms)
    return HasPerms
