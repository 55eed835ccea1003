"""The recommendation on the database: waits priced with the dealers' measured response times, bounded by the best
live quote's expiry less the accept latency, reused only until their horizon; and what an accept takes."""

from __future__ import annotations

import math
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from desk.clock import clock_use
from desk.models import DecisionRecord
from rfq.engine.recommend import (
    DEFAULT_RESPONSE_SIGMA,
    dealer_response_stats,
    recommendation_inputs,
    rfq_recommendation,
)
from rfq.engine.timing import ACCEPT_LATENCY_S
from rfq.models import Quote, QuoteRequest
from rfq.services import quote_accept
from tests import factories
from tests.rfq.quoting import btc_mark, quote_give

pytestmark = pytest.mark.django_db


@pytest.fixture
def market(db) -> float:  # noqa: ANN001
    return btc_mark()


@pytest.fixture
def dealers(db) -> list:  # noqa: ANN001
    return [factories.dealer_create(code=f"D{i}") for i in range(1, 4)]


def _at(moment: datetime):  # noqa: ANN202
    return clock_use(lambda: moment)


def test_response_times_are_measured_as_a_median_and_a_log_sd(trader, instrument, market, dealers) -> None:  # noqa: ANN001
    # given a dealer that answered six RFQs after these many seconds, and one that never answered
    seconds = [1.0, 1.5, 2.0, 2.0, 3.0, 4.0]
    for n, wait in enumerate(seconds):
        rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=dealers[:1])
        quote = quote_give(rfq, dealers[0], offer=market * (1.001 + n * 1e-5), bid=market * 0.999)
        sent = quote.received_at - timedelta(seconds=wait)
        QuoteRequest.objects.filter(pk=quote.quote_request_id).update(sent_at=sent)

    # when the desk measures them
    stats = dealer_response_stats([dealers[0].code, dealers[1].code])

    # then the first has the median and the log-sd of its answers, the silent one the defaults
    median, sigma = stats[dealers[0].code]
    assert median == pytest.approx(2.0, abs=0.01)
    assert sigma == pytest.approx(statistics.stdev([math.log(s) for s in seconds]), abs=0.01)
    assert stats[dealers[1].code] == (2.0, DEFAULT_RESPONSE_SIGMA)


def test_the_pending_dealer_is_priced_with_its_silence_so_far(trader, instrument, market, dealers) -> None:  # noqa: ANN001
    # given an RFQ to two dealers, one of which quoted
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=dealers[:2])
    quote_give(rfq, dealers[0], offer=market * 1.0005, bid=market * 0.999)
    sent = QuoteRequest.objects.get(rfq=rfq, dealer=dealers[1]).sent_at

    # when the inputs are gathered 4 s after the request went out
    inputs = recommendation_inputs(rfq=rfq, now=sent + timedelta(seconds=4))

    # then the silent dealer keeps its measured median and carries the 4 s waited (no median-minus-elapsed)
    (pending,) = inputs["pending"]
    assert pending["response_s"] == pytest.approx(2.0)
    assert pending["elapsed_s"] == pytest.approx(4.0)
    assert inputs["terms"]["accept_latency_s"] == ACCEPT_LATENCY_S


def test_a_wait_is_reused_until_its_horizon_then_the_advice_moves_on(trader, instrument, market, dealers) -> None:  # noqa: ANN001
    # given one quote 5 bps over the mark and a dealer still to answer
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=dealers[:2])
    quote_give(rfq, dealers[0], offer=market * 1.0005, bid=market * 0.999)
    start = datetime.now(UTC)

    # when the board asks now, part-way through the wait, and after its horizon
    with _at(start):
        first = rfq_recommendation(rfq=rfq, actor=trader)
    assert first["action"] == "wait"
    with _at(start + timedelta(seconds=first["wait_s"] / 2)):
        during = rfq_recommendation(rfq=rfq, actor=trader)
    with _at(start + timedelta(seconds=first["wait_s"] + 0.01)):
        after = rfq_recommendation(rfq=rfq, actor=trader)
    with _at(start + timedelta(seconds=first["wait_s"] + 6)):
        later = rfq_recommendation(rfq=rfq, actor=trader)

    # then the wait is the stored one with the time left to its horizon, and once the horizon passed the desk
    # decides afresh; with the dealer silent long enough it stops waiting and takes the quote
    assert during["decision_id"] == first["decision_id"]
    assert during["wait_left_s"] == pytest.approx(first["wait_s"] / 2, abs=1e-3)
    assert during["horizon_at"] == first["horizon_at"]
    assert after["decision_id"] != first["decision_id"]
    assert later["action"] == "accept"
    assert later["horizon_at"] is None


@pytest.mark.parametrize("valid_s", [2, 3, 5, 8])
def test_no_wait_outlives_the_best_quote_less_the_accept_latency(trader, instrument, market, dealers, valid_s) -> None:  # noqa: ANN001
    # given the only quote (5 bps over the mark) lives valid_s seconds and a dealer is still to answer
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=dealers[:2])
    quote = quote_give(rfq, dealers[0], offer=market * 1.0005, bid=market * 0.999, valid_s=valid_s)

    # when the desk recommends
    output = rfq_recommendation(rfq=rfq, actor=trader)

    # then a wait ends an accept's time before the quote expires
    record = DecisionRecord.objects.get(pk=output["decision_id"])
    as_of = datetime.fromisoformat(record.inputs["as_of"])
    if output["action"] == "wait":
        horizon = as_of + timedelta(seconds=output["wait_s"])
        assert horizon + timedelta(seconds=ACCEPT_LATENCY_S) <= quote.valid_until
    else:
        assert output["fills"][0][2] == quote.pk


def test_an_accept_takes_a_small_part_of_the_default_latency(trader, instrument, market, dealers) -> None:  # noqa: ANN001
    # given five RFQs with a quote each
    quotes: list[Quote] = []
    for n in range(5):
        rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=dealers[:1], quantity="1")
        quotes.append(quote_give(rfq, dealers[0], offer=market * (1.0005 + n * 1e-5), bid=market * 0.999))

    # when the desk accepts each (checks, dealer order, audit, in one transaction)
    took = []
    for quote in quotes:
        started = time.perf_counter()
        quote_accept(quote=quote, actor=trader, quantity=Decimal(1))
        took.append(time.perf_counter() - started)

    # then the median accept leaves most of ACCEPT_LATENCY_S to the trader's click and the way to the dealer
    print(f"accept latency on the desk: median {statistics.median(took) * 1000:.1f} ms, max {max(took) * 1000:.1f} ms")
    assert statistics.median(took) < ACCEPT_LATENCY_S / 4
