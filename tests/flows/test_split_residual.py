"""Flow split -> plan: the rest of a split RFQ becomes a TWAP plan for the RFQ's trader, started after commit."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from desk.models import AuditEvent
from execution.models import Algorithm, ExecutionPlan, PlanStatus
from execution.venue import venue_books_ensure
from rfq.engine.auto import rfq_act
from rfq.models import DealerOrder
from tests import factories

pytestmark = pytest.mark.django_db


def test_a_split_takes_the_dealers_part_and_gives_the_rest_to_a_plan(  # noqa: ANN001
    trader, instrument, dealer, django_capture_on_commit_callbacks
) -> None:
    # given an RFQ for 5 with a quote, and a recommendation to take 2 from the dealer and work 3 on the venues
    venue_books_ensure(underlying="BTC", now=datetime.now(UTC))
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer], quantity="5")
    quote = factories.quote_create(rfq=rfq, dealer=dealer, offer="101")
    output = {"action": "split", "fills": [(dealer.code, 2.0, quote.pk)], "algo_quantity": 3.0}

    # when the trader carries it out
    with django_capture_on_commit_callbacks(execute=True):
        done = rfq_act(rfq=rfq, output=output, actor=trader)

    # then the dealer order takes 2, and a started TWAP plan for the trader works the 3 left on the RFQ's leg
    assert DealerOrder.objects.get(cl_ord_id__in=done["dealer_orders"]).quantity == Decimal(2)
    plan = ExecutionPlan.objects.get(pk=done["plan"])
    leg = rfq.legs.get()
    assert (plan.rfq_leg, plan.instrument, plan.side, plan.quantity) == (leg, instrument, "buy", Decimal(3))
    assert (plan.algorithm, plan.created_by, plan.status) == (Algorithm.TWAP, trader, PlanStatus.RUNNING)
    assert AuditEvent.objects.get(action="rfq.split_residual").after["plan"] == plan.pk
