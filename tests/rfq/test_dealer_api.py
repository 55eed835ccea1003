"""The dealer REST API: own RFQs only, quotes per leg, idempotent POSTs, 400s that name the field, 404s for
what belongs to another dealer, and no client or other dealer in any payload."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from execution.models import Fill
from rfq import services
from rfq.models import DealerOrderStatus, Quote, QuoteRequest
from tests import factories

pytestmark = pytest.mark.django_db

ALPHA = "DealerKey key-alpha:alpha-secret-123"
BRAVO = "DealerKey key-bravo:bravo-secret-123"


def _get(path: str, auth: str = ALPHA, **params: str):  # noqa: ANN202
    return Client().get(path, params, HTTP_AUTHORIZATION=auth)


def _post(path: str, body: dict | None = None, *, auth: str = ALPHA, key: str | None = None):  # noqa: ANN202
    headers = {"HTTP_AUTHORIZATION": auth}
    if key != "":
        headers["HTTP_IDEMPOTENCY_KEY"] = key or uuid.uuid4().hex
    return Client().post(path, body or {}, content_type="application/json", **headers)


@pytest.fixture
def rfq(trader, instrument, account, dealer, other_dealer):  # noqa: ANN001, ANN201
    order = factories.desk_order_create(trader=trader, instrument=instrument, account=account)
    return factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer, other_dealer], orders=[order])


def _quote_body(rfq, dealer, **overrides) -> dict:  # noqa: ANN001
    body = {
        "quote_req_id": QuoteRequest.objects.get(rfq=rfq, dealer=dealer).quote_req_id,
        "quote_id": "ALPHA-Q-1",
        "valid_until": (datetime.now(UTC) + timedelta(seconds=30)).isoformat(),
        "legs": [{"leg_no": 1, "bid_price": "99.5", "bid_size": "5", "offer_price": "100.5", "offer_size": "5"}],
    }
    return body | overrides


def test_dealer_lists_its_rfq_with_its_own_quote_request_id(rfq, dealer) -> None:  # noqa: ANN001
    response = _get("/api/v1/dealer/rfqs/")

    assert response.status_code == 200
    (row,) = response.json()["results"]
    assert row["reference"] == rfq.reference
    assert row["quote_req_id"] == QuoteRequest.objects.get(rfq=rfq, dealer=dealer).quote_req_id
    assert "ACC-SECRET-CLIENT" not in response.content.decode()
    assert "BRAVO" not in response.content.decode()


def test_rfq_list_filters_by_status(rfq) -> None:  # noqa: ANN001
    assert _get("/api/v1/dealer/rfqs/", status="sent").json()["count"] == 1
    assert _get("/api/v1/dealer/rfqs/", status="expired").json()["count"] == 0
    assert _get("/api/v1/dealer/rfqs/", status="bogus").status_code == 400


def test_other_dealers_rfq_detail_is_404(trader, instrument, dealer, other_dealer) -> None:  # noqa: ANN001
    theirs = factories.rfq_create(trader=trader, instrument=instrument, dealers=[other_dealer])

    assert _get(f"/api/v1/dealer/rfqs/{theirs.reference}/").status_code == 404
    assert _get(f"/api/v1/dealer/rfqs/{theirs.reference}/", auth=BRAVO).status_code == 200


def test_quote_is_created_once_per_idempotency_key(rfq, dealer) -> None:  # noqa: ANN001
    body = _quote_body(rfq, dealer)

    first = _post("/api/v1/dealer/quotes/", body, key="k-1")
    retry = _post("/api/v1/dealer/quotes/", body, key="k-1")
    conflict = _post("/api/v1/dealer/quotes/", body | {"quote_id": "ALPHA-Q-2"}, key="k-1")

    assert first.status_code == 201
    assert retry.status_code == 201
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert conflict.status_code == 409
    assert Quote.objects.count() == 1


def test_post_without_idempotency_key_is_400_naming_the_header(rfq, dealer) -> None:  # noqa: ANN001
    response = _post("/api/v1/dealer/quotes/", _quote_body(rfq, dealer), key="")

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()
    assert not Quote.objects.exists()


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"valid_until": "tomorrow-ish"}, "valid_until"),
        ({"legs": [{"leg_no": 1, "bid_price": "abc"}]}, "legs"),
        ({"legs": []}, "legs"),
        ({"firmness": "maybe"}, "firmness"),
        ({"quote_id": ""}, "quote_id"),
    ],
)
def test_bad_body_is_400_naming_the_field(rfq, dealer, override, field) -> None:  # noqa: ANN001
    response = _post("/api/v1/dealer/quotes/", _quote_body(rfq, dealer, **override))

    assert response.status_code == 400
    assert field in response.json()
    assert not Quote.objects.exists()


def test_quote_on_another_dealers_request_is_refused_with_a_reason(rfq, other_dealer) -> None:  # noqa: ANN001
    response = _post("/api/v1/dealer/quotes/", _quote_body(rfq, other_dealer))

    assert response.status_code == 400
    assert "unknown QuoteReqID" in response.json()["detail"][0]
    assert not Quote.objects.exists()


def test_dealer_sees_and_withdraws_only_its_own_quotes(rfq, dealer) -> None:  # noqa: ANN001
    assert _post("/api/v1/dealer/quotes/", _quote_body(rfq, dealer)).status_code == 201

    assert _get("/api/v1/dealer/quotes/", auth=BRAVO).json()["count"] == 0
    assert _post("/api/v1/dealer/quotes/ALPHA-Q-1/withdraw/", auth=BRAVO).status_code == 404
    response = _post("/api/v1/dealer/quotes/ALPHA-Q-1/withdraw/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"


def test_decline_marks_the_request(rfq, dealer) -> None:  # noqa: ANN001
    request = QuoteRequest.objects.get(rfq=rfq, dealer=dealer)

    response = _post(f"/api/v1/dealer/quote-requests/{request.quote_req_id}/decline/", {"reason": "no axe"})

    assert response.status_code == 200
    assert response.json()["status"] == "declined"
    request.refresh_from_db()
    assert request.status == "declined"


def test_dealer_fills_an_accepted_quote_once(rfq, dealer, trader) -> None:  # noqa: ANN001
    _post("/api/v1/dealer/quotes/", _quote_body(rfq, dealer))
    order = services.quote_accept(quote=Quote.objects.get(), actor=trader)
    fill_body = {"exec_id": "X-1", "quantity": "5", "price": "100.5"}

    listed = _get("/api/v1/dealer/orders/", status="sent").json()
    first = _post(f"/api/v1/dealer/orders/{order.cl_ord_id}/fill/", fill_body, key="fill-1")
    retry = _post(f"/api/v1/dealer/orders/{order.cl_ord_id}/fill/", fill_body, key="fill-1")
    foreign = _post(f"/api/v1/dealer/orders/{order.cl_ord_id}/fill/", fill_body, auth=BRAVO)

    assert [row["cl_ord_id"] for row in listed["results"]] == [order.cl_ord_id]
    assert first.status_code == 201
    assert retry.json() == first.json()
    assert foreign.status_code == 404
    assert Fill.objects.count() == 1
    order.refresh_from_db()
    assert order.status == DealerOrderStatus.FILLED


def test_last_look_reject_through_the_api(rfq, dealer, trader) -> None:  # noqa: ANN001
    _post("/api/v1/dealer/quotes/", _quote_body(rfq, dealer))
    order = services.quote_accept(quote=Quote.objects.get(), actor=trader)

    response = _post(f"/api/v1/dealer/orders/{order.cl_ord_id}/reject/", {"reason": "market moved"})

    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    assert not Fill.objects.exists()


def test_desk_user_cannot_use_dealer_endpoints(client_for, trader) -> None:  # noqa: ANN001
    assert client_for(trader).get("/api/v1/dealer/rfqs/").status_code == 403
