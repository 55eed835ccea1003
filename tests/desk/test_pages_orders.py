"""The desk orders page: a trader enters an order (a refusal names the field, keeps what was typed, stores nothing
and is audited), aggregates now, and reads each order's state, fills and average price; the blotter shows them too;
roles are enforced on the server."""

from __future__ import annotations

from decimal import Decimal

import pytest

from desk.models import AuditEvent, Instrument
from rfq.models import RFQ, DeskOrder, DeskOrderStatus
from tests import factories

pytestmark = pytest.mark.django_db

PAGE = "/desk/orders/"


@pytest.fixture
def eth(db) -> Instrument:  # noqa: ANN001
    factories.validated_price_set(underlying="ETH", price="2000")
    yield factories.instrument_create(symbol="ETH-USD", base_currency="ETH", lot_size=Decimal("0.001"))
    factories.validated_price_clear(underlying="ETH")


def _form(**overrides: str) -> dict[str, str]:
    return {
        "instrument": "ETH-USD",
        "side": "buy",
        "quantity": "0.75",
        "account": "ACC-SECRET-CLIENT",
        "book": "",
        "limit_price": "",
        "urgency": "normal",
    } | overrides


def test_a_trader_enters_an_order_on_the_page(client_for, trader, eth, account) -> None:  # noqa: ANN001
    client = client_for(trader)

    response = client.post(PAGE, _form(limit_price="2001"))

    assert response.status_code == 302
    assert response["Location"] == PAGE
    order = DeskOrder.objects.get()
    assert (order.account, order.quantity, order.limit_price, order.status) == (
        account,
        Decimal("0.75"),
        Decimal(2001),
        DeskOrderStatus.NEW,
    )
    assert AuditEvent.objects.get(action="desk_order.create").after["channel"] == "page"
    page = client.get(PAGE)
    text = page.content.decode()
    assert f'<tr data-order="{order.pk}" data-status="new">' in text
    assert "entered: buy 0.75 ETH-USD for ACC-SECRET-CLIENT" in text
    assert 'id="order-form"' in text
    assert 'id="aggregate-now"' in text
    assert "desk/orders.js" in text
    assert "<script>" not in text  # no inline script: the page's code is in desk/static/desk/orders.js


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"quantity": "-1"}, "quantity"),
        ({"quantity": "abc"}, "quantity"),
        ({"instrument": "NOPE"}, "instrument"),
        ({"account": "ACC-NOBODY"}, "account"),
        ({"limit_price": "1999"}, "limit_price"),
    ],
)
def test_a_refused_order_names_the_field_keeps_the_input_and_is_audited(  # noqa: ANN001
    client_for, trader, eth, account, override, field
) -> None:
    response = client_for(trader).post(PAGE, _form(**override))

    assert response.status_code == 400
    form = response.context["form"]
    assert list(form.errors) == [field]
    text = response.content.decode()
    assert f'<p class="error" data-field="{field}">' in text
    assert f'value="{next(iter(override.values()))}"' in text  # what was typed is kept
    assert not DeskOrder.objects.exists()
    assert list(AuditEvent.objects.get(action="desk_order.refused").after["errors"]) == [field]


def test_aggregate_now_crosses_and_the_page_shows_fills_and_average_price(  # noqa: ANN001
    client_for, trader, eth, dealer
) -> None:
    client = client_for(trader)
    client.post(PAGE, _form(account=factories.account_create(code="ACC-P-B").code, quantity="1"))
    client.post(PAGE, _form(account=factories.account_create(code="ACC-P-S").code, side="sell", quantity="0.4"))

    response = client.post("/desk/orders/aggregate/", follow=True)

    assert response.status_code == 200
    rfq = RFQ.objects.get()
    text = response.content.decode()
    assert f"ETH-USD: 2 order(s) taken; 0.4 crossed at 2000; sent {rfq.reference}" in text
    buy, sell = DeskOrder.objects.get(side="buy"), DeskOrder.objects.get(side="sell")
    assert f'<tr data-order="{sell.pk}" data-status="filled">' in text
    assert f'<tr data-order="{buy.pk}" data-status="aggregated">' in text
    assert '<li data-kind="cross">0.4 @ 2000 <span class="muted">cross</span></li>' in text
    assert rfq.reference in text
    blotter = client.get("/desk/").content.decode()
    assert '<li data-kind="cross">0.4 @ 2000' in blotter
    assert "Avg price" in blotter


def test_roles_are_enforced_on_the_server(client_for, compliance, eth, account) -> None:  # noqa: ANN001
    client = client_for(compliance)

    page = client.get(PAGE)

    assert page.status_code == 200
    assert 'id="order-form"' not in page.content.decode()
    assert client.post(PAGE, _form()).status_code == 403
    assert client.post("/desk/orders/aggregate/").status_code == 403
    assert not DeskOrder.objects.exists()


def test_the_navigation_leads_to_the_orders_page(client_for, trader) -> None:  # noqa: ANN001
    text = client_for(trader).get("/desk/").content.decode()

    assert '<a href="/desk/orders/">Orders</a>' in text
