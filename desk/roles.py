"""Roles are groups with permissions. This module is the single place that says which role may do what."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db import transaction


class Role:
    TRADER = "trader"
    RISK_OFFICER = "risk_officer"
    COMPLIANCE = "compliance"
    DEALER = "dealer"
    ADMIN = "admin"

    ALL = (TRADER, RISK_OFFICER, COMPLIANCE, DEALER, ADMIN)


_READ_DESK = [
    "rfq.view_blotter",
    "desk.view_instrument",
    "desk.view_account",
    "rfq.view_counterparty",
    "rfq.view_deskorder",
    "rfq.view_rfq",
    "rfq.view_rfqleg",
    "rfq.view_quoterequest",
    "rfq.view_quote",
    "rfq.view_quoteleg",
    "execution.view_executionplan",
    "execution.view_childorder",
    "execution.view_fill",
    "execution.view_position",
    "risk.view_limit",
    "risk.view_killswitch",
    "desk.view_decisionrecord",
    "rfq.view_autotradinglimit",
    "rfq.view_scoringmodelversion",
    "risk.view_alert",
    "execution.view_algoparamversion",
    "execution.view_fillexception",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.TRADER: [
        *_READ_DESK,
        "rfq.add_deskorder",
        "rfq.change_deskorder",
        "rfq.add_rfq",
        "rfq.change_rfq",
        "execution.add_executionplan",
        "execution.change_executionplan",
        "risk.change_alert",
    ],
    Role.RISK_OFFICER: [
        *_READ_DESK,
        "desk.view_auditevent",
        "risk.add_limit",
        "risk.change_limit",
        "risk.engage_killswitch",
        "risk.rearm_killswitch",
        "rfq.change_counterparty",
        "rfq.promote_scoring_model",
        "rfq.add_autotradinglimit",
        "rfq.change_autotradinglimit",
        "risk.change_alert",
        "execution.add_algoparamversion",
        "execution.promote_algoparams",
        "execution.change_fillexception",
    ],
    Role.COMPLIANCE: [*_READ_DESK, "desk.view_auditevent", "desk.export_audit"],
    Role.DEALER: ["rfq.respond_rfq"],
}


def _permission(dotted: str) -> Permission:
    app_label, codename = dotted.split(".", 1)
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


@transaction.atomic
def roles_sync() -> None:
    """Create the role groups and set exactly their permissions (the admin role has every permission)."""
    for role in Role.ALL:
        group, _ = Group.objects.get_or_create(name=role)
        if role == Role.ADMIN:
            group.permissions.set(Permission.objects.all())
        else:
            group.permissions.set([_permission(name) for name in ROLE_PERMISSIONS[role]])


def roles_sync_after_migrate(sender: Any, **kwargs: Any) -> None:
    # post_migrate fires once per app; sync once the last of ours has its permissions.
    if getattr(sender, "name", None) == "tca":
        roles_sync()


def user_roles(user: Any) -> list[str]:
    if not user.is_authenticated:
        return []
    return sorted(group.name for group in user.groups.all() if group.name in Role.ALL)
