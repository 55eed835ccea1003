"""Re-plans: when a running plan's fills lag or lead its schedule beyond a tolerance, or the market moved away from
what the schedule assumed (volatility, spread, volume), what is left of the parent is re-sliced.

The decision (:func:`replan_compute`) is pure: it reads a dictionary of inputs (the schedule since the last
(re)plan, the fills so far, the market then and now, the tolerances, the children still pending) and returns the
new children; :func:`plan_replan_check` gathers those inputs under the plan's lock, applies the decision and
stores it as a :class:`~desk.models.DecisionRecord` (``replan``), whose replayer is :func:`replan_compute` itself.

Re-slicing rule
---------------
The residual (the pending children's quantity) is re-sliced with :func:`execution.kernels.reslice` over the time
left until the last pending child, with weights ``exp(-θ k / n)``:

- higher volatility than assumed front-loads (θ > 0): timing risk grows with the time the residual stays open,
  the Almgren–Chriss trade-off;
- a wider spread or thinner volume back-loads (θ < 0) and cuts the residual into more, smaller children (up to
  4× as many), since each child then costs more impact;
- a lag or a lead alone keeps θ = 0: the residual, lag included, is spread evenly over the time left, which
  catches up (or slows down) without a burst.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import transaction

from desk import clock
from desk.audit import Actor, audit_record
from desk.decisions import decision_record, decision_replayer_register
from desk.market import StaleBook, venue_book_check_fresh
from desk.models import DecisionKind, DecisionRecord, VenueBook
from execution import kernels, selectors
from execution.models import ChildOrder, ChildOrderStatus, ExecutionPlan, PlanStatus
from execution.services.common import progress

# Defaults of the re-plan tolerances; a plan overrides them in its parameters (same names).
REPLAN_DEFAULTS: dict[str, float] = {
    "replan_fill_tolerance": 0.10,  # |filled - expected| as a fraction of the parent
    "replan_vol_ratio": 1.5,  # volatility now / assumed beyond this (or below its inverse)
    "replan_spread_ratio": 2.0,  # spread now / assumed above this
    "replan_volume_ratio": 0.5,  # volume now / assumed below this (or above its inverse)
}
MAX_SLICE_FACTOR = 4.0
MAX_REPLAN_SLICES = 2_000


def replan_tolerances(parameters: dict[str, Any]) -> dict[str, float]:
    """The plan's tolerances, defaults filled in; raises ValueError naming a bad one."""
    tolerances = {}
    for name, default in REPLAN_DEFAULTS.items():
        try:
            value = float(parameters.get(name, default))
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number") from None
        low, high = (0.0, 1.0) if name in ("replan_fill_tolerance", "replan_volume_ratio") else (1.0, 100.0)
        if not (math.isfinite(value) and low < value <= high):
            raise ValueError(f"{name} must be in ({low}, {high}], not {value}")
        tolerances[name] = value
    return tolerances


def market_snapshot(row: VenueBook) -> dict[str, str]:
    """What a schedule assumes of the market: volatility, half spread (bps), 5-minute volume (coins)."""
    return {
        "volatility": str(row.volatility),
        "half_spread_bps": str(row.half_spread_bps),
        "volume_5m": str(row.volume_5m),
    }


def _ratio(now: dict[str, Any], then: dict[str, Any], key: str) -> float | None:
    before, after = float(then.get(key, 0) or 0), float(now.get(key, 0) or 0)
    if before <= 0 or after <= 0:
        return None
    return after / before


def replan_compute(inputs: dict[str, Any]) -> dict[str, Any]:
    """Decide whether to re-plan and, if so, the new children (quantities in contracts, offsets in seconds from the
    decision). Pure: the replayer of ``replan`` decisions.

    ``inputs``: ``quantity``, ``filled``, ``baseline_filled``, ``lot``, ``min_child``, ``max_child`` (contracts,
    decimal strings); ``schedule`` ([seq, quantity, due] of the children since the last (re)plan, as planned);
    ``pending`` ([seq, quantity, in_s]); ``market_assumed`` and ``market_now`` (:func:`market_snapshot`, ``now``
    None when the book is stale); ``tolerances`` (:data:`REPLAN_DEFAULTS` keys).
    """
    quantity, filled = Decimal(inputs["quantity"]), Decimal(inputs["filled"])
    lot = Decimal(inputs["lot"])
    tol = inputs["tolerances"]
    expected = Decimal(inputs["baseline_filled"]) + sum(
        (Decimal(q) for _, q, due in inputs["schedule"] if due), Decimal(0)
    )
    deviation = float((filled - expected) / quantity)
    reasons: list[str] = []
    if deviation < -tol["replan_fill_tolerance"]:
        reasons.append(
            f"fills lag the schedule by {-deviation:.1%} of the parent (tolerance {tol['replan_fill_tolerance']:.1%})"
        )
    elif deviation > tol["replan_fill_tolerance"]:
        reasons.append(
            f"fills lead the schedule by {deviation:.1%} of the parent (tolerance {tol['replan_fill_tolerance']:.1%})"
        )
    ratios: dict[str, float | None] = {"volatility": None, "spread": None, "volume": None}
    now = inputs.get("market_now")
    then = inputs.get("market_assumed") or {}
    if now is not None:
        ratios = {
            "volatility": _ratio(now, then, "volatility"),
            "spread": _ratio(now, then, "half_spread_bps"),
            "volume": _ratio(now, then, "volume_5m"),
        }
    vol, spread, volume = ratios["volatility"], ratios["spread"], ratios["volume"]
    if vol is not None and not 1 / tol["replan_vol_ratio"] <= vol <= tol["replan_vol_ratio"]:
        reasons.append(f"volatility is {vol:.2f}x what the plan assumed (band {tol['replan_vol_ratio']}x)")
    if spread is not None and spread > tol["replan_spread_ratio"]:
        reasons.append(f"the spread is {spread:.2f}x what the plan assumed (limit {tol['replan_spread_ratio']}x)")
    if volume is not None and not tol["replan_volume_ratio"] <= volume <= 1 / tol["replan_volume_ratio"]:
        reasons.append(f"volume is {volume:.2f}x what the plan assumed (band {tol['replan_volume_ratio']}x)")
    pending = inputs["pending"]
    residual = sum((Decimal(q) for _, q, _ in pending), Decimal(0))
    lots = int(residual / lot)
    out: dict[str, Any] = {
        "replan": False,
        "reasons": reasons,
        "expected_filled": str(expected),
        "deviation": round(deviation, 6),
        "ratios": {k: (None if v is None else round(v, 6)) for k, v in ratios.items()},
    }
    if not reasons or not pending or lots < 1:
        return out
    log_vol = math.log(vol) if vol is not None else 0.0
    log_spread = max(math.log(spread), 0.0) if spread is not None else 0.0
    log_volume = min(math.log(volume), 0.0) if volume is not None else 0.0
    theta = max(-2.0, min(2.0, 2.0 * (max(-1.0, min(1.0, log_vol)) - min(log_spread, 1.0) + max(log_volume, -1.0))))
    factor = min(MAX_SLICE_FACTOR, max(1.0, spread or 1.0, 1.0 / volume if volume else 1.0))
    min_lots = int(Decimal(inputs["min_child"]) / lot)
    max_lots = int(Decimal(inputs["max_child"]) / lot)
    periods = min(max(1, math.ceil(len(pending) * factor)), lots, MAX_REPLAN_SLICES)
    if max_lots:
        periods = max(periods, math.ceil(lots / max_lots))
    weights = np.exp(-theta * np.arange(periods, dtype=np.float64) / periods)
    sizes = kernels.reslice(lots, np.zeros(0, dtype=np.int64), weights, 1, min_lots, max_lots)
    span = max(max(float(in_s) for _, _, in_s in pending), 0.0)
    children, offsets = [], []
    for k in range(periods):
        if sizes[k] > 0:
            children.append(str(int(sizes[k]) * lot))
            offsets.append(round(span * k / (periods - 1), 6) if periods > 1 else 0.0)
    return out | {"replan": True, "tilt": round(theta, 6), "children": children, "offsets_s": offsets}


decision_replayer_register(DecisionKind.REPLAN, replan_compute)


def plan_baseline(*, plan: ExecutionPlan, now: datetime, row: VenueBook | None) -> dict[str, Any]:
    """The schedule a plan now runs and the market it assumes (stored on the plan; call inside its transaction)."""
    pending = ChildOrder.objects.filter(plan=plan, status__in=selectors.PENDING_CHILD_STATES).order_by("seq")
    return {
        "at": now.isoformat(),
        # Sent and not filled yet counts as worked: over the venue port a fill comes a little after its send.
        "filled": str(plan.filled_quantity + selectors.child_orders_in_flight_quantity(plan_id=plan.pk)),
        "schedule": [[c.seq, str(c.quantity)] for c in pending],
        "market": market_snapshot(row) if row is not None else {},
    }


def children_replace(
    *, plan: ExecutionPlan, quantities: list[Decimal], offsets_s: list[float], now: datetime, note: str
) -> list[ChildOrder]:
    """Cancel the plan's pending children and schedule ``quantities`` at ``now + offsets_s`` in their place (new
    sequence numbers, so every client order id is still used once). Call inside the plan's transaction."""
    pending = list(ChildOrder.objects.select_for_update().filter(plan=plan, status__in=selectors.PENDING_CHILD_STATES))
    for child in pending:
        child.status, child.reject_reason = ChildOrderStatus.CANCELLED, note[:255]
        child.save(update_fields=["status", "reject_reason"])
    last = ChildOrder.objects.filter(plan=plan).order_by("-seq").values_list("seq", flat=True).first() or 0
    return ChildOrder.objects.bulk_create(
        ChildOrder(
            plan=plan,
            seq=seq,
            client_order_id=f"P{plan.pk}-{seq}",
            quantity=quantity,
            scheduled_at=now + timedelta(seconds=offset),
        )
        for seq, (quantity, offset) in enumerate(zip(quantities, offsets_s, strict=True), start=last + 1)
    )


def primary_book(plan: ExecutionPlan) -> VenueBook | None:
    rows = selectors.venue_books(underlying=plan.instrument.base_currency)
    return rows[0] if rows else None


def plan_replan_check(
    *, plan_id: int, now: datetime | None = None, actor: Actor = "system:execution"
) -> DecisionRecord | None:
    """Re-plan a running plan whose fills or market deviate beyond its tolerances (see the module): its pending
    children are replaced, the decision stored (``replan``) and audited, progress broadcast. None when nothing
    deviates, the plan is not running, or it has no baseline (started before re-plans existed) or is a fallback
    protocol's. Raises ValueError when the re-slice fails (the caller falls back)."""

    now = now or clock.now()
    with transaction.atomic():
        plan = ExecutionPlan.objects.select_for_update(of=("self",)).select_related("instrument").get(pk=plan_id)
        if plan.status != PlanStatus.RUNNING or not plan.baseline or plan.parameters.get("replan") is False:
            return None
        pending = list(ChildOrder.objects.filter(plan=plan, status__in=selectors.PENDING_CHILD_STATES).order_by("seq"))
        if not pending:
            return None
        baseline = plan.baseline
        planned = {int(seq): quantity for seq, quantity in baseline.get("schedule", [])}
        due = planned.keys() & set(
            ChildOrder.objects.filter(plan=plan, seq__gte=min(planned, default=0), scheduled_at__lte=now).values_list(
                "seq", flat=True
            )
        )
        row = primary_book(plan)
        # Sent and not filled yet counts as worked: over the venue port a fill comes a little after its send.
        in_flight = selectors.child_orders_in_flight_quantity(plan_id=plan.pk)
        market_now = None
        if row is not None:
            try:
                venue_book_check_fresh(row, now=now)
                market_now = market_snapshot(row)
            except StaleBook:
                market_now = None
        inputs = {
            "plan": plan.pk,
            "now": now.isoformat(),
            "quantity": str(plan.quantity),
            "filled": str(plan.filled_quantity + in_flight),
            "in_flight": str(in_flight),
            "baseline_filled": baseline.get("filled", "0"),
            "lot": str(plan.instrument.lot_size),
            "min_child": str(plan.parameters.get("min_child", 0)),
            "max_child": str(plan.parameters.get("max_child", 0)),
            "schedule": [[seq, quantity, seq in due] for seq, quantity in sorted(planned.items())],
            "pending": [
                [c.seq, str(c.quantity), round(max((c.scheduled_at - now).total_seconds(), 0.0), 6)] for c in pending
            ],
            "market_assumed": baseline.get("market", {}),
            "market_now": market_now,
            "tolerances": replan_tolerances(plan.parameters),
        }
        output = replan_compute(inputs)
        if not output["replan"]:
            return None
        quantities = [Decimal(q) for q in output["children"]]
        children_replace(
            plan=plan, quantities=quantities, offsets_s=output["offsets_s"], now=now, note=f"re-plan {plan.replans + 1}"
        )
        plan.replans += 1
        plan.version += 1
        plan.baseline = plan_baseline(plan=plan, now=now, row=row)
        plan.save(update_fields=["replans", "version", "baseline"])
        audit_record(
            actor=actor,
            action="execution_plan.replan",
            obj=plan,
            before={"pending": inputs["pending"]},
            after={"replans": plan.replans, "reasons": output["reasons"], "children": output["children"]},
        )
        record = decision_record(
            kind=DecisionKind.REPLAN,
            actor=actor,
            inputs=inputs,
            output=output,
            explanation="; ".join(output["reasons"]),
            model_versions={"algo_params": plan.algo_params_id, "algorithm": plan.algorithm},
            obj=plan,
        )
        progress(plan, replan=plan.replans, reasons=output["reasons"], children=len(quantities))
    return record
