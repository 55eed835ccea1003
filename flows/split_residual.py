"""Flow: the rest of a split RFQ goes to the execution algorithms.

Trigger: :func:`rfq.engine.auto.rfq_act` carries out a ``split`` recommendation (single leg or package): it takes the
dealers' part and hands the rest (``algo_quantity``) over through its port :func:`rfq.ports.residual_to_algo`,
registered in :mod:`flows.subscriptions`, inside the acting transaction (the caller shows the plan's id).

Reaction: :func:`residual_plan` creates a TWAP plan for the rest (whole lots, rounded down by rfq) for the RFQ's
trader on the leg's instrument and side (linked to the leg), over ``RFQ_SPLIT_ALGO_HORIZON_S`` seconds (600 by
default) in 2 to 20 slices, and starts it once the transaction commits. rfq then audits ``rfq.split_residual``.
A package's rest is one plan per leg (the legs in the package's ratios, the same horizon and slices).

Also answers rfq's port :func:`rfq.ports.algo_workable` (:func:`residual_workable`): the decision recommends a
split only when every leg can be worked (the venues trade no options: a straddle is never split).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import transaction

from desk.audit import Actor
from desk.models import Instrument
from execution.services import instrument_algo_workable, plan_create, plan_start
from rfq.models import RFQ, RFQLeg


def residual_plan(*, rfq: RFQ, leg: RFQLeg, quantity: Decimal, trader: Actor) -> int | None:
    """The id of the started plan working ``quantity`` (whole lots) of ``leg``."""
    horizon = int(getattr(settings, "RFQ_SPLIT_ALGO_HORIZON_S", 600))
    plan = plan_create(
        instrument=leg.instrument,
        side=leg.side,
        quantity=quantity,
        algorithm="twap",
        parameters={"horizon_s": horizon, "slices": max(2, min(20, horizon // 30))},
        actor=trader,
        rfq_leg=leg,
    )
    transaction.on_commit(lambda: plan_start(plan_id=plan.pk, actor=trader))
    return plan.pk


def residual_workable(*, instrument: Instrument) -> bool:
    """Whether a split's rest on ``instrument`` can go to the algorithms (execution's rule)."""
    return instrument_algo_workable(instrument=instrument)
