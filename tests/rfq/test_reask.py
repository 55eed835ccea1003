"""Advice that completes trades: the engine asks again (next wave, or a refreshed request to the same dealers) when
nothing is left to take or wait for; every RFQ ends explicitly with a reason; none stays quoted past its expiry; a
package's split works the rest as a package; automatic mode decides again at the advice's horizon."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from desk.decisions import decision_replay
from desk.market import venue_books_ensure
from desk.models import AuditEvent, DecisionKind, DecisionRecord, InstrumentKind, VenueBook
from execution.models import ExecutionPlan, PlanStatus
from rfq import tasks
from rfq.decision import BookQuote, MarketState, OrderTerms, wait_or_split
from rfq.engine import auto
from rfq.engine.auto import rfq_act, rfq_auto_decide
from rfq.engine.lifecycle import rfqs_expire_due
from rfq.engine.reask import reask_compute, rfq_reask, rfqs_reask_due
from rfq.engine.recommend import rfq_recommendation
from rfq.models import RFQ, Quote, QuoteRequest, QuoteRequestStatus, QuoteStatus, RFQStatus, TradingMode
from rfq.services import (
    LegInput,
    QuoteLegInput,
    QuoteRefused,
    dealer_order_reject,
    quote_accept,
    quote_receive,
    quote_request_decline,
    rfq_create,
    rfq_send,
)
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def market(db) -> float:  # noqa: ANN001
    venue_books_ensure(underlying="BTC", now=datetime.now(UTC))
    return float(VenueBook.objects.filter(underlying="BTC").first().mid)


def _silent_for(rfq: RFQ, seconds: float) -> None:
    QuoteRequest.objects.filter(rfq=rfq).update(sent_at=datetime.now(UTC) - timedelta(seconds=seconds))


def _quote(rfq: RFQ, dealer, *, valid_s: float = 60, offer: str = "101", quote_id: str = "Q-1") -> Quote:  # noqa: ANN001
    request = QuoteRequest.objects.get(rfq=rfq, dealer=dealer)
    return quote_receive(
        dealer=dealer,
        quote_req_id=request.quote_req_id,
        quote_id=quote_id,
        legs=[
            QuoteLegInput(
                leg_no=1,
                bid_price=Decimal(99),
                bid_size=Decimal(5),
                offer_price=Decimal(offer),
                offer_size=Decimal(5),
            )
        ],
        valid_until=datetime.now(UTC) + timedelta(seconds=valid_s),
    )


def test_silent_dealers_are_asked_again_with_a_new_id_and_the_decision_replays(trader, instrument, market) -> None:  # noqa: ANN001
    # given an RFQ to two dealers that have not answered for longer than the silence allowed
    dealers = [factories.dealer_create(code=code) for code in ("ALPHA", "BRAVO")]
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=dealers)
    old_ids = set(QuoteRequest.objects.filter(rfq=rfq).values_list("quote_req_id", flat=True))
    _silent_for(rfq, 30)

    # when the sweep runs
    asked = rfqs_reask_due()

    # then both are asked again under new QuoteReqIDs, as a decision record that replays
    assert asked == [rfq.reference]
    requests = list(QuoteRequest.objects.filter(rfq=rfq))
    assert {r.status for r in requests} == {QuoteRequestStatus.SENT}
    assert not old_ids & {r.quote_req_id for r in requests}
    record = DecisionRecord.objects.get(kind=DecisionKind.REASK, object_id=str(rfq.pk))
    assert record.output["action"] == "refresh"
    assert record.output["reason"] == "no dealer answered in time: the same dealers are asked again"
    assert decision_replay(record).matches
    assert AuditEvent.objects.filter(action="rfq.refresh", object_id=str(rfq.pk)).exists()

    # and an answer to the old id is refused, one to the new id is stored
    with pytest.raises(QuoteRefused):
        quote_receive(
            dealer=dealers[0],
            quote_req_id=sorted(old_ids)[0],
            quote_id="late",
            legs=[QuoteLegInput(leg_no=1, offer_price=Decimal(101), offer_size=Decimal(5))],
            valid_until=datetime.now(UTC) + timedelta(seconds=30),
        )
    assert _quote(rfq, dealers[0]).status == QuoteStatus.LIVE

    # and a second sweep, with a quote to take, asks nobody
    assert rfqs_reask_due() == []


def test_advice_with_no_quote_to_take_says_what_the_desk_does_next(trader, instrument, market) -> None:  # noqa: ANN001
    # given an RFQ whose two dealers have been silent longer than the silence allowed
    dealers = [factories.dealer_create(code=code) for code in ("ALPHA", "BRAVO")]
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=dealers)
    _silent_for(rfq, 30)

    # when the trader asks for advice, it takes no quote and says the dealers are asked again
    advice = rfq_recommendation(rfq=rfq, actor=trader)
    assert advice["fills"] == []
    assert advice["explanation"].startswith(f"no quote to take now: work all {advice['algo_quantity']:g}")
    assert "no dealer answered in time: the same dealers are asked again: 2 dealer(s)" in advice["explanation"]

    # and once every dealer declined, it says no re-ask is left and why
    for dealer in dealers:
        request = QuoteRequest.objects.get(rfq=rfq, dealer=dealer)
        quote_request_decline(dealer=dealer, quote_req_id=request.quote_req_id, reason="no axe")
    advice = rfq_recommendation(rfq=rfq, actor=trader)
    assert advice["explanation"].endswith("no re-ask: every dealer asked declined")


def test_no_reask_while_a_quote_can_be_taken_or_a_dealer_may_still_answer(trader, instrument, market) -> None:  # noqa: ANN001
    alpha, bravo = (factories.dealer_create(code=code) for code in ("ALPHA", "BRAVO"))
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[alpha, bravo])

    # just sent: the dealers may still answer
    assert rfq_reask(rfq_id=rfq.pk)["reason"] == "2 dealer(s) may still answer"

    # a live quote to take: nothing to ask
    _silent_for(rfq, 30)
    _quote(rfq, alpha)
    assert rfq_reask(rfq_id=rfq.pk)["reason"] == "a quote can still be taken"
    assert not DecisionRecord.objects.filter(kind=DecisionKind.REASK).exists()


def test_the_next_wave_first_then_declines_are_not_asked_again_and_the_count_is_bounded() -> None:
    base = {
        "left_s": 60.0,
        "takeable_quotes": 0,
        "requests": [
            {"dealer": "A", "status": "quoted", "silent_s": 25.0},
            {"dealer": "B", "status": "declined", "silent_s": 25.0},
            {"dealer": "C", "status": "sent", "silent_s": 25.0},
        ],
        "waves": [["D", "E"]],
        "reasks": 0,
        "max_reasks": 3,
        "min_left_s": 6.0,
        "silent_s": 5.0,
    }
    assert reask_compute(base) == {
        "action": "wave",
        "dealers": ["D", "E"],
        "reason": "their quotes expired: the next wave is asked",
    }
    assert reask_compute(base | {"waves": []})["dealers"] == ["A", "C"]
    assert reask_compute(base | {"reasks": 3})["action"] == "none"
    assert reask_compute(base | {"left_s": 4.0})["reason"] == "too little time left before the RFQ expires"
    declined = [{"dealer": "B", "status": "declined", "silent_s": 1.0}]
    assert reask_compute(base | {"waves": [], "requests": declined})["reason"] == "every dealer asked declined"


def test_no_rfq_stays_quoted_past_its_expiry_and_each_says_why_it_closed(trader, instrument, market) -> None:  # noqa: ANN001
    # given an RFQ with a quote nobody took, one nobody answered, and one every dealer declined, all past expiry
    alpha, bravo = (factories.dealer_create(code=code) for code in ("ALPHA", "BRAVO"))
    quoted = factories.rfq_create(trader=trader, instrument=instrument, dealers=[alpha])
    _quote(quoted, alpha, valid_s=2)
    silent = factories.rfq_create(trader=trader, instrument=instrument, dealers=[alpha, bravo])
    declined = factories.rfq_create(trader=trader, instrument=instrument, dealers=[bravo])
    QuoteRequest.objects.filter(rfq=declined).update(status=QuoteRequestStatus.DECLINED)
    RFQ.objects.filter(pk__in=[quoted.pk, silent.pk, declined.pk]).update(
        expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    assert RFQ.objects.get(pk=quoted.pk).status == RFQStatus.QUOTED

    # when the expiry task runs for one and the sweep for all (twice: idempotent)
    assert tasks.rfq_expire_task(quoted.pk) is True
    assert tasks.rfq_expire_task(quoted.pk) is False
    rfqs_expire_due()
    assert rfqs_expire_due() == []

    # then none is open past its expiry, and each says why
    past = RFQ.objects.filter(expires_at__lte=datetime.now(UTC))
    assert not past.filter(status__in=[RFQStatus.SENT, RFQStatus.QUOTED, RFQStatus.DRAFT]).exists()
    reasons = dict(RFQ.objects.values_list("pk", "close_reason"))
    assert reasons[quoted.pk] == "closed at expiry: no quote taken (1 quote(s) from 1 dealer(s) not accepted)"
    assert reasons[silent.pk] == "closed at expiry: no dealer answered in time (2 asked)"
    assert reasons[declined.pk] == "closed at expiry: every dealer asked declined (1)"
    assert AuditEvent.objects.get(action="rfq.expire", object_id=str(quoted.pk)).after["reason"] == reasons[quoted.pk]


def _options_straddle(trader, instrument, dealer):  # noqa: ANN001, ANN202
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
        legs.append(LegInput(option, "buy", Decimal(5)))
    dealer.instrument_classes = []
    dealer.save(update_fields=["instrument_classes"])
    rfq = rfq_create(legs=legs, actor=trader, package_type="straddle")
    rfq_send(rfq=rfq, dealers=[dealer], actor=trader)
    return rfq


def _package_quote(rfq: RFQ, dealer, prices: list[tuple[int, float, str]], package: str) -> Quote:  # noqa: ANN001
    request = QuoteRequest.objects.get(rfq=rfq, dealer=dealer)
    return quote_receive(
        dealer=dealer,
        quote_req_id=request.quote_req_id,
        quote_id=f"PKG-{rfq.pk}",
        legs=[
            QuoteLegInput(
                leg_no=n,
                bid_price=Decimal(f"{p * 0.999:.2f}"),
                bid_size=Decimal(size),
                offer_price=Decimal(f"{p:.2f}"),
                offer_size=Decimal(size),
            )
            for n, p, size in prices
        ],
        valid_until=datetime.now(UTC) + timedelta(seconds=60),
        package_price=Decimal(package),
    )


def test_a_package_split_takes_the_dealer_part_and_works_the_rest_leg_by_leg_in_ratio(  # noqa: ANN001
    trader, instrument, market, django_capture_on_commit_callbacks
) -> None:
    # given a package of 5 units (buy 1 x BTC-USD, sell 2 x BTC-PERP) and a package quote for 2 units
    dealer = factories.dealer_create(code="ALPHA")
    dealer.instrument_classes = []
    dealer.save(update_fields=["instrument_classes"])
    perp = factories.instrument_create(symbol="BTC-PERP", kind=InstrumentKind.PERPETUAL)
    rfq = rfq_create(
        legs=[LegInput(instrument, "buy", Decimal(5), 1), LegInput(perp, "sell", Decimal(10), 2)],
        actor=trader,
        package_type="custom",
    )
    rfq_send(rfq=rfq, dealers=[dealer], actor=trader)
    quote = _package_quote(rfq, dealer, [(1, market, "2"), (2, market, "4")], package=f"{-market:.2f}")
    output = {"action": "split", "fills": [("ALPHA", 2.0, quote.pk)], "algo_quantity": 3.0}

    # when the trader splits as recommended
    with django_capture_on_commit_callbacks(execute=True):
        done = rfq_act(rfq=rfq, output=output, actor=trader)

    # then the package quote is taken and each leg's rest (3 units x its ratio) is worked by a running plan, the
    # legs over the same horizon in the same slices
    assert len(done["dealer_orders"]) == 1
    plans = ExecutionPlan.objects.filter(pk__in=done["plans"]).order_by("rfq_leg__leg_no")
    assert [(p.instrument.symbol, p.side, p.quantity) for p in plans] == [
        (instrument.symbol, "buy", Decimal(3)),
        ("BTC-PERP", "sell", Decimal(6)),
    ]
    assert {p.status for p in plans} == {PlanStatus.RUNNING}
    assert len({(p.parameters["horizon_s"], p.parameters["slices"]) for p in plans}) == 1
    rfq.refresh_from_db()
    assert rfq.close_reason == done["reason"]
    assert done["reason"].startswith("split: 1 dealer order(s), 3 package(s) to the algorithms (plan ")


def test_a_package_of_options_is_never_split_the_venues_trading_no_options(trader, instrument, market) -> None:  # noqa: ANN001
    # given a straddle with one dealer's package quote far above the mark (the algorithms would look cheaper)
    dealer = factories.dealer_create(code="ALPHA")
    rfq = _options_straddle(trader, instrument, dealer)
    _package_quote(rfq, dealer, [(1, 30000, "5"), (2, 25000, "5")], package="55000")

    # when the desk recommends
    output = rfq_recommendation(rfq=rfq, actor=trader)

    # then it does not split (it cannot work options): it takes the quote
    assert output["action"] == "accept"
    assert output["algo_quantity"] == 0
    record = DecisionRecord.objects.get(pk=output["decision_id"])
    assert record.inputs["terms"]["algo_available"] is False
    assert decision_replay(record).matches


def test_without_quote_nor_algorithm_the_decision_waits_for_a_reask() -> None:
    terms = OrderTerms(side="buy", quantity=5, max_wait_s=20.0, algo_available=False)
    market = MarketState(mid=100.0, volatility=0.5, half_spread_bps=2.0, adv=1000.0)

    assert wait_or_split(book=[], pending=[], market=market, terms=terms).action == "wait"
    book = [BookQuote(dealer="A", price=100.2, size=2.0, expires_in_s=10.0)]
    partial = wait_or_split(book=book, pending=[], market=market, terms=terms)
    assert (partial.action, partial.fills, partial.algo_quantity) == ("accept", [("A", 2.0)], 0.0)
    workable = wait_or_split(book=book, pending=[], market=market, terms=OrderTerms(side="buy", quantity=5))
    assert workable.action == "split"


def test_a_split_of_everything_to_the_algorithms_closes_the_rfq_with_its_reason(  # noqa: ANN001
    trader, instrument, market, django_capture_on_commit_callbacks
) -> None:
    dealer = factories.dealer_create(code="ALPHA")
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer], quantity="5")

    with django_capture_on_commit_callbacks(execute=True):
        done = rfq_act(rfq=rfq, output={"action": "split", "fills": [], "algo_quantity": 5.0}, actor=trader)

    rfq.refresh_from_db()
    assert rfq.status == RFQStatus.ACCEPTED
    assert rfq.close_reason == f"split: 0 dealer order(s), 5 contract(s) to the algorithms (plan {done['plan']})"
    assert rfqs_expire_due(now=datetime.now(UTC) + timedelta(hours=1)) == []

    # and a second press on the same advice works nothing twice
    with pytest.raises(QuoteRefused, match="nothing more to carry out"):
        rfq_act(rfq=rfq, output={"action": "split", "fills": [], "algo_quantity": 5.0}, actor=trader)
    assert ExecutionPlan.objects.count() == 1


def test_a_last_look_reject_with_no_other_quote_says_so(trader, instrument, market) -> None:  # noqa: ANN001
    dealer = factories.dealer_create(code="ALPHA")
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])
    order = quote_accept(quote=_quote(rfq, dealer), actor=trader, quantity=Decimal(5))

    dealer_order_reject(dealer=dealer, cl_ord_id=order.cl_ord_id, reason="last look")

    rfq.refresh_from_db()
    assert rfq.status == RFQStatus.REJECTED
    assert rfq.close_reason == "rejected on last look by ALPHA (last look); no other live quote"


def test_automatic_mode_decides_again_at_the_horizon_of_a_reused_wait(  # noqa: ANN001
    trader, instrument, market, monkeypatch
) -> None:
    dealer = factories.dealer_create(code="ALPHA")
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])
    RFQ.objects.filter(pk=rfq.pk).update(mode=TradingMode.AUTO)
    scheduled = []
    monkeypatch.setattr(tasks.rfq_auto_decide_task, "apply_async", lambda args, countdown: scheduled.append(countdown))
    advice = {"action": "wait", "wait_s": 4.0, "decision_id": 1}

    monkeypatch.setattr(auto.recommend, "rfq_recommendation", lambda **_: advice | {"wait_left_s": 1.5})
    assert rfq_auto_decide(rfq_id=rfq.pk)["outcome"] == "waiting"
    monkeypatch.setattr(auto.recommend, "rfq_recommendation", lambda **_: advice | {"wait_left_s": 0.0})
    rfq_auto_decide(rfq_id=rfq.pk)
    monkeypatch.setattr(auto.recommend, "rfq_recommendation", lambda **_: advice)
    rfq_auto_decide(rfq_id=rfq.pk)

    assert scheduled == [1.5, 0.5, 4.0]


def test_automatic_mode_asks_again_before_deciding_on_an_empty_book(trader, instrument, market, monkeypatch) -> None:  # noqa: ANN001
    dealer = factories.dealer_create(code="ALPHA")
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])
    RFQ.objects.filter(pk=rfq.pk).update(mode=TradingMode.AUTO)
    _silent_for(rfq, 30)
    monkeypatch.setattr(tasks.rfq_auto_decide_task, "apply_async", lambda args, countdown: None)

    out = rfq_auto_decide(rfq_id=rfq.pk)

    assert out["outcome"] == "asked again"
    assert out["asked"] == ["ALPHA"]
    assert DecisionRecord.objects.filter(kind=DecisionKind.REASK, object_id=str(rfq.pk)).count() == 1


def test_the_board_and_the_blotter_show_why_an_rfq_closed(trader, instrument, market, client_for) -> None:  # noqa: ANN001
    # given an RFQ nobody answered, closed at its expiry
    dealer = factories.dealer_create(code="ALPHA")
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])
    RFQ.objects.filter(pk=rfq.pk).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    rfqs_expire_due()
    reason = "closed at expiry: no dealer answered in time (1 asked)"

    # then the trader reads why on the blotter, on the board and from the desk API the board loads
    client = client_for(trader)
    assert reason in client.get("/desk/").content.decode()
    board = client.get(f"/desk/rfq/{rfq.reference}/").content.decode()
    assert f'<span id="rfq-close-reason" class="muted">{reason}</span>' in board
    assert client.get(f"/api/v1/rfqs/{rfq.reference}/").json()["close_reason"] == reason
