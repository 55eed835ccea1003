"""Flow plan -> RFQ: a plan's residual switches to an RFQ sent to trusted dealers; the plan ends switched."""

from __future__ import annotations

from decimal import Decimal

import pytest

from execution import services
from execution.errors import ExecutionRefused
from execution.models import PlanStatus
from rfq.models import RFQ, QuoteRequest, RFQStatus

pytestmark = pytest.mark.django_db


def _running(trader, instrument):  # noqa: ANN001, ANN202
    plan = services.plan_create(
        instrument=instrument,
        side="sell",
        quantity=Decimal(1),
        algorithm="twap",
        parameters={"horizon_s": 60, "slices": 2, "seed": 1},
        actor=trader,
    )
    return services.plan_start(plan_id=plan.pk, actor=trader)


def test_a_fallback_creates_and_sends_the_rfq_for_the_residual(trader, instrument, dealer) -> None:  # noqa: ANN001
    # given a running plan selling 1, nothing filled yet
    plan = _running(trader, instrument)

    # when the trader switches it to an RFQ
    plan = services.plan_fallback_to_rfq(plan_id=plan.pk, actor=trader, reason="too thin")

    # then an RFQ for the residual is sent to the trusted dealer, linked to the switched plan
    rfq = RFQ.objects.get(pk=plan.fallback_rfq_id)
    assert plan.status == PlanStatus.SWITCHED
    assert (rfq.status, rfq.created_by) == (RFQStatus.SENT, trader)
    leg = rfq.legs.get()
    assert (leg.instrument, leg.side, leg.quantity) == (instrument, "sell", Decimal(1))
    assert list(QuoteRequest.objects.filter(rfq=rfq).values_list("dealer__code", flat=True)) == ["ALPHA"]


def test_without_a_trusted_dealer_nothing_is_switched(trader, instrument) -> None:  # noqa: ANN001
    plan = _running(trader, instrument)

    with pytest.raises(ExecutionRefused):
        services.plan_fallback_to_rfq(plan_id=plan.pk, actor=trader)

    plan.refresh_from_db()
    assert plan.status == PlanStatus.RUNNING
    assert not RFQ.objects.exists()
