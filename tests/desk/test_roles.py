"""Roles are groups with exactly the permissions desk/roles.py grants them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from desk.roles import ROLE_PERMISSIONS, Role

pytestmark = pytest.mark.django_db


def _perms(role: str) -> set[str]:
    group = Group.objects.get(name=role)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def test_every_role_group_exists_after_migrate() -> None:
    assert set(Group.objects.values_list("name", flat=True)) >= set(Role.ALL)


@pytest.mark.parametrize("role", [Role.TRADER, Role.RISK_OFFICER, Role.COMPLIANCE, Role.DEALER])
def test_role_has_exactly_its_permissions(role: str) -> None:
    assert _perms(role) == set(ROLE_PERMISSIONS[role])


def test_separation_of_duties() -> None:
    trader, risk, compliance, dealer = (
        _perms(r) for r in (Role.TRADER, Role.RISK_OFFICER, Role.COMPLIANCE, Role.DEALER)
    )

    assert "risk.engage_killswitch" in risk
    assert "risk.engage_killswitch" not in trader
    assert "risk.change_limit" not in trader
    assert "desk.export_audit" in compliance
    assert not any(p.split(".")[1].startswith(("add_", "change_", "delete_")) for p in compliance)
    assert dealer == {"rfq.respond_rfq"}


def test_admin_role_has_every_permission() -> None:
    from django.contrib.auth.models import Permission

    assert Group.objects.get(name=Role.ADMIN).permissions.count() == Permission.objects.count()
