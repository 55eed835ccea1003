"""Advice that moves on, in a real browser (Debian Chromium through Playwright, real uvicorn and websockets): a quote
whose time runs out loses its best badge and its Accept button at once and the next quote becomes best; after the
accept the other live quote shows "not taken" and stops counting down; a "wait" recommendation is asked again at
its horizon and, the dealer still silent, the advice changes without any new event."""

from __future__ import annotations

import json
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from desk.market import venue_books_ensure
from desk.models import DecisionKind, DecisionRecord, VenueBook
from rfq.engine.timing import accept_latency_s
from rfq.models import QuoteRequest, RFQStatus
from tests import factories
from tests.browser.conftest import shot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

SECRETS = {"ALPHA": "alpha-secret-123", "BRAVO": "bravo-secret-123", "CHARLIE": "charlie-secret-123"}


def dealer_quotes(base: str, *, reference: str, code: str, offer: float, mid: float, valid_s: float) -> None:
    """``code`` answers the RFQ through the dealer REST API with a firm quote valid ``valid_s`` seconds."""
    credentials = f"key-{code.lower()}:{SECRETS[code]}"

    def call(method: str, path: str, body: dict | None = None) -> Any:
        headers = {"Authorization": f"DealerKey {credentials}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers |= {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
        request = urllib.request.Request(f"http://{base}{path}", data=data, headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    rfq = call("GET", f"/api/v1/dealer/rfqs/{reference}/")
    leg = {"leg_no": 1, "bid_price": f"{mid * 0.999:.2f}", "bid_size": "5", "offer_price": f"{offer:.2f}"}
    call(
        "POST",
        "/api/v1/dealer/quotes/",
        {
            "quote_req_id": rfq["quote_req_id"],
            "quote_id": f"{code}-1",
            "valid_until": (datetime.now(UTC) + timedelta(seconds=valid_s)).isoformat(),
            "firmness": "firm",
            "legs": [leg | {"offer_size": "5"}],
        },
    )


@pytest.fixture
def board(open_page, live_asgi, trader, instrument):  # noqa: ANN001, ANN201
    """``board(codes)``: an RFQ for 2 BTC sent to the dealers ``codes``, its board open and live; (page, reference,
    mid)."""

    def start(codes: list[str]) -> tuple[Any, str, float]:
        dealers = [factories.dealer_create(code=code, secret=SECRETS[code]) for code in codes]
        venue_books_ensure(underlying="BTC", now=datetime.now(UTC))
        mid = float(VenueBook.objects.filter(underlying="BTC").first().mid)
        rfq = factories.rfq_create(
            trader=trader, instrument=instrument, dealers=dealers, quantity="2", expires_in=timedelta(minutes=2)
        )
        page = open_page(trader.username)
        page.goto(f"/desk/rfq/{rfq.reference}/")
        expect(page.locator("#ws-state")).to_have_class("pill ok")
        return page, rfq.reference, mid

    return start


def test_an_expired_quote_loses_best_and_accept_and_the_rest_are_not_taken_after_the_fill(board, live_asgi) -> None:  # noqa: ANN001
    # given a board with a cheap quote from ALPHA that lives 6 s, and dearer ones from BRAVO and CHARLIE
    page, reference, mid = board(["ALPHA", "BRAVO", "CHARLIE"])
    dealer_quotes(live_asgi, reference=reference, code="ALPHA", offer=mid * 1.0002, mid=mid, valid_s=6)
    dealer_quotes(live_asgi, reference=reference, code="BRAVO", offer=mid * 1.0006, mid=mid, valid_s=60)
    dealer_quotes(live_asgi, reference=reference, code="CHARLIE", offer=mid * 1.0010, mid=mid, valid_s=60)
    alpha, bravo, charlie = (page.locator(f"#quotes tr[data-dealer={code}]") for code in ("ALPHA", "BRAVO", "CHARLIE"))

    # then ALPHA is the best, with its badge and an Accept button
    expect(alpha).to_have_class("best")
    expect(alpha.locator(".badge")).to_have_text("best")
    expect(alpha.locator("button.accept")).to_be_visible()
    shot(page, "advice_1_best_live")

    # when ALPHA's time runs out, then it shows expired, without badge nor Accept, and BRAVO is the best
    expect(alpha).to_have_attribute("data-status", "expired", timeout=15_000)
    expect(alpha.locator(".status")).to_have_text("expired")
    expect(alpha.locator(".badge")).to_have_count(0)
    expect(alpha.locator("button.accept")).to_have_count(0)
    expect(alpha).not_to_have_class("best")
    expect(bravo).to_have_class("best")
    expect(bravo.locator(".badge")).to_have_text("best")
    shot(page, "advice_2_expired_loses_best")

    # when the trader accepts BRAVO
    bravo.locator("button.accept").click()
    expect(page.locator("#rfq-status")).to_have_text(RFQStatus.ACCEPTED)

    # then CHARLIE's quote shows "not taken" and no longer counts down, and no quote offers Accept
    expect(charlie).to_have_attribute("data-status", "not_taken")
    expect(charlie.locator(".status")).to_have_text("not taken")
    expect(charlie.locator(".countdown")).to_have_text("—")
    expect(bravo).to_have_attribute("data-status", "accepted")
    expect(page.locator("#quotes button.accept")).to_have_count(0)
    expect(page.locator("#quotes tr.best")).to_have_count(0)
    shot(page, "advice_3_not_taken")


def test_a_wait_is_asked_again_at_its_horizon_and_the_advice_moves_on(board, live_asgi) -> None:  # noqa: ANN001
    # given a board where ALPHA quotes 5 bps over the mark for 60 s and BRAVO, just asked, has not answered
    page, reference, mid = board(["ALPHA", "BRAVO"])
    QuoteRequest.objects.filter(rfq__reference=reference).update(sent_at=datetime.now(UTC))
    dealer_quotes(live_asgi, reference=reference, code="ALPHA", offer=mid * 1.0005, mid=mid, valid_s=60)

    # then the desk recommends waiting for BRAVO, for a horizon that ends an accept's time before ALPHA expires
    panel = page.locator("#recommendation")
    expect(page.locator("#rec-action")).to_have_text("Wait", timeout=15_000)
    expect(page.locator("#rec-wait")).to_be_visible()
    wait = DecisionRecord.objects.filter(kind=DecisionKind.QUOTE_DECISION, output__action="wait").get()
    as_of = datetime.fromisoformat(wait.inputs["as_of"])
    alpha_left = wait.inputs["book"][0]["expires_in_s"]
    assert 0 < wait.output["wait_s"] <= alpha_left - accept_latency_s()
    shot(page, "advice_4_wait")

    # when its horizon passes with BRAVO still silent (no quote, no event), then the board asks again and the
    # desk, having waited, now says to take ALPHA's quote
    expect(page.locator("#rec-action")).to_have_text("Accept now", timeout=20_000)
    expect(page.locator("#rec-accept")).to_be_visible()
    expect(panel).not_to_have_attribute("data-decision", str(wait.pk))
    moved_on = DecisionRecord.objects.filter(kind=DecisionKind.QUOTE_DECISION).order_by("-pk").first()
    assert moved_on.decided_at >= as_of + timedelta(seconds=wait.output["wait_s"])
    shot(page, "advice_5_moved_on")
