"""The RFQ engine on the database: selection with waves, recommendations that replay, manual and automatic mode,
expiry and late quotes, refusals of bad RFQs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from desk.decisions import decision_replay
from desk.market import venue_books_ensure
from desk.models import AuditEvent, DecisionKind, DecisionRecord, InstrumentKind, VenueBook
from rfq.engine.auto import auto_trading_limit_set, rfq_act, rfq_auto_decide
from rfq.engine.lifecycle import rfqs_expire_due
from rfq.engine.recommend import rfq_recommendation
from rfq.engine.selection import dealers_recommend, rfq_send_selected, rfq_wave_next
from rfq.models import (
    RFQ,
    CounterpartyStatus,
    DealerOrder,
    DeskOrderStatus,
    QuoteRequest,
    QuoteStatus,
    RFQStatus,
    ScoringModelVersion,
    TradingMode,
)
from rfq.services import LegInput, QuoteLegInput, QuoteRefused, quote_receive, rfq_create
from risk.services import kill_switch_engage
from tests import factories
from tests.rfq.quoting import quote_give

pytestmark = pytest.mark.django_db


@pytest.fixture
def market(db) -> float:  # noqa: ANN001
    venue_books_ensure(underlying="BTC", now=datetime.now(UTC))
    return float(VenueBook.objects.filter(underlying="BTC").first().mid)


@pytest.fixture
def dealers(db) -> list:  # noqa: ANN001
    return [factories.dealer_create(code=f"D{i}") for i in range(1, 6)]


def _new_rfq(trader, instrument, quantity: str = "5", **kwargs):  # noqa: ANN001, ANN202
    return rfq_create(legs=[LegInput(instrument, "buy", Decimal(quantity))], actor=trader, **kwargs)


def test_selection_is_recorded_and_replays_and_leaves_out_a_suspended_dealer(
    trader, instrument, market, dealers
) -> None:  # noqa: ANN001
    dealers[0].status = CounterpartyStatus.SUSPENDED
    dealers[0].save(update_fields=["status"])
    rfq = _new_rfq(trader, instrument)

    output = dealers_recommend(rfq=rfq, actor=trader)

    assert "D1" not in output["dealers"]
    rows = {row["dealer"]: row for row in output["rows"]}
    assert rows["D1"]["reason"].startswith("excluded: suspended")
    assert all(row["contributions"] for row in output["rows"])
    record = DecisionRecord.objects.get(kind=DecisionKind.DEALER_SELECTION, object_id=str(rfq.pk))
    replay = decision_replay(record)
    assert replay.matches
    assert replay.inputs_intact


def test_first_wave_then_the_next_only_while_quotes_do_not_cover(
    trader, instrument, market, dealers, settings, monkeypatch
) -> None:  # noqa: ANN001
    from rfq.engine import selection

    settings.RFQ_WAVE_SIZE = 2
    settings.RFQ_LEAKAGE_PER_DEALER_BPS = 0.0  # no cost to asking one more dealer
    monkeypatch.setattr(selection, "selection_seed", lambda **_: 7)  # fixed draws: the same selection every run
    rfq = _new_rfq(trader, instrument)

    sent = rfq_send_selected(rfq=rfq, actor=trader)

    sizes = [len(wave) for wave in sent["waves"]]
    assert len(sizes) >= 3
    assert sizes[:-1] == [2] * (len(sizes) - 1)

    first = set(QuoteRequest.objects.filter(rfq=rfq).values_list("dealer__code", flat=True))
    assert first == set(sent["waves"][0])
    assert len(first) == 2
    rfq.refresh_from_db()
    assert rfq.waves == sent["waves"][1:]
    assert rfq.arrival_mid is not None
    assert abs(float(rfq.arrival_mid) - market) < 1e-6 * market

    widened = rfq_wave_next(rfq_id=rfq.pk)
    assert set(widened) == set(sent["waves"][1])

    # Quotes now cover the order: the third wave is not sent.
    by_code = {d.code: d for d in dealers}
    for code in widened:
        quote_give(rfq, by_code[code], offer=market * 1.001, bid=market * 0.999)
    rfq.refresh_from_db()
    if rfq.waves:
        assert rfq_wave_next(rfq_id=rfq.pk) == []
        assert AuditEvent.objects.filter(action="rfq.wave_skipped", object_id=str(rfq.pk)).exists()


def test_recommendation_accepts_a_cheap_full_book_and_replays(trader, instrument, market, dealers) -> None:  # noqa: ANN001
    rfq = _new_rfq(trader, instrument)
    rfq_send_selected(rfq=rfq, actor=trader, wave_size=5)
    rfq.refresh_from_db()
    asked = list(QuoteRequest.objects.filter(rfq=rfq).select_related("dealer"))
    for n, request in enumerate(asked):
        quote_give(rfq, request.dealer, offer=market * (1.0002 + n * 0.0004), bid=market * 0.999)

    output = rfq_recommendation(rfq=rfq, actor=trader)

    assert output["action"] == "accept"
    assert output["fills"][0][0] == asked[0].dealer.code  # the cheapest quote first
    assert sum(q for _, q, _ in output["fills"]) == pytest.approx(5.0)
    assert abs(sum(v for k, v in output["costs"].items() if k != "total") - output["costs"]["total"]) < 1e-9
    record = DecisionRecord.objects.get(pk=output["decision_id"])
    assert decision_replay(record).matches

    done = rfq_act(rfq=rfq, output=output, actor=trader)

    orders = DealerOrder.objects.filter(cl_ord_id__in=done["dealer_orders"])
    assert sum(o.quantity for o in orders) == Decimal(5)
    rfq.refresh_from_db()
    assert rfq.status == RFQStatus.ACCEPTED


def test_partial_acceptance_keeps_the_rfq_open_until_covered(trader, instrument, market, dealers) -> None:  # noqa: ANN001
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=dealers[:2], quantity="5")
    a = quote_give(rfq, dealers[0], offer=market * 1.001, bid=market * 0.999, size="3")
    b = quote_give(rfq, dealers[1], offer=market * 1.002, bid=market * 0.999, size="3")
    from rfq.services import quote_accept

    quote_accept(quote=a, actor=trader, quantity=Decimal(3))
    rfq.refresh_from_db()
    assert rfq.status == RFQStatus.PARTIALLY_ACCEPTED
    with pytest.raises(QuoteRefused, match="up to the 2"):
        quote_accept(quote=b, actor=trader, quantity=Decimal(3))
    quote_accept(quote=b, actor=trader, quantity=Decimal(2))
    rfq.refresh_from_db()
    assert rfq.status == RFQStatus.ACCEPTED


def test_automatic_mode_acts_within_limits_and_leaves_the_rest_to_the_trader(
    trader, risk_officer, instrument, market, dealers
) -> None:  # noqa: ANN001
    with pytest.raises(Exception, match="risk officer"):
        auto_trading_limit_set(actor=trader, enabled=True, max_notional=Decimal("1e9"), max_cost_bps=50)
    auto_trading_limit_set(actor=risk_officer, enabled=True, max_notional=Decimal("1e9"), max_cost_bps=50)

    small = _new_rfq(trader, instrument, mode=TradingMode.AUTO)
    rfq_send_selected(rfq=small, actor=trader, wave_size=5)
    for request in QuoteRequest.objects.filter(rfq=small).select_related("dealer"):
        quote_give(small, request.dealer, offer=market * 1.0005, bid=market * 0.999)
    acted = rfq_auto_decide(rfq_id=small.pk)

    assert acted["outcome"] == "acted"
    assert DecisionRecord.objects.filter(kind=DecisionKind.AUTO_ACCEPT, object_id=str(small.pk)).exists()

    auto_trading_limit_set(actor=risk_officer, enabled=True, max_notional=Decimal("1000"), max_cost_bps=50)
    big = _new_rfq(trader, instrument, mode=TradingMode.AUTO)
    rfq_send_selected(rfq=big, actor=trader, wave_size=5)
    for request in QuoteRequest.objects.filter(rfq=big).select_related("dealer"):
        quote_give(big, request.dealer, offer=market * 1.0005, bid=market * 0.999)
    left = rfq_auto_decide(rfq_id=big.pk)

    assert left["outcome"] == "left to the trader"
    assert "notional" in left["breaches"][0]
    assert not DealerOrder.objects.filter(quote__rfq=big).exists()


def test_an_automatic_acceptance_is_a_decision_record_that_replays(trader, risk_officer, instrument, market, dealers):  # noqa: ANN001, ANN201
    # given automatic mode within a risk officer's limits, and an RFQ the desk accepts by itself
    auto_trading_limit_set(actor=risk_officer, enabled=True, max_notional=Decimal("1e9"), max_cost_bps=50)
    rfq = _new_rfq(trader, instrument, mode=TradingMode.AUTO)
    rfq_send_selected(rfq=rfq, actor=trader, wave_size=5)
    for request in QuoteRequest.objects.filter(rfq=rfq).select_related("dealer"):
        quote_give(rfq, request.dealer, offer=market * 1.0005, bid=market * 0.999)
    acted = rfq_auto_decide(rfq_id=rfq.pk)
    assert acted["outcome"] == "acted"

    # when a risk officer replays its auto_accept record
    record = DecisionRecord.objects.get(kind=DecisionKind.AUTO_ACCEPT, object_id=str(rfq.pk))
    replay = decision_replay(record)

    # then it replays: the limits checked and the quotes taken follow from its inputs, and they are what was done
    assert replay.matches, replay
    assert replay.inputs_intact
    assert record.output["act"] is True
    assert record.output["breaches"] == []
    assert record.inputs["recommendation"]["decision_id"] == acted["decision"]
    taken = DealerOrder.objects.filter(cl_ord_id__in=acted["dealer_orders"]).select_related("quote")
    assert sorted((o.quote_id, o.quantity) for o in taken) == sorted(
        (quote_id, Decimal(lots)) for _, quote_id, lots in record.output["plan"]["takes"]
    )
    assert ", ".join(acted["dealer_orders"]) in record.explanation
    # and inputs under a tighter limit replay to a refusal: the replay recomputes the decision, it does not echo it
    tighter = dict(record.inputs) | {"limit": record.inputs["limit"] | {"max_notional": "1000"}}
    from rfq.engine.auto import auto_accept_compute

    assert auto_accept_compute(tighter)["act"] is False


def test_expiry_releases_aggregated_orders_and_late_quotes_are_recorded_never_stored(
    trader, instrument, market, dealers, account
) -> None:  # noqa: ANN001
    order = factories.desk_order_create(trader=trader, instrument=instrument, account=account)
    order.status = DeskOrderStatus.AGGREGATED
    order.save(update_fields=["status"])
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=dealers[:1], orders=[order])
    quote = quote_give(rfq, dealers[0], offer=market * 1.001, bid=market * 0.999)
    RFQ.objects.filter(pk=rfq.pk).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))

    expired = rfqs_expire_due()

    assert expired == [rfq.reference]
    rfq.refresh_from_db()
    order.refresh_from_db()
    quote.refresh_from_db()
    assert rfq.status == RFQStatus.EXPIRED
    assert quote.status == QuoteStatus.EXPIRED
    assert order.status == DeskOrderStatus.NEW
    assert rfqs_expire_due() == []  # twice is harmless

    request = QuoteRequest.objects.get(rfq=rfq, dealer=dealers[0])
    with pytest.raises(QuoteRefused, match="late"):
        quote_receive(
            dealer=dealers[0],
            quote_req_id=request.quote_req_id,
            quote_id="LATE-1",
            legs=[QuoteLegInput(leg_no=1, offer_price=Decimal("1"), offer_size=Decimal("5"))],
            valid_until=datetime.now(UTC) + timedelta(seconds=30),
        )
    assert not rfq.quotes.filter(quote_id="LATE-1").exists()
    late = AuditEvent.objects.get(action="quote.late")
    assert late.after["quote_id"] == "LATE-1"


def test_bad_rfqs_are_refused_naming_the_problem_and_store_nothing(trader, risk_officer, instrument, market) -> None:  # noqa: ANN001
    expired_option = factories.instrument_create(
        symbol="BTC-OLD-C",
        kind=InstrumentKind.OPTION,
        underlying=instrument,
        strike=Decimal(60000),
        expiry=datetime.now(UTC) - timedelta(days=1),
        option_type="call",
    )
    with pytest.raises(QuoteRefused, match="expired"):
        _new_rfq(trader, expired_option, quantity="1")
    with pytest.raises(QuoteRefused, match="not a positive multiple"):
        _new_rfq(trader, instrument, quantity="0")

    future = datetime.now(UTC) + timedelta(days=30)
    call = factories.instrument_create(
        symbol="BTC-C-60",
        kind=InstrumentKind.OPTION,
        underlying=instrument,
        strike=Decimal(60000),
        expiry=future,
        option_type="call",
        lot_size=Decimal("0.1"),
    )
    put = factories.instrument_create(
        symbol="BTC-P-50",
        kind=InstrumentKind.OPTION,
        underlying=instrument,
        strike=Decimal(50000),
        expiry=future,
        option_type="put",
        lot_size=Decimal("0.1"),
    )
    with pytest.raises(QuoteRefused, match="straddle's call and put have the same strike"):
        rfq_create(
            legs=[LegInput(call, "buy", Decimal(1)), LegInput(put, "buy", Decimal(1))],
            actor=trader,
            package_type="straddle",
        )

    kill_switch_engage(scope="underlying", scope_key="BTC", reason="test halt", actor=risk_officer)
    with pytest.raises(QuoteRefused, match="halted"):
        _new_rfq(trader, instrument)
    assert not RFQ.objects.exists()


def test_api_preview_recommendation_and_limits_by_role(
    trader, risk_officer, compliance, dealer, instrument, market, dealers
) -> None:  # noqa: ANN001
    client = Client()
    client.force_login(trader)
    preview = client.post(
        "/api/v1/rfqs/preview/",
        {"legs": [{"instrument": "BTC-USD", "side": "buy", "quantity": "5"}]},
        content_type="application/json",
    )
    assert preview.status_code == 200, preview.content
    assert preview.json()["dealers"]
    assert preview.json()["rows"][0]["contributions"]

    created = client.post(
        "/api/v1/rfqs/",
        {"legs": [{"instrument": "BTC-USD", "side": "buy", "quantity": "5"}], "expires_in_s": 60},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    reference = created.json()["reference"]
    assert created.json()["dealers"]  # chosen by the desk
    recommendation = client.get(f"/api/v1/rfqs/{reference}/recommendation/")
    assert recommendation.status_code == 200
    assert recommendation.json()["action"] in ("accept", "wait", "split")
    assert client.post(
        f"/api/v1/rfqs/{reference}/act/", {"decision_id": 999999}, content_type="application/json"
    ).json() == {"decision_id": "no recommendation with this id for this RFQ"}

    body = {"enabled": True, "max_notional": "100000", "max_cost_bps": 10}
    assert client.post("/api/v1/auto-limits/", body, content_type="application/json").status_code == 403
    client.force_login(risk_officer)
    assert client.post("/api/v1/auto-limits/", body, content_type="application/json").status_code == 201
    bad = client.post("/api/v1/auto-limits/", {**body, "max_notional": "-1"}, content_type="application/json")
    assert bad.status_code == 400
    assert "max_notional" in bad.json()
    client.force_login(compliance)
    assert Decimal(client.get("/api/v1/auto-limits/").json()[0]["max_notional"]) == Decimal(100000)
    assert client.get("/api/v1/scoring/models/").status_code == 200
    client.force_login(dealer.user)
    assert client.get(f"/api/v1/rfqs/{reference}/recommendation/").status_code == 403


def test_a_package_fills_whole_and_books_each_leg_at_prices_that_sum_to_the_package(
    trader, instrument, market, dealers
) -> None:  # noqa: ANN001
    from execution.models import Fill, Position
    from rfq.services import dealer_order_fill, quote_accept

    future = datetime.now(UTC) + timedelta(days=30)
    legs = []
    for symbol, kind in (("BTC-60K-C", "call"), ("BTC-60K-P", "put")):
        option = factories.instrument_create(
            symbol=symbol,
            kind=InstrumentKind.OPTION,
            underlying=instrument,
            strike=Decimal(60000),
            expiry=future,
            option_type=kind,
            lot_size=Decimal("0.1"),
        )
        legs.append(LegInput(option, "buy", Decimal(2)))
    dealers[0].instrument_classes = []
    dealers[0].save(update_fields=["instrument_classes"])
    rfq = rfq_create(legs=legs, actor=trader, package_type="straddle")
    from rfq.services import rfq_send

    rfq_send(rfq=rfq, dealers=[dealers[0]], actor=trader)
    request = QuoteRequest.objects.get(rfq=rfq)
    quote = quote_receive(
        dealer=dealers[0],
        quote_req_id=request.quote_req_id,
        quote_id="PKG-1",
        legs=[
            QuoteLegInput(
                leg_no=n, bid_price=Decimal(p - 50), bid_size=Decimal(2), offer_price=Decimal(p), offer_size=Decimal(2)
            )
            for n, p in ((1, 3000), (2, 2500))
        ],
        valid_until=datetime.now(UTC) + timedelta(seconds=60),
        package_price=Decimal(5490),  # 10 below the legs' offers: the dealer's package discount
    )

    order = quote_accept(quote=quote, actor=trader)
    assert order.quantity == Decimal(2)  # package units
    dealer_order_fill(
        dealer=dealers[0], cl_ord_id=order.cl_ord_id, exec_id="X1", quantity=Decimal(2), price=Decimal(5490)
    )
    again = dealer_order_fill(
        dealer=dealers[0], cl_ord_id=order.cl_ord_id, exec_id="X1", quantity=Decimal(2), price=Decimal(5490)
    )

    fills = list(Fill.objects.filter(quote=quote).order_by("exec_id"))
    assert [f.quantity for f in fills] == [Decimal(2), Decimal(2)]
    assert sum(f.price for f in fills) == Decimal(5490)
    assert again.pk == fills[0].pk
    assert {p.instrument.symbol: p.quantity for p in Position.objects.all()} == {
        "BTC-60K-C": Decimal(2),
        "BTC-60K-P": Decimal(2),
    }


def test_shown_fraction_follows_the_measured_leakage() -> None:
    from rfq.engine.selection import shown_fraction

    assert shown_fraction(1.0, 2.0) == 1.0
    assert shown_fraction(4.0, 2.0) == 0.5
    assert shown_fraction(7.0, 2.0) == 0.25  # 2/7 = 0.2857 → 0.25 in 5 % steps
    assert shown_fraction(100.0, 2.0) == 0.25  # never below a quarter
    assert shown_fraction(100.0, 0.0) == 1.0  # off


def test_leaky_dealers_see_part_of_the_size_over_rest(trader, instrument, market, dealers, settings, client) -> None:  # noqa: ANN001
    from rfq.engine import selection

    settings.RFQ_PARTIAL_LEAK_BPS = 2.0
    real = selection.prior_estimates

    def leaky(codes: list[str]):  # noqa: ANN202
        frame = real(codes)
        # The measured leakage estimate (the score weighs it; the prior weight is 1): 3 bps each, so any dealer
        # chosen passes the 2 bps threshold.
        frame["leak_estimate_bps"] = 3.0
        return frame

    selection.prior_estimates = leaky
    try:
        rfq = _new_rfq(trader, instrument, quantity="8")
        sent = rfq_send_selected(rfq=rfq, actor=trader, wave_size=1)
    finally:
        selection.prior_estimates = real

    assert sent["shown_fraction"] < 1.0
    request = QuoteRequest.objects.select_related("dealer").get(rfq=rfq)
    assert request.shown_fraction == Decimal(str(sent["shown_fraction"]))
    code = request.dealer.code
    listed = client.get(
        f"/api/v1/dealer/rfqs/{rfq.reference}/", HTTP_AUTHORIZATION=f"DealerKey key-{code.lower()}:dealer-secret-xyz"
    )
    assert listed.status_code == 200, listed.content
    shown = Decimal(listed.json()["legs"][0]["quantity"])
    assert shown == (Decimal(8) * request.shown_fraction).quantize(Decimal("0.0001"))
    assert shown < Decimal(8)


def test_repeated_rfqs_on_an_instrument_are_spaced(trader, instrument, market, dealers, settings) -> None:  # noqa: ANN001
    settings.RFQ_SPACING_S = 30.0
    rfq_send_selected(rfq=_new_rfq(trader, instrument), actor=trader)

    with pytest.raises(QuoteRefused, match="spacing"):
        rfq_send_selected(rfq=_new_rfq(trader, instrument), actor=trader)


def test_legging_takes_each_leg_from_its_best_dealer_only_when_allowed(trader, instrument, market, dealers) -> None:  # noqa: ANN001
    from rfq.services import quote_accept, rfq_send

    future = datetime.now(UTC) + timedelta(days=30)
    legs = [
        LegInput(
            factories.instrument_create(
                symbol=f"BTC-L-{kind}",
                kind=InstrumentKind.OPTION,
                underlying=instrument,
                strike=Decimal(60000),
                expiry=future,
                option_type=kind,
                lot_size=Decimal("0.1"),
            ),
            "buy",
            Decimal(1),
        )
        for kind in ("call", "put")
    ]

    def quoted(rfq: RFQ, dealer, call: int, put: int):  # noqa: ANN001, ANN202
        request = QuoteRequest.objects.get(rfq=rfq, dealer=dealer)
        return quote_receive(
            dealer=dealer,
            quote_req_id=request.quote_req_id,
            quote_id=f"LEG-{rfq.pk}-{dealer.code}",
            legs=[
                QuoteLegInput(leg_no=n, offer_price=Decimal(p), offer_size=Decimal(1)) for n, p in ((1, call), (2, put))
            ],
            valid_until=datetime.now(UTC) + timedelta(seconds=60),
            package_price=Decimal(call + put),
        )

    for dealer in dealers[:2]:
        dealer.instrument_classes = []
        dealer.save(update_fields=["instrument_classes"])
    whole = rfq_create(legs=legs, actor=trader, package_type="straddle")
    rfq_send(rfq=whole, dealers=dealers[:2], actor=trader)
    with pytest.raises(QuoteRefused, match="all or none"):
        quote_accept(quote=quoted(whole, dealers[0], 3000, 2600), actor=trader, leg_no=1)

    legged = rfq_create(legs=legs, actor=trader, package_type="straddle", allow_legging=True)
    rfq_send(rfq=legged, dealers=dealers[:2], actor=trader)
    a = quoted(legged, dealers[0], 3000, 2600)  # best call
    b = quoted(legged, dealers[1], 3100, 2500)  # best put
    first = quote_accept(quote=a, actor=trader, leg_no=1)
    legged.refresh_from_db()
    assert legged.status == RFQStatus.PARTIALLY_ACCEPTED
    second = quote_accept(quote=b, actor=trader, leg_no=2)
    legged.refresh_from_db()

    assert legged.status == RFQStatus.ACCEPTED
    assert (first.leg.leg_no, first.price, second.leg.leg_no, second.price) == (1, Decimal(3000), 2, Decimal(2500))


def test_the_accept_api_takes_part_of_a_quote_and_names_a_bad_quantity(trader, instrument, market, dealers) -> None:  # noqa: ANN001
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=dealers[:1], quantity="5")
    quote = quote_give(rfq, dealers[0], offer=market * 1.001, bid=market * 0.999, size="5")
    client = Client()
    client.force_login(trader)

    bad = client.post(f"/api/v1/quotes/{quote.pk}/accept/", {"quantity": "-1"}, content_type="application/json")
    part = client.post(f"/api/v1/quotes/{quote.pk}/accept/", {"quantity": "2"}, content_type="application/json")

    assert bad.status_code == 400
    assert "quantity" in bad.json()
    assert part.status_code == 201, part.content
    assert Decimal(part.json()["quantity"]) == Decimal(2)
    rfq.refresh_from_db()
    assert rfq.status == RFQStatus.PARTIALLY_ACCEPTED


def test_a_polled_recommendation_on_an_unchanged_book_is_stored_once(trader, instrument, market, dealers) -> None:  # noqa: ANN001
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=dealers[:2], quantity="5")
    quote_give(rfq, dealers[0], offer=market * 1.001, bid=market * 0.999)

    first = rfq_recommendation(rfq=rfq, actor=trader)
    again = rfq_recommendation(rfq=rfq, actor=trader)
    quote_give(rfq, dealers[1], offer=market * 1.0005, bid=market * 0.999)
    changed = rfq_recommendation(rfq=rfq, actor=trader)

    assert again["decision_id"] == first["decision_id"]
    assert changed["decision_id"] != first["decision_id"]
    assert DecisionRecord.objects.filter(kind=DecisionKind.QUOTE_DECISION, object_id=str(rfq.pk)).count() == 2


def test_the_ticket_preview_names_the_dealers_the_rfq_is_then_sent_to(trader, instrument, market, dealers) -> None:  # noqa: ANN001
    client = Client()
    client.force_login(trader)
    preview = client.post(
        "/api/v1/rfqs/preview/",
        {"legs": [{"instrument": "BTC-USD", "side": "buy", "quantity": "5"}]},
        content_type="application/json",
    ).json()

    sent = rfq_send_selected(rfq=_new_rfq(trader, instrument), actor=trader)

    assert [code for wave in sent["waves"] for code in wave] == preview["dealers"]


def test_a_kill_switch_cancels_the_open_rfqs_under_its_scope_and_their_quotes_cannot_be_taken(
    trader, risk_officer, instrument, market, dealers, account
) -> None:  # noqa: ANN001
    from rfq.services import quote_accept

    eth = factories.instrument_create(symbol="ETH-USD", base_currency="ETH")
    order = factories.desk_order_create(trader=trader, instrument=instrument, account=account)
    order.status = DeskOrderStatus.AGGREGATED
    order.save(update_fields=["status"])
    btc_rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=dealers[:1], orders=[order])
    quote = quote_give(btc_rfq, dealers[0], offer=market * 1.001, bid=market * 0.999)
    eth_rfq = factories.rfq_create(trader=trader, instrument=eth, dealers=dealers[:1])

    kill_switch_engage(scope="underlying", scope_key="BTC", reason="bad prints", actor=risk_officer)

    btc_rfq.refresh_from_db()
    eth_rfq.refresh_from_db()
    order.refresh_from_db()
    assert btc_rfq.status == RFQStatus.CANCELLED
    assert eth_rfq.status == RFQStatus.SENT
    assert order.status == DeskOrderStatus.NEW
    with pytest.raises(QuoteRefused):
        quote_accept(quote=quote, actor=trader)
    engaged = AuditEvent.objects.get(action="risk.kill_switch.engage")
    assert engaged.after["cancelled_rfqs"] == [btc_rfq.reference]


def test_my_auto_limit_is_no_content_until_one_applies_and_the_scoring_models_are_a_list(
    client_for,
    trader,
    risk_officer,  # noqa: ANN001
) -> None:
    # given no automatic-mode limit and one scoring model version
    client = client_for(trader)
    ScoringModelVersion.objects.create(
        version=1,
        data_start=datetime.now(UTC) - timedelta(days=2),
        data_end=datetime.now(UTC) - timedelta(days=1),
        training_data_sha256="0" * 64,
        artifact={},
    )

    # when the trader asks for the limit that applies, before and after the desk's default is set, and for the models
    before = client.get("/api/v1/auto-limits/mine/")
    body = {"enabled": True, "max_notional": "100000", "max_cost_bps": 10}
    assert (
        client_for(risk_officer).post("/api/v1/auto-limits/", body, content_type="application/json").status_code == 201
    )
    after = client.get("/api/v1/auto-limits/mine/")
    models = client.get("/api/v1/scoring/models/")

    # then each answer is what the schema says: no content, then the limit; a list of versions without artifacts
    assert (before.status_code, before.content) == (204, b"")
    assert (after.status_code, Decimal(after.json()["max_notional"]), after.json()["trader"]) == (200, 100000, None)
    assert models.status_code == 200
    (row,) = models.json()
    assert (row["version"], row["status"], row["created_by"]) == (1, "draft", None)
    assert "artifact" not in row


def test_with_nobody_to_ask_the_selection_is_recorded_and_the_send_refused(trader, instrument, market, dealers) -> None:  # noqa: ANN001
    for dealer in dealers:
        dealer.status = CounterpartyStatus.SUSPENDED
        dealer.save(update_fields=["status"])
    rfq = _new_rfq(trader, instrument)

    output = dealers_recommend(rfq=rfq, actor=trader)

    # no expected cost without a dealer (JSON has no NaN: it was an IntegrityError before)
    assert (output["dealers"], output["expected_cost_bps"]) == ([], None)
    assert "no dealer can be asked" in output["explanation"]
    assert decision_replay(DecisionRecord.objects.get(kind=DecisionKind.DEALER_SELECTION)).matches
    with pytest.raises(QuoteRefused, match="no dealer can be asked"):
        rfq_send_selected(rfq=rfq, actor=trader)
