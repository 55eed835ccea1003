"""What the desk API says of each quote on the board: its state, whether it may be accepted and whether it is the
best. Expired or withdrawn quotes are never best and never acceptable; once the RFQ is accepted, the other quotes
are not taken."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client

from desk.clock import clock_use
from rfq.models import RFQStatus
from rfq.services import quote_accept, quote_withdraw
from tests import factories
from tests.rfq.quoting import btc_mark, quote_give

pytestmark = pytest.mark.django_db


@pytest.fixture
def market(db) -> float:  # noqa: ANN001
    return btc_mark()


@pytest.fixture
def dealers(db) -> list:  # noqa: ANN001
    return [factories.dealer_create(code=f"D{i}") for i in range(1, 4)]


def _board(trader, reference: str) -> dict[str, dict]:  # noqa: ANN001
    client = Client()
    client.force_login(trader)
    response = client.get(f"/api/v1/rfqs/{reference}/")
    assert response.status_code == 200, response.content
    return {q["dealer"]: q for q in response.json()["quotes"]}


@pytest.fixture
def two_quotes(trader, instrument, market, dealers):  # noqa: ANN001, ANN201
    """An RFQ with a cheap quote from D1 (valid 20 s) and a dearer one from D2 (valid 60 s)."""
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=dealers[:2])
    cheap = quote_give(rfq, dealers[0], offer=market * 1.0005, bid=market * 0.999, valid_s=20)
    dear = quote_give(rfq, dealers[1], offer=market * 1.001, bid=market * 0.999, valid_s=60)
    return rfq, cheap, dear


def test_the_cheapest_live_quote_is_best_and_every_live_firm_quote_acceptable(trader, two_quotes) -> None:  # noqa: ANN001
    rfq, _, _ = two_quotes

    board = _board(trader, rfq.reference)

    assert (board["D1"]["state"], board["D1"]["acceptable"], board["D1"]["best"]) == ("live", True, True)
    assert (board["D2"]["state"], board["D2"]["acceptable"], board["D2"]["best"]) == ("live", True, False)


def test_an_expired_quote_is_neither_best_nor_acceptable(trader, two_quotes) -> None:  # noqa: ANN001
    # given the cheap quote's time is up (its stored status still says live)
    rfq, cheap, _ = two_quotes

    # when the board asks after it expired
    with clock_use(lambda: cheap.valid_until + timedelta(seconds=1)):
        board = _board(trader, rfq.reference)

    # then it shows expired, cannot be accepted, and the other quote is the best
    assert (board["D1"]["state"], board["D1"]["acceptable"], board["D1"]["best"]) == ("expired", False, False)
    assert (board["D2"]["state"], board["D2"]["acceptable"], board["D2"]["best"]) == ("live", True, True)


def test_a_withdrawn_quote_is_neither_best_nor_acceptable(trader, two_quotes, dealers) -> None:  # noqa: ANN001
    rfq, cheap, _ = two_quotes

    quote_withdraw(dealer=dealers[0], quote_id=cheap.quote_id)
    board = _board(trader, rfq.reference)

    assert (board["D1"]["state"], board["D1"]["acceptable"], board["D1"]["best"]) == ("cancelled", False, False)
    assert board["D2"]["best"] is True


def test_after_the_rfq_is_accepted_the_other_quotes_are_not_taken(trader, two_quotes) -> None:  # noqa: ANN001
    rfq, cheap, _ = two_quotes

    quote_accept(quote=cheap, actor=trader, quantity=Decimal(5))
    rfq.refresh_from_db()
    board = _board(trader, rfq.reference)

    assert rfq.status == RFQStatus.ACCEPTED
    assert (board["D1"]["state"], board["D1"]["acceptable"], board["D1"]["best"]) == ("accepted", False, False)
    assert (board["D2"]["state"], board["D2"]["acceptable"], board["D2"]["best"]) == ("not_taken", False, False)
