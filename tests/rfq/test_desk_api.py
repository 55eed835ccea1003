"""The desk's RFQ API: a trader creates and sends an RFQ, watches its quotes and takes one; roles enforced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from desk.models import AuditEvent, InstrumentKind
from rfq.models import RFQ, DealerOrder, QuoteRequest
from rfq.services import LegInput, QuoteRefused, rfq_create
from tests import factories

pytestmark = pytest.mark.django_db


def _body(**overrides) -> dict:
    body = {
        "legs": [{"instrument": "BTC-USD", "side": "buy", "quantity": "2.5"}],
        "dealers": ["ALPHA", "BRAVO"],
        "expires_in_s": 30,
    }
    return body | overrides


def test_trader_creates_and_sends_an_rfq(client_for, trader, instrument, dealer, other_dealer) -> None:  # noqa: ANN001
    response = client_for(trader).post("/api/v1/rfqs/", _body(), content_type="application/json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "sent"
    assert sorted(body["dealers"]) == ["ALPHA", "BRAVO"]
    rfq = RFQ.objects.get(reference=body["reference"])
    assert QuoteRequest.objects.filter(rfq=rfq).count() == 2
    assert list(AuditEvent.objects.filter(object_id=str(rfq.pk)).values_list("action", flat=True)) == [
        "rfq.create",
        "rfq.send",
    ]


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"legs": [{"instrument": "NOPE", "side": "buy", "quantity": "1"}]}, "legs"),
        ({"legs": [{"instrument": "BTC-USD", "side": "hold", "quantity": "1"}]}, "legs"),
        ({"dealers": ["ZULU"]}, "dealers"),
        ({"expires_in_s": 1}, "expires_in_s"),
        ({"legs": []}, "legs"),
    ],
)
def test_bad_ticket_is_400_naming_the_field(client_for, trader, instrument, dealer, override, field) -> None:  # noqa: ANN001
    response = client_for(trader).post("/api/v1/rfqs/", _body(**override), content_type="application/json")

    assert response.status_code == 400
    assert field in response.json()
    assert not RFQ.objects.exists()


def test_quantity_off_the_lot_is_refused_with_the_reason(client_for, trader, instrument, dealer, other_dealer) -> None:  # noqa: ANN001
    body = _body(legs=[{"instrument": "BTC-USD", "side": "buy", "quantity": "0.00001"}])

    response = client_for(trader).post("/api/v1/rfqs/", body, content_type="application/json")

    assert response.status_code == 400
    assert "lot" in response.json()["detail"][0]
    assert not RFQ.objects.exists()


def test_compliance_reads_but_cannot_create(client_for, compliance, trader, instrument, dealer) -> None:  # noqa: ANN001
    factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])
    client = client_for(compliance)

    assert client.get("/api/v1/rfqs/").json()["count"] == 1
    assert client.post("/api/v1/rfqs/", _body(), content_type="application/json").status_code == 403


def test_trader_takes_a_quote(client_for, trader, instrument, dealer) -> None:  # noqa: ANN001
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])
    quote = factories.quote_create(rfq=rfq, dealer=dealer, offer="101.5")
    client = client_for(trader)

    detail = client.get(f"/api/v1/rfqs/{rfq.reference}/").json()
    taken = client.post(f"/api/v1/quotes/{quote.pk}/accept/")
    again = client.post(f"/api/v1/quotes/{quote.pk}/accept/")

    assert detail["quotes"][0]["legs"][0]["offer_price"].startswith("101.5")
    assert taken.status_code == 201
    assert taken.json()["price"].startswith("101.5")
    assert again.status_code == 400
    assert "accepted" in again.json()["detail"][0]
    assert DealerOrder.objects.count() == 1
    assert client.post("/api/v1/quotes/999999/accept/").status_code == 404


def test_dealer_cannot_use_desk_rfq_endpoints(client_for, dealer) -> None:  # noqa: ANN001
    client = client_for(dealer.user)

    assert client.get("/api/v1/rfqs/").status_code == 403
    assert client.post("/api/v1/rfqs/", _body(), content_type="application/json").status_code == 403


def test_the_billion_btc_rfq_is_refused_naming_the_limits_and_audited(  # noqa: ANN001
    client_for, trader, instrument, dealer, other_dealer
) -> None:
    # given no limit set, and the fuzzing's 1 000 000 000 BTC-USD RFQ to two dealers
    body = _body(legs=[{"instrument": "BTC-USD", "side": "buy", "quantity": "1000000000"}])

    # when the trader sends it
    response = client_for(trader).post("/api/v1/rfqs/", body, content_type="application/json")

    # then it is a 400 on the leg's quantity naming each limit, the order's figure and the threshold
    assert response.status_code == 400, response.content
    (leg,) = response.json()["legs"]
    notional, quantity = leg["quantity"]
    assert notional.startswith("max_order_notional: limit 50000000, order 1000000000 × 100000 = 100000000000000")
    assert quantity.startswith("max_order_quantity: limit 5000, order 1000000000 [default for BTC-USD: 0.25 ×")
    # nothing is stored or sent, and the refusal is audited
    assert not RFQ.objects.exists()
    assert not QuoteRequest.objects.exists()
    refused = AuditEvent.objects.filter(action="risk.refused")
    assert sorted(refused.values_list("after__limit", flat=True)) == ["max_order_notional", "max_order_quantity"]


def test_every_leg_of_a_package_is_guarded(client_for, trader, instrument, dealer, other_dealer) -> None:  # noqa: ANN001
    # given a BTC straddle whose put leg is 6 000 contracts (the day's-volume default is 5 000)
    expiry = datetime.now(UTC) + timedelta(days=30)
    for symbol, kind in (("BTC-100K-C", "call"), ("BTC-100K-P", "put")):
        factories.instrument_create(
            symbol=symbol,
            kind=InstrumentKind.OPTION,
            underlying=instrument,
            strike=Decimal(100_000),
            expiry=expiry,
            option_type=kind,
            lot_size=Decimal("0.1"),
        )
    legs = [
        {"instrument": "BTC-100K-C", "side": "buy", "quantity": "10"},
        {"instrument": "BTC-100K-P", "side": "buy", "quantity": "6000"},
    ]

    response = client_for(trader).post(
        "/api/v1/rfqs/", _body(package_type="straddle", legs=legs), content_type="application/json"
    )

    # then the second leg is named, the first is not
    assert response.status_code == 400, response.content
    first, second = response.json()["legs"]
    assert first == {}
    assert any(message.startswith("max_order_quantity: limit 5000, order 6000") for message in second["quantity"])
    assert not RFQ.objects.exists()


def test_the_rfq_service_refuses_for_every_caller(trader, instrument) -> None:  # noqa: ANN001
    with pytest.raises(QuoteRefused, match=r"leg 1: max_order_notional: limit 50000000, .*max_order_quantity"):
        rfq_create(legs=[LegInput(instrument, "sell", Decimal(1_000_000))], actor=trader)
    assert not RFQ.objects.exists()
