"""Who may act on plans: a system component always, a person with the permission."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from desk.audit import Actor, actor_label
from execution.errors import ExecutionPermissionDenied


def require(actor: Actor, *perms: str) -> None:
    """A system component (``system:...``) may act; a person needs one of ``perms``."""
    if isinstance(actor, str) and actor.startswith("system:"):
        return
    if not isinstance(actor, AbstractBaseUser) or not actor.is_active or not any(actor.has_perm(p) for p in perms):
        raise ExecutionPermissionDenied(f"{actor_label(actor)} may not do this (needs {' or '.join(perms)})")


# Who may steer a running plan: its traders, and risk officers (the same people who may stop everything).
STEER_PERMS = ("execution.change_executionplan", "risk.engage_killswitch")
