"""The desk orders API: a trader (or an upstream order system logged in as a desk user) enters orders at
POST /api/v1/orders/, idempotently; bad input is a 400 naming each field, stores nothing and is audited; GET shows
each order's state, fills and average price; POST /api/v1/orders/aggregate/ aggregates now."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from desk.models import AuditEvent, Instrument
from desk.roles import Role
from rfq.models import RFQ, DeskOrder, DeskOrderStatus, IdempotencyRecord, RFQStatus
from risk.services import kill_switch_engage, limit_set
from tests import factories

pytestmark = pytest.mark.django_db

URL = "/api/v1/orders/"


@pytest.fixture
def eth(db) -> Instrument:  # noqa: ANN001
    factories.validated_price_set(underlying="ETH", price="100")
    yield factories.instrument_create(symbol="ETH-USD", base_currency="ETH", lot_size=Decimal("0.001"))
    factories.validated_price_clear(underlying="ETH")


def _body(**overrides: object) -> dict:
    return {"instrument": "ETH-USD", "side": "buy", "quantity": "1.5", "account": "ACC-SECRET-CLIENT"} | overrides


def _post(client, body: dict, key: str | None = None):  # noqa: ANN001, ANN202
    headers = {"HTTP_IDEMPOTENCY_KEY": key or uuid.uuid4().hex}
    return client.post(URL, body, content_type="application/json", **headers)


def test_a_trader_enters_an_order_and_a_retry_changes_nothing(client_for, trader, eth, account) -> None:  # noqa: ANN001
    client = client_for(trader)

    first = _post(client, _body(limit_price="101", urgency="high"), key="order-1")
    retry = _post(client, _body(limit_price="101", urgency="high"), key="order-1")
    other_body = _post(client, _body(quantity="2"), key="order-1")

    assert first.status_code == 201, first.content
    body = first.json()
    assert (body["account"], body["book"], body["instrument"], body["side"]) == (
        "ACC-SECRET-CLIENT",
        "ACC-SECRET-CLIENT",
        "ETH-USD",
        "buy",
    )
    assert (Decimal(body["quantity"]), Decimal(body["limit_price"]), body["urgency"]) == (
        Decimal("1.5"),
        Decimal(101),
        "high",
    )
    assert (body["status"], Decimal(body["filled_quantity"]), body["average_price"], body["fills"]) == (
        "new",
        Decimal(0),
        None,
        [],
    )
    assert (retry.status_code, retry.json(), retry["Idempotent-Replayed"]) == (201, body, "true")
    assert other_body.status_code == 409
    assert DeskOrder.objects.count() == 1
    assert AuditEvent.objects.get(action="desk_order.create").after["channel"] == "api"
    assert IdempotencyRecord.objects.get().user == trader


def test_keys_are_each_users_own(client_for, trader, eth, account) -> None:  # noqa: ANN001
    upstream = factories.user_create(role=Role.TRADER, username="oms-upstream")

    mine = _post(client_for(trader), _body(), key="same-key")
    theirs = _post(client_for(upstream), _body(), key="same-key")

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert DeskOrder.objects.count() == 2


def test_the_key_is_required(client_for, trader, eth, account) -> None:  # noqa: ANN001
    response = client_for(trader).post(URL, _body(), content_type="application/json")

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()
    assert not DeskOrder.objects.exists()


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"quantity": "0"}, "quantity"),
        ({"quantity": "-1"}, "quantity"),
        ({"quantity": "0.0005"}, "quantity"),  # half a lot
        ({"quantity": "many"}, "quantity"),  # not a number: the parser's refusal, audited too
        ({"instrument": "DOGE-USD"}, "instrument"),
        ({"account": "ACC-NOBODY"}, "account"),
        ({"account": "", "book": "NO-SUCH-BOOK"}, "book"),
        ({"account": ""}, "account"),
        ({"limit_price": "99"}, "limit_price"),  # a buy below the validated price 100
        ({"side": "sell", "limit_price": "101"}, "limit_price"),  # a sell above it
        ({"side": "short"}, "side"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_stores_nothing_and_is_audited(  # noqa: ANN001
    client_for, trader, eth, account, override, field
) -> None:
    response = _post(client_for(trader), _body(**override))

    assert response.status_code == 400
    assert list(response.json()) == [field], response.json()
    assert not DeskOrder.objects.exists()
    refused = AuditEvent.objects.get(action="desk_order.refused")
    assert list(refused.after["errors"]) == [field]
    assert refused.after["channel"] == "api"
    assert refused.actor == "user:trader-t"


def test_a_size_over_the_fat_finger_limit_is_refused_by_the_risk_check(  # noqa: ANN001
    client_for, trader, risk_officer, eth, account
) -> None:
    limit_set(scope="desk", scope_key="", kind="max_order_notional", value=Decimal(1000), actor=risk_officer)

    small = _post(client_for(trader), _body(quantity="9"))
    large = _post(client_for(trader), _body(quantity="11"))  # 11 × 100 = 1,100 > 1,000

    assert small.status_code == 201
    assert large.status_code == 400
    assert list(large.json()) == ["quantity"]
    assert "max_order_notional" in large.json()["quantity"][0]
    assert DeskOrder.objects.count() == 1
    risk = AuditEvent.objects.get(action="risk.refused")
    assert (risk.after["limit"], risk.after["order"]["book"]) == ("max_order_notional", "ACC-SECRET-CLIENT")
    assert AuditEvent.objects.filter(action="desk_order.refused").count() == 1


def test_a_kill_switch_on_the_accounts_book_refuses_it_on_the_account(  # noqa: ANN001
    client_for, trader, risk_officer, eth, account
) -> None:
    kill_switch_engage(scope="book", scope_key="ACC-SECRET-CLIENT", reason="client in default", actor=risk_officer)

    response = _post(client_for(trader), _body())

    assert response.status_code == 400
    assert "kill_switch" in response.json()["account"][0]
    assert not DeskOrder.objects.exists()


def test_only_a_desk_role_that_enters_orders_may_post(client_for, compliance, eth, account, dealer) -> None:  # noqa: ANN001
    assert _post(client_for(compliance), _body()).status_code == 403
    assert _post(client_for(dealer.user), _body()).status_code == 403
    assert client_for(compliance).get(URL).status_code == 200
    assert not DeskOrder.objects.exists()


def test_aggregate_now_crosses_sends_the_rest_and_the_list_shows_the_fills(  # noqa: ANN001
    client_for, trader, eth, dealer
) -> None:
    client = client_for(trader)
    buyer, seller = factories.account_create(code="ACC-API-B"), factories.account_create(code="ACC-API-S")
    assert _post(client, _body(account=buyer.code, quantity="2")).status_code == 201
    assert _post(client, _body(account=seller.code, side="sell", quantity="0.5")).status_code == 201

    response = client.post(f"{URL}aggregate/", {"instrument": "ETH-USD"}, content_type="application/json")

    assert response.status_code == 200, response.content
    (run,) = response.json()
    assert (run["instrument"], Decimal(run["price"]), Decimal(run["crossed_quantity"])) == (
        "ETH-USD",
        Decimal(100),
        Decimal("0.5"),
    )
    (reference,) = run["sent"]
    assert RFQ.objects.get(reference=reference).status == RFQStatus.SENT
    listing = {row["account"]: row for row in client.get(URL).json()["results"]}
    assert (listing["ACC-API-S"]["status"], Decimal(listing["ACC-API-S"]["average_price"])) == ("filled", 100)
    bought = listing["ACC-API-B"]
    assert (bought["status"], Decimal(bought["filled_quantity"]), bought["rfq"]) == (
        "aggregated",
        Decimal("0.5"),
        reference,
    )
    assert [(f["kind"], Decimal(f["quantity"]), f["to_book"]) for f in bought["fills"]] == [
        ("cross", Decimal("0.5"), "ACC-API-B")
    ]
    assert DeskOrder.objects.get(account=buyer).status == DeskOrderStatus.AGGREGATED


def test_aggregate_now_names_an_unknown_instrument(client_for, trader) -> None:  # noqa: ANN001
    response = client_for(trader).post(f"{URL}aggregate/", {"instrument": "NOPE"}, content_type="application/json")

    assert response.status_code == 400
    assert list(response.json()) == ["instrument"]


def test_a_refusal_reads_as_the_trader_typed_it(client_for, trader, eth, account) -> None:  # noqa: ANN001
    response = _post(client_for(trader), _body(quantity="0", limit_price="99.5"))

    assert response.json() == {
        "quantity": ["quantity must be positive, got 0"],  # not 0E-12, as the parsed value prints
        "limit_price": [
            "a buy limited at 99.5 is below the validated price 100: nothing could fill it (a buy's limit goes at "
            "or above the validated price)"
        ],
    }
