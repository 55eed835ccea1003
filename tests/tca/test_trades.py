"""One trade confirmed: an RFQ's fill per leg against the arrival mid stored when it was sent, and against the
desk's estimate; the one-trade TCA page and its link from the board."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from desk.market import venue_books_ensure
from rfq.engine.market import underlying_state
from rfq.models import RFQ
from tca.trades import rfq_confirmation
from tests import factories
from tests.tca.factories import dealer_fill_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def market(instrument) -> float:  # noqa: ANN001
    venue_books_ensure(underlying="BTC", now=datetime.now(UTC))
    return underlying_state("BTC").spot


def test_a_filled_rfq_is_confirmed_leg_by_leg_against_its_arrival_mid(trader, dealer, instrument, market) -> None:  # noqa: ANN001
    offer = round(market * 1.001, 2)
    fill = dealer_fill_create(
        trader=trader, instrument=instrument, dealer=dealer, bid=str(round(market * 0.999, 2)), offer=str(offer)
    )
    rfq = RFQ.objects.get(quotes__pk=fill.quote_id)
    assert rfq.arrival_mid is not None

    confirmation = rfq_confirmation(rfq=rfq)

    (leg,) = confirmation["legs"]
    arrival = float(rfq.arrival_mid)
    assert leg["filled"] == 5
    assert leg["average_price"] == pytest.approx(offer)
    assert leg["notional"] == pytest.approx(5 * offer)
    assert leg["slippage_bps"] == pytest.approx((offer - arrival) / arrival * 1e4)
    assert leg["from_dealers"] == 5
    assert confirmation["total"]["slippage_bps"] == pytest.approx(leg["slippage_bps"])
    assert confirmation["filled"]


def test_an_rfq_with_no_fill_confirms_nothing(trader, dealer, instrument, market) -> None:  # noqa: ANN001
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])
    confirmation = rfq_confirmation(rfq=rfq)
    assert not confirmation["filled"]
    assert confirmation["legs"][0]["average_price"] is None
    assert confirmation["total"]["slippage_bps"] is None


def test_the_trade_s_tca_page_shows_its_confirmation_and_its_cost_by_leg(
    client_for, trader, dealer, instrument, market
) -> None:  # noqa: ANN001
    fill = dealer_fill_create(trader=trader, instrument=instrument, dealer=dealer, offer=str(round(market * 1.001, 2)))
    rfq = RFQ.objects.get(quotes__pk=fill.quote_id)
    client = client_for(trader)

    page = client.get(f"/desk/tca/rfq/{rfq.reference}/")
    board = client.get(f"/desk/rfq/{rfq.reference}/")
    api = client.get(f"/api/v1/tca/rfqs/{rfq.reference}/confirmation/")

    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="confirmation-legs"' in html
    assert f"{rfq.reference}/1" in html  # the report's row for leg 1
    assert f'href="/desk/tca/rfq/{rfq.reference}/"' in board.content.decode()
    assert api.json()["legs"][0]["filled"] == 5
    assert client.get("/desk/tca/rfq/RFQ-NONE/").status_code == 404
    assert client_for(dealer.user).get(f"/desk/tca/rfq/{rfq.reference}/").status_code == 403
