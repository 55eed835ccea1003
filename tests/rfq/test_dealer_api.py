"""The dealer REST API: own RFQs only, quotes per leg, idempotent POSTs, 400s that name the field, 404s for
what belongs to another dealer, and no client or other dealer in any payload."""

from __future__ import annotations

import importlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps as django_apps
from django.test import Client

from desk.models import AuditEvent
from execution.models import Fill
from rfq import services
from rfq.models import RFQ, DealerExecution, DealerOrder, DealerOrderStatus, Quote, QuoteRequest
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


def test_a_decline_after_the_rfq_expired_is_a_clean_refusal(rfq, dealer) -> None:  # noqa: ANN001
    # given the RFQ expired while the dealer thought it over
    request = QuoteRequest.objects.get(rfq=rfq, dealer=dealer)
    RFQ.objects.filter(pk=rfq.pk).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))

    # when the dealer declines
    response = _post(f"/api/v1/dealer/quote-requests/{request.quote_req_id}/decline/", {"reason": "no axe"})

    # then a 400 says the request is late and no longer open; nothing changed
    assert response.status_code == 400
    (message,) = response.json()["detail"]
    assert message.startswith(f"late: RFQ {rfq.reference} expired at ")
    assert f"QuoteReqID {request.quote_req_id} is no longer open to decline" in message
    assert QuoteRequest.objects.get(pk=request.pk).status == request.status


def _accepted_order(*, trader, instrument, dealer) -> DealerOrder:  # noqa: ANN001
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])
    return services.quote_accept(quote=factories.quote_create(rfq=rfq, dealer=dealer), actor=trader)


def test_a_fill_id_reused_on_another_order_is_a_409_audited_and_books_nothing(trader, instrument, dealer) -> None:  # noqa: ANN001
    # given two open orders of the dealer, the first filled with ExecID X1
    first_order = _accepted_order(trader=trader, instrument=instrument, dealer=dealer)
    second_order = _accepted_order(trader=trader, instrument=instrument, dealer=dealer)
    fill_body = {"exec_id": "X1", "quantity": "5", "price": "101"}
    first = _post(f"/api/v1/dealer/orders/{first_order.cl_ord_id}/fill/", fill_body)

    # when X1 is posted to the second order, then to the first again (new idempotency keys both times)
    reused = _post(f"/api/v1/dealer/orders/{second_order.cl_ord_id}/fill/", fill_body)
    replayed = _post(f"/api/v1/dealer/orders/{first_order.cl_ord_id}/fill/", fill_body)

    # then the reuse is a 409 naming the ExecID and the first order, audited; the second order is untouched; the
    # same ExecID on its own order replays the fill booked; the desk and the dealer both count one fill
    assert first.status_code == 201
    assert reused.status_code == 409
    (message,) = reused.json()["exec_id"]
    assert f"ExecID X1 was already used for a fill of order {first_order.cl_ord_id}" in message
    assert (replayed.status_code, replayed.json()) == (201, first.json())
    assert Fill.objects.count() == 1
    assert DealerExecution.objects.get().order == first_order
    second_order.refresh_from_db()
    assert (second_order.status, second_order.filled_quantity) == (DealerOrderStatus.SENT, 0)
    event = AuditEvent.objects.get(action="dealer_order.fill_id_reused")
    assert (event.object_id, event.actor) == (str(second_order.pk), f"dealer:{dealer.code}")
    assert event.after["first_order"] == first_order.cl_ord_id


def test_a_fill_id_reused_by_another_dealer_is_its_own(trader, instrument, dealer, other_dealer) -> None:  # noqa: ANN001
    # fill ids are unique per dealer: two dealers may both say X1
    alpha_order = _accepted_order(trader=trader, instrument=instrument, dealer=dealer)
    bravo_order = _accepted_order(trader=trader, instrument=instrument, dealer=other_dealer)
    fill_body = {"exec_id": "X1", "quantity": "5", "price": "101"}

    alpha = _post(f"/api/v1/dealer/orders/{alpha_order.cl_ord_id}/fill/", fill_body)
    bravo = _post(f"/api/v1/dealer/orders/{bravo_order.cl_ord_id}/fill/", fill_body, auth=BRAVO)

    assert (alpha.status_code, bravo.status_code) == (201, 201)
    assert Fill.objects.count() == 2


def test_fills_booked_before_the_exec_id_record_are_backfilled_and_a_reuse_is_still_refused(
    trader,
    instrument,
    dealer,  # noqa: ANN001
) -> None:
    # given a fill booked as a desk without DealerExecution rows booked it (the rows removed)
    first_order = _accepted_order(trader=trader, instrument=instrument, dealer=dealer)
    second_order = _accepted_order(trader=trader, instrument=instrument, dealer=dealer)
    fill_body = {"exec_id": "OLD-1", "quantity": "5", "price": "101"}
    assert _post(f"/api/v1/dealer/orders/{first_order.cl_ord_id}/fill/", fill_body).status_code == 201
    DealerExecution.objects.all().delete()

    # when the migration's backfill runs
    migration = importlib.import_module("rfq.migrations.0007_dealer_execution_unique_per_dealer")
    migration.dealer_executions_backfill(django_apps, None)

    # then the ExecID is known again, with its order, and its reuse on another order is refused
    (row,) = DealerExecution.objects.all()
    assert (row.dealer, row.exec_id, row.order, row.quantity, row.price) == (dealer, "OLD-1", first_order, 5, 101)
    reused = _post(f"/api/v1/dealer/orders/{second_order.cl_ord_id}/fill/", fill_body)
    assert reused.status_code == 409
    assert Fill.objects.count() == 1


def test_an_exec_id_too_long_to_book_for_this_dealer_is_a_400_naming_it(trader, instrument) -> None:  # noqa: ANN001
    # given a dealer whose code leaves less room in the booked id (<dealer>:<ExecID>, 64 characters) than the API's 48
    code = "LONG-DEALER-CODE-0123456"
    dealer = factories.dealer_create(code=code, secret="long-secret-123")
    order = _accepted_order(trader=trader, instrument=instrument, dealer=dealer)
    auth = f"DealerKey key-{code.lower()}:long-secret-123"

    # when it reports a fill with a 48-character ExecID
    response = _post(
        f"/api/v1/dealer/orders/{order.cl_ord_id}/fill/",
        {"exec_id": "E" * 48, "quantity": "5", "price": "101"},
        auth=auth,
    )

    # then a 400 names the field and the room there is; nothing is booked (PostgreSQL refused it with a 500 before)
    assert response.status_code == 400
    assert response.json() == {"exec_id": [f"ExecID must be 1 to {64 - len(code) - 1} characters for dealer {code}"]}
    assert not Fill.objects.exists()
    assert not DealerExecution.objects.exists()
