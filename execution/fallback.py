"""Fallbacks of a plan whose algorithm failed, and the switch of a plan's residual to an RFQ.

Algorithm failure (:func:`plan_algo_failed`)
--------------------------------------------
Called by the worker when slicing or working a plan raises, and by risk telemetry on a breach. What is left of
the plan (its pending children) is re-sliced by, in order:

1. the algorithm's last stable parameter version (:func:`execution.algo_params.algo_params_stable`) when the plan
   does not already run it and its kernel accepts the residual;
2. else the conservative protocol: TWAP over the time the plan had left, in small children (at least
   :data:`CONSERVATIVE_MIN_SLICES`, so no child is more than 5 % of the residual), no jitter;
3. a plan already on the conservative protocol that fails again is halted for a person.

Each fallback is audited (``execution_plan.fallback``) and stored as a ``fallback`` decision record whose replayer
recomputes the choice (:func:`fallback_choose`).

Switch to an RFQ (:func:`plan_fallback_to_rfq`)
-----------------------------------------------
A trader or a risk officer moves the residual to an RFQ: pending children are cancelled, an RFQ for the residual is
created and sent to trusted dealers through the RFQ desk's port (:func:`execution.ports.residual_rfq_open`, the
``flows.plan_fallback`` flow) (active counterparties that quote the instrument's kind; up to
:data:`RFQ_MAX_DEALERS`, or the ones named), linked to the plan, which ends ``switched``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from desk import clock
from desk.audit import Actor, audit_record
from desk.decisions import decision_record, decision_replayer_register
from desk.models import DecisionKind
from execution import replan, selectors
from execution.algo_params import algo_params_stable
from execution.errors import ExecutionRefused
from execution.models import AlgoParamVersion, Algorithm, ChildOrder, ChildOrderStatus, ExecutionPlan, PlanStatus
from execution.ports import residual_rfq_dealers, residual_rfq_open
from execution.schedule import Schedule, plan_schedule
from execution.services.common import OPEN_PLAN_STATES, plan_locked, progress, status_set, tick_queue
from execution.services.permissions import STEER_PERMS, require

logger = logging.getLogger(__name__)

CONSERVATIVE = "conservative"
CONSERVATIVE_MIN_SLICES = 20
CONSERVATIVE_MIN_HORIZON_S = 10.0
RFQ_MAX_DEALERS = 3
# Parameters of the plan itself, kept across a fallback.
PLAN_OWN_KEYS = ("book", "purpose", "underlying", "seed", "max_slippage_bps", "min_child", "max_child", "replan")
FALLBACK_EVENT_ALGO = "execution_plan.fallback"
FALLBACK_EVENT_RFQ = "execution_plan.fallback_rfq"


def fallback_choose(inputs: dict[str, Any]) -> dict[str, Any]:
    """The fallback of a failed plan from its current algorithm and the last stable version (pure; the replayer of
    ``fallback`` decisions). Returns ``{"action": "stable" | "conservative" | "halt", ...}``."""
    if inputs.get("mode") == "rfq":
        return rfq_dealers_choose(inputs)
    current, stable = inputs["current"], inputs.get("stable")
    if current.get("protocol") == CONSERVATIVE:
        return {"action": "halt", "reason": "the conservative protocol failed too: a person decides"}
    if stable is not None and stable["id"] != current.get("version") and not inputs.get("stable_refused"):
        return {
            "action": "stable",
            "algorithm": stable["algorithm"],
            "version": stable["id"],
            "params": stable["params"],
        }
    slices = max(CONSERVATIVE_MIN_SLICES, 2 * int(inputs["pending_children"]))
    return {
        "action": CONSERVATIVE,
        "algorithm": Algorithm.TWAP,
        "version": None,
        "params": {"slices": min(slices, int(inputs["residual_lots"])), "size_jitter": 0, "time_jitter": 0},
    }


def rfq_dealers_choose(inputs: dict[str, Any]) -> dict[str, Any]:
    """Trusted dealers for the residual: active, quoting the instrument's kind (an empty list quotes all), by code;
    the requested ones when named (each must be trusted)."""
    kind = inputs["instrument_kind"]
    trusted = sorted(
        c["code"]
        for c in inputs["candidates"]
        if c["status"] == "active" and (not c["classes"] or kind in c["classes"])
    )
    requested = inputs.get("requested")
    if requested:
        untrusted = sorted(set(requested) - set(trusted))
        if untrusted:
            return {"dealers": [], "refused": f"not trusted for {kind}: {', '.join(untrusted)}"}
        return {"dealers": sorted(set(requested))}
    if not trusted:
        return {"dealers": [], "refused": f"no active dealer quotes {kind}"}
    return {"dealers": trusted[:RFQ_MAX_DEALERS]}


decision_replayer_register(DecisionKind.FALLBACK, fallback_choose)


def _version_public(version: AlgoParamVersion | None) -> dict[str, Any] | None:
    if version is None:
        return None
    return {"id": version.pk, "algorithm": version.algorithm, "number": version.number, "params": version.params}


def _open_plan_locked(plan_id: int, version: int | None) -> ExecutionPlan:
    plan = plan_locked(plan_id, version)
    if plan.status not in OPEN_PLAN_STATES:
        raise ExecutionRefused(f"plan {plan_id} is {plan.status}: nothing to fall back from")
    return plan


def _schedule(
    plan: ExecutionPlan, residual: Decimal, algorithm: str, parameters: dict[str, Any], horizon_s: float, now: datetime
) -> Schedule:
    return plan_schedule(
        instrument=plan.instrument,
        quantity=residual,
        algorithm=algorithm,
        parameters=parameters | {"horizon_s": horizon_s, "_underlying": plan.instrument.base_currency},
        start=now,
    )


def plan_algo_failed(*, plan_id: int, reason: str, actor: Actor) -> ExecutionPlan:
    """Fall a plan whose algorithm failed back to its last stable parameters, or to the conservative protocol, or
    halt it when that failed too (see the module). ``reason`` says what failed (an exception, a telemetry breach).
    Refused when the plan is finished or has nothing left to send."""
    require(actor, *STEER_PERMS)
    if not reason:
        raise ExecutionRefused({"reason": "say what failed"})
    now = clock.now()
    with transaction.atomic():
        plan = _open_plan_locked(plan_id, None)
        pending = list(ChildOrder.objects.filter(plan=plan, status__in=selectors.PENDING_CHILD_STATES).order_by("seq"))
        residual = sum((c.quantity for c in pending), Decimal(0))
        if not pending:
            raise ExecutionRefused(f"plan {plan_id} has nothing left to send")
        # The time the plan had left; a plan whose children are overdue (paused, halted) keeps their spread.
        last, first = pending[-1].scheduled_at, pending[0].scheduled_at
        horizon_left = max((last - now).total_seconds(), (last - first).total_seconds(), CONSERVATIVE_MIN_HORIZON_S)
        stable = algo_params_stable(algorithm=plan.algorithm, exclude_id=plan.algo_params_id)
        inputs: dict[str, Any] = {
            "mode": "algo",
            "plan": plan.pk,
            "reason": reason,
            "current": {
                "algorithm": plan.algorithm,
                "version": plan.algo_params_id,
                "protocol": plan.protocol,
                "parameters": plan.parameters,
            },
            "stable": _version_public(stable),
            "residual": str(residual),
            "residual_lots": int(residual / plan.instrument.lot_size),
            "pending_children": len(pending),
            "horizon_left_s": round(horizon_left, 6),
        }
        choice = fallback_choose(inputs)
        kept = {k: v for k, v in plan.parameters.items() if k in PLAN_OWN_KEYS}
        schedule = None
        if choice["action"] == "stable":
            try:
                schedule = _schedule(plan, residual, choice["algorithm"], choice["params"] | kept, horizon_left, now)
            except ExecutionRefused as error:
                inputs["stable_refused"] = str(error)
                choice = fallback_choose(inputs)
        if choice["action"] == CONSERVATIVE:
            schedule = _schedule(plan, residual, Algorithm.TWAP, kept | choice["params"], horizon_left, now)
        before = {"algorithm": plan.algorithm, "algo_params": plan.algo_params_id, "protocol": plan.protocol}
        if schedule is not None:
            replan.children_replace(
                plan=plan,
                quantities=schedule.quantities,
                offsets_s=schedule.offsets_s,
                now=now,
                note=f"fallback {plan.fallbacks + 1}: {choice['action']}",
            )
            plan.algorithm = choice["algorithm"]
            plan.algo_params_id = choice["version"]
            plan.protocol = CONSERVATIVE if choice["action"] == CONSERVATIVE else ""
            plan.parameters = plan.parameters | choice["params"] | {"horizon_s": round(horizon_left, 6)}
            plan.fallbacks += 1
            plan.version += 1
            plan.baseline = replan.plan_baseline(plan=plan, now=now, row=replan.primary_book(plan))
            plan.save(
                update_fields=["algorithm", "algo_params", "protocol", "parameters", "fallbacks", "version", "baseline"]
            )
        output = choice | ({"children": [str(q) for q in schedule.quantities]} if schedule is not None else {})
        audit_record(
            actor=actor, action=FALLBACK_EVENT_ALGO, obj=plan, before=before, after=output | {"reason": reason}
        )
        decision_record(
            kind=DecisionKind.FALLBACK,
            actor=actor,
            inputs=inputs,
            output=choice,
            explanation=f"{reason} -> {choice['action']}",
            model_versions={"algo_params_from": before["algo_params"], "algo_params_to": choice.get("version")},
            obj=plan,
        )
        if choice["action"] == "halt":
            status_set(plan, PlanStatus.HALTED, actor=actor, action="execution_plan.halt", reason=choice["reason"])
        else:
            progress(plan, fallback=choice["action"], reason=reason)
            if plan.status == PlanStatus.RUNNING:
                tick_queue(plan)
    logger.warning("plan %s algorithm failed (%s): %s", plan_id, reason, choice["action"])
    return plan


def plan_fallback_to_rfq(
    *,
    plan_id: int,
    actor: Actor,
    reason: str = "",
    dealers: list[str] | None = None,
    version: int | None = None,
) -> ExecutionPlan:
    """Switch what is left of a plan to an RFQ to trusted dealers (see the module). The RFQ is created for the
    actor (a person), or for the plan's trader when a system component switches it."""
    require(actor, *STEER_PERMS)
    with transaction.atomic():
        plan = _open_plan_locked(plan_id, version)
        pending = list(
            ChildOrder.objects.select_for_update()
            .filter(plan=plan, status__in=selectors.PENDING_CHILD_STATES)
            .order_by("seq")
        )
        residual = sum((c.quantity for c in pending), Decimal(0))
        if residual <= 0:
            raise ExecutionRefused(f"plan {plan_id} has nothing left to send: no residual for an RFQ")
        inputs: dict[str, Any] = {
            "mode": "rfq",
            "plan": plan.pk,
            "reason": reason,
            "instrument": plan.instrument.symbol,
            "instrument_kind": plan.instrument.kind,
            "side": plan.side,
            "residual": str(residual),
            "pending": [[c.seq, str(c.quantity)] for c in pending],
            "candidates": residual_rfq_dealers(),
            "requested": sorted(dealers) if dealers else None,
        }
        choice = rfq_dealers_choose(inputs)
        if not choice["dealers"]:
            raise ExecutionRefused({"dealers": choice["refused"]})
        owner = actor if isinstance(actor, AbstractBaseUser) else plan.created_by
        rfq = residual_rfq_open(
            instrument=plan.instrument, side=plan.side, quantity=residual, dealers=choice["dealers"], owner=owner
        )
        for child in pending:
            child.status, child.reject_reason = ChildOrderStatus.CANCELLED, f"switched to {rfq.reference}"
            child.save(update_fields=["status", "reject_reason"])
        plan.fallback_rfq_id = rfq.pk
        plan.save(update_fields=["fallback_rfq"])
        output = choice | {"rfq": rfq.reference}
        audit_record(
            actor=actor,
            action=FALLBACK_EVENT_RFQ,
            obj=plan,
            before={"status": plan.status, "pending": inputs["pending"]},
            after=output | {"residual": residual, "reason": reason},
        )
        decision_record(
            kind=DecisionKind.FALLBACK,
            actor=actor,
            inputs=inputs,
            output=choice,
            explanation=reason or f"residual {residual} switched to an RFQ",
            obj=plan,
        )
        status_set(
            plan,
            PlanStatus.SWITCHED,
            actor=actor,
            action="execution_plan.switch",
            reason=f"{residual} to {rfq.reference} ({', '.join(choice['dealers'])})",
        )
    return plan
