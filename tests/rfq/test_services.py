"""The RFQ lifecycle through its services: send, quote, accept, fill or last-look reject, and the refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from desk.audit import chain_verify
from desk.models import AuditEvent
from execution.models import Fill
from rfq import services
from rfq.models import (
    RFQ,
    Connectivity,
    DealerOrderStatus,
    Quote,
    QuoteRequest,
    QuoteRequestStatus,
    QuoteStatus,
    RFQStatus,
)
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent_rfq(trader, instrument, dealer, other_dealer):  # noqa: ANN001, ANN201
    return factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer, other_dealer])


def _leg(**prices: str) -> services.QuoteLegInput:
    return services.QuoteLegInput(leg_no=1, **{k: Decimal(v) for k, v in prices.items()})


def _request(rfq: RFQ, dealer) -> QuoteRequest:  # noqa: ANN001
    return QuoteRequest.objects.get(rfq=rfq, dealer=dealer)


def test_send_creates_one_request_per_dealer_and_audits(sent_rfq, dealer) -> None:  # noqa: ANN001
    assert sent_rfq.status == RFQStatus.SENT
    assert sent_rfq.quote_requests.count() == 2
    assert _request(sent_rfq, dealer).status == QuoteRequestStatus.SENT  # REST dealers pull at once
    assert AuditEvent.objects.filter(action="rfq.send", object_id=str(sent_rfq.pk)).exists()


def test_fix_dealer_request_waits_for_the_gateway(trader, instrument) -> None:  # noqa: ANN001
    fix_dealer = factories.dealer_create(code="FIXD", connectivity=Connectivity.FIX)
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[fix_dealer])
    request = _request(rfq, fix_dealer)

    assert request.status == QuoteRequestStatus.PENDING
    services.quote_request_mark_sent(quote_request=request)
    services.quote_request_mark_sent(quote_request=request)  # twice: idempotent
    assert _request(rfq, fix_dealer).status == QuoteRequestStatus.SENT
    assert AuditEvent.objects.filter(action="quote_request.sent").count() == 1


def test_only_a_draft_can_be_sent(sent_rfq, dealer) -> None:  # noqa: ANN001
    with pytest.raises(services.QuoteRefused, match="only a draft"):
        services.rfq_send(rfq=sent_rfq, dealers=[dealer], actor="system:test")


def test_quote_moves_the_rfq_to_quoted(sent_rfq, dealer) -> None:  # noqa: ANN001
    quote = factories.quote_create(rfq=sent_rfq, dealer=dealer, bid="99.5", offer="100.5")

    sent_rfq.refresh_from_db()
    assert sent_rfq.status == RFQStatus.QUOTED
    assert quote.legs.get().offer_price == Decimal("100.5")
    assert _request(sent_rfq, dealer).status == QuoteRequestStatus.QUOTED


@pytest.mark.parametrize(
    ("legs", "reason"),
    [
        ([_leg(bid_price="101", offer_price="100")], "above offer"),
        ([_leg(bid_price="-1")], "must be positive"),
        ([services.QuoteLegInput(leg_no=1)], "neither bid nor offer"),
        ([services.QuoteLegInput(leg_no=2, bid_price=Decimal(1))], "do not match"),
        ([_leg(bid_price="99"), _leg(bid_price="98")], "quoted twice"),
    ],
)
def test_bad_quote_is_refused_whole(sent_rfq, dealer, legs, reason) -> None:  # noqa: ANN001
    with pytest.raises(services.QuoteRefused, match=reason):
        services.quote_receive(
            dealer=dealer,
            quote_req_id=_request(sent_rfq, dealer).quote_req_id,
            quote_id="Q1",
            legs=legs,
            valid_until=datetime.now(UTC) + timedelta(seconds=30),
        )

    assert not Quote.objects.exists()
    sent_rfq.refresh_from_db()
    assert sent_rfq.status == RFQStatus.SENT


def test_quote_for_another_dealers_request_looks_unknown(sent_rfq, dealer, other_dealer) -> None:  # noqa: ANN001
    with pytest.raises(services.QuoteRefused, match="unknown QuoteReqID"):
        services.quote_receive(
            dealer=dealer,
            quote_req_id=_request(sent_rfq, other_dealer).quote_req_id,
            quote_id="Q1",
            legs=[_leg(bid_price="99")],
            valid_until=datetime.now(UTC) + timedelta(seconds=30),
        )


def test_quote_for_an_expired_rfq_is_refused(trader, instrument, dealer) -> None:  # noqa: ANN001
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer], expires_in=timedelta(0))

    with pytest.raises(services.QuoteRefused, match="expired"):
        factories.quote_create(rfq=rfq, dealer=dealer)


def test_reused_quote_id_is_refused(sent_rfq, dealer) -> None:  # noqa: ANN001
    quote = factories.quote_create(rfq=sent_rfq, dealer=dealer)

    with pytest.raises(services.QuoteRefused, match="already used"):
        services.quote_receive(
            dealer=dealer,
            quote_req_id=_request(sent_rfq, dealer).quote_req_id,
            quote_id=quote.quote_id,
            legs=[_leg(bid_price="99")],
            valid_until=datetime.now(UTC) + timedelta(seconds=30),
        )


def test_accept_then_fill_books_one_fill_at_the_quoted_price(sent_rfq, dealer, trader) -> None:  # noqa: ANN001
    quote = factories.quote_create(rfq=sent_rfq, dealer=dealer, offer="100.25")

    order = services.quote_accept(quote=quote, actor=trader)
    fill = services.dealer_order_fill(
        dealer=dealer, cl_ord_id=order.cl_ord_id, exec_id="E1", quantity=Decimal(5), price=Decimal("100.25")
    )
    again = services.dealer_order_fill(
        dealer=dealer, cl_ord_id=order.cl_ord_id, exec_id="E1", quantity=Decimal(5), price=Decimal("100.25")
    )

    order.refresh_from_db()
    assert order.side == "buy"
    assert order.price == Decimal("100.25")
    assert order.status == DealerOrderStatus.FILLED
    assert again.pk == fill.pk
    assert Fill.objects.count() == 1
    assert Quote.objects.get(pk=quote.pk).status == QuoteStatus.FILLED
    assert RFQ.objects.get(pk=sent_rfq.pk).status == RFQStatus.ACCEPTED
    assert chain_verify().ok


def test_fill_at_another_price_or_beyond_quantity_is_refused(sent_rfq, dealer, trader) -> None:  # noqa: ANN001
    order = services.quote_accept(quote=factories.quote_create(rfq=sent_rfq, dealer=dealer), actor=trader)

    with pytest.raises(services.QuoteRefused, match="differs from the accepted price"):
        services.dealer_order_fill(
            dealer=dealer, cl_ord_id=order.cl_ord_id, exec_id="E1", quantity=Decimal(5), price=Decimal(102)
        )
    with pytest.raises(services.QuoteRefused, match="exceeds"):
        services.dealer_order_fill(
            dealer=dealer, cl_ord_id=order.cl_ord_id, exec_id="E2", quantity=Decimal(6), price=Decimal(101)
        )
    assert not Fill.objects.exists()


def test_last_look_reject_reopens_the_rfq_when_other_quotes_live(  # noqa: PLR0913
    sent_rfq,
    dealer,
    other_dealer,
    trader,  # noqa: ANN001
) -> None:
    first = factories.quote_create(rfq=sent_rfq, dealer=dealer)
    factories.quote_create(rfq=sent_rfq, dealer=other_dealer)
    order = services.quote_accept(quote=first, actor=trader)

    services.dealer_order_reject(dealer=dealer, cl_ord_id=order.cl_ord_id, reason="price moved")

    assert RFQ.objects.get(pk=sent_rfq.pk).status == RFQStatus.QUOTED
    assert Quote.objects.get(pk=first.pk).status == QuoteStatus.LAST_LOOK_REJECTED


def test_expired_or_indicative_quote_cannot_be_accepted(sent_rfq, dealer, other_dealer, trader) -> None:  # noqa: ANN001
    stale = factories.quote_create(rfq=sent_rfq, dealer=dealer, valid_for=timedelta(milliseconds=1))
    Quote.objects.filter(pk=stale.pk).update(valid_until=datetime.now(UTC) - timedelta(seconds=1))
    indicative = factories.quote_create(rfq=sent_rfq, dealer=other_dealer)
    Quote.objects.filter(pk=indicative.pk).update(firmness="indicative")

    with pytest.raises(services.QuoteRefused, match="expired"):
        services.quote_accept(quote=stale, actor=trader)
    with pytest.raises(services.QuoteRefused, match="indicative"):
        services.quote_accept(quote=indicative, actor=trader)


def test_session_drop_cancels_the_dealers_live_quotes(sent_rfq, dealer, other_dealer) -> None:  # noqa: ANN001
    mine = factories.quote_create(rfq=sent_rfq, dealer=dealer)
    theirs = factories.quote_create(rfq=sent_rfq, dealer=other_dealer)

    cancelled = services.dealer_quotes_cancel(dealer=dealer, reason="FIX session dropped")

    assert cancelled == 1
    assert Quote.objects.get(pk=mine.pk).status == QuoteStatus.CANCELLED
    assert Quote.objects.get(pk=theirs.pk).status == QuoteStatus.LIVE


def test_no_quote_after_the_dealer_declined(sent_rfq, dealer) -> None:  # noqa: ANN001
    request = _request(sent_rfq, dealer)
    services.quote_request_decline(dealer=dealer, quote_req_id=request.quote_req_id, reason="no axe")

    with pytest.raises(services.QuoteRefused, match="declined"):
        factories.quote_create(rfq=sent_rfq, dealer=dealer)
    with pytest.raises(services.QuoteRefused, match="declined"):
        services.quote_request_decline(dealer=dealer, quote_req_id=request.quote_req_id, reason="twice")


def test_a_dealer_fill_books_the_position(sent_rfq, dealer, trader) -> None:  # noqa: ANN001
    from execution.models import Position
    from risk.orders import DEFAULT_BOOK

    order = services.quote_accept(quote=factories.quote_create(rfq=sent_rfq, dealer=dealer, offer="101"), actor=trader)
    services.dealer_order_fill(
        dealer=dealer, cl_ord_id=order.cl_ord_id, exec_id="E1", quantity=Decimal(5), price=Decimal(101)
    )

    position = Position.objects.get(book=DEFAULT_BOOK, instrument=order.leg.instrument)
    assert position.quantity == Decimal(5)
    assert position.average_price == Decimal(101)
