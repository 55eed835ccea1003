"""The positions page in a real browser: a position marked at the venue mid, its mark following the market live
without a reload, today's P&L explained with a readable chart."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from desk.market import venue_books_ensure
from desk.models import VenueBook
from execution.models import Position
from rfq.engine.market import underlying_state
from tca.services import pnl_snapshot_take
from tests.browser.conftest import shot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def test_a_trader_watches_a_position_s_mark_and_pnl_follow_the_market(open_page, trader, instrument) -> None:  # noqa: ANN001
    # given a long position of 2 BTC-USD in the desk book, snapshotted at the start of the day
    venue_books_ensure(underlying="BTC", now=datetime.now(UTC))
    mid = underlying_state("BTC").spot
    Position.objects.create(book="desk", instrument=instrument, quantity=Decimal(2), average_price=Decimal(str(mid)))
    pnl_snapshot_take()
    page = open_page(trader.username)

    # when the trader opens the positions page
    page.click("nav >> text=Positions")
    row = page.locator(f"#positions tr[data-instrument='{instrument.symbol}']")
    expect(row).to_be_visible()
    expect(page.locator("#pnl-chart")).to_be_visible()

    # and the market moves up 100
    VenueBook.objects.filter(underlying="BTC").update(mid=Decimal(str(round(mid + 100, 2))))

    # then, without a reload, the mark follows, the unrealized P&L is 2 × 100 and the day's delta P&L says so
    expect(row.locator("td.mark")).to_have_text(f"{mid + 100:,.2f}", timeout=15_000)
    expect(row.locator("td.pnl").first).to_have_text("200.00")
    explained = page.locator(f"#pnl-explain tr[data-instrument='{instrument.symbol}'] td")
    expect(explained.nth(2)).to_have_text("200.00")
    shot(page, "positions")
