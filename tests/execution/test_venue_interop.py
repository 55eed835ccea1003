"""Interop with a FIX engine nobody here wrote: a venue played by QuickFIX (the ``quickfix`` package) as the
acceptor, validating the desk's NewOrderSingle and OrderStatusRequest against its own FIX44.xml and answering with
ExecutionReports (New, then two partial fills); the desk is the initiator."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from desk import clock
from desk.market import venue_books_ensure
from execution import services
from execution.fix.gateway import VenueGatewayThread
from execution.models import ChildOrder, ChildOrderStatus, ExecutionPlan, Fill, PlanStatus, Position, VenueFixMessage
from execution.services.venue_orders import venues_up
from tests.conftest import REPO_ROOT, free_port

fix = pytest.importorskip("quickfix", reason="quickfix is a test requirement (requirements-dev.txt)")

pytestmark = pytest.mark.django_db(transaction=True)

VENUE = "LIT-A"


def wait_for(condition: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class QuickFixVenue:
    """The QuickFIX venue process (:mod:`tests.execution.quickfix_venue`) and what it said, line by line."""

    process: subprocess.Popen[str]
    lines: queue.Queue[str]

    def wait_line(self, prefix: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            if line.startswith(prefix):
                return line

    def said(self) -> list[str]:
        found = []
        while not self.lines.empty():
            found.append(self.lines.get_nowait())
        return found


@pytest.fixture
def quickfix_venue(tmp_path: Path) -> Iterator[tuple[QuickFixVenue, int]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.execution.quickfix_venue", str(port), str(tmp_path)],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: [lines.put(line.strip()) for line in stdout], daemon=True).start()
    venue = QuickFixVenue(process, lines)
    try:
        venue.wait_line("READY")
        yield venue, port
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


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
        venue.wait_line("LOGON")
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
    said = venue.said()
    order_text = next(line for line in said if line.startswith("APP ") and "|35=D|" in line)
    assert f"|11={child.client_order_id}|" in order_text
    assert "|40=2|" in order_text
    assert "|59=0|" in order_text
    assert "|44=" in order_text
    # and the desk booked the two partial fills once each, refusing nothing of QuickFIX's
    assert child.status == ChildOrderStatus.FILLED
    assert child.acknowledged_at is not None
    fills = Fill.objects.filter(child_order=child).order_by("exec_id")
    assert [fill.exec_id for fill in fills] == [f"{VENUE}:QF-E2", f"{VENUE}:QF-E3"]
    assert sum(fill.quantity for fill in fills) == Decimal("0.2")
    assert Position.objects.get(instrument=instrument).quantity == Decimal("0.2")
    assert [line for line in said if line.startswith(("REJECT", "ERROR"))] == []
    assert not VenueFixMessage.objects.filter(direction="out", msg_type__in=("3", "j")).exists()
