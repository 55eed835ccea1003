"""Flow: a plan's residual switches from the algorithms to an RFQ to trusted dealers.

Trigger: :func:`execution.fallback.plan_fallback_to_rfq` (a trader or a risk officer on the plan page or the API, or
risk telemetry on a leakage breach). Execution owns the switch (it locks the plan, chooses the dealers, cancels the
pending children, links the RFQ, records the ``fallback`` decision and ends the plan ``switched``); it asks the RFQ
desk through its ports :func:`execution.ports.residual_rfq_dealers` and :func:`execution.ports.residual_rfq_open`,
which :mod:`flows.subscriptions` wires to this module.

Reaction, inside the switch's transaction (the RFQ and the switched plan commit together):

- :func:`residual_rfq_dealers`: every counterparty, by code, with its status and the instrument classes it quotes
  (the candidates of the decision);
- :func:`residual_rfq_open`: an RFQ for the residual (the plan's instrument and side) created for ``owner`` and sent
  to the chosen dealers through :mod:`rfq.services`; an RFQ rule's refusal becomes the plan's ``ExecutionRefused``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError

from desk.audit import Actor
from desk.models import Instrument
from execution.errors import ExecutionRefused
from execution.ports import OpenedRfq
from rfq.models import Counterparty
from rfq.services import LegInput, rfq_create, rfq_send


def residual_rfq_dealers() -> list[dict[str, Any]]:
    return [
        {"code": c.code, "status": c.status, "classes": list(c.instrument_classes or [])}
        for c in Counterparty.objects.order_by("code")
    ]


def residual_rfq_open(
    *, instrument: Instrument, side: str, quantity: Decimal, dealers: list[str], owner: Actor
) -> OpenedRfq:
    counterparties = {c.code: c for c in Counterparty.objects.filter(code__in=dealers)}
    try:
        rfq = rfq_create(legs=[LegInput(instrument=instrument, side=side, quantity=quantity)], actor=owner)
        rfq_send(rfq=rfq, dealers=[counterparties[code] for code in dealers], actor=owner)
    except ValidationError as error:
        raise ExecutionRefused({"rfq": " ".join(error.messages)}) from None
    return OpenedRfq(pk=rfq.pk, reference=rfq.reference)
