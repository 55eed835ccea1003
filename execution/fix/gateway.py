"""The desk's FIX sessions with its venues: one initiator session per venue (``settings.DESK_VENUE_FIX``), the
application that books what they report, and the loops that drain the outbox and watch orders in flight.

Each venue's connection loop logs on from the stored sequence numbers (:class:`~execution.models.
VenueSessionRecord`), reconciles (an OrderStatusRequest per order the desk holds open there, every answer awaited
or the reconciliation timeout passed) and only then marks the venue up (:func:`~execution.services.venue_orders.
venue_up`); the outbox pump sends to venues that are up. A dropped session marks the venue down (its plans pause)
and is retried. The ORM runs on one thread of its own (as in the dealers' gateway, :mod:`rfq.fix.acceptor`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import simplefix
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.db import connections, transaction

from desk.audit import audit_record
from desk.fix import codec
from desk.fix.messages import BusinessProblem, Problem, RejectReason, business_reject
from desk.fix.session import Session, SessionConfig, SessionRegistry, State, StreamTransport
from desk.fix.store import FixStore, Outgoing
from execution.crash import crash_point
from execution.models import VenueFixMessage, VenueSessionRecord
from execution.services import venue_orders
from execution.venue_orders import ExecType, ReportProblem, execution_report_parse

logger = logging.getLogger(__name__)

STORE = FixStore(VenueSessionRecord, VenueFixMessage)
SENDER_COMP_ID = "DESK"
RECONCILE_TIMEOUT_S = 10.0


def venue_addresses(text: str) -> dict[str, tuple[str, int]]:
    """``"LIT-A=127.0.0.1:9881,LIT-B=..."`` as {venue: (host, port)}; ValueError naming a bad entry."""
    addresses: dict[str, tuple[str, int]] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        venue, sep, address = entry.partition("=")
        host, colon, port = address.rpartition(":")
        if not sep or not colon or not port.isdigit():
            raise ValueError(f"DESK_VENUE_FIX entry {entry!r} is not VENUE=host:port")
        addresses[venue.strip()] = (host, int(port))
    return addresses


class VenueApplication:
    """What the desk does with a venue's application messages (inside the store's transaction)."""

    supported = frozenset({"8", "9", "j", "r"})

    def __init__(self, gateway: VenueGateway) -> None:
        self.gateway = gateway

    def check(self, message: simplefix.FixMessage) -> Problem | None:
        if codec.msg_type(message) != "8":
            return None
        try:
            execution_report_parse(message)
        except ReportProblem as problem:
            return Problem(
                RejectReason.REQUIRED_TAG_MISSING if "missing" in problem.text else RejectReason.INCORRECT_DATA_FORMAT,
                problem.tag,
                problem.text,
            )
        return None

    def handle(self, *, session: Session, message: simplefix.FixMessage, seq: int) -> Sequence[Outgoing]:
        venue, kind = session.peer_comp_id, codec.msg_type(message)
        if kind == "8":
            report = execution_report_parse(message)
            if report.exec_type == ExecType.TRADE:
                crash_point("before_booking")
            outcome = venue_orders.venue_report_apply(venue=venue, report=report)
            if report.exec_type == ExecType.ORDER_STATUS:
                self.gateway.status_answered(venue, report.cl_ord_id)
            if report.exec_type == ExecType.TRADE and report.leaves_qty > 0 and outcome.outcome == "booked":
                transaction.on_commit(lambda: crash_point("between_partials"))
            if outcome.outcome == "refused" and outcome.exec_id == report.exec_id:
                problem = BusinessProblem(0, report.cl_ord_id, outcome.detail)
                return [business_reject(ref_seq=seq, ref_msg_type="8", problem=problem)]
            return []
        ref_seq_text = codec.field(message, 45)
        venue_orders.venue_message_refused(
            venue=venue,
            ref_seq=int(ref_seq_text) if ref_seq_text and ref_seq_text.isdigit() else None,
            cl_ord_id=codec.field(message, 379 if kind == "j" else 41) or "",
            text=codec.field(message, 58) or "",
            kind=kind,
        )
        return []

    def on_session_reject(self, session: Session, message: simplefix.FixMessage) -> None:
        """A Reject (3) of one of our messages: the order it refers to is refused (sync, in the store's thread)."""
        ref_seq_text = codec.field(message, 45)
        with transaction.atomic():
            venue_orders.venue_message_refused(
                venue=session.peer_comp_id,
                ref_seq=int(ref_seq_text) if ref_seq_text and ref_seq_text.isdigit() else None,
                cl_ord_id="",
                text=codec.field(message, 58) or "session-level reject",
                kind="3",
            )

    def on_garbled(self, session: Session, reason: str, data: bytes) -> None:
        audit_record(
            actor=venue_orders.VENUE_ACTOR,
            action="venue_message.garbled",
            obj=None,
            after={
                "venue": session.peer_comp_id,
                "reason": reason,
                "data": data[:200].decode("latin-1").replace("\x01", "|"),
            },
        )

    async def on_logon(self, session: Session) -> None:
        await self.gateway.reconcile(session)

    async def on_disconnect(self, session: Session) -> None:
        await sync_to_async(venue_orders.venue_down)(venue=session.peer_comp_id)


@dataclass
class VenueGateway:
    """The desk's sessions with its venues (see the module)."""

    addresses: dict[str, tuple[str, int]]
    heartbeat_interval: int = 30
    timer_period: float = 0.2
    pump_period: float = 0.05
    status_timeout_s: float = 5.0
    reconnect_s: float = 0.5
    registry: SessionRegistry = field(default_factory=SessionRegistry)
    sessions: dict[str, Session] = field(default_factory=dict)
    reconciled: set[str] = field(default_factory=set)
    _awaiting: dict[str, set[str]] = field(default_factory=dict)

    def status_answered(self, venue: str, cl_ord_id: str) -> None:
        waiting = self._awaiting.get(venue)
        if waiting is not None:
            waiting.discard(cl_ord_id)

    async def reconcile(self, session: Session) -> None:
        """After a logon: ask the status of every order the desk holds open at the venue, wait for every answer
        (or the timeout), then mark the venue up. Nothing new goes out before."""
        venue = session.peer_comp_id
        self.reconciled.discard(venue)
        child_ids = await sync_to_async(venue_orders.orders_to_reconcile)(venue=venue)
        waiting: set[str] = set()
        self._awaiting[venue] = waiting
        for child_id in child_ids:

            def effect(child_id: int = child_id) -> Sequence[Outgoing]:
                return venue_orders.status_request_take(child_order_id=child_id)

            sent = await session.send_application(effect)
            if not sent:
                return
            crash_point("during_reconciliation")
        # The ClOrdIDs asked about, read back from what was stored (a replace may have moved them).
        waiting.update(await sync_to_async(_cl_ord_ids)(child_ids))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RECONCILE_TIMEOUT_S
        while waiting and loop.time() < deadline and session.state is State.LOGGED_ON:
            await asyncio.sleep(0.02)
        if session.state is not State.LOGGED_ON:
            return
        if waiting:
            logger.warning("venue %s: no status for %s after %.0f s", venue, sorted(waiting), RECONCILE_TIMEOUT_S)
        self._awaiting.pop(venue, None)
        await sync_to_async(venue_orders.venue_up)(venue=venue)
        self.reconciled.add(venue)
        logger.info("venue %s: reconciled %d open orders, up", venue, len(child_ids))

    async def run(self, stop: asyncio.Event) -> None:
        await sync_to_async(STORE.sessions_mark_disconnected)(sender_comp_id=SENDER_COMP_ID)
        tasks = [asyncio.create_task(self._connection(venue, stop)) for venue in self.addresses]
        tasks.append(asyncio.create_task(self._pump(stop)))
        tasks.append(asyncio.create_task(self._watch(stop)))
        try:
            await stop.wait()
        finally:
            for session in list(self.sessions.values()):
                with contextlib.suppress(Exception):
                    await session.logout("desk shutting down")
            await asyncio.sleep(0.2)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for session in list(self.sessions.values()):
                await session.close("gateway stopped")

    async def _connection(self, venue: str, stop: asyncio.Event) -> None:
        host, port = self.addresses[venue]
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError as error:
                logger.info("venue %s: cannot connect to %s:%d (%s)", venue, host, port, error)
                await asyncio.sleep(self.reconnect_s)
                continue
            session = Session(
                transport=StreamTransport(writer),
                application=VenueApplication(self),
                registry=self.registry,
                store=STORE,
                config=SessionConfig(sender_comp_id=SENDER_COMP_ID),
            )
            self.sessions[venue] = session
            timer = asyncio.create_task(self._tick(session))
            try:
                await session.initiate(peer_comp_id=venue, heartbeat_interval=self.heartbeat_interval)
                while session.state is not State.CLOSED:
                    data = await reader.read(65536)
                    if not data:
                        break
                    await session.on_bytes(data)
            except (ConnectionError, OSError) as error:
                logger.info("venue %s: connection lost (%s)", venue, error)
            except Exception:
                logger.exception("venue %s: session failed", venue)
            finally:
                timer.cancel()
                self.reconciled.discard(venue)
                await session.close("connection closed")
            if not stop.is_set():
                await asyncio.sleep(self.reconnect_s)

    async def _tick(self, session: Session) -> None:
        while session.state is not State.CLOSED:
            await asyncio.sleep(self.timer_period)
            try:
                await session.on_timer()
            except Exception:
                logger.exception("venue %s: timer failed", session.peer_comp_id)

    async def _pump(self, stop: asyncio.Event) -> None:
        """Send what the outbox holds for each venue that is up, oldest first."""
        while not stop.is_set():
            for venue in list(self.reconciled):
                session = self.sessions.get(venue)
                if session is None or session.state is not State.LOGGED_ON:
                    continue
                try:
                    for outbox_id in await sync_to_async(venue_orders.outbox_pending)(venue=venue):

                        def effect(outbox_id: int = outbox_id) -> Sequence[Outgoing]:
                            return venue_orders.outbox_take(outbox_id=outbox_id)

                        if not await session.send_application(effect):
                            break
                        crash_point("after_send")
                except Exception:
                    logger.exception("venue %s: sending from the outbox failed", venue)
            await asyncio.sleep(self.pump_period)

    async def _watch(self, stop: asyncio.Event) -> None:
        """Orders in flight past the timeout: ask the venue instead of waiting."""
        while not stop.is_set():
            await asyncio.sleep(min(1.0, self.status_timeout_s / 2))
            for venue in list(self.reconciled):
                session = self.sessions.get(venue)
                if session is None or session.state is not State.LOGGED_ON:
                    continue
                try:
                    ids = await sync_to_async(venue_orders.orders_in_flight)(
                        venue=venue, timeout_s=self.status_timeout_s
                    )
                    for child_id in ids:

                        def effect(child_id: int = child_id) -> Sequence[Outgoing]:
                            return venue_orders.status_request_take(child_order_id=child_id)

                        await session.send_application(effect)
                except Exception:
                    logger.exception("venue %s: the in-flight watch failed", venue)


def _cl_ord_ids(child_ids: list[int]) -> set[str]:
    from execution.models import ChildOrder

    return {
        cl_ord_id or client_order_id
        for cl_ord_id, client_order_id in ChildOrder.objects.filter(pk__in=child_ids).values_list(
            "cl_ord_id", "client_order_id"
        )
    }


async def venue_gateway_serve(*, addresses: dict[str, tuple[str, int]], stop: asyncio.Event, **options: Any) -> None:
    """Run the venues' sessions until ``stop`` is set (the ``venuegateway`` command, ``rundesk``, tests)."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="venue-db")
    try:
        async with ThreadSensitiveContext(executor=executor):
            gateway = VenueGateway(addresses=addresses, **options)
            await gateway.run(stop)
            await sync_to_async(connections.close_all)()
    finally:
        await asyncio.to_thread(executor.shutdown, wait=True)


class VenueGatewayThread:
    """The venues' sessions in a thread with its own event loop. Stop with :meth:`stop`."""

    def __init__(self, *, addresses: dict[str, tuple[str, int]] | None = None, **options: Any) -> None:
        self.addresses = addresses if addresses is not None else venue_addresses(settings.DESK_VENUE_FIX)
        self.options = options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="venue-gateway", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            self._started.set()
            await venue_gateway_serve(addresses=self.addresses, stop=self._stop, **self.options)

        try:
            asyncio.run(main())
        except Exception:
            logger.exception("the venue gateway thread died")
        finally:
            self._started.set()

    def start(self) -> VenueGatewayThread:
        self._thread.start()
        self._started.wait(10)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
