"""The status bar in a real browser: a trader on the blotter sees the desk halted the moment a risk officer engages
the switch (over the websocket, no reload), and the worker's heartbeat as a relative time."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from desk.tasks import desk_heartbeat
from risk.services import kill_switch_engage, kill_switch_rearm
from tests.browser.conftest import shot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def _elsewhere(fn: Callable[[], object]) -> None:
    """Run a service as another process of the desk would: off this thread, whose event loop (Playwright's) the
    broadcast after commit may not share."""
    thread = threading.Thread(target=fn)
    thread.start()
    thread.join(10)


def test_a_trader_sees_the_desk_halt_and_its_end_live(open_page, trader, risk_officer) -> None:  # noqa: ANN001
    page = open_page(trader.username)
    bar = page.locator("#status-bar")
    expect(bar).to_contain_text("Trading: no halt in force")
    expect(page.locator("#ws-state")).to_have_text("live")

    _elsewhere(lambda: kill_switch_engage(scope="desk", scope_key="", reason="market review", actor=risk_officer))

    expect(bar).to_have_class("status-bar halted", timeout=10_000)
    expect(bar.locator(".status-item.halted.mine")).to_have_text("HALTED: desk · market review")
    shot(page, "status_bar_halted")

    _elsewhere(lambda: kill_switch_rearm(scope="desk", scope_key="", reason="done", actor=risk_officer))
    expect(bar).to_contain_text("Trading: no halt in force", timeout=10_000)
    # the worker's heartbeat reaches the bar and reads as a relative time
    _elsewhere(desk_heartbeat)
    expect(page.locator("#status-heartbeat")).to_have_text("Worker: heartbeat just now")
