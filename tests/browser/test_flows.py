"""The desk in a real browser (headless Debian Chromium through Playwright) against a real ASGI server with real
websockets: a trader's RFQ from ticket to accepted quote, a risk officer's kill switch, a compliance export."""

from __future__ import annotations

import json
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from desk.models import AuditEvent
from rfq.models import RFQ, DealerOrder, QuoteStatus, RFQStatus
from risk.models import KillSwitch
from risk.services import limit_set
from tests import factories
from tests.browser.conftest import ARTIFACTS, shot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def _dealer_call(base: str, method: str, path: str, credentials: str, body: dict | None = None) -> Any:
    """One dealer REST call, as a dealer's own system makes it (``DealerKey key-…:secret``)."""
    headers = {"Authorization": f"DealerKey {credentials}", "Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers |= {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
    request = urllib.request.Request(f"http://{base}{path}", data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _dealer_quotes(base: str, *, reference: str, credentials: str, quote_id: str, bid: str, offer: str) -> None:
    rfq = _dealer_call(base, "GET", f"/api/v1/dealer/rfqs/{reference}/", credentials)
    valid_until = (datetime.now(UTC) + timedelta(seconds=45)).isoformat()
    _dealer_call(
        base,
        "POST",
        "/api/v1/dealer/quotes/",
        credentials,
        {
            "quote_req_id": rfq["quote_req_id"],
            "quote_id": quote_id,
            "valid_until": valid_until,
            "firmness": "firm",
            "legs": [{"leg_no": 1, "bid_price": bid, "bid_size": "5", "offer_price": offer, "offer_size": "5"}],
        },
    )


def test_trader_sends_an_rfq_sees_quotes_arrive_live_and_accepts_the_best(
    open_page, live_asgi, trader, dealer, other_dealer, instrument
) -> None:  # noqa: ANN001
    # given a trader on the RFQ ticket, with two REST dealers onboarded
    expiry = datetime(2027, 3, 26, 8, tzinfo=UTC)
    for strike, option_type in (("60000", "call"), ("70000", "call"), ("60000", "put")):
        factories.instrument_create(
            symbol=f"BTC-26MAR27-{strike}-{option_type[0].upper()}",
            kind="option",
            option_type=option_type,
            strike=Decimal(strike),
            underlying=instrument,
            expiry=expiry,
        )
    page = open_page(trader.username)
    page.click("nav >> text=New RFQ")
    page.wait_for_url("**/desk/rfq/new/")

    # the package builder shows the legs a call spread needs, sides preset, calls only
    page.select_option("#id_package_type", "call_spread")
    assert page.is_visible("tr[data-leg='2']")
    assert not page.is_visible("tr[data-leg='3']")
    assert page.input_value("#id_leg2_side") == "sell"
    offered = page.eval_on_selector_all("#id_leg1_instrument option:not([disabled])", "os => os.map(o => o.value)")
    assert offered == ["", "BTC-26MAR27-60000-C", "BTC-26MAR27-70000-C"]
    shot(page, "a0_ticket_call_spread")
    page.select_option("#id_package_type", "single")
    assert not page.is_visible("tr[data-leg='2']")

    # a ticket without a dealer comes back naming the field, with what was typed
    page.select_option("#id_leg1_instrument", instrument.symbol)
    page.fill("#id_leg1_quantity", "2.5")
    page.check("#id_selection_1")  # pick the dealers myself (the desk chooses by default), and tick none
    page.click("#send-rfq")
    page.wait_for_selector(".error-summary")
    assert "Dealers: choose at least one dealer" in page.text_content(".error-summary")
    assert page.input_value("#id_leg1_instrument") == instrument.symbol
    assert page.input_value("#id_leg1_quantity") == "2.5"
    shot(page, "a1_ticket_error")

    page.check("input[name=dealers][value=ALPHA]")
    page.check("input[name=dealers][value=BRAVO]")
    shot(page, "a2_rfq_ticket")

    # when the RFQ is sent, the quote board opens and goes live before any quote exists
    page.click("#send-rfq")
    page.wait_for_url("**/desk/rfq/RFQ-*/")
    reference = page.text_content("#rfq-reference")
    page.wait_for_selector("#ws-state.ok")
    page.wait_for_selector("#quotes tr.empty")
    shot(page, "a3_quote_board_waiting")

    # then each dealer's quote, posted through the dealer API, appears over the websocket without a reload
    _dealer_quotes(
        live_asgi, reference=reference, credentials="key-alpha:alpha-secret-123", quote_id="A-1", bid="99", offer="101"
    )
    page.wait_for_selector("#quotes tr[data-dealer=ALPHA]")
    assert page.get_attribute("#quotes tr[data-dealer=ALPHA]", "class") == "best"
    _dealer_quotes(
        live_asgi,
        reference=reference,
        credentials="key-bravo:bravo-secret-123",
        quote_id="B-1",
        bid="99.5",
        offer="100.5",
    )
    page.wait_for_selector("#quotes tr.best[data-dealer=BRAVO]")
    assert "best" not in (page.get_attribute("#quotes tr[data-dealer=ALPHA]", "class") or "")
    assert page.text_content("#rfq-status") == "quoted"
    countdown = page.text_content("#quotes tr[data-dealer=BRAVO] .countdown")
    assert countdown.endswith("s")
    assert countdown != "expired"
    shot(page, "a4_quote_board_two_quotes")

    # when the trader accepts the best quote, then the board shows it accepted
    page.click("#quotes tr[data-dealer=BRAVO] button.accept")
    page.wait_for_selector("#board-message.ok")
    page.wait_for_selector("#quotes tr[data-dealer=BRAVO][data-status=accepted]")
    assert page.text_content("#rfq-status") == "accepted"
    assert "100.5" in page.text_content("#board-message")
    assert page.query_selector("#quotes button.accept") is None
    assert page.query_selector("#quotes tr.best") is None
    shot(page, "a5_quote_accepted")
    rfq = RFQ.objects.get(reference=reference)
    assert rfq.status == RFQStatus.ACCEPTED
    assert rfq.quotes.get(quote_id="B-1").status == QuoteStatus.ACCEPTED
    assert DealerOrder.objects.get().price == Decimal("100.5")


def test_risk_officer_engages_the_kill_switch_and_a_trader_cannot_rearm_it(
    open_page, risk_officer, trader, instrument
) -> None:  # noqa: ANN001
    # given limits in force, a trader watching the risk page and a risk officer on it
    limit_set(scope="desk", scope_key="", kind="max_order_notional", value=Decimal(1_000_000), actor=risk_officer)
    limit_set(scope="desk", scope_key="", kind="max_position", value=Decimal(50), actor=risk_officer)
    trader_page = open_page(trader.username)
    trader_page.goto("/desk/risk/")
    trader_page.wait_for_selector("#ws-state.ok")
    assert trader_page.query_selector("#switches tr[data-engaged]") is None
    page = open_page(risk_officer.username)
    page.click("nav >> text=Risk")
    page.wait_for_url("**/desk/risk/")
    page.fill("#id_reason", "browser drill")

    # when they ask to engage, a confirmation comes first; cancelling changes nothing
    page.click("#engage")
    page.wait_for_selector("#engage-confirm[open]")
    assert "desk" in page.text_content("#engage-confirm-text")
    shot(page, "b1_engage_confirmation")
    page.click("#engage-cancel")
    assert not KillSwitch.objects.exists()

    # then confirming engages it
    page.click("#engage")
    page.click("#engage-confirm-button")
    page.wait_for_selector("text=Kill switch desk engaged.")
    page.wait_for_selector("#switches tr[data-scope=desk][data-engaged='1']")
    assert page.is_visible("#switches button.rearm")
    shot(page, "b2_kill_switch_engaged")
    assert KillSwitch.objects.get(scope="desk").engaged

    # and the trader's page shows it engaged without a reload, with no re-arm; forcing it is refused by the server
    trader_page.wait_for_selector("#switches tr[data-scope=desk][data-engaged='1']")
    assert trader_page.query_selector("#switches button.rearm") is None
    assert trader_page.query_selector("#engage-form") is None
    refused = trader_page.evaluate(
        """async () => {
            const token = document.querySelector("meta[name='csrf-token']").content;
            const body = new URLSearchParams({scope: "desk", scope_key: "", reason: "let me trade"});
            const page = await fetch("/desk/risk/rearm/", {method: "POST", body, headers: {"X-CSRFToken": token}});
            const api = await fetch("/api/v1/risk/kill-switches/rearm/", {
                method: "POST", headers: {"X-CSRFToken": token, "Content-Type": "application/json"},
                body: JSON.stringify({scope: "desk", reason: "let me trade"})});
            return [page.status, api.status];
        }"""
    )
    shot(trader_page, "b3_trader_sees_no_rearm")
    assert refused == [403, 403]
    assert KillSwitch.objects.get(scope="desk").engaged

    # finally the risk officer re-arms it
    page.fill("#switches input[name=reason]", "drill over")
    page.click("#switches button.rearm")
    page.wait_for_selector("text=Kill switch desk re-armed.")
    page.wait_for_selector("#switches tr[data-scope=desk][data-engaged='0']")
    assert not KillSwitch.objects.get(scope="desk").engaged


def test_compliance_filters_the_audit_log_and_downloads_a_verified_csv(
    open_page, compliance, trader, dealer, instrument
) -> None:  # noqa: ANN001
    # given some trading on record
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])
    factories.quote_create(rfq=rfq, dealer=dealer)
    page = open_page(compliance.username)
    page.click("nav >> text=Compliance")
    page.wait_for_url("**/desk/compliance/")
    assert "Hash chain verified: OK" in page.text_content("#chain")

    # when compliance filters by the dealer as actor and a time range
    start = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    page.fill("#id_start", start)
    page.fill("#id_actor", "dealer:ALPHA")
    page.click("#apply-filter")
    page.wait_for_url("**actor=dealer%3AALPHA**")
    actions = page.locator("#audit tbody tr td:nth-child(4)").all_text_contents()
    shot(page, "c1_audit_filtered")
    assert actions == ["quote.receive"]

    # then the CSV export of that filter downloads, and its first line states the verification
    with page.expect_download() as download_info:
        page.click("#export-csv")
    path = ARTIFACTS / "c2_audit_export.csv"
    download_info.value.save_as(str(path))
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# audit chain OK: ")
    assert f"{AuditEvent.objects.count()} events verified" in lines[0]
    assert lines[1].startswith("seq,occurred_at,actor,action")
    assert [line.split(",")[3] for line in lines[2:]] == ["quote.receive"]


def test_quote_board_catches_up_after_losing_its_websocket(open_page, live_asgi, trader, dealer, instrument) -> None:  # noqa: ANN001
    # given a quote board whose websocket goes through a switch the test controls
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])
    page = open_page(trader.username)
    link = {"up": True, "routes": []}

    def route(ws: Any) -> None:
        if link["up"]:
            ws.connect_to_server()
            link["routes"].append(ws)
        else:
            ws.close(code=1011, reason="network down (test)")

    page.route_web_socket("**/ws/desk/", route)
    page.goto(f"/desk/rfq/{rfq.reference}/")
    page.wait_for_selector("#ws-state.ok")
    page.wait_for_selector("#quotes tr.empty")
    assert len(link["routes"]) == 1
    page.evaluate("window.sameDocument = true")

    # when the connection drops and the quote arrives while the page cannot hear it
    link["up"] = False
    for ws in link["routes"]:
        ws.close(code=1011, reason="network down (test)")
    page.wait_for_selector("#ws-state.warn")
    _dealer_quotes(
        live_asgi,
        reference=rfq.reference,
        credentials="key-alpha:alpha-secret-123",
        quote_id="A-9",
        bid="98",
        offer="102",
    )
    page.wait_for_timeout(700)
    assert page.query_selector("#quotes tr[data-dealer=ALPHA]") is None
    shot(page, "d1_quote_board_disconnected")

    # then, once the socket is back, the page catches up without a reload
    link["up"] = True
    page.wait_for_selector("#ws-state.ok", timeout=15_000)
    page.wait_for_selector("#quotes tr[data-dealer=ALPHA]")
    assert page.evaluate("window.sameDocument") is True
    shot(page, "d2_quote_board_caught_up")
