"""The TCA read query: the period's fills with their orders and prices, in a constant number of queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tca import sources
from tca.selectors import tca_fills_frame
from tests.tca import factories as tca_factories

pytestmark = pytest.mark.django_db

START = datetime.now(UTC) - timedelta(days=1)
END = datetime.now(UTC) + timedelta(days=1)


def _queries() -> int:
    with CaptureQueriesContext(connection) as captured:
        tca_fills_frame(start=START, end=END)
    return len(captured.captured_queries)


def test_query_count_does_not_grow_with_the_fills(trader, instrument, dealer, other_dealer) -> None:  # noqa: ANN001
    # given one dealer fill and one algorithm fill
    tca_factories.dealer_fill_create(trader=trader, instrument=instrument, dealer=dealer)
    plan = tca_factories.plan_create(trader=trader, instrument=instrument)
    tca_factories.algo_fill_create(plan=plan, seq=1, quantity="1", price="100.1")
    few = _queries()

    # when there are more of each, on more quotes and plans
    tca_factories.dealer_fill_create(trader=trader, instrument=instrument, dealer=other_dealer)
    other_plan = tca_factories.plan_create(trader=trader, instrument=instrument)
    tca_factories.algo_fill_create(plan=other_plan, seq=1, quantity="1", price="100.1")
    tca_factories.algo_fill_create(plan=other_plan, seq=2, quantity="1", price="100.2")

    # then the load takes as many queries as before
    assert _queries() == few


def test_a_partly_filled_quote_is_one_order_with_its_remainder(trader, instrument, dealer) -> None:  # noqa: ANN001
    # given a quote for 5 of which the dealer fills 2
    tca_factories.dealer_fill_create(trader=trader, instrument=instrument, dealer=dealer, fill_quantity="2")

    # when the period is loaded and adapted
    raw = tca_fills_frame(start=START, end=END)
    fills, orders = sources.fills_and_orders(raw)

    # then the order's target is the accepted 5, priced at the quote's mid 100 with half spread 1
    (order,) = orders.to_dict("records")
    assert (order["target_quantity"], order["decision_price"]) == (5.0, 100.0)
    assert fills["half_spread_at_fill"].tolist() == [1.0]
    assert fills["benchmark_source"].tolist() == [sources.QUOTE_MID]
