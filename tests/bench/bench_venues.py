"""Venue figures on loopback: child orders per second through the asynchronous venue port (pre-trade check, outbox,
FIX session, simulated venue, ExecutionReports booked) beside a simplefix encode/parse loop of the same messages,
and the NewOrderSingle -> ExecutionReport (New) round trip beside a quickfix <-> quickfix round trip in the same
run."""

from __future__ import annotations

import queue
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import simplefix

from tests.bench.django_env import django_ready

ORDERS = 100
ROUND_TRIPS = 40


def _wait(condition: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("bench: timed out")
        time.sleep(0.0005)


def _world() -> tuple[Any, Any]:
    from desk import clock
    from desk.market import venue_books_ensure
    from execution.fix.gateway import VenueGatewayThread
    from execution.services.venue_orders import venues_up
    from sim.fix_venues import VenueBehaviour, fix_venues_start

    venue_books_ensure(underlying="BTC", now=clock.now())
    venues = fix_venues_start(behaviour=VenueBehaviour(ack_latency_s=0.0, fill_latency_s=0.0, max_parts=1))
    gateway = VenueGatewayThread(addresses=venues.addresses(), status_timeout_s=30.0).start()
    _wait(lambda: len(venues_up()) == len(venues.venues))
    return venues, gateway


def _plan(trader: Any, instrument: Any, slices: int) -> Any:
    from execution import services

    plan = services.plan_create(
        instrument=instrument,
        side="buy",
        quantity=Decimal("0.001") * slices,
        algorithm="twap",
        parameters={"horizon_s": 1, "slices": slices, "max_slippage_bps": 5000},
        actor=trader,
    )
    return services.plan_start(plan_id=plan.pk, actor=trader)


def _simplefix_loop(count: int) -> float:
    """Orders per second of encoding a NewOrderSingle and an ExecutionReport and parsing both, nothing else."""
    started = time.perf_counter()
    parser = simplefix.FixParser()
    for n in range(count):
        for msg_type, body in (
            (
                "D",
                [
                    (11, f"C{n}"),
                    (55, "BTC-USD"),
                    (54, "1"),
                    (60, "20260101-00:00:00"),
                    (38, "0.001"),
                    (40, "2"),
                    (44, "100"),
                    (59, "0"),
                ],
            ),
            (
                "8",
                [
                    (37, f"O{n}"),
                    (11, f"C{n}"),
                    (17, f"E{n}"),
                    (150, "F"),
                    (39, "2"),
                    (55, "BTC-USD"),
                    (54, "1"),
                    (32, "0.001"),
                    (31, "100"),
                    (151, "0"),
                    (14, "0.001"),
                    (6, "100"),
                ],
            ),
        ):
            message = simplefix.FixMessage()
            for tag, value in [(8, "FIX.4.4"), (35, msg_type), (49, "A"), (56, "B"), (34, str(n + 1))]:
                message.append_pair(tag, value, header=True)
            for tag, value in body:
                message.append_pair(tag, value)
            parser.append_buffer(message.encode())
            parser.get_message()
    return count / (time.perf_counter() - started)


def _throughput(trader: Any, instrument: Any, venues: Any) -> dict[str, Any]:
    from execution.models import ChildOrder, ChildOrderStatus
    from execution.services import child_order_send

    plan = _plan(trader, instrument, ORDERS)
    ids = list(ChildOrder.objects.filter(plan=plan).order_by("seq").values_list("pk", flat=True))
    started = time.perf_counter()
    for child_id in ids:
        child_order_send(child_order_id=child_id)
    _wait(lambda: ChildOrder.objects.filter(plan=plan, status=ChildOrderStatus.FILLED).count() == len(ids))
    through_port = len(ids) / (time.perf_counter() - started)
    baseline = _simplefix_loop(ORDERS)
    return {
        "bench": "venue.child_orders_per_second",
        "value": round(through_port, 1),
        "baseline": round(baseline, 1),
        "ratio": round(through_port / baseline, 5),
        "unit": "orders/s sent and filled through the port, each booked (baseline: simplefix encode+parse of the "
        "NewOrderSingle and its ExecutionReport)",
    }


def _desk_round_trips(trader: Any, instrument: Any, venues: Any) -> list[float]:
    from execution.models import ChildOrder, ChildOrderStatus
    from execution.services import child_order_send

    for venue in venues.venues.values():
        venue.paused = True  # acknowledged, not filled: the round trip measured is NewOrderSingle -> New
    samples = []
    try:
        plan = _plan(trader, instrument, ROUND_TRIPS)
        for child_id in ChildOrder.objects.filter(plan=plan).order_by("seq").values_list("pk", flat=True):
            started = time.perf_counter()
            child_order_send(child_order_id=child_id)
            _wait(
                lambda child_id=child_id: ChildOrder.objects.filter(
                    pk=child_id, status=ChildOrderStatus.ACKNOWLEDGED
                ).exists()
            )
            samples.append((time.perf_counter() - started) * 1000)
    finally:
        for venue in venues.venues.values():
            venue.paused = False
    return samples


def _quickfix_round_trips() -> list[float]:
    import socket

    import quickfix as fix

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dictionary = Path(sys.prefix) / "share" / "quickfix" / "FIX44.xml"
    answers: queue.Queue[str] = queue.Queue()

    class Venue(fix.Application):  # type: ignore[misc]
        def onCreate(self, sessionID) -> None:  # noqa: ANN001, N802, N803
            self.session_id = sessionID

        def onLogon(self, sessionID) -> None: ...  # noqa: ANN001, N802, N803
        def onLogout(self, sessionID) -> None: ...  # noqa: ANN001, N802, N803
        def toAdmin(self, message, sessionID) -> None: ...  # noqa: ANN001, N802, N803
        def fromAdmin(self, message, sessionID) -> None: ...  # noqa: ANN001, N802, N803
        def toApp(self, message, sessionID) -> None: ...  # noqa: ANN001, N802, N803

        def fromApp(self, message, sessionID) -> None:  # noqa: ANN001, N802, N803
            report = fix.Message()
            report.getHeader().setField(fix.MsgType("8"))
            for field in (
                fix.OrderID("O"),
                fix.ClOrdID(message.getField(11)),
                fix.ExecID(message.getField(11)),
                fix.ExecType("0"),
                fix.OrdStatus("0"),
                fix.Symbol(message.getField(55)),
                fix.Side(message.getField(54)),
                fix.LeavesQty(1),
                fix.CumQty(0),
                fix.AvgPx(0),
            ):
                report.setField(field)
            fix.Session.sendToTarget(report, sessionID)

    class Desk(Venue):
        logged_on = threading.Event()

        def onLogon(self, sessionID) -> None:  # noqa: ANN001, N802, N803
            self.logged_on.set()

        def fromApp(self, message, sessionID) -> None:  # noqa: ANN001, N802, N803
            answers.put(message.getField(11))

    with tempfile.TemporaryDirectory() as folder:

        def config(kind: str, ours: str, theirs: str) -> Any:
            path = Path(folder) / f"{kind}.cfg"
            lines = [
                "[DEFAULT]",
                f"ConnectionType={kind}",
                f"FileStorePath={folder}/{kind}-store",
                "StartTime=00:00:00",
                "EndTime=00:00:00",
                "UseDataDictionary=Y",
                f"DataDictionary={dictionary}",
                "HeartBtInt=30",
                "SocketConnectHost=127.0.0.1",
                f"SocketConnectPort={port}",
                f"SocketAcceptPort={port}",
                "[SESSION]",
                "BeginString=FIX.4.4",
                f"SenderCompID={ours}",
                f"TargetCompID={theirs}",
                "",
            ]
            path.write_text("\n".join(lines))
            return fix.SessionSettings(str(path))

        venue_settings, desk_settings = config("acceptor", "QFV", "QFD"), config("initiator", "QFD", "QFV")
        venue_app, desk_app = Venue(), Desk()
        acceptor = fix.SocketAcceptor(
            venue_app, fix.MemoryStoreFactory(), venue_settings, fix.ScreenLogFactory(False, False, False)
        )
        initiator = fix.SocketInitiator(
            desk_app, fix.MemoryStoreFactory(), desk_settings, fix.ScreenLogFactory(False, False, False)
        )
        acceptor.start()
        initiator.start()
        samples = []
        try:
            if not desk_app.logged_on.wait(15):
                raise RuntimeError("quickfix did not log on")
            for n in range(ROUND_TRIPS):
                order = fix.Message()
                order.getHeader().setField(fix.MsgType("D"))
                for field in (
                    fix.ClOrdID(f"QF{n}"),
                    fix.Symbol("BTC-USD"),
                    fix.Side("1"),
                    fix.TransactTime(),
                    fix.OrderQty(1),
                    fix.OrdType("2"),
                    fix.Price(100),
                ):
                    order.setField(field)
                started = time.perf_counter()
                fix.Session.sendToTarget(order, desk_app.session_id)
                answers.get(timeout=10)
                samples.append((time.perf_counter() - started) * 1000)
        finally:
            initiator.stop()
            acceptor.stop()
    return samples


def _quickfix_round_trips_apart() -> list[float]:
    """The quickfix pair in a process of its own: QuickFIX can crash the interpreter when its engines stop."""
    import json
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "tests.bench.bench_venues", "quickfix"], capture_output=True, text=True, timeout=120
    )
    line = next((line for line in done.stdout.splitlines() if line.startswith("[")), None)
    if line is None:
        raise RuntimeError(f"the quickfix round trips did not run: {done.stderr[-500:]}")
    return [float(sample) for sample in json.loads(line)]


def _round_trip(trader: Any, instrument: Any, venues: Any) -> dict[str, Any]:
    desk = statistics.median(_desk_round_trips(trader, instrument, venues))
    reference = statistics.median(_quickfix_round_trips_apart())
    return {
        "bench": "venue.new_order_to_ack_round_trip",
        "value": round(desk, 3),
        "baseline": round(reference, 3),
        "ratio": round(desk / reference, 2),
        "unit": "ms, median (value: the desk's child order send -> ExecutionReport New booked, through the outbox, "
        "session store and simulated venue; baseline: quickfix initiator <-> quickfix acceptor NewOrderSingle -> "
        "ExecutionReport, same run)",
    }


def benchmarks() -> Iterator[dict[str, Any]]:
    django_ready()
    from django.conf import settings
    from django.test import override_settings

    from tests import factories

    with override_settings(DEBUG=False, DESK_VENUE="fix"):
        assert settings.DESK_VENUE == "fix"
        trader = factories.user_create(role="trader", username="venue-bench-trader")
        instrument = factories.instrument_create(symbol="BTC-USD-VENUEBENCH")
        venues, gateway = _world()
        try:
            yield _throughput(trader, instrument, venues)
            yield _round_trip(trader, instrument, venues)
        finally:
            gateway.stop()
            venues.stop()


if __name__ == "__main__" and sys.argv[1:] == ["quickfix"]:
    import json

    print(json.dumps(_quickfix_round_trips()), flush=True)
