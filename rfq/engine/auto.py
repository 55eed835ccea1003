"""Acting on a recommendation: by the trader (manual mode: the desk recommends, the trader presses accept or
split) or by the desk itself (automatic mode), within the limits a risk officer sets (:class:`AutoTradingLimit`).

In automatic mode every new quote triggers :func:`rfq_auto_decide`: the desk recommends; ``accept`` and ``split``
within the limits are carried out (an ``auto_accept`` decision record names the limits it checked), ``wait`` is
re-evaluated when the wait is over, and anything beyond the limits is left to the trader (audited, broadcast).
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
from desk.audit import Actor, audit_record
from desk.decisions import decision_record
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


def rfq_act(*, rfq: RFQ, output: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """Carry out an ``accept`` or ``split`` recommendation: take each quote for its share (whole lots; a package
    quote whole), and send a split's residual to the algorithms: a single leg's rest as one plan, a package's rest
    as one plan per leg, each leg in the package's ratio (``algo_quantity`` packages × the leg's ratio), worked
    over the same horizon in the same slices so that the legs stay in ratio as they fill. Returns the dealer
    orders, the plans (``plan``: the first) and the reason the RFQ ends with (a split's), also stored on it."""
    if output["action"] not in ("accept", "split"):
        raise QuoteRefused(f"nothing to do on a {output['action']!r} recommendation")
    legs = list(rfq.legs.select_related("instrument").order_by("leg_no"))
    single = len(legs) == 1
    orders, plans = [], []
    with transaction.atomic():
        # A second press on the same advice (a board not yet reloaded) must not work the rest twice.
        status = RFQ.objects.select_for_update().values_list("status", flat=True).get(pk=rfq.pk)
        if status not in ACTABLE:
            raise QuoteRefused(f"RFQ {rfq.reference} is {status}: nothing more to carry out")
        for _dealer, quantity, quote_id in output["fills"]:
            quote = Quote.objects.get(pk=quote_id, rfq=rfq)
            if single:
                lots = _lots(quantity, legs[0].instrument.lot_size)
                if lots <= 0:
                    continue
                orders.append(quote_accept(quote=quote, actor=actor, quantity=lots).cl_ord_id)
            else:
                orders.append(quote_accept(quote=quote, actor=actor).cl_ord_id)
                break
        if output["action"] == "split" and output["algo_quantity"] > 0:
            for leg in legs:
                plan_id = _residual_plan(rfq=rfq, leg=leg, quantity=output["algo_quantity"] * leg.ratio, actor=actor)
                if plan_id is not None:
                    plans.append(plan_id)
        reason = ""
        if plans:
            reason = _split_close(rfq=rfq, orders=len(orders), plans=plans, quantity=output["algo_quantity"])
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


def _residual_plan(*, rfq: RFQ, leg: Any, quantity: float, actor: Actor) -> int | None:
    """The rest of a split on one leg, in whole lots, handed to the algorithms (:func:`rfq.ports.residual_to_algo`,
    the ``flows.split_residual`` flow) for the RFQ's trader."""
    lots = _lots(quantity, leg.instrument.lot_size)
    if lots <= 0:
        return None
    plan_id = residual_to_algo(rfq=rfq, leg=leg, quantity=lots, trader=rfq.created_by)
    if plan_id is None:
        return None
    audit_record(
        actor=actor, action="rfq.split_residual", obj=rfq, after={"plan": plan_id, "leg": leg.leg_no, "quantity": lots}
    )
    return plan_id


def _within(limit: AutoTradingLimit | None, rfq: RFQ, output: dict[str, Any]) -> list[str]:
    """The automatic-mode limits the recommendation would break (empty: within them)."""
    if limit is None:
        return ["no automatic-mode limit is set for this trader or the desk"]
    breaches = []
    if not limit.enabled:
        breaches.append("automatic mode is disabled by risk")
    notional = float(rfq.arrival_mid or 0) * sum(float(leg.quantity) / leg.ratio for leg in rfq.legs.all()[:1])
    if notional > float(limit.max_notional):
        breaches.append(f"notional {notional:,.0f} above the limit {float(limit.max_notional):,.0f}")
    if output["costs"]["total"] > limit.max_cost_bps:
        breaches.append(f"expected cost {output['costs']['total']:.2f} bps above the limit {limit.max_cost_bps:g} bps")
    return breaches


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
    limit = auto_limit_for(rfq.created_by)
    breaches = _within(limit, rfq, output)
    if breaches:
        with transaction.atomic():
            audit_record(actor=AUTO_ACTOR, action="rfq.auto_declined", obj=rfq, after={"breaches": breaches})
        broadcast(event="rfq.needs_trader", payload={"rfq": rfq.reference, "breaches": breaches})
        return {"outcome": "left to the trader", "breaches": breaches, "decision": output["decision_id"]}
    actor = f"{AUTO_ACTOR} for user:{rfq.created_by.get_username()}"
    with transaction.atomic():
        done = rfq_act(rfq=rfq, output=output, actor=actor)
        decision_record(
            kind=DecisionKind.AUTO_ACCEPT,
            actor=actor,
            obj=rfq,
            inputs={"recommendation": output["decision_id"], "limit": _limit_state(limit) if limit else None},
            output=done,
            explanation=f"{output['explanation']}; within the automatic-mode limits",
            model_versions={"recommendation_decision": output["decision_id"]},
        )
    return {"outcome": "acted", **done, "decision": output["decision_id"]}
