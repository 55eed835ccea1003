"""Interop with a FIX engine nobody here wrote: QuickFIX (the ``quickfix`` package) as a dealer initiator.

It validates everything it receives against its own FIX44.xml, keeps its own sequence numbers, and answers as a
dealer would: a Quote for each QuoteRequest, an ExecutionReport (fill) for each NewOrderSingle.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from execution.models import Fill
from rfq import services
from rfq.fix import codec
from rfq.fix.acceptor import GatewayThread
from rfq.models import (
    Counterparty,
    DealerOrder,
    DealerOrderStatus,
    FixDirection,
    FixMessage,
    FixSession,
    Quote,
    QuoteStatus,
)
from tests import factories
from tests.conftest import free_port
from tests.rfq.test_fix_support import PASSWORD, fix_dealer_create, rfq_send_to, running_gateway, unique_code, wait_for

fix = pytest.importorskip("quickfix", reason="quickfix is a test requirement (requirements-dev.txt)")

pytestmark = pytest.mark.django_db(transaction=True)

DICTIONARY = Path(sys.prefix) / "share" / "quickfix" / "FIX44.xml"


class QuickFixDealer(fix.Application):
    """A dealer on QuickFIX: quotes 99/101 for every QuoteRequest, fills every NewOrderSingle at its price."""

    def __init__(self, password: str) -> None:
        super().__init__()
        self.password = password
        self.logged_on = threading.Event()
        self.received: queue.Queue[tuple[str, str]] = queue.Queue()
        self.session_rejects: list[str] = []
        self.errors: list[BaseException] = []

    def onCreate(self, sessionID) -> None:  # noqa: ANN001, N802, N803 - the QuickFIX callback names
        self.session_id = sessionID

    def onLogon(self, sessionID) -> None:  # noqa: ANN001, N802, N803
        self.logged_on.set()

    def onLogout(self, sessionID) -> None:  # noqa: ANN001, N802, N803
        self.logged_on.clear()

    def toAdmin(self, message, sessionID) -> None:  # noqa: ANN001, N802, N803
        msg_type = message.getHeader().getField(35)
        if msg_type == "A":
            message.setField(fix.Password(self.password))
        elif msg_type == "3":
            self.session_rejects.append(f"sent: {message.toString()}")

    def fromAdmin(self, message, sessionID) -> None:  # noqa: ANN001, N802, N803
        if message.getHeader().getField(35) == "3":
            self.session_rejects.append(f"received: {message.toString()}")

    def toApp(self, message, sessionID) -> None:  # noqa: ANN001, N802, N803
        return None

    def fromApp(self, message, sessionID) -> None:  # noqa: ANN001, N802, N803
        msg_type = message.getHeader().getField(35)
        self.received.put((msg_type, message.toString()))
        try:
            if msg_type == "R":
                self._quote(message, sessionID)
            elif msg_type == "D":
                self._fill(message, sessionID)
        except BaseException as exc:  # a failure inside QuickFIX's thread must reach the test
            self.errors.append(exc)

    def _quote(self, request, session_id) -> None:  # noqa: ANN001
        group = fix.Group(146, 55)
        request.getGroup(1, group)
        quote = fix.Message()
        quote.getHeader().setField(fix.MsgType("S"))
        quote.setField(fix.QuoteReqID(request.getField(131)))
        quote.setField(fix.QuoteID(f"QF-{request.getField(131)}"))
        quote.setField(fix.Symbol(group.getField(55)))
        quote.setField(fix.BidPx(99))
        quote.setField(fix.OfferPx(101))
        quote.setField(fix.BidSize(5))
        quote.setField(fix.OfferSize(5))
        valid_until = codec.format_utc_timestamp(datetime.now(UTC) + timedelta(minutes=1))
        quote.setField(fix.StringField(62, valid_until))
        fix.Session.sendToTarget(quote, session_id)

    def _fill(self, order, session_id) -> None:  # noqa: ANN001
        report = fix.Message()
        report.getHeader().setField(fix.MsgType("8"))
        report.setField(fix.OrderID(f"QF-ORD-{order.getField(11)}"))
        report.setField(fix.ClOrdID(order.getField(11)))
        report.setField(fix.ExecID(f"QF-EXE-{order.getField(11)}"))
        report.setField(fix.ExecType(fix.ExecType_TRADE))
        report.setField(fix.OrdStatus(fix.OrdStatus_FILLED))
        report.setField(fix.Symbol(order.getField(55)))
        report.setField(fix.Side(fix.Side_SELL if order.getField(54) == "1" else fix.Side_BUY))
        report.setField(fix.StringField(31, order.getField(44)))
        report.setField(fix.StringField(32, order.getField(38)))
        report.setField(fix.LeavesQty(0))
        report.setField(fix.StringField(14, order.getField(38)))
        report.setField(fix.StringField(6, order.getField(44)))
        fix.Session.sendToTarget(report, session_id)

    def next_app_message(self, msg_type: str, timeout: float = 10.0) -> str:
        while True:
            kind, text = self.received.get(timeout=timeout)
            if kind == msg_type:
                return text


def _initiator_settings(tmp_path: Path, *, port: int, comp_id: str) -> Path:
    config = tmp_path / "dealer.cfg"
    config.write_text(
        "\n".join(
            [
                "[DEFAULT]",
                "ConnectionType=initiator",
                "ReconnectInterval=1",
                f"FileStorePath={tmp_path / 'store'}",
                f"FileLogPath={tmp_path / 'log'}",
                "StartTime=00:00:00",
                "EndTime=00:00:00",
                "UseDataDictionary=Y",
                f"DataDictionary={DICTIONARY}",
                "HeartBtInt=30",
                "SocketConnectHost=127.0.0.1",
                f"SocketConnectPort={port}",
                "[SESSION]",
                "BeginString=FIX.4.4",
                f"SenderCompID={comp_id}",
                "TargetCompID=DESK",
                "",
            ]
        )
    )
    return config


@pytest.fixture
def gateway() -> Iterator[GatewayThread]:
    with running_gateway() as running:
        yield running


@pytest.fixture
def fix_dealer() -> Counterparty:
    return fix_dealer_create()


@contextmanager
def quickfix_initiator(tmp_path: Path, *, port: int, comp_id: str) -> Iterator[QuickFixDealer]:
    """A QuickFIX dealer logged on to the gateway; its FileStore in ``tmp_path`` survives a restart."""
    config = _initiator_settings(tmp_path, port=port, comp_id=comp_id)
    settings = fix.SessionSettings(str(config))
    application = QuickFixDealer(PASSWORD)
    initiator = fix.SocketInitiator(application, fix.FileStoreFactory(settings), settings, fix.FileLogFactory(settings))
    initiator.start()
    try:
        assert application.logged_on.wait(10), "QuickFIX did not log on"
        yield application
    finally:
        initiator.stop()


@pytest.fixture
def quickfix_dealer(tmp_path: Path, gateway: GatewayThread, fix_dealer: Counterparty) -> Iterator[QuickFixDealer]:
    with quickfix_initiator(tmp_path, port=gateway.port, comp_id=fix_dealer.fix_sender_comp_id or "") as dealer:
        yield dealer


def test_quickfix_dealer_quotes_and_fills_through_the_gateway(
    quickfix_dealer: QuickFixDealer,
    fix_dealer: Counterparty,
    trader,  # noqa: ANN001
) -> None:
    instrument = factories.instrument_create(symbol=f"BTC-{unique_code('')}")

    request = rfq_send_to(dealer=fix_dealer, trader=trader, instruments=[instrument])
    quote = wait_for(
        lambda: Quote.objects.filter(dealer=fix_dealer, quote_id=f"QF-{request.quote_req_id}").first(),
        what="QuickFIX's quote",
    )
    order = services.quote_accept(quote=quote, actor=trader)
    filled = wait_for(
        lambda: DealerOrder.objects.filter(pk=order.pk, status=DealerOrderStatus.FILLED).first(),
        what="QuickFIX's fill",
    )

    quote_request_text = quickfix_dealer.next_app_message("R")
    new_order_text = quickfix_dealer.next_app_message("D")
    assert f"\x01131={request.quote_req_id}\x01" in quote_request_text
    assert f"\x01117={quote.quote_id}\x01" in new_order_text
    assert f"\x0111={order.cl_ord_id}\x01" in new_order_text
    assert quote.legs.get().offer_price == 101
    assert filled.filled_quantity == order.quantity
    fill = Fill.objects.get(quote=quote)
    assert (fill.quantity, fill.price) == (order.quantity, order.price)
    assert Quote.objects.get(pk=quote.pk).status == QuoteStatus.FILLED
    assert quickfix_dealer.session_rejects == []
    assert quickfix_dealer.errors == []


def test_gateway_restart_and_dealer_restart_under_quickfix_lose_and_repeat_nothing(
    tmp_path: Path,
    fix_dealer: Counterparty,
    trader,  # noqa: ANN001
) -> None:
    instrument = factories.instrument_create(symbol=f"BTC-{unique_code('')}")
    port, comp_id = free_port(), fix_dealer.fix_sender_comp_id or ""
    gateway = GatewayThread(port=port).start()
    try:
        with quickfix_initiator(tmp_path, port=port, comp_id=comp_id) as dealer:
            first = rfq_send_to(dealer=fix_dealer, trader=trader, instruments=[instrument])
            wait_for(lambda: Quote.objects.filter(quote_request=first).exists(), what="the first quote")
            gateway.stop()  # the gateway goes away under the dealer (it logs out cleanly; live quotes cancelled)
            request = rfq_send_to(dealer=fix_dealer, trader=trader, instruments=[instrument])  # sent while down
            gateway = GatewayThread(port=port).start()  # QuickFIX reconnects by itself, the request follows
            quote = wait_for(
                lambda: Quote.objects.filter(quote_request=request).first(), timeout=15, what="the quote after restart"
            )
            order = services.quote_accept(quote=quote, actor=trader)
            wait_for(
                lambda: DealerOrder.objects.filter(pk=order.pk, status=DealerOrderStatus.FILLED).exists(),
                what="the fill after the gateway restart",
            )
            rejects_before_dealer_restart = list(dealer.session_rejects)
        time.sleep(0.2)
        with quickfix_initiator(tmp_path, port=port, comp_id=comp_id) as restarted:  # same FileStore: same seqs
            second = rfq_send_to(dealer=fix_dealer, trader=trader, instruments=[instrument])
            wait_for(lambda: Quote.objects.filter(quote_request=second).exists(), what="the quote after the dealer's")
            rejects_after = list(restarted.session_rejects)
    finally:
        gateway.stop()

    session = FixSession.objects.get(sender_comp_id="DESK", target_comp_id=comp_id)
    inbound = list(
        FixMessage.objects.filter(session=session, direction=FixDirection.INBOUND).values_list("seq", flat=True)
    )
    assert inbound == list(range(1, session.next_target_seq))  # every number once, none skipped
    assert Fill.objects.filter(quote=quote).count() == 1
    assert Quote.objects.filter(dealer=fix_dealer).count() == 3
    assert rejects_before_dealer_restart == []
    assert rejects_after == []
