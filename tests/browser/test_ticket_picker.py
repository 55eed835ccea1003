"""The ticket's instrument picker in a real browser: typing words narrows the list, a single match is chosen."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def test_typing_narrows_the_instruments_and_a_single_match_is_chosen(open_page, trader, instrument) -> None:  # noqa: ANN001
    factories.instrument_create(symbol="ETH-USD", base_currency="ETH")
    factories.instrument_create(symbol="ETH-PERP", base_currency="ETH", kind="perpetual")
    page = open_page(trader.username)
    page.goto("/desk/rfq/new/")
    search = page.locator("#legs tbody tr").first.locator(".instrument-search")
    visible = "#id_leg1_instrument option:not([hidden])"

    search.fill("eth")
    expect(page.locator(visible)).to_have_count(3)  # the blank choice, ETH-USD and ETH-PERP

    search.fill("usd eth")
    expect(page.locator("#id_leg1_instrument")).to_have_value("ETH-USD")

    search.fill("")
    expect(page.locator(visible)).to_have_count(4)
