"""The RFQ ticket and the quote board with the RFQ engine: the desk chooses the dealers (waves) by default, manual /
automatic mode (automatic only within an enabled limit, refused on ``mode`` otherwise), urgency; the board's
recommendation panel and its "as recommended" action (role checked, CSRF), and what the desk did in automatic mode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from desk import clock
from desk.market import venue_books_ensure
from desk.models import AuditEvent, DecisionKind, DecisionRecord, VenueBook
from rfq.engine.auto import auto_trading_limit_set, rfq_auto_decide
from rfq.engine.recommend import rfq_recommendation
from rfq.engine.selection import rfq_send_selected
from rfq.models import RFQ, DealerOrder, QuoteRequest, RFQStatus, TradingMode
from rfq.services import LegInput, QuoteLegInput, quote_receive, rfq_create
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def market(db) -> float:  # noqa: ANN001
    venue_books_ensure(underlying="BTC", now=datetime.now(UTC))
    return float(VenueBook.objects.filter(underlying="BTC").first().mid)


@pytest.fixture
def dealers(db) -> list:  # noqa: ANN001
    return [factories.dealer_create(code=f"D{i}") for i in range(1, 5)]


def _ticket(instrument: str, **extra: object) -> dict:
    data: dict[str, object] = {
        "package_type": "single",
        "expires_in_s": "60",
        "leg1_instrument": instrument,
        "leg1_side": "buy",
        "leg1_ratio": "1",
        "leg1_quantity": "2",
        "selection": "desk",
        "mode": "manual",
        "risk_aversion": "0.05",
    }
    data.update(extra)
    return data


def _quote_all(rfq: RFQ, market: float, *, step: float = 0.0004) -> None:
    """Every dealer asked quotes a firm, cheap, full-size offer (the first the cheapest)."""
    for n, request in enumerate(QuoteRequest.objects.filter(rfq=rfq).select_related("dealer").order_by("id")):
        quote_receive(
            dealer=request.dealer,
            quote_req_id=request.quote_req_id,
            quote_id=f"Q-{request.dealer.code}-{rfq.pk}",
            legs=[
                QuoteLegInput(
                    leg_no=1,
                    bid_price=Decimal(f"{market * 0.999:.2f}"),
                    bid_size=Decimal(10),
                    offer_price=Decimal(f"{market * (1.0002 + n * step):.2f}"),
                    offer_size=Decimal(10),
                )
            ],
            valid_until=datetime.now(UTC) + timedelta(seconds=60),
        )


def _sent_rfq(trader, instrument, market: float, **kwargs: object) -> RFQ:  # noqa: ANN001
    rfq = rfq_create(legs=[LegInput(instrument, "buy", Decimal(5))], actor=trader, **kwargs)
    rfq_send_selected(rfq=rfq, actor=trader, wave_size=5)
    rfq.refresh_from_db()
    return rfq


# --- the ticket ------------------------------------------------------------------------------------------------


def test_ticket_offers_the_desk_choice_by_default_and_wires_the_engine_apis(
    client_for, trader, dealers, instrument, market
) -> None:  # noqa: ANN001
    client = client_for(trader)

    page = client.get("/desk/rfq/new/").content.decode()

    assert 'name="selection" value="desk" id="id_selection_0" checked' in page
    assert 'name="selection" value="manual" id="id_selection_1">' in page
    assert 'value="auto"' not in page  # no automatic-mode limit: not offered
    assert "Automatic mode: not enabled for you by risk." in page
    assert 'name="risk_aversion"' in page
    assert 'data-preview="/api/v1/rfqs/preview/"' in page
    assert 'data-pretrade="/api/v1/tca/pretrade/"' in page
    # the two APIs the ticket's script calls answer the trader for what is typed
    preview = client.post(
        "/api/v1/rfqs/preview/",
        {"legs": [{"instrument": instrument.symbol, "side": "buy", "quantity": "2"}]},
        content_type="application/json",
    )
    assert preview.status_code == 200
    rows = {row["dealer"]: row for row in preview.json()["rows"]}
    assert set(rows) == {d.code for d in dealers}
    assert all(0 <= row["p_answer"] <= 1 and row["reason"] and row["contributions"] for row in rows.values())
    assert preview.json()["model_version"] is None  # the prior, exploring
    estimate = client.get("/api/v1/tca/pretrade/", {"instrument": instrument.symbol, "side": "buy", "quantity": "2"})
    assert estimate.status_code == 200
    assert {p["name"] for p in estimate.json()["paths"]} == {"rfq", "algo", "split"}


def test_ticket_offers_automatic_mode_only_with_an_enabled_limit(client_for, trader, risk_officer, dealers) -> None:  # noqa: ANN001
    client = client_for(trader)
    auto_trading_limit_set(actor=risk_officer, enabled=False, max_notional=Decimal("1e9"), max_cost_bps=50)
    assert 'value="auto"' not in client.get("/desk/rfq/new/").content.decode()

    auto_trading_limit_set(actor=risk_officer, enabled=True, max_notional=Decimal("1e9"), max_cost_bps=50)
    page = client.get("/desk/rfq/new/").content.decode()

    assert '<option value="auto">Automatic within my limits</option>' in page
    assert "not enabled for you by risk" not in page


def test_ticket_lets_the_desk_choose_and_sends_the_first_wave(
    client_for, trader, dealers, instrument, market, settings
) -> None:  # noqa: ANN001
    settings.RFQ_WAVE_SIZE = 2

    response = client_for(trader).post("/desk/rfq/new/", _ticket(instrument.symbol, risk_aversion="0.4"))

    rfq = RFQ.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/desk/rfq/{rfq.reference}/"
    assert rfq.status == RFQStatus.SENT
    assert (rfq.mode, rfq.risk_aversion) == (TradingMode.MANUAL, 0.4)
    selection = DecisionRecord.objects.get(kind=DecisionKind.DEALER_SELECTION, object_id=str(rfq.pk))
    chosen = selection.output["dealers"]
    asked = set(QuoteRequest.objects.filter(rfq=rfq).values_list("dealer__code", flat=True))
    assert chosen
    assert asked == set(chosen[:2])
    assert rfq.waves == [chosen[i : i + 2] for i in range(2, len(chosen), 2)]


def test_ticket_still_sends_to_the_dealers_picked_by_hand(client_for, trader, dealers, instrument, market) -> None:  # noqa: ANN001
    response = client_for(trader).post(
        "/desk/rfq/new/", _ticket(instrument.symbol, selection="manual", dealers=["D2", "D4"])
    )

    rfq = RFQ.objects.get()
    assert response.status_code == 302
    assert sorted(rfq.quote_requests.values_list("dealer__code", flat=True)) == ["D2", "D4"]
    assert not DecisionRecord.objects.filter(kind=DecisionKind.DEALER_SELECTION).exists()


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"mode": "auto"}, "Mode</a>: automatic mode is not enabled for you"),
        ({"selection": "manual"}, "Dealers</a>: choose at least one dealer"),
        ({"dealers": ["D1"]}, "Dealers</a>: untick them to let the desk choose"),
        ({"risk_aversion": "-1"}, "Urgency</a>: Ensure this value is greater than or equal"),
        ({"risk_aversion": "11"}, "Urgency</a>: Ensure this value is less than or equal"),
    ],
)
def test_ticket_refuses_bad_engine_fields_naming_them_and_keeping_what_was_typed(  # noqa: ANN001
    client_for, trader, dealers, instrument, extra, named
) -> None:
    response = client_for(trader).post("/desk/rfq/new/", _ticket(instrument.symbol, leg1_quantity="3", **extra))
    page = response.content.decode()

    assert response.status_code == 400
    assert named in page
    assert 'value="3"' in page  # the quantity typed stays
    assert f'value="{instrument.symbol}" data-kind="spot" data-option-type="" selected' in page
    assert not RFQ.objects.exists()


def test_a_fat_finger_quantity_is_a_form_error_on_its_leg_naming_limit_value_and_threshold(  # noqa: ANN001
    client_for, trader, dealers, instrument, market
) -> None:
    # given no limit set, a ticket whose second row buys 1 000 000 000 BTC-USD (the first row left empty)
    ticket = _ticket(instrument.symbol, leg1_instrument="", leg1_quantity="", leg2_instrument=instrument.symbol)
    ticket |= {"leg2_side": "buy", "leg2_ratio": "1", "leg2_quantity": "1000000000"}

    response = client_for(trader).post("/desk/rfq/new/", ticket)
    page = response.content.decode()

    # then the ticket comes back with the error on that row's quantity, and nothing is sent
    assert response.status_code == 400
    assert "Leg 2 quantity</a>: max_order_quantity: limit 5000, order 1000000000 [default for BTC-USD" in page
    assert "Leg 2 quantity</a>: max_order_notional: limit 50000000, order 1000000000 × " in page
    assert 'value="1000000000"' in page  # what was typed stays
    assert not RFQ.objects.exists()
    assert AuditEvent.objects.filter(action="risk.refused").count() == 2


def test_automatic_mode_is_refused_when_risk_disabled_it_and_taken_when_enabled(  # noqa: ANN001
    client_for, trader, risk_officer, dealers, instrument, market
) -> None:
    client = client_for(trader)
    auto_trading_limit_set(actor=risk_officer, enabled=False, max_notional=Decimal("1e9"), max_cost_bps=50)

    refused = client.post("/desk/rfq/new/", _ticket(instrument.symbol, mode="auto"))

    assert refused.status_code == 400
    assert "Mode</a>: automatic mode is not enabled for you" in refused.content.decode()
    assert not RFQ.objects.exists()

    auto_trading_limit_set(actor=risk_officer, enabled=True, max_notional=Decimal("1e9"), max_cost_bps=50)
    taken = client.post("/desk/rfq/new/", _ticket(instrument.symbol, mode="auto"))

    assert taken.status_code == 302
    assert RFQ.objects.get().mode == TradingMode.AUTO


def test_ticket_is_not_a_dealers_or_compliances_page(client_for, dealers, compliance, instrument) -> None:  # noqa: ANN001
    assert client_for(dealers[0].user).get("/desk/rfq/new/").status_code == 403
    assert client_for(compliance).get("/desk/rfq/new/").status_code == 403
    assert client_for(compliance).post("/desk/rfq/new/", _ticket(instrument.symbol)).status_code == 403
    assert not RFQ.objects.exists()


# --- the quote board's recommendation ----------------------------------------------------------------------------


def test_board_shows_the_recommendation_panel_with_actions_only_to_who_may_act(  # noqa: ANN001
    client_for, trader, compliance, dealers, instrument, market
) -> None:
    rfq = _sent_rfq(trader, instrument, market)
    url = f"/desk/rfq/{rfq.reference}/"

    mine = client_for(trader).get(url)
    theirs = client_for(compliance).get(url)

    assert mine.status_code == 200
    page = mine.content.decode()
    assert f'data-api="/api/v1/rfqs/{rfq.reference}/recommendation/"' in page
    assert f'action="/desk/rfq/{rfq.reference}/act/" id="rec-form"' in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert "Accept as recommended" in page
    assert "Split as recommended" in page
    assert theirs.status_code == 200
    assert 'id="recommendation"' in theirs.content.decode()
    assert "rec-form" not in theirs.content.decode()
    assert client_for(dealers[0].user).get(url).status_code == 403


def test_trader_accepts_as_recommended_and_the_rfq_is_accepted(client_for, trader, dealers, instrument, market) -> None:  # noqa: ANN001
    rfq = _sent_rfq(trader, instrument, market)
    _quote_all(rfq, market)
    recommendation = rfq_recommendation(rfq=rfq, actor=trader)
    assert recommendation["action"] == "accept"

    response = client_for(trader).post(
        f"/desk/rfq/{rfq.reference}/act/",
        {"decision_id": recommendation["decision_id"]},
        HTTP_ACCEPT="application/json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["action"] == "accept"
    assert body["message"].startswith("Accept as recommended")
    orders = DealerOrder.objects.filter(cl_ord_id__in=body["dealer_orders"])
    assert sum(o.quantity for o in orders) == Decimal(5)
    assert {o.dealer.code for o in orders} == {dealer for dealer, _, _ in recommendation["fills"]}
    rfq.refresh_from_db()
    assert rfq.status == RFQStatus.ACCEPTED


def test_the_form_post_redirects_to_the_board_with_a_message(client_for, trader, dealers, instrument, market) -> None:  # noqa: ANN001
    rfq = _sent_rfq(trader, instrument, market)
    _quote_all(rfq, market)
    decision = rfq_recommendation(rfq=rfq, actor=trader)["decision_id"]
    client = client_for(trader)

    response = client.post(f"/desk/rfq/{rfq.reference}/act/", {"decision_id": decision})

    assert response.status_code == 302
    assert response["Location"] == f"/desk/rfq/{rfq.reference}/"
    assert "as recommended: " in client.get(response["Location"]).content.decode()
    rfq.refresh_from_db()
    assert rfq.status == RFQStatus.ACCEPTED


def test_acting_is_refused_to_compliance_risk_and_dealers_and_without_a_csrf_token(  # noqa: ANN001
    client_for, trader, compliance, risk_officer, dealers, instrument, market
) -> None:
    rfq = _sent_rfq(trader, instrument, market)
    _quote_all(rfq, market)
    decision = rfq_recommendation(rfq=rfq, actor=trader)["decision_id"]
    url = f"/desk/rfq/{rfq.reference}/act/"

    for user in (compliance, risk_officer, dealers[0].user):
        assert client_for(user).post(url, {"decision_id": decision}).status_code == 403
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(trader)
    assert strict.post(url, {"decision_id": decision}).status_code == 403

    assert not DealerOrder.objects.exists()
    rfq.refresh_from_db()
    assert rfq.status == RFQStatus.QUOTED


def test_acting_on_an_unknown_or_a_wait_decision_says_why_and_does_nothing(  # noqa: ANN001
    client_for, trader, dealers, instrument, market
) -> None:
    rfq = _sent_rfq(trader, instrument, market)
    # Asked right after the send, before any dealer has a response history: no quote yet, nothing to take. (Later,
    # or after the instant answers on the other RFQ, the dealers look silent for long enough that the desk would
    # rather split.)
    sent = max(QuoteRequest.objects.filter(rfq=rfq).values_list("sent_at", flat=True))
    with clock.clock_use(lambda: sent + timedelta(seconds=0.1)):
        waiting = rfq_recommendation(rfq=rfq, actor=trader)
    other = _sent_rfq(trader, instrument, market)
    _quote_all(other, market)
    elsewhere = rfq_recommendation(rfq=other, actor=trader)["decision_id"]
    assert waiting["action"] == "wait"
    client = client_for(trader)
    url = f"/desk/rfq/{rfq.reference}/act/"

    unknown = client.post(url, {"decision_id": elsewhere}, HTTP_ACCEPT="application/json")
    blank = client.post(url, {"decision_id": "x"})
    wait = client.post(url, {"decision_id": waiting["decision_id"]}, HTTP_ACCEPT="application/json")

    assert unknown.status_code == 400
    assert unknown.json() == {"decision_id": "no recommendation with this id for this RFQ"}
    assert blank.status_code == 400
    assert "Not carried out: decision_id: no recommendation with this id for this RFQ" in blank.content.decode()
    assert wait.status_code == 400
    assert "nothing to do on a 'wait' recommendation" in wait.json()["detail"]
    assert not DealerOrder.objects.exists()


def test_board_in_automatic_mode_says_the_desk_acts_and_shows_what_it_did(  # noqa: ANN001
    client_for, trader, risk_officer, compliance, dealers, instrument, market
) -> None:
    auto_trading_limit_set(actor=risk_officer, enabled=True, max_notional=Decimal("1e9"), max_cost_bps=50)
    rfq = _sent_rfq(trader, instrument, market, mode=TradingMode.AUTO)
    client = client_for(trader)
    before = client.get(f"/desk/rfq/{rfq.reference}/auto/").content.decode()
    _quote_all(rfq, market)

    outcome = rfq_auto_decide(rfq_id=rfq.pk)

    assert outcome["outcome"] == "acted"
    record = DecisionRecord.objects.get(kind=DecisionKind.AUTO_ACCEPT, object_id=str(rfq.pk))
    board = client.get(f"/desk/rfq/{rfq.reference}/").content.decode()
    assert "Automatic mode: the desk acts itself" in board
    assert f'data-decision="{record.pk}"' in board
    assert "within the automatic-mode limits" in board
    assert "Nothing yet" in before
    assert f'data-decision="{record.pk}"' not in before
    panel = client_for(compliance).get(f"/desk/rfq/{rfq.reference}/auto/")
    assert panel.status_code == 200
    assert ", ".join(outcome["dealer_orders"]) in panel.content.decode()
    assert f"took {record.output['plan']['takes'][0][0]}" in panel.content.decode()
    assert client_for(dealers[0].user).get(f"/desk/rfq/{rfq.reference}/auto/").status_code == 403


def test_board_in_automatic_mode_shows_what_was_left_to_the_trader(  # noqa: ANN001
    client_for, trader, risk_officer, dealers, instrument, market
) -> None:
    auto_trading_limit_set(actor=risk_officer, enabled=True, max_notional=Decimal("1000"), max_cost_bps=50)
    rfq = _sent_rfq(trader, instrument, market, mode=TradingMode.AUTO)
    _quote_all(rfq, market)

    outcome = rfq_auto_decide(rfq_id=rfq.pk)

    assert outcome["outcome"] == "left to the trader"
    board = client_for(trader).get(f"/desk/rfq/{rfq.reference}/").content.decode()
    assert f"left to you: {outcome['breaches'][0]}" in board
    assert 'id="rec-form"' in board  # beyond the limits the trader may still act
    assert not DecisionRecord.objects.filter(kind=DecisionKind.AUTO_ACCEPT).exists()


def test_a_bad_quantity_gets_one_message(client_for, trader, dealer, instrument) -> None:  # noqa: ANN001
    client = client_for(trader)
    for quantity, message in (("-1", "enter a quantity above 0"), ("abc", "Enter a number.")):
        page = client.post(
            "/desk/rfq/new/",
            {
                "package_type": "single",
                "expires_in_s": "60",
                "leg1_instrument": instrument.symbol,
                "leg1_side": "buy",
                "leg1_ratio": "1",
                "leg1_quantity": quantity,
                "dealers": ["ALPHA"],
            },
        ).content.decode()
        # once in the summary at the top, once beside the field: one message, not two joined
        assert page.count(message) == 2, page
        assert "Ensure this value" not in page
        assert f"{message} | " not in page
