"""The simulated venues as FIX 4.4 acceptors: each venue listens on its own port, takes the desk's orders
(NewOrderSingle, OrderCancelRequest, OrderCancelReplaceRequest, OrderStatusRequest) and answers with
ExecutionReports after its own latency: acknowledged, filled in one to three parts, cancelled when the price would
go beyond the order's limit, rejected now and then, and the session dropped now and then.

Fills are priced as the in-process venue prices them (:func:`sim.venues.venue_fill` on the shared venue books, the
same simulated market and impact), the venue's book rows updated under their lock. Like the simulated dealers'
engine it is deliberately a separate, minimal FIX engine (the desk's session code is not reused), so that the desk
and its venues share only the protocol: sequence numbers per peer that outlive a connection, every message kept
for a ResendRequest (answered with PossDupFlag=Y, administrative ones gap-filled), a gap in the desk's sequence
asked for, heartbeats and TestRequests. What a venue sent while the desk was away waits in its store: the desk
asks for it after its next Logon. Its own record of orders and fills (:meth:`FixVenue.positions`) is what the
tests hold the desk's positions to. State lives in memory: a venue process that restarts starts a new day.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal

import numpy as np
import simplefix
from django.db import close_old_connections, transaction

from desk import clock
from desk.fields import to_decimal
from desk.market import VENUES, venue_books_ensure
from desk.models import Instrument, VenueBook
from execution.venue import coins, venue_quote
from sim.venues import SimulatedVenue

logger = logging.getLogger(__name__)

ADMIN = frozenset("0123 45A".replace(" ", ""))


@dataclass(frozen=True)
class VenueBehaviour:
    """How a simulated venue behaves: latencies (seconds, exponential), how many parts an order fills in
    (``min_parts`` to ``max_parts``), the chance it rejects an order and the chance it drops the session after a
    fill."""

    ack_latency_s: float = 0.01
    fill_latency_s: float = 0.05
    max_parts: int = 3
    min_parts: int = 1
    reject_rate: float = 0.0
    drop_rate: float = 0.0


@dataclass
class VenueOrder:
    order_id: str
    cl_ord_id: str
    symbol: str
    side: str
    quantity: Decimal
    price: Decimal
    status: str = "0"
    cum_qty: Decimal = Decimal(0)
    value: Decimal = Decimal(0)
    parts: list[Decimal] = field(default_factory=list)
    underlying: str = ""
    multiplier: Decimal = Decimal(1)

    @property
    def leaves(self) -> Decimal:
        return self.quantity - self.cum_qty if self.status in ("0", "1") else Decimal(0)

    @property
    def avg_px(self) -> Decimal:
        return (self.value / self.cum_qty).quantize(Decimal("1e-8")) if self.cum_qty else Decimal(0)


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]


def _text(message: simplefix.FixMessage, tag: int) -> str | None:
    value = message.get(tag)
    return value.decode() if value is not None else None


class FixVenue:
    """One simulated venue: a FIX acceptor for the desk (CompID ``code``, peer ``DESK``)."""

    def __init__(self, code: str, *, behaviour: VenueBehaviour | None = None, seed: int = 0) -> None:
        self.code = code
        self.behaviour = behaviour or VenueBehaviour()
        self.rng = np.random.default_rng(seed)
        self.port = 0
        self.peer = "DESK"
        self.next_out = 1
        self.next_in = 1
        self.store: dict[int, bytes] = {}
        self.orders: dict[str, VenueOrder] = {}
        self.by_cl_ord_id: dict[str, VenueOrder] = {}
        self.fills: list[tuple[str, str, str, Decimal, Decimal]] = []  # exec id, cl ord id, side, qty, px
        self.logged_on = threading.Event()
        self.paused = False
        self._ids = itertools.count(1)
        self._writer: asyncio.StreamWriter | None = None
        self._held: dict[int, simplefix.FixMessage] = {}
        self._resend_asked = False
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"venue-{code}-db")
        self._work: set[asyncio.Task[None]] = set()
        self._last_sent = 0.0
        self.heartbeat_s = 30
        self.received: list[bytes] = []

    # ------------------------------------------------------------------ the record the tests read

    def positions(self) -> dict[str, Decimal]:
        """Signed quantity the desk bought (+) or sold (-) here, by symbol."""
        totals: dict[str, Decimal] = {}
        for _, cl_ord_id, side, quantity, _ in self.fills:
            order = self.by_cl_ord_id[cl_ord_id]
            totals[order.symbol] = totals.get(order.symbol, Decimal(0)) + (quantity if side == "1" else -quantity)
        return totals

    # ------------------------------------------------------------------ wire

    async def serve(self, host: str, port: int) -> asyncio.Server:
        server = await asyncio.start_server(self._connection, host, port)
        self.port = server.sockets[0].getsockname()[1]
        return server

    async def _send(self, msg_type: str, body: list[tuple[int, str]]) -> None:
        message = simplefix.FixMessage()
        message.append_pair(8, "FIX.4.4", header=True)
        message.append_pair(35, msg_type, header=True)
        message.append_pair(49, self.code, header=True)
        message.append_pair(56, self.peer, header=True)
        message.append_pair(34, str(self.next_out), header=True)
        message.append_pair(52, _now_text(), header=True)
        for tag, value in body:
            message.append_pair(tag, value)
        raw = message.encode()
        self.store[self.next_out] = raw
        self.next_out += 1
        await self._write(raw)

    async def _write(self, raw: bytes) -> None:
        if self._writer is None or not self.logged_on.is_set():
            return  # kept in the store: the desk asks for it after its next Logon
        self._last_sent = asyncio.get_running_loop().time()
        try:
            self._writer.write(raw)
            await self._writer.drain()
        except (ConnectionError, OSError):
            self.logged_on.clear()

    async def drop(self) -> None:
        """Drop the session without a Logout (what a venue's network blip does)."""
        self.logged_on.clear()
        if self._writer is not None:
            self._writer.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._writer is not None and self.logged_on.is_set():
            writer.close()
            return
        self._writer, self._held, self._resend_asked = writer, {}, False
        parser = simplefix.FixParser()
        ticker = asyncio.create_task(self._heartbeats())
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                parser.append_buffer(data)
                while (message := parser.get_message()) is not None:
                    await self._on_message(message)
                if self._writer is not writer:
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            ticker.cancel()
            if self._writer is writer:
                self.logged_on.clear()
                self._writer = None
            writer.close()

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            if self.logged_on.is_set() and asyncio.get_running_loop().time() - self._last_sent >= self.heartbeat_s:
                await self._send("0", [])

    async def _on_message(self, message: simplefix.FixMessage) -> None:
        self.received.append(message.encode(raw=True))
        kind = _text(message, 35) or ""
        seq = int(_text(message, 34) or "0")
        if not self.logged_on.is_set():
            if kind != "A" or _text(message, 49) != self.peer:
                await self.drop()
                return
            if _text(message, 141) == "Y":
                self.next_in, self.next_out, self.store = 1, 1, {}
            if seq < self.next_in:
                await self.drop()
                return
            self.heartbeat_s = int(_text(message, 108) or "30")
            self.logged_on.set()
            body = [(98, "0"), (108, str(self.heartbeat_s))] + ([(141, "Y")] if _text(message, 141) == "Y" else [])
            await self._send("A", body)
            if seq > self.next_in:
                await self._ask_resend()
            else:
                self.next_in = seq + 1
            return
        if kind == "4" and _text(message, 123) != "Y":
            self.next_in = int(_text(message, 36) or self.next_in)
            await self._drain()
            return
        if seq > self.next_in:
            self._held[seq] = message
            if kind == "2":
                await self._resend(message)
            if not self._resend_asked:
                await self._ask_resend()
            return
        if seq < self.next_in:
            if _text(message, 43) != "Y":
                await self._send("5", [(58, f"MsgSeqNum too low, expecting {self.next_in} but received {seq}")])
                await self.drop()
            return
        await self._process(kind, seq, message)
        await self._drain()

    async def _ask_resend(self) -> None:
        self._resend_asked = True
        await self._send("2", [(7, str(self.next_in)), (16, "0")])

    async def _drain(self) -> None:
        while self.next_in in self._held:
            message = self._held.pop(self.next_in)
            await self._process(_text(message, 35) or "", self.next_in, message)
        if not self._held:
            self._resend_asked = False

    async def _process(self, kind: str, seq: int, message: simplefix.FixMessage) -> None:
        self.next_in = seq + 1
        if kind == "4":
            self.next_in = max(int(_text(message, 36) or seq + 1), seq + 1)
        elif kind == "1":
            await self._send("0", [(112, _text(message, 112) or "")])
        elif kind == "2":
            await self._resend(message)
        elif kind == "5":
            await self._send("5", [])
            await self.drop()
        elif kind == "D":
            await self._on_new(message)
        elif kind == "F":
            await self._on_cancel(message)
        elif kind == "G":
            await self._on_replace(message)
        elif kind == "H":
            await self._on_status(message)
        elif kind not in ADMIN:
            await self._send("j", [(45, str(seq)), (372, kind), (380, "3"), (58, f"unsupported {kind}")])

    async def _resend(self, message: simplefix.FixMessage) -> None:
        begin = int(_text(message, 7) or "1")
        end = int(_text(message, 16) or "0") or self.next_out - 1
        gap_from: int | None = None
        for seq in range(begin, min(end, self.next_out - 1) + 1):
            raw = self.store.get(seq)
            original = simplefix.FixParser()
            if raw is not None:
                original.append_buffer(raw)
            parsed = original.get_message() if raw is not None else None
            kind = _text(parsed, 35) if parsed is not None else None
            if parsed is None or kind in ADMIN:
                gap_from = seq if gap_from is None else gap_from
                continue
            if gap_from is not None:
                await self._gap_fill(gap_from, seq)
                gap_from = None
            copy = simplefix.FixMessage()
            for tag, value in parsed.pairs:
                if int(tag) in (9, 10):
                    continue
                copy.append_pair(int(tag), value, header=int(tag) in (8, 35, 49, 56, 34, 52))
                if int(tag) == 34:
                    copy.append_pair(43, "Y", header=True)
                if int(tag) == 52:
                    copy.append_pair(122, value, header=True)
            await self._write(copy.encode())
        if gap_from is not None:
            await self._gap_fill(gap_from, min(end, self.next_out - 1) + 1)

    async def _gap_fill(self, seq: int, new_seq: int) -> None:
        message = simplefix.FixMessage()
        for tag, value in ((8, "FIX.4.4"), (35, "4"), (49, self.code), (56, self.peer), (34, str(seq)), (43, "Y")):
            message.append_pair(tag, value, header=True)
        message.append_pair(52, _now_text(), header=True)
        message.append_pair(122, _now_text(), header=True)
        message.append_pair(123, "Y")
        message.append_pair(36, str(new_seq))
        await self._write(message.encode())

    # ------------------------------------------------------------------ orders

    def _report(
        self,
        order: VenueOrder,
        exec_type: str,
        *,
        cl_ord_id: str = "",
        orig: str = "",
        text: str = "",
        last: tuple[Decimal, Decimal, Decimal] | None = None,
    ) -> list[tuple[int, str]]:
        body = [(37, order.order_id), (11, cl_ord_id or order.cl_ord_id)]
        if orig:
            body.append((41, orig))
        body += [
            (17, f"{self.code}-E{next(self._ids)}"),
            (150, exec_type),
            (39, order.status),
            (55, order.symbol),
            (54, order.side),
            (38, str(order.quantity)),
            (44, str(order.price)),
        ]
        if last is not None:
            body += [(32, str(last[0])), (31, str(last[1])), (12, str(last[2])), (13, "3")]
        body += [(151, str(order.leaves)), (14, str(order.cum_qty)), (6, str(order.avg_px)), (60, _now_text())]
        if text:
            body.append((58, text))
        return body

    async def _on_new(self, message: simplefix.FixMessage) -> None:
        cl_ord_id = _text(message, 11) or ""
        if cl_ord_id in self.by_cl_ord_id:
            return  # the same order again (a resend the desk's session had already delivered): traded once
        instrument = await self._in_db(_instrument, _text(message, 55) or "")
        order = VenueOrder(
            order_id=f"{self.code}-O{next(self._ids)}",
            cl_ord_id=cl_ord_id,
            symbol=_text(message, 55) or "",
            side=_text(message, 54) or "1",
            quantity=Decimal(_text(message, 38) or "0"),
            price=Decimal(_text(message, 44) or "0"),
        )
        self.orders[order.order_id] = order
        self.by_cl_ord_id[cl_ord_id] = order
        refusal = None
        if instrument is None:
            refusal = f"unknown symbol {order.symbol}"
        elif order.quantity <= 0 or order.price <= 0:
            refusal = "OrderQty and Price must be above zero"
        elif self.rng.random() < self.behaviour.reject_rate:
            refusal = "venue: order refused (simulated)"
        if refusal is not None:
            order.status = "8"
            await self._later(self.behaviour.ack_latency_s, self._send("8", self._report(order, "8", text=refusal)))
            return
        assert instrument is not None
        order.underlying, order.multiplier = instrument
        n = int(self.rng.integers(self.behaviour.min_parts, self.behaviour.max_parts + 1))
        part = (order.quantity / n).quantize(Decimal("1e-8"), rounding=ROUND_DOWN)
        order.parts = [part] * (n - 1) + [order.quantity - part * (n - 1)] if part > 0 else [order.quantity]
        await self._later(self.behaviour.ack_latency_s, self._ack_then_fill(order))

    async def _later(self, mean_s: float, coroutine: object) -> None:
        async def run() -> None:
            await asyncio.sleep(float(self.rng.exponential(mean_s)) if mean_s > 0 else 0)
            await coroutine  # type: ignore[misc]

        task = asyncio.get_running_loop().create_task(run())
        self._work.add(task)
        task.add_done_callback(self._work.discard)

    async def _ack_then_fill(self, order: VenueOrder) -> None:
        if order.status != "0":
            return
        await self._send("8", self._report(order, "0"))
        await self._later(self.behaviour.fill_latency_s, self._fill_next(order))

    async def _fill_next(self, order: VenueOrder) -> None:
        while self.paused:
            await asyncio.sleep(0.05)
        if order.status not in ("0", "1") or not order.parts:
            return
        quantity = order.parts.pop(0)
        price, fee = await self._in_db(_price, self.code, order.underlying, order.side, quantity, order.multiplier)
        beyond = price > order.price if order.side == "1" else price < order.price
        if beyond:
            order.status = "4"
            text = f"would fill at {price}, beyond the limit {order.price}"
            await self._send("8", self._report(order, "4", text=text))
            return
        await self._in_db(_book, self.code, order.underlying, order.side, quantity, order.multiplier)
        order.cum_qty += quantity
        order.value += quantity * price
        order.status = "2" if order.cum_qty >= order.quantity else "1"
        body = self._report(order, "F", last=(quantity, price, fee))
        self.fills.append((dict(body)[17], order.cl_ord_id, order.side, quantity, price))
        await self._send("8", body)
        if self.rng.random() < self.behaviour.drop_rate:
            await self.drop()
        if order.parts:
            await self._later(self.behaviour.fill_latency_s, self._fill_next(order))

    async def _on_cancel(self, message: simplefix.FixMessage) -> None:
        cl_ord_id, orig = _text(message, 11) or "", _text(message, 41) or ""
        order = self.by_cl_ord_id.get(orig)
        if order is None or order.status not in ("0", "1"):
            reason = "1" if order is None else "0"
            body = [
                (37, order.order_id if order else "NONE"),
                (11, cl_ord_id),
                (41, orig),
                (39, order.status if order else "8"),
                (434, "1"),
                (102, reason),
                (58, "unknown order" if order is None else "too late to cancel"),
            ]
            await self._send("9", body)
            return
        order.status, order.parts = "4", []
        self.by_cl_ord_id[cl_ord_id] = order
        await self._send("8", self._report(order, "4", cl_ord_id=cl_ord_id, orig=orig))

    async def _on_replace(self, message: simplefix.FixMessage) -> None:
        cl_ord_id, orig = _text(message, 11) or "", _text(message, 41) or ""
        order = self.by_cl_ord_id.get(orig)
        quantity = Decimal(_text(message, 38) or "0")
        if order is None or order.status not in ("0", "1") or quantity < order.cum_qty:
            body = [
                (37, order.order_id if order else "NONE"),
                (11, cl_ord_id),
                (41, orig),
                (39, "8"),
                (434, "2"),
                (102, "1" if order is None else "0"),
                (58, "cannot replace"),
            ]
            await self._send("9", body)
            return
        order.quantity, order.price = quantity, Decimal(_text(message, 44) or str(order.price))
        remaining = quantity - order.cum_qty - sum(order.parts)
        if order.parts:
            order.parts[-1] += remaining
        elif remaining > 0:
            order.parts = [remaining]
        order.cl_ord_id = cl_ord_id
        self.by_cl_ord_id[cl_ord_id] = order
        await self._send("8", self._report(order, "5", cl_ord_id=cl_ord_id, orig=orig))

    async def _on_status(self, message: simplefix.FixMessage) -> None:
        cl_ord_id = _text(message, 11) or ""
        order = self.by_cl_ord_id.get(cl_ord_id)
        if order is None:
            body = [
                (37, "NONE"),
                (11, cl_ord_id),
                (17, f"{self.code}-E{next(self._ids)}"),
                (150, "I"),
                (39, "8"),
                (55, _text(message, 55) or ""),
                (54, _text(message, 54) or "1"),
                (151, "0"),
                (14, "0"),
                (6, "0"),
                (58, "unknown order"),
            ]
            await self._send("8", body)
            return
        await self._send("8", self._report(order, "I", cl_ord_id=cl_ord_id))

    async def _in_db(self, function: object, *args: object) -> object:
        loop = asyncio.get_running_loop()

        def call() -> object:
            close_old_connections()
            return function(*args)  # type: ignore[operator]

        return await loop.run_in_executor(self._db, call)


def _instrument(symbol: str) -> tuple[str, Decimal] | None:
    row = Instrument.objects.filter(symbol=symbol).values_list("base_currency", "multiplier").first()
    return None if row is None else (row[0], row[1])


def _rows(underlying: str) -> list[VenueBook]:
    venue_books_ensure(underlying=underlying, now=clock.now())
    return list(VenueBook.objects.select_for_update().filter(underlying=underlying).order_by("pk"))


def _price(code: str, underlying: str, side: str, quantity: Decimal, multiplier: Decimal) -> tuple[Decimal, Decimal]:
    with transaction.atomic():
        row = next(row for row in _rows(underlying) if row.venue == code)
        priced = SimulatedVenue().fill(
            venue_quote(row, now=clock.now()),
            underlying=underlying,
            side="buy" if side == "1" else "sell",
            coins=coins(quantity, multiplier),
        )
    price = to_decimal(priced.price).quantize(Decimal("1e-8"))
    return price, to_decimal(priced.fee).quantize(Decimal("1e-8"))


def _book(code: str, underlying: str, side: str, quantity: Decimal, multiplier: Decimal) -> None:
    """What the fill leaves in the books: the mid after the permanent impact on every venue of the underlying, the
    temporary impact and the depth taken on this one (as the in-process venue's booking does)."""
    with transaction.atomic():
        rows = _rows(underlying)
        now = clock.now()
        row = next(row for row in rows if row.venue == code)
        priced = SimulatedVenue().fill(
            venue_quote(row, now=now),
            underlying=underlying,
            side="buy" if side == "1" else "sell",
            coins=coins(quantity, multiplier),
        )
        for other in rows:
            fields = ["mid", "updated_at", "version"]
            other.mid, other.updated_at, other.version = to_decimal(priced.mid_after), now, other.version + 1
            if other.venue == code:
                other.temporary_impact = to_decimal(priced.temporary_impact_after)
                other.temporary_impact_at, other.depth = now, to_decimal(priced.depth_after)
                fields += ["temporary_impact", "temporary_impact_at", "depth"]
            other.save(update_fields=fields)


@dataclass
class FixVenues:
    """The simulated venues running on one event loop in a thread of their own (``rundesk``, tests)."""

    venues: dict[str, FixVenue]
    host: str = "127.0.0.1"
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None
    _thread: threading.Thread | None = None

    def addresses(self) -> dict[str, tuple[str, int]]:
        return {code: (self.host, venue.port) for code, venue in self.venues.items()}

    def setting(self) -> str:
        """The ``DESK_VENUE_FIX`` value that points the desk at these venues."""
        return ",".join(f"{code}={self.host}:{venue.port}" for code, venue in self.venues.items())

    def call(self, coroutine_function: object, *args: object, timeout: float = 10.0) -> object:
        """Run a coroutine on the venues' loop from another thread (drop a session, ...)."""
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(coroutine_function(*args), self._loop)  # type: ignore[operator]
        return future.result(timeout)

    def start(self, ports: dict[str, int] | None = None) -> FixVenues:
        ready = threading.Event()

        async def main() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            servers = [await venue.serve(self.host, (ports or {}).get(code, 0)) for code, venue in self.venues.items()]
            ready.set()
            await self._stop.wait()
            for server in servers:
                server.close()
            for venue in self.venues.values():
                await venue.drop()
                venue._db.shutdown(wait=False)

        self._thread = threading.Thread(target=lambda: asyncio.run(main()), name="fix-venues", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the simulated FIX venues did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)


def fix_venues_start(
    *, behaviour: VenueBehaviour | None = None, seed: int = 20261125, ports: dict[str, int] | None = None
) -> FixVenues:
    """Start one simulated FIX venue per venue of the desk's reference data (:data:`desk.market.VENUES`)."""
    venues = {spec.code: FixVenue(spec.code, behaviour=behaviour, seed=seed + n) for n, spec in enumerate(VENUES)}
    return FixVenues(venues=venues).start(ports)
