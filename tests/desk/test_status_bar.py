"""The status bar on every desk page: the halts in force (those covering this user marked), the feeds, the worker's
heartbeat; also as a fragment the pages reload when the websocket says something changed."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.core.cache import cache

from desk.roles import Role
from desk.tasks import HEARTBEAT_KEY, desk_heartbeat
from risk.market_health_services import market_health_record
from risk.services import kill_switch_engage
from tests import factories

pytestmark = pytest.mark.django_db


def _bar(html: str) -> str:
    match = re.search(r'<div id="status-bar".*?</div>', html, re.S)
    assert match, "no status bar on the page"
    return match.group(0)


def test_with_nothing_halted_every_page_says_so_and_shows_the_heartbeat(client_for, trader) -> None:  # noqa: ANN001
    cache.delete(HEARTBEAT_KEY)
    client = client_for(trader)
    assert "no heartbeat yet" in _bar(client.get("/desk/").content.decode())
    desk_heartbeat()
    for path in ("/desk/", "/desk/rfq/new/", "/desk/positions/", "/desk/tca/"):
        bar = _bar(client.get(path).content.decode())
        assert "Trading: no halt in force" in bar
        assert 'id="status-heartbeat" data-at="' in bar


def test_a_desk_halt_is_shown_to_every_trader_and_a_trader_s_own_halt_only_marked_for_them(
    client_for, trader, risk_officer
) -> None:  # noqa: ANN001
    kill_switch_engage(scope="desk", scope_key="", reason="fat finger review", actor=risk_officer)
    other = factories.user_create(role=Role.TRADER, username="other-trader")
    kill_switch_engage(scope="trader", scope_key=other.username, reason="limit breach", actor=risk_officer)

    bar = _bar(client_for(trader).get("/desk/status/").content.decode())

    assert 'class="status-bar halted"' in bar
    assert re.search(r'class="status-item halted mine" data-scope="desk"[^>]*>HALTED: desk · fat finger review', bar)
    assert re.search(r'class="status-item halted" data-scope="trader" data-scope-key="other-trader"', bar)


def test_dealers_get_no_status_bar(client_for, dealer) -> None:  # noqa: ANN001
    assert client_for(dealer.user).get("/desk/status/").status_code == 403


def test_the_feeds_are_the_stored_verdicts_whichever_process_runs_the_monitor(client_for, trader) -> None:  # noqa: ANN001
    # given no monitor in this process, and the verdicts it stored from another: BTC halted on a stale feed
    at = datetime(2026, 1, 5, 12, tzinfo=UTC)
    fields = {"reason": "", "findings": [], "source_feed": "", "since": at, "at": at}
    market_health_record(underlying="BTC", state="halted", checks=["stale"], **fields)
    market_health_record(underlying="ETH", state="healthy", checks=[], **(fields | {"source_feed": "A"}))

    bar = _bar(client_for(trader).get("/desk/status/").content.decode())

    assert '<span class="feed halted" data-underlying="BTC">BTC halted</span>' in bar
    assert '<span class="feed healthy" data-underlying="ETH">ETH healthy</span>' in bar
    assert "no reading yet" not in bar
