"""The dealer flow over FIX: QuoteRequest out, Quote / QuoteRequestReject in, NewOrderSingle out, ExecutionReport in.

A raw simplefix client plays the dealer; the desk side acts through :mod:`rfq.services`, as the desk's pages do.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from desk.models import Instrument
from execution.models import Fill
from rfq import services
from rfq.fix import codec
from rfq.fix.acceptor import GatewayThread
from rfq.models import RFQ, Counterparty, DealerOrder, DealerOrderStatus, Quote, QuoteRequestStatus, QuoteStatus
from tests import factories
from tests.rfq.test_fix_support import (
    FixClient,
    execution_report_body,
    field,
    fix_dealer_create,
    quote_body,
    rfq_send_to,
    running_gateway,
    unique_code,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def gateway() -> Iterator[GatewayThread]:
    with running_gateway() as running:
        yield running


@pytest.fixture
def fix_dealer() -> Counterparty:
    return fix_dealer_create()


@pytest.fixture
def btc(db) -> Instrument:  # noqa: ANN001
    return factories.instrument_create(symbol=f"BTC-{unique_code('')}")


@pytest.fixture
def client(gateway: GatewayThread, fix_dealer: Counterparty) -> Iterator[FixClient]:
    connection = FixClient(gateway.port, sender=fix_dealer.fix_sender_comp_id or "")
    yield connection
    connection.close()


def _quote(dealer: Counterparty, quote_id: str) -> Quote | None:
    return Quote.objects.filter(dealer=dealer, quote_id=quote_id).first()


def test_pending_quote_request_is_delivered_at_logon_without_the_client(
    client: FixClient,
    fix_dealer: Counterparty,
    trader,
    btc: Instrument,
    account,  # noqa: ANN001
) -> None:
    order = factories.desk_order_create(trader=trader, instrument=btc, account=account)
    request = rfq_send_to(dealer=fix_dealer, trader=trader, instruments=[btc])
    request.rfq.orders.add(order)
    assert request.status == QuoteRequestStatus.PENDING

    client.logon()
    message = client.expect("R")

    assert field(message, 131) == request.quote_req_id
    assert (field(message, 146), field(message, 55), field(message, 54), field(message, 38)) == (
        "1",
        btc.symbol,
        "1",
        "5",
    )
    raw = message.encode(raw=True)
    assert account.code.encode() not in raw
    assert message.get(1) is None
    assert message.get(453) is None
    request.refresh_from_db()
    assert request.status == QuoteRequestStatus.SENT


def test_quote_request_sent_while_logged_on_arrives_and_the_quote_is_stored(
    client: FixClient,
    fix_dealer: Counterparty,
    trader,
    btc: Instrument,  # noqa: ANN001
) -> None:
    client.logon()
    request = rfq_send_to(dealer=fix_dealer, trader=trader, instruments=[btc])
    client.expect("R")

    client.send("S", quote_body(request, quote_id="Q-1", bid="99.5", offer="100.25"))

    quote = wait_for(lambda: _quote(fix_dealer, "Q-1"), what="the quote")
    leg = quote.legs.get()
    assert (leg.bid_price, leg.offer_price, leg.bid_size, leg.offer_size) == (
        Decimal("99.5"),
        Decimal("100.25"),
        Decimal(5),
        Decimal(5),
    )
    assert quote.valid_until > datetime.now(UTC)


def test_package_request_carries_legs_and_the_package_quote_is_stored(
    client: FixClient,
    fix_dealer: Counterparty,
    trader,
    btc: Instrument,  # noqa: ANN001
) -> None:
    eth = factories.instrument_create(symbol=f"ETH-{unique_code('')}", base_currency="ETH")
    client.logon()
    request = rfq_send_to(dealer=fix_dealer, trader=trader, instruments=[btc, eth])
    message = client.expect("R")
    valid_until = codec.format_utc_timestamp(datetime.now(UTC) + timedelta(minutes=1))

    client.send(
        "S",
        [
            (131, request.quote_req_id),
            (117, "PKG-1"),
            (55, "[N/A]"),
            (555, "2"),
            (600, btc.symbol),
            (687, "5"),
            (681, "99"),
            (684, "101"),
            (600, eth.symbol),
            (687, "5"),
            (681, "9"),
            (684, "11"),
            (133, "90"),
            (62, valid_until),
        ],
    )

    assert (field(message, 555), message.get(600, 1), message.get(600, 2)) == (
        "2",
        btc.symbol.encode(),
        eth.symbol.encode(),
    )
    assert (message.get(624, 1), message.get(624, 2), message.get(623, 1)) == (b"1", b"2", b"1")
    quote = wait_for(lambda: _quote(fix_dealer, "PKG-1"), what="the package quote")
    assert quote.package_price == Decimal(90)
    assert sorted((leg.leg.leg_no, leg.offer_price) for leg in quote.legs.select_related("leg")) == [
        (1, Decimal(101)),
        (2, Decimal(11)),
    ]


def test_accepted_quote_goes_out_as_new_order_single_and_the_fill_is_booked_once(
    client: FixClient,
    fix_dealer: Counterparty,
    trader,
    btc: Instrument,  # noqa: ANN001
) -> None:
    client.logon()
    request = rfq_send_to(dealer=fix_dealer, trader=trader, instruments=[btc])
    client.expect("R")
    client.send("S", quote_body(request, quote_id="Q-ACC"))
    quote = wait_for(lambda: _quote(fix_dealer, "Q-ACC"), what="the quote")

    order = services.quote_accept(quote=quote, actor=trader)
    new_order = client.expect("D")
    client.send("8", execution_report_body(cl_ord_id=order.cl_ord_id, exec_id="E1", symbol=btc.symbol))
    wait_for(lambda: DealerOrder.objects.get(pk=order.pk).status == DealerOrderStatus.FILLED, what="the fill")
    client.send("8", execution_report_body(cl_ord_id=order.cl_ord_id, exec_id="E2", symbol=btc.symbol))
    refused = client.expect("j")

    assert (field(new_order, 11), field(new_order, 117), field(new_order, 40)) == (order.cl_ord_id, "Q-ACC", "D")
    assert (field(new_order, 54), field(new_order, 38), field(new_order, 44)) == ("1", "5", "101")
    assert (field(refused, 372), field(refused, 379)) == ("8", order.cl_ord_id)
    assert Fill.objects.filter(quote=quote).count() == 1
    assert Quote.objects.get(pk=quote.pk).status == QuoteStatus.FILLED


def test_a_duplicate_cl_ord_id_is_refused(client: FixClient, fix_dealer: Counterparty, trader, btc) -> None:  # noqa: ANN001
    client.logon()
    request = rfq_send_to(dealer=fix_dealer, trader=trader, instruments=[btc])
    client.expect("R")
    client.send("S", quote_body(request, quote_id="Q-DUP"))
    quote = wait_for(lambda: _quote(fix_dealer, "Q-DUP"), what="the quote")
    order = services.quote_accept(quote=quote, actor=trader)
    client.expect("D")

    with pytest.raises(IntegrityError), transaction.atomic():
        DealerOrder.objects.create(
            cl_ord_id=order.cl_ord_id, quote=quote, dealer=fix_dealer, side="buy", quantity=1, price=1
        )
    client.send("8", execution_report_body(cl_ord_id="NO-SUCH-ORDER", exec_id="E9", symbol=btc.symbol))
    refused = client.expect("j")

    assert "unknown ClOrdID" in (field(refused, 58) or "")
    assert DealerOrder.objects.filter(cl_ord_id=order.cl_ord_id).count() == 1
    assert client.receive(timeout=0.3) is None or client.received[-1].message_type != b"D"


def test_last_look_reject_is_recorded(client: FixClient, fix_dealer: Counterparty, trader, btc) -> None:  # noqa: ANN001
    client.logon()
    request = rfq_send_to(dealer=fix_dealer, trader=trader, instruments=[btc])
    client.expect("R")
    client.send("S", quote_body(request, quote_id="Q-LL"))
    quote = wait_for(lambda: _quote(fix_dealer, "Q-LL"), what="the quote")
    order = services.quote_accept(quote=quote, actor=trader)
    client.expect("D")

    client.send("8", execution_report_body(cl_ord_id=order.cl_ord_id, exec_id="R1", exec_type="8"))

    wait_for(lambda: DealerOrder.objects.get(pk=order.pk).status == DealerOrderStatus.REJECTED, what="the reject")
    assert Quote.objects.get(pk=quote.pk).status == QuoteStatus.LAST_LOOK_REJECTED
    assert not Fill.objects.filter(quote=quote).exists()


def test_quote_request_reject_declines_and_a_foreign_quote_is_refused(
    client: FixClient,
    fix_dealer: Counterparty,
    trader,
    btc: Instrument,  # noqa: ANN001
) -> None:
    client.logon()
    request = rfq_send_to(dealer=fix_dealer, trader=trader, instruments=[btc])
    client.expect("R")

    client.send("AG", [(131, request.quote_req_id), (658, "1"), (58, "no appetite")])
    wait_for(lambda: type(request).objects.get(pk=request.pk).status == QuoteRequestStatus.DECLINED, what="decline")
    foreign = [(131, "RFQ-OF-SOMEONE-ELSE"), *quote_body(request, quote_id="Q-FOREIGN")[1:]]
    client.send("S", foreign)
    refused = client.expect("j")

    assert (field(refused, 372), field(refused, 379)) == ("S", "Q-FOREIGN")
    assert "unknown QuoteReqID" in (field(refused, 58) or "")
    assert not Quote.objects.filter(quote_id="Q-FOREIGN").exists()


def test_live_quotes_are_cancelled_when_the_session_drops(
    client: FixClient,
    fix_dealer: Counterparty,
    trader,
    btc: Instrument,  # noqa: ANN001
) -> None:
    client.logon()
    request = rfq_send_to(dealer=fix_dealer, trader=trader, instruments=[btc])
    client.expect("R")
    client.send("S", quote_body(request, quote_id="Q-DROP"))
    quote = wait_for(lambda: _quote(fix_dealer, "Q-DROP"), what="the quote")

    client.close()

    wait_for(lambda: Quote.objects.get(pk=quote.pk).status == QuoteStatus.CANCELLED, what="the cancel")


def test_a_decline_after_the_rfq_expired_gets_a_business_reject_saying_so(
    client: FixClient,
    fix_dealer: Counterparty,
    trader,
    btc: Instrument,  # noqa: ANN001
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given a QuoteRequest whose RFQ expired before the dealer answered
    client.logon()
    request = rfq_send_to(dealer=fix_dealer, trader=trader, instruments=[btc])
    client.expect("R")
    RFQ.objects.filter(pk=request.rfq_id).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    status_before = type(request).objects.get(pk=request.pk).status

    # when the dealer declines it
    with caplog.at_level(logging.INFO):
        client.send("AG", [(131, request.quote_req_id), (658, "1"), (58, "no appetite")])
        refused = client.expect("j")

    # then a BusinessMessageReject says why, nothing changed, and nothing was logged as an error
    assert (field(refused, 372), field(refused, 379)) == ("AG", request.quote_req_id)
    assert (field(refused, 58) or "").startswith(f"late: RFQ {request.rfq.reference} expired at ")
    assert type(request).objects.get(pk=request.pk).status == status_before
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR] == []


def test_an_exec_id_reused_on_another_order_gets_a_business_reject_and_books_nothing(
    client: FixClient,
    fix_dealer: Counterparty,
    trader,
    btc: Instrument,  # noqa: ANN001
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given two accepted quotes of the dealer, the first order filled with ExecID E1
    client.logon()
    orders = []
    for quote_id in ("Q-R1", "Q-R2"):
        request = rfq_send_to(dealer=fix_dealer, trader=trader, instruments=[btc])
        client.expect("R")
        client.send("S", quote_body(request, quote_id=quote_id))
        quote = wait_for(lambda quote_id=quote_id: _quote(fix_dealer, quote_id), what="the quote")
        orders.append(services.quote_accept(quote=quote, actor=trader))
        client.expect("D")
    first, second = orders
    client.send("8", execution_report_body(cl_ord_id=first.cl_ord_id, exec_id="E1", symbol=btc.symbol))
    wait_for(lambda: DealerOrder.objects.get(pk=first.pk).status == DealerOrderStatus.FILLED, what="the fill")

    # when E1 comes again, for the second order
    with caplog.at_level(logging.INFO):
        client.send("8", execution_report_body(cl_ord_id=second.cl_ord_id, exec_id="E1", symbol=btc.symbol))
        refused = client.expect("j")

    # then a BusinessMessageReject names the reuse, the second order is untouched, no error is logged
    assert (field(refused, 372), field(refused, 379)) == ("8", second.cl_ord_id)
    assert f"ExecID E1 was already used for a fill of order {first.cl_ord_id}" in (field(refused, 58) or "")
    assert DealerOrder.objects.get(pk=second.pk).status == DealerOrderStatus.SENT
    assert Fill.objects.filter(quote__dealer=fix_dealer).count() == 1
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR] == []


def test_a_nul_byte_in_a_field_gets_a_session_reject_naming_the_tag_and_the_session_carries_on(
    client: FixClient,
    fix_dealer: Counterparty,
    trader,
    btc: Instrument,  # noqa: ANN001
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given a QuoteRequest delivered to the dealer
    client.logon()
    request = rfq_send_to(dealer=fix_dealer, trader=trader, instruments=[btc])
    client.expect("R")

    # when the dealer quotes with a NUL in its QuoteID, then quotes again properly
    with caplog.at_level(logging.INFO):
        client.send("S", quote_body(request, quote_id="Q\x00NUL"))
        refused = client.expect("3")
        client.send("S", quote_body(request, quote_id="Q-AFTER-NUL"))
        quote = wait_for(lambda: _quote(fix_dealer, "Q-AFTER-NUL"), what="the quote after the reject")

    # then the first gets a Reject (3) naming tag 117 (PostgreSQL killed the session with it before), nothing stored
    # from it, no error logged, and the session goes on
    assert (field(refused, 371), field(refused, 373)) == ("117", "6")
    assert field(refused, 58) == "Incorrect data format for value: NUL (0x00) in the value of tag 117"
    assert not Quote.objects.filter(dealer=fix_dealer).exclude(pk=quote.pk).exists()
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR] == []
