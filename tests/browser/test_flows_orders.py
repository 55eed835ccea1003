"""Desk orders in a real browser (Debian Chromium through Playwright, real uvicorn, real websockets, a real Celery
worker): a trader enters a buy and a sell of ETH-USD on the orders page, a refused order names its field, and when
the aggregation window's task runs on the worker the page shows, live and without a reload, the sell crossed in
full at the validated price and the buy's rest in an RFQ sent to the dealer."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from desk.models import AuditEvent
from rfq.models import RFQ, DeskOrder, DeskOrderStatus, RFQStatus
from rfq.tasks import desk_orders_aggregate_task
from tests import factories
from tests.browser.conftest import shot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def _monitor_publishes() -> None:
    # The market-health monitor republishes every half second; here the test does, before each step that reads it.
    factories.validated_price_set(underlying="ETH", price="2000")


def _enter(page, *, side: str, quantity: str, account: str, limit: str = "") -> None:  # noqa: ANN001
    _monitor_publishes()
    page.fill("#id_instrument", "ETH-USD")
    page.select_option("#id_side", side)
    page.fill("#id_quantity", quantity)
    page.fill("#id_account", account)
    page.fill("#id_limit_price", limit)
    page.click("#enter-order")


def test_two_orders_entered_on_the_page_aggregate_live(open_page, celery_worker, trader, dealer) -> None:  # noqa: ANN001
    # given ETH-USD at a validated 2000 and two client accounts
    factories.instrument_create(symbol="ETH-USD", base_currency="ETH", lot_size=Decimal("0.001"))
    buyer, seller = factories.account_create(code="ACC-WEB-BUY"), factories.account_create(code="ACC-WEB-SELL")
    page = open_page(trader.username)
    page.click("nav >> text=Orders")
    page.wait_for_url("**/desk/orders/")

    # when the trader enters a buy limited below the validated price, the page names the field and keeps the rest
    _enter(page, side="buy", quantity="1", account=buyer.code, limit="1990")
    expect(page.locator("p.error[data-field=limit_price]")).to_contain_text("below the validated price 2000")
    assert page.input_value("#id_quantity") == "1"
    assert not DeskOrder.objects.exists()

    # and then a buy of 1 and a sell of 0.4 that pass
    _enter(page, side="buy", quantity="1", account=buyer.code, limit="2010")
    expect(page.locator(".messages")).to_contain_text("entered: buy 1 ETH-USD for ACC-WEB-BUY")
    _enter(page, side="sell", quantity="0.4", account=seller.code)
    expect(page.locator(".messages")).to_contain_text("entered: sell 0.4 ETH-USD for ACC-WEB-SELL")
    buy, sell = DeskOrder.objects.get(side="buy"), DeskOrder.objects.get(side="sell")
    rows = page.locator("#desk-orders tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator(f"tr[data-order='{buy.pk}'] .order-status")).to_have_text("New")
    page.wait_for_selector("#ws-state.ok")
    page.evaluate("window.sameDocument = true")
    shot(page, "o1_orders_entered")

    # when the aggregation window closes: the beat's task runs on the worker
    _monitor_publishes()
    desk_orders_aggregate_task.delay()

    # then, live, the sell is crossed in full at the validated price and the buy's rest goes to an RFQ
    sell_row, buy_row = page.locator(f"tr[data-order='{sell.pk}']"), page.locator(f"tr[data-order='{buy.pk}']")
    expect(sell_row).to_have_attribute("data-status", "filled", timeout=15_000)
    expect(sell_row.locator(".order-average")).to_have_text("2000")
    expect(sell_row.locator("li[data-kind=cross]")).to_contain_text("0.4 @ 2000")
    expect(buy_row).to_have_attribute("data-status", "aggregated")
    expect(buy_row.locator(".order-filled")).to_have_text("0.4")
    rfq = RFQ.objects.get()
    expect(buy_row).to_contain_text(rfq.reference)
    assert page.evaluate("window.sameDocument") is True
    shot(page, "o2_orders_aggregated")
    rfq.refresh_from_db()
    assert (rfq.status, rfq.legs.get().quantity) == (RFQStatus.SENT, Decimal("0.6"))
    assert DeskOrder.objects.get(pk=buy.pk).status == DeskOrderStatus.AGGREGATED
    assert AuditEvent.objects.filter(action="desk_order.refused").count() == 1
    factories.validated_price_clear(underlying="ETH")
