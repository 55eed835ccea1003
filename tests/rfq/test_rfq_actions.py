"""The trader's hands on an open RFQ over the API: cancel it (refused once it is no longer open, with its status),
and ask more dealers now (the best-scored not asked yet; refused when nobody is left)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from desk.market import venue_books_ensure
from desk.models import AuditEvent
from rfq.models import Quote, QuoteRequest, QuoteStatus, RFQStatus
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def market(db) -> None:  # noqa: ANN001
    venue_books_ensure(underlying="BTC", now=datetime.now(UTC))


def test_a_trader_cancels_an_open_rfq_and_its_quote_can_no_longer_be_taken(
    client_for, trader, instrument, dealer, market
) -> None:  # noqa: ANN001
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])
    quote = factories.quote_create(rfq=rfq, dealer=dealer)
    client = client_for(trader)

    response = client.post(f"/api/v1/rfqs/{rfq.reference}/cancel/", {"reason": "client pulled"}, "application/json")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == RFQStatus.CANCELLED
    assert response.json()["reason"] == "cancelled: client pulled"
    assert Quote.objects.get(pk=quote.pk).status == QuoteStatus.CANCELLED
    assert AuditEvent.objects.filter(action="rfq.cancel", object_id=str(rfq.pk)).exists()
    refused = client.post(f"/api/v1/quotes/{quote.pk}/accept/", {}, "application/json")
    assert refused.status_code == 400


def test_cancelling_an_rfq_that_is_no_longer_open_is_refused_with_its_status(
    client_for, trader, instrument, dealer, market
) -> None:  # noqa: ANN001
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])
    rfq.status = RFQStatus.EXPIRED
    rfq.save(update_fields=["status"])
    audited = AuditEvent.objects.count()

    response = client_for(trader).post(f"/api/v1/rfqs/{rfq.reference}/cancel/", {}, "application/json")

    assert response.status_code == 400
    assert f"RFQ {rfq.reference} is expired: it cannot be cancelled" in str(response.json())
    assert AuditEvent.objects.count() == audited


def test_asking_more_dealers_asks_those_not_asked_yet_then_refuses_when_none_is_left(
    client_for, trader, instrument, market
) -> None:  # noqa: ANN001
    dealers = [factories.dealer_create(code=code) for code in ("ALPHA", "BRAVO", "CHARLIE", "DELTA")]
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=dealers[:2])
    client = client_for(trader)

    response = client.post(f"/api/v1/rfqs/{rfq.reference}/ask-more/", {}, "application/json")

    assert response.status_code == 200, response.content
    assert response.json()["dealers"] == ["CHARLIE", "DELTA"]
    asked = set(QuoteRequest.objects.filter(rfq=rfq).values_list("dealer__code", flat=True))
    assert asked == {"ALPHA", "BRAVO", "CHARLIE", "DELTA"}
    assert AuditEvent.objects.filter(action="rfq.widen", object_id=str(rfq.pk)).exists()

    again = client.post(f"/api/v1/rfqs/{rfq.reference}/ask-more/", {}, "application/json")
    assert again.status_code == 400
    assert "every active dealer that can quote this RFQ has been asked" in str(again.json())
    assert QuoteRequest.objects.filter(rfq=rfq).count() == 4


def test_a_dealer_can_neither_cancel_nor_widen_a_desk_rfq(client_for, trader, instrument, dealer, market) -> None:  # noqa: ANN001
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])
    client = client_for(dealer.user)
    assert client.post(f"/api/v1/rfqs/{rfq.reference}/cancel/", {}, "application/json").status_code == 403
    assert client.post(f"/api/v1/rfqs/{rfq.reference}/ask-more/", {}, "application/json").status_code == 403
    rfq.refresh_from_db()
    assert rfq.status == RFQStatus.SENT
