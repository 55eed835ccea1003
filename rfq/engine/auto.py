"""Acting on a recommendation: by the trader (manual mode: the desk recommends, the trader presses accept or
split) or by the desk itself (automatic mode), within the limits a risk officer sets (:class:`AutoTradingLimit`).

In automatic mode every new quote triggers :func:`rfq_auto_decide`: the desk recommends; ``accept`` and ``split``
within the limits are carried out, ``wait`` is re-evaluated when the wait is over, and anything beyond the limits is
left to the trader (audited, broadcast). What the desk carries out is an ``auto_accept`` decision record: its inputs
are the recommendation, the limit and the RFQ's arrival mid and legs; its output the limits checked and the plan (the
quotes taken, in whole lots, and the rest to the algorithms), which :func:`auto_accept_compute`, its replayer,
recomputes; the dealer orders and plans it led to are named in its explanation.
A split's residual goes to the algorithms as an execution plan of the RFQ's trader (TWAP over ``algo_horizon_s``).
"""

from __future__ import annotations

import math
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import transaction

from desk import clock
from desk.audit import Actor, audit_record, json_normalize
from desk.decisions import decision_record, decision_replayer_register
from desk.events import broadcast
from desk.models import DecisionKind
from rfq import tasks
from rfq.engine import reask, recommend
from rfq.engine.lifecycle import rfq_orders_settle
from rfq.models import RFQ, AutoTradingLimit, Quote, RFQStatus, TradingMode
from rfq.ports import residual_to_algo
from rfq.services.common import QuoteRefused
from rfq.services.dealer_orders import quote_accept

AUTO_ACTOR = "system:auto-trader"
SPLIT_ACTOR = "system:rfq-engine"
ACTABLE = (RFQStatus.SENT, RFQStatus.QUOTED, RFQStatus.PARTIALLY_ACCEPTED)


def auto_trading_limit_set(
    *,
    actor: Actor,
    enabled: bool,
    max_notional: Decimal,
    max_cost_bps: float,
    max_dealers: int = 5,
    trader: AbstractBaseUser | None = None,
) -> AutoTradingLimit:
    """Set (create or change) the automatic-mode limit of ``trader``, or the desk's default. Risk officers only."""
    if not (isinstance(actor, AbstractBaseUser) and actor.has_perm("rfq.change_autotradinglimit")):
        raise PermissionDenied("only a risk officer sets the automatic-mode limits (rfq.change_autotradinglimit)")
    errors = {}
    if max_notional < 0:
        errors["max_notional"] = "must be zero or more"
    if math.isnan(max_cost_bps) or max_cost_bps < -1e4:
        errors["max_cost_bps"] = "must be a number of basis points"
    if max_dealers < 1:
        errors["max_dealers"] = "must be at least 1"
    if errors:
        raise QuoteRefused(errors)
    with transaction.atomic():
        limit = AutoTradingLimit.objects.select_for_update().filter(trader=trader).first()
        before = None if limit is None else _limit_state(limit)
        if limit is None:
            limit = AutoTradingLimit(trader=trader)
        limit.enabled, limit.max_notional, limit.max_cost_bps = enabled, max_notional, max_cost_bps
        limit.max_dealers, limit.updated_by = max_dealers, actor
        limit.save()
        audit_record(actor=actor, action="auto_limit.set", obj=limit, before=before, after=_limit_state(limit))
    return limit


def _limit_state(limit: AutoTradingLimit) -> dict[str, Any]:
    return {
        "trader": limit.trader.get_username() if limit.trader else None,
        "enabled": limit.enabled,
        "max_notional": limit.max_notional,
        "max_cost_bps": limit.max_cost_bps,
        "max_dealers": limit.max_dealers,
    }


def auto_limit_for(user: AbstractBaseUser) -> AutoTradingLimit | None:
    """The trader's own automatic-mode limit, else the desk's default, else None (automatic mode not allowed)."""
    return (
        AutoTradingLimit.objects.filter(trader=user).first()
        or AutoTradingLimit.objects.filter(trader__isnull=True).first()
    )


def _lots(quantity: float, lot: Decimal) -> Decimal:
    return (Decimal(repr(quantity)) / lot).quantize(Decimal(1), rounding=ROUND_DOWN) * lot


def _leg_terms(rfq: RFQ) -> list[dict[str, Any]]:
    legs = rfq.legs.select_related("instrument").order_by("leg_no")
    return [
        {"leg_no": leg.leg_no, "ratio": leg.ratio, "quantity": leg.quantity, "lot_size": leg.instrument.lot_size}
        for leg in legs
    ]


def act_plan(*, output: dict[str, Any], legs: list[dict[str, Any]]) -> dict[str, Any]:
    """What carrying out an ``accept`` or ``split`` recommendation takes (pure): ``takes`` as (dealer, quote id,
    contracts) per quote taken (a single leg's share of each fill in whole lots, skipping a share under one lot; a
    package's first quote whole, contracts None), and ``algo`` as (leg number, contracts) per leg of a split's rest,
    the package's ``algo_quantity`` × the leg's ratio in whole lots. ``legs`` are the RFQ's legs in order, each with
    ``leg_no``, ``ratio`` and ``lot_size``."""
    if output["action"] not in ("accept", "split"):
        raise QuoteRefused(f"nothing to do on a {output['action']!r} recommendation")
    single = len(legs) == 1
    takes: list[list[Any]] = []
    for dealer, quantity, quote_id in output["fills"]:
        if not single:
            takes.append([dealer, quote_id, None])
            break
        lots = _lots(quantity, Decimal(str(legs[0]["lot_size"])))
        if lots > 0:
            takes.append([dealer, quote_id, lots])
    algo: list[list[Any]] = []
    if output["action"] == "split" and output["algo_quantity"] > 0:
        for leg in legs:
            lots = _lots(output["algo_quantity"] * leg["ratio"], Decimal(str(leg["lot_size"])))
            if lots > 0:
                algo.append([leg["leg_no"], lots])
    return json_normalize(
        {"action": output["action"], "takes": takes, "algo": algo, "algo_quantity": output["algo_quantity"]}
    )


def rfq_act(*, rfq: RFQ, output: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """Carry out an ``accept`` or ``split`` recommendation: take each quote for its share (whole lots; a package
    quote whole), and send a split's residual to the algorithms: a single leg's rest as one plan, a package's rest
    as one plan per leg, each leg in the package's ratio (``algo_quantity`` packages × the leg's ratio), worked
    over the same horizon in the same slices so that the legs stay in ratio as they fill (:func:`act_plan`). Returns
    the dealer orders, the plans (``plan``: the first) and the reason the RFQ ends with (a split's), also stored on
    it."""
    return plan_carry_out(rfq=rfq, plan=act_plan(output=output, legs=_leg_terms(rfq)), actor=actor)


def plan_carry_out(*, rfq: RFQ, plan: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """Take the quotes and hand the rest to the algorithms as :func:`act_plan`'s ``plan`` says, in one transaction."""
    orders, plans = [], []
    with transaction.atomic():
        # A second press on the same advice (a board not yet reloaded) must not work the rest twice.
        status = RFQ.objects.select_for_update().values_list("status", flat=True).get(pk=rfq.pk)
        if status not in ACTABLE:
            raise QuoteRefused(f"RFQ {rfq.reference} is {status}: nothing more to carry out")
        for _dealer, quote_id, contracts in plan["takes"]:
            quote = Quote.objects.get(pk=quote_id, rfq=rfq)
            quantity = None if contracts is None else Decimal(str(contracts))
            orders.append(quote_accept(quote=quote, actor=actor, quantity=quantity).cl_ord_id)
        legs = {leg.leg_no: leg for leg in rfq.legs.select_related("instrument")}
        for leg_no, contracts in plan["algo"]:
            plan_id = _residual_plan(rfq=rfq, leg=legs[leg_no], quantity=Decimal(str(contracts)), actor=actor)
            if plan_id is not None:
                plans.append(plan_id)
        reason = ""
        if plans:
            reason = _split_close(rfq=rfq, orders=len(orders), plans=plans, quantity=plan["algo_quantity"])
    return {"dealer_orders": orders, "plan": plans[0] if plans else None, "plans": plans, "reason": reason}


def _split_close(*, rfq: RFQ, orders: int, plans: list[int], quantity: float) -> str:
    """The reason a split RFQ ends with, stored on it for the board and the blotter. An RFQ whose whole size went
    to the algorithms takes no quote any more: it is closed now, its quotes not taken."""
    unit = "package(s)" if len(plans) > 1 else "contract(s)"
    where = ", ".join(f"plan {plan}" for plan in plans)
    reason = f"split: {orders} dealer order(s), {quantity:g} {unit} to the algorithms ({where})"
    locked = RFQ.objects.select_for_update().get(pk=rfq.pk)
    locked.close_reason = reason[:255]
    fields = ["close_reason", "version"]
    before = locked.status
    if not orders and locked.status in (RFQStatus.SENT, RFQStatus.QUOTED):
        # Its live quotes stay as they are: the board shows them "not taken".
        locked.status = RFQStatus.ACCEPTED
        fields.append("status")
    locked.version += 1
    locked.save(update_fields=fields)
    audit_record(
        actor=SPLIT_ACTOR,
        action="rfq.split_close",
        obj=locked,
        before={"status": before},
        after={"status": locked.status, "reason": locked.close_reason},
    )
    # Its desk orders are worked by the plans now (and by the dealer orders taken, if any).
    rfq_orders_settle(rfq=locked, actor=SPLIT_ACTOR)
    return reason


def _residual_plan(*, rfq: RFQ, leg: Any, quantity: Decimal, actor: Actor) -> int | None:
    """The rest of a split on one leg (contracts, whole lots), handed to the algorithms
    (:func:`rfq.ports.residual_to_algo`, the ``flows.split_residual`` flow) for the RFQ's trader."""
    plan_id = residual_to_algo(rfq=rfq, leg=leg, quantity=quantity, trader=rfq.created_by)
    if plan_id is None:
        return None
    audit_record(
        actor=actor,
        action="rfq.split_residual",
        obj=rfq,
        after={"plan": plan_id, "leg": leg.leg_no, "quantity": quantity},
    )
    return plan_id


def _breaches(limit: dict[str, Any] | None, *, notional: float, cost_bps: float) -> list[str]:
    """The automatic-mode limits a recommendation would break (empty: within them)."""
    if limit is None:
        return ["no automatic-mode limit is set for this trader or the desk"]
    breaches = []
    if not limit["enabled"]:
        breaches.append("automatic mode is disabled by risk")
    max_notional = float(limit["max_notional"])
    if notional > max_notional:
        breaches.append(f"notional {notional:,.0f} above the limit {max_notional:,.0f}")
    if cost_bps > float(limit["max_cost_bps"]):
        breaches.append(f"expected cost {cost_bps:.2f} bps above the limit {float(limit['max_cost_bps']):g} bps")
    return breaches


def auto_accept_inputs(*, rfq: RFQ, output: dict[str, Any], limit: AutoTradingLimit | None) -> dict[str, Any]:
    """Everything :func:`auto_accept_compute` reads, JSON-ready (stored with the ``auto_accept`` decision record): the
    recommendation acted on, the limit it is checked against, the RFQ's arrival mid and legs."""
    return json_normalize(
        {
            "recommendation": {
                "decision_id": output["decision_id"],
                "action": output["action"],
                "fills": output["fills"],
                "algo_quantity": output["algo_quantity"],
                "cost_bps": output["costs"]["total"],
            },
            "limit": _limit_state(limit) if limit is not None else None,
            "arrival_mid": rfq.arrival_mid,
            "legs": _leg_terms(rfq),
        }
    )


def auto_accept_compute(inputs: dict[str, Any]) -> dict[str, Any]:
    """The automatic-mode decision from stored inputs (the ``auto_accept`` replayer): the limits the recommendation
    breaks and, within them, what to take and what to hand to the algorithms (:func:`act_plan`)."""
    legs = inputs["legs"]
    recommendation = inputs["recommendation"]
    # The notional of the first leg's package units at the arrival mid, as the risk officer's limit is set.
    units = float(legs[0]["quantity"]) / legs[0]["ratio"] if legs else 0.0
    notional = float(inputs["arrival_mid"] or 0) * units
    breaches = _breaches(inputs["limit"], notional=notional, cost_bps=float(recommendation["cost_bps"]))
    plan = None if breaches else act_plan(output=recommendation, legs=legs)
    return json_normalize({"act": not breaches, "breaches": breaches, "notional": notional, "plan": plan})


decision_replayer_register(DecisionKind.AUTO_ACCEPT, auto_accept_compute)


def _done(done: dict[str, Any]) -> str:
    orders = ", ".join(done["dealer_orders"]) or "none"
    rest = f"; plan {', '.join(str(p) for p in done['plans'])} for the rest" if done["plans"] else ""
    return f"dealer orders {orders}{rest}"


def rfq_auto_decide(*, rfq_id: int) -> dict[str, Any]:
    """Automatic mode: recommend and, within the limits, act. Returns what happened (``acted``, ``waiting``,
    ``left to the trader`` or ``nothing to do``)."""
    rfq = RFQ.objects.select_related("created_by").get(pk=rfq_id)
    if rfq.mode != TradingMode.AUTO or rfq.status not in (RFQStatus.SENT, RFQStatus.QUOTED):
        return {"outcome": "nothing to do", "status": rfq.status}
    if rfq.expires_at is not None and rfq.expires_at <= clock.now():
        return {"outcome": "nothing to do", "status": "expired"}
    asked = reask.rfq_reask(rfq_id=rfq.pk, actor=AUTO_ACTOR)
    if asked["action"] != "none":
        # The dealers asked again answer with quotes, each of which decides again; this is the fallback.
        countdown = float(getattr(settings, "RFQ_REASK_SILENT_S", reask.REASK_SILENT_S))
        tasks.rfq_auto_decide_task.apply_async((rfq.pk,), countdown=countdown)
        return {"outcome": "asked again", **asked}
    output = recommend.rfq_recommendation(rfq=rfq, actor=AUTO_ACTOR)
    if output["action"] == "wait":
        # A reused advice's horizon is nearer than its wait: decide again when it passes.
        left = output.get("wait_left_s")
        tasks.rfq_auto_decide_task.apply_async(
            (rfq.pk,), countdown=max(left if left is not None else output["wait_s"], 0.5)
        )
        return {"outcome": "waiting", "wait_s": output["wait_s"], "decision": output["decision_id"]}
    inputs = auto_accept_inputs(rfq=rfq, output=output, limit=auto_limit_for(rfq.created_by))
    decision = auto_accept_compute(inputs)
    breaches = decision["breaches"]
    if breaches:
        with transaction.atomic():
            audit_record(actor=AUTO_ACTOR, action="rfq.auto_declined", obj=rfq, after={"breaches": breaches})
        broadcast(event="rfq.needs_trader", payload={"rfq": rfq.reference, "breaches": breaches})
        return {"outcome": "left to the trader", "breaches": breaches, "decision": output["decision_id"]}
    actor = f"{AUTO_ACTOR} for user:{rfq.created_by.get_username()}"
    with transaction.atomic():
        done = plan_carry_out(rfq=rfq, plan=decision["plan"], actor=actor)
        decision_record(
            kind=DecisionKind.AUTO_ACCEPT,
            actor=actor,
            obj=rfq,
            inputs=inputs,
            output=decision,
            explanation=f"{output['explanation']}; within the automatic-mode limits; {_done(done)}",
            model_versions={"recommendation_decision": output["decision_id"]},
        )
    return {"outcome": "acted", **done, "decision": output["decision_id"]}
