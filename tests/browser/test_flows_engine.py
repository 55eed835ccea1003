"""The RFQ engine in a real browser (Debian Chromium through Playwright, real uvicorn and websockets): the ticket
shows the pre-trade estimate and the dealers the desk would ask as the trader types; the desk chooses the dealers;
their quotes arrive through the dealer REST API; the board's recommendation panel shows the cost parts and the
trader accepts as recommended."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from desk.market import venue_books_ensure
from desk.models import VenueBook
from rfq.models import RFQ, DealerOrder, QuoteRequest, RFQStatus
from tests import factories
from tests.browser.conftest import shot
from tests.browser.test_flows import _dealer_quotes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

SECRETS = {"ALPHA": "alpha-secret-123", "BRAVO": "bravo-secret-123", "CHARLIE": "charlie-secret-123"}


def test_trader_lets_the_desk_choose_and_accepts_as_recommended(open_page, live_asgi, trader, instrument) -> None:  # noqa: ANN001
    # given three REST dealers and the venues' books of the market
    for code, secret in SECRETS.items():
        factories.dealer_create(code=code, secret=secret)
    venue_books_ensure(underlying="BTC", now=datetime.now(UTC))
    mid = float(VenueBook.objects.filter(underlying="BTC").first().mid)

    # when the trader types an order on the ticket
    page = open_page(trader.username)
    page.click("nav >> text=New RFQ")
    page.wait_for_url("**/desk/rfq/new/")
    assert page.is_checked("#id_selection_0")  # "let the desk choose (waves)" is the default
    page.select_option("#id_leg1_instrument", instrument.symbol)
    page.fill("#id_leg1_quantity", "2")

    # then the dealers the desk would ask appear with their scores and why, and the pre-trade estimate
    page.wait_for_selector("#desk-dealers tr[data-dealer]")
    page.wait_for_selector("#estimate-paths tr[data-path=algo]")
    rows = page.eval_on_selector_all(
        "#desk-dealers tbody tr",
        "rs => rs.map(r => [r.dataset.dealer, r.dataset.chosen, r.querySelector('.score').textContent, r.textContent])",
    )
    assert sorted(r[0] for r in rows) == sorted(SECRETS)
    assert any(r[1] == "1" for r in rows)
    assert all(float(r[2]) == float(r[2]) for r in rows)  # a number in every score cell
    assert all(("chosen #" in r[3]) or ("not chosen" in r[3]) or ("excluded" in r[3]) for r in rows)
    assert page.text_content("#selection-model") == "(prior, exploring)"
    paths = page.eval_on_selector_all("#estimate-paths tbody tr", "rs => rs.map(r => r.dataset.path)")
    assert sorted(paths) == ["algo", "rfq", "split"]
    assert "recommended algorithm horizon" in page.text_content("#estimate-state")
    assert page.text_content("#estimate-recommended").startswith("Recommended: ")
    shot(page, "h1_ticket_engine")

    # when the trader sends it, the desk choosing the dealers
    page.click("#send-rfq")
    page.wait_for_url("**/desk/rfq/RFQ-*/")
    reference = page.text_content("#rfq-reference")
    page.wait_for_selector("#ws-state.ok")
    asked = list(
        QuoteRequest.objects.filter(rfq__reference=reference).order_by("id").values_list("dealer__code", flat=True)
    )
    assert asked

    # and every dealer asked quotes a cheap, full-size firm price through its REST API
    for n, code in enumerate(asked):
        offer = mid * (1.0002 + 0.0004 * n)
        _dealer_quotes(
            live_asgi,
            reference=reference,
            credentials=f"key-{code.lower()}:{SECRETS[code]}",
            quote_id=f"{code}-1",
            bid=f"{mid * 0.999:.2f}",
            offer=f"{offer:.2f}",
        )
    page.wait_for_selector(f"#quotes tr[data-dealer={asked[-1]}]")

    # then the recommendation panel shows its action, the fills and the cost parts, and offers to accept
    page.wait_for_selector("#rec-accept", timeout=15_000)
    parts = page.eval_on_selector_all("#rec-costs tbody tr", "rs => rs.map(r => r.dataset.part)")
    assert parts == ["price", "certainty", "leakage", "delay", "algo", "total"]
    assert page.text_content("#rec-action") == "Accept now"
    assert page.text_content("#rec-explanation").startswith("accept now; expected cost")
    fills = page.eval_on_selector_all(
        "#rec-fills tbody tr", "rs => rs.map(r => [r.dataset.dealer, r.cells[1].textContent, r.cells[2].textContent])"
    )
    assert fills[0][0] == asked[0]  # the cheapest quote first, named by the dealer's own quote id
    assert sum(float(quantity) for _, quantity, _ in fills) == 2
    assert all(quote == f"{dealer}-1" for dealer, _, quote in fills)
    shot(page, "h2_board_recommendation")

    # when the trader accepts as recommended, then the RFQ is accepted
    page.click("#rec-accept")
    page.wait_for_selector("#rec-message.ok")
    assert page.text_content("#rec-message").startswith("Accept as recommended")
    page.wait_for_selector("#rfq-status.accepted")
    rfq = RFQ.objects.get(reference=reference)
    assert rfq.status == RFQStatus.ACCEPTED
    assert sum(o.quantity for o in DealerOrder.objects.filter(quote__rfq=rfq)) == 2
    page.wait_for_selector("#rec-state >> text=nothing more to decide")
    assert not page.is_visible("#rec-accept")
    shot(page, "h3_accepted_as_recommended")
