"""Interop with a FIX engine nobody here wrote: a venue played by QuickFIX (the ``quickfix`` package) as the
acceptor, validating the desk's NewOrderSingle and OrderStatusRequest against its own FIX44.xml and answering with
ExecutionReports (New, then two partial fills); the desk is the initiator."""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from desk import clock
from desk.market import venue_books_ensure
from execution import services
from execution.fix.gateway import VenueGatewayThread
from execution.models import ChildOrder, ChildOrderStatus, ExecutionPlan, Fill, PlanStatus, Position, VenueFixMessage
from execution.services.venue_orders import venues_up
from tests.conftest import free_port

fix = pytest.importorskip("quickfix", reason="quickfix is a test requirement (requirements-dev.txt)")

pytestmark = pytest.mark.django_db(transaction=True)

DICTIONARY = Path(sys.prefix) / "share" / "quickfix" / "FIX44.xml"
VENUE = "LIT-A"


def wait_for(condition: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class QuickFixVenue(fix.Application):
    """A venue on QuickFIX: acknowledges every NewOrderSingle, then fills it in two halves at its limit price."""

    def __init__(self) -> None:
        super().__init__()
        self.logged_on = threading.Event()
        self.received: queue.Queue[tuple[str, str]] = queue.Queue()
        self.session_rejects: list[str] = []
        self.errors: list[BaseException] = []
        self.exec_ids = 0

    def onCreate(self, sessionID) -> None:  # noqa: ANN001, N802, N803 - the QuickFIX callback names
        self.session_id = sessionID

    def onLogon(self, sessionID) -> None:  # noqa: ANN001, N802, N803
        self.logged_on.set()

    def onLogout(self, sessionID) -> None:  # noqa: ANN001, N802, N803
        self.logged_on.clear()

    def toAdmin(self, message, sessionID) -> None:  # noqa: ANN001, N802, N803
        if message.getHeader().getField(35) == "3":
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
            if msg_type == "D":
                quantity, price = Decimal(message.getField(38)), message.getField(44)
                half = quantity / 2
                self._report(message, "0", "0", cum=Decimal(0), leaves=quantity)
                self._report(message, "F", "1", cum=half, leaves=quantity - half, last=(half, price))
                self._report(message, "F", "2", cum=quantity, leaves=Decimal(0), last=(quantity - half, price))
        except BaseException as exc:  # a failure inside QuickFIX's thread must reach the test
            self.errors.append(exc)

    def _report(self, order, exec_type: str, status: str, *, cum: Decimal, leaves: Decimal, last=None) -> None:  # noqa: ANN001
        self.exec_ids += 1
        report = fix.Message()
        report.getHeader().setField(fix.MsgType("8"))
        report.setField(fix.OrderID(f"QF-{order.getField(11)}"))
        report.setField(fix.ClOrdID(order.getField(11)))
        report.setField(fix.ExecID(f"QF-E{self.exec_ids}"))
        report.setField(fix.ExecType(exec_type))
        report.setField(fix.OrdStatus(status))
        report.setField(fix.Symbol(order.getField(55)))
        report.setField(fix.Side(order.getField(54)))
        report.setField(fix.StringField(38, order.getField(38)))
        report.setField(fix.StringField(44, order.getField(44)))
        if last is not None:
            report.setField(fix.StringField(32, str(last[0])))
            report.setField(fix.StringField(31, last[1]))
        report.setField(fix.StringField(151, str(leaves)))
        report.setField(fix.StringField(14, str(cum)))
        report.setField(fix.StringField(6, order.getField(44) if cum else "0"))
        fix.Session.sendToTarget(report, self.session_id)


@pytest.fixture
def quickfix_venue(tmp_path: Path) -> Iterator[tuple[QuickFixVenue, int]]:
    port = free_port()
    config = tmp_path / "venue.cfg"
    config.write_text(
        "\n".join(
            [
                "[DEFAULT]",
                "ConnectionType=acceptor",
                f"SocketAcceptPort={port}",
                f"FileStorePath={tmp_path / 'store'}",
                f"FileLogPath={tmp_path / 'log'}",
                "StartTime=00:00:00",
                "EndTime=00:00:00",
                "UseDataDictionary=Y",
                f"DataDictionary={DICTIONARY}",
                "[SESSION]",
                "BeginString=FIX.4.4",
                f"SenderCompID={VENUE}",
                "TargetCompID=DESK",
                "",
            ]
        )
    )
    settings = fix.SessionSettings(str(config))
    application = QuickFixVenue()
    # The factories are held until the acceptor stops: SWIG does not keep them alive for it.
    store, log = fix.FileStoreFactory(settings), fix.FileLogFactory(settings)
    acceptor = fix.SocketAcceptor(application, store, settings, log)
    acceptor.start()
    try:
        yield application, port
    finally:
        # Stopped once the desk has logged out: QuickFIX's acceptor crashes when stopped mid-disconnect.
        deadline = time.monotonic() + 5
        while application.logged_on.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        acceptor.stop()
        del acceptor, store, log


def test_a_quickfix_venue_takes_the_desks_order_and_its_reports_are_booked_once(
    quickfix_venue,
    trader,
    instrument,
    settings,  # noqa: ANN001
) -> None:
    venue, port = quickfix_venue
    settings.DESK_VENUE = "fix"
    venue_books_ensure(underlying="BTC", now=clock.now())
    gateway = VenueGatewayThread(addresses={VENUE: ("127.0.0.1", port)}, status_timeout_s=30).start()
    try:
        wait_for(lambda: venues_up() == [VENUE], what="the desk logged on to QuickFIX")
        assert venue.logged_on.is_set()
        # given a plan of one child
        plan = services.plan_create(
            instrument=instrument,
            side="buy",
            quantity=Decimal("0.2"),
            algorithm="twap",
            parameters={"horizon_s": 1, "slices": 1},
            actor=trader,
        )
        services.plan_start(plan_id=plan.pk, actor=trader)
        # when the worker sends it (called here: one tick) and QuickFIX acknowledges and fills it in two parts
        services.plan_work(plan_id=plan.pk)
        wait_for(lambda: ExecutionPlan.objects.get(pk=plan.pk).status == PlanStatus.COMPLETED, what="completed")
    finally:
        gateway.stop()

    # then QuickFIX received a valid NewOrderSingle (its dictionary rejected nothing) with the child's ClOrdID
    child = ChildOrder.objects.get(plan=plan)
    _, order_text = venue.received.get(timeout=1)
    assert f"\x0111={child.client_order_id}\x01" in order_text
    assert "\x0140=2\x01" in order_text
    assert "\x0159=0\x01" in order_text
    assert "\x0144=" in order_text
    # and the desk booked the two partial fills once each, refusing nothing of QuickFIX's
    assert child.status == ChildOrderStatus.FILLED
    assert child.acknowledged_at is not None
    fills = Fill.objects.filter(child_order=child).order_by("exec_id")
    assert [fill.exec_id for fill in fills] == [f"{VENUE}:QF-E2", f"{VENUE}:QF-E3"]
    assert sum(fill.quantity for fill in fills) == Decimal("0.2")
    assert Position.objects.get(instrument=instrument).quantity == Decimal("0.2")
    assert venue.session_rejects == []
    assert venue.errors == []
    assert not VenueFixMessage.objects.filter(direction="out", msg_type__in=("3", "j")).exists()
