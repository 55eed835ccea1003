"""The positions page: every book's positions marked at the venue mid with their P&L and greeks, totals by book and
underlying, and today's P&L explained; closed to dealers."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from desk.market import venue_books_ensure
from execution.models import Position
from rfq.engine.market import underlying_state
from tca.services import pnl_snapshot_take
from tests import factories

pytestmark = pytest.mark.django_db


def _cell(html: str, row: str, n: int) -> str:
    match = re.search(rf'<tr data-book="{row}"[^>]*>(.*?)</tr>', html, re.S)
    assert match, html
    cells = re.findall(r"<td[^>]*>(.*?)</td>", match.group(1), re.S)
    return cells[n].strip()


def test_a_trader_sees_each_position_marked_with_its_pnl_and_todays_explanation(client_for, trader) -> None:  # noqa: ANN001
    instrument = factories.instrument_create(symbol="BTC-USD")
    venue_books_ensure(underlying="BTC", now=datetime.now(UTC))
    mid = underlying_state("BTC").spot
    Position.objects.create(
        book="desk", instrument=instrument, quantity=Decimal(2), average_price=Decimal(str(round(mid - 100, 2)))
    )
    pnl_snapshot_take()

    response = client_for(trader).get("/desk/positions/")

    assert response.status_code == 200
    html = response.content.decode()
    assert _cell(html, "desk", 1) == "BTC-USD"
    unrealized = float(_cell(html, "desk", 5).replace(",", ""))
    assert unrealized == pytest.approx(2 * (mid - round(mid - 100, 2)), abs=0.01)
    assert float(_cell(html, "desk", 7)) == pytest.approx(2.0)  # delta: 2 coins
    assert 'data-instrument="BTC-USD"><td>BTC-USD</td>' in html  # the explanation's row
    assert 'id="pnl-data"' in html


def test_a_dealer_may_not_see_the_desk_s_positions(client_for, dealer) -> None:  # noqa: ANN001
    assert client_for(dealer.user).get("/desk/positions/").status_code == 403
    assert client_for(dealer.user).get("/api/v1/tca/pnl/").status_code == 403


def test_the_api_gives_the_same_figures_as_json(client_for, trader) -> None:  # noqa: ANN001
    instrument = factories.instrument_create(symbol="BTC-USD")
    venue_books_ensure(underlying="BTC", now=datetime.now(UTC))
    Position.objects.create(book="desk", instrument=instrument, quantity=Decimal(-1), average_price=Decimal(90_000))
    body = client_for(trader).get("/api/v1/tca/pnl/").json()
    (row,) = body["positions"]
    assert row["quantity"] == -1
    assert row["delta"] == pytest.approx(-1.0)
    assert row["unrealized"] == pytest.approx(-(row["mark"] - 90_000), rel=1e-9)
    assert body["explain"]["day"] == datetime.now(UTC).date().isoformat()
