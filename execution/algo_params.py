"""Versioned algorithm parameters, promoted like models: ``draft -> validated -> live -> retired``.

New plans of an algorithm run its live version (its parameters under the plan's own, recorded on the plan). A
person with ``execution.promote_algoparams`` validates (a dry run of the kernel on a reference parent), promotes
(the live version retires) and rolls back (the live version retires and the last one that was live before it goes
live again). Every step is audited. A system component (``system:...``) may act too.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max

from desk import clock
from desk.audit import Actor, audit_record, json_normalize
from desk.events import broadcast
from desk.models import Instrument
from execution.errors import ExecutionPermissionDenied, ExecutionRefused
from execution.models import AlgoParamStatus, AlgoParamVersion, Algorithm
from execution.schedule import plan_schedule

PROMOTE_PERM = "execution.promote_algoparams"
CREATE_PERMS = ("execution.add_algoparamversion", PROMOTE_PERM)
# Keys a version may not set: they belong to one plan, not to an algorithm.
PLAN_OWN_KEYS = frozenset({"book", "purpose", "seed", "underlying"})
ALGO_PARAMS_EVENT = "execution.algo_params"


def _require(actor: Actor, *perms: str) -> None:
    if isinstance(actor, str) and actor.startswith("system:"):
        return
    if not isinstance(actor, AbstractBaseUser) or not actor.is_active or not any(actor.has_perm(p) for p in perms):
        raise ExecutionPermissionDenied(f"{actor} may not change algorithm parameters (needs {' or '.join(perms)})")


def _public(version: AlgoParamVersion) -> dict[str, Any]:
    return {
        "id": version.pk,
        "algorithm": version.algorithm,
        "number": version.number,
        "status": version.status,
        "params": version.params,
    }


def algo_params_live(*, algorithm: str) -> AlgoParamVersion | None:
    """The algorithm's live parameter version, or None (plans use the built-in defaults)."""
    return AlgoParamVersion.objects.filter(algorithm=algorithm, status=AlgoParamStatus.LIVE).first()


def algo_params_stable(*, algorithm: str, exclude_id: int | None) -> AlgoParamVersion | None:
    """The last stable version of the algorithm other than ``exclude_id``: the live one, else the most recent that
    was ever live."""
    versions = AlgoParamVersion.objects.filter(
        algorithm=algorithm, live_from__isnull=False, status__in=(AlgoParamStatus.LIVE, AlgoParamStatus.RETIRED)
    )
    if exclude_id is not None:
        versions = versions.exclude(pk=exclude_id)
    live = versions.filter(status=AlgoParamStatus.LIVE).first()
    return live or versions.order_by("-live_from", "-number").first()


def algo_params_create(*, algorithm: str, params: dict[str, Any], actor: Actor, notes: str = "") -> AlgoParamVersion:
    """A draft version numbered after the algorithm's last."""
    _require(actor, *CREATE_PERMS)
    if not isinstance(actor, AbstractBaseUser):
        raise ExecutionRefused("a parameter version is created by a person")
    if algorithm not in Algorithm.values:
        raise ExecutionRefused({"algorithm": f"unknown algorithm {algorithm!r} (one of {', '.join(Algorithm.values)})"})
    if not isinstance(params, dict):
        raise ExecutionRefused({"params": "params must be an object"})
    own = sorted(PLAN_OWN_KEYS.intersection(params) | {k for k in params if str(k).startswith("_")})
    if own:
        raise ExecutionRefused({"params": f"{', '.join(own)} belong to a plan, not to an algorithm version"})
    with transaction.atomic():
        last = AlgoParamVersion.objects.select_for_update().filter(algorithm=algorithm).aggregate(n=Max("number"))
        version = AlgoParamVersion.objects.create(
            algorithm=algorithm,
            number=(last["n"] or 0) + 1,
            params=json_normalize(params),
            notes=notes,
            created_by=actor,
        )
        audit_record(actor=actor, action="algo_params.create", obj=version, after=_public(version))
    return version


def algo_params_dry_run(*, algorithm: str, params: dict[str, Any]) -> int:
    """Slice a reference parent (1 BTC in lots of 0.0001 over ``horizon_s`` or 600 s) with ``params``; returns the
    number of children. Raises :class:`ExecutionRefused` naming what the kernel refuses."""
    reference = Instrument(
        symbol="REF-BTC", base_currency="BTC", lot_size=Decimal("0.0001"), tick_size=Decimal("0.01"), multiplier=1
    )
    schedule = plan_schedule(
        instrument=reference,
        quantity=Decimal(1),
        algorithm=algorithm,
        parameters={"horizon_s": 600} | params | {"seed": 0, "_underlying": "BTC"},
        start=clock.now(),
    )
    return len(schedule.quantities)


def _locked(version_id: int) -> AlgoParamVersion:
    return AlgoParamVersion.objects.select_for_update().get(pk=version_id)


def algo_params_validate(*, version_id: int, actor: Actor) -> AlgoParamVersion:
    """A draft becomes validated once its parameters slice a reference parent (see :func:`algo_params_dry_run`)."""
    _require(actor, PROMOTE_PERM)
    with transaction.atomic():
        version = _locked(version_id)
        if version.status != AlgoParamStatus.DRAFT:
            raise ExecutionRefused(f"{version} is {version.status}, only a draft can be validated")
        children = algo_params_dry_run(algorithm=version.algorithm, params=version.params)
        version.status, version.validated_at = AlgoParamStatus.VALIDATED, clock.now()
        version.save(update_fields=["status", "validated_at"])
        audit_record(
            actor=actor,
            action="algo_params.validate",
            obj=version,
            before={"status": AlgoParamStatus.DRAFT},
            after=_public(version) | {"reference_children": children},
        )
    return version


def _go_live(version: AlgoParamVersion, *, actor: Actor, action: str, reason: str) -> AlgoParamVersion | None:
    now = clock.now()
    current = (
        AlgoParamVersion.objects.select_for_update()
        .filter(algorithm=version.algorithm, status=AlgoParamStatus.LIVE)
        .first()
    )
    if current is not None:
        current.status, current.retired_at = AlgoParamStatus.RETIRED, now
        current.save(update_fields=["status", "retired_at"])
    before = version.status
    version.status, version.live_from, version.retired_at = AlgoParamStatus.LIVE, now, None
    version.save(update_fields=["status", "live_from", "retired_at"])
    audit_record(
        actor=actor,
        action=action,
        obj=version,
        before={"status": before, "live": current.pk if current else None},
        after=_public(version) | {"retired": current.pk if current else None, "reason": reason},
    )
    payload = _public(version) | {"retired": current.pk if current else None}
    transaction.on_commit(lambda: broadcast(event=ALGO_PARAMS_EVENT, payload=payload))
    return current


def algo_params_promote(*, version_id: int, actor: Actor, reason: str = "") -> AlgoParamVersion:
    """Make a validated version live; the algorithm's live version, if any, retires."""
    _require(actor, PROMOTE_PERM)
    with transaction.atomic():
        version = _locked(version_id)
        if version.status != AlgoParamStatus.VALIDATED:
            raise ExecutionRefused(f"{version} is {version.status}, only a validated version can be promoted")
        _go_live(version, actor=actor, action="algo_params.promote", reason=reason)
    return version


def algo_params_rollback(*, algorithm: str, actor: Actor, reason: str) -> AlgoParamVersion:
    """Retire the algorithm's live version and make the last one that was live before it live again."""
    _require(actor, PROMOTE_PERM)
    if not reason:
        raise ExecutionRefused({"reason": "a rollback needs a reason"})
    with transaction.atomic():
        current = algo_params_live(algorithm=algorithm)
        if current is None:
            raise ExecutionRefused(f"{algorithm} has no live parameter version to roll back")
        previous = (
            AlgoParamVersion.objects.select_for_update()
            .filter(algorithm=algorithm, status=AlgoParamStatus.RETIRED, live_from__isnull=False)
            .exclude(pk=current.pk)
            .order_by("-live_from", "-number")
            .first()
        )
        if previous is None:
            raise ExecutionRefused(f"{algorithm} has no earlier live version to roll back to")
        _go_live(previous, actor=actor, action="algo_params.rollback", reason=reason)
    return previous
