"""The asyncio TCP acceptor of the FIX gateway, and its outbound listener on the channel layer.

Start it with :func:`fix_gateway_serve` (the ``fixgateway`` command does, and ``rundesk`` can, as an asyncio task
or in a thread with :func:`fix_gateway_thread`). The gateway's ORM calls all run on one thread of its own (an
``asgiref`` thread-sensitive context with a one-worker executor): they are serialized, which SQLite needs, and
they never queue behind the web app's thread-sensitive work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import connections

from desk.fix.session import StreamTransport
from rfq.fix import store
from rfq.fix.application import DealerApplication
from rfq.fix.conformance import EchoApplication
from rfq.fix.session import MAX_RESEND_REQUESTS, Application, Session, SessionConfig, SessionRegistry, State

logger = logging.getLogger(__name__)

OUTBOUND_GROUP = "fix.outbound"
READ_CHUNK = 65536
REJOIN_PERIOD_S = 60.0


@dataclass
class Gateway:
    """The running gateway: its sessions, and the application they serve."""

    application: Application
    config: SessionConfig = field(default_factory=SessionConfig)
    registry: SessionRegistry = field(default_factory=SessionRegistry)
    timer_period: float = 0.2
    connections: set[asyncio.Task[Any]] = field(default_factory=set)

    async def handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.connections.add(task)
            task.add_done_callback(self.connections.discard)
        session = Session(
            transport=StreamTransport(writer), application=self.application, registry=self.registry, config=self.config
        )
        timer = asyncio.create_task(self._tick(session))
        try:
            while session.state is not State.CLOSED:
                data = await reader.read(READ_CHUNK)
                if not data:
                    break
                await session.on_bytes(data)
        except (ConnectionError, OSError) as exc:
            logger.info("FIX connection from %s lost: %s", writer.get_extra_info("peername"), exc)
        except Exception:
            logger.exception("FIX session %s failed", session.peer_comp_id or "?")
        finally:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
            await session.close("connection closed")

    async def _tick(self, session: Session) -> None:
        while session.state is not State.CLOSED:
            await asyncio.sleep(self.timer_period)
            try:
                await session.on_timer()
            except Exception:
                logger.exception("FIX timer of %s failed", session.peer_comp_id or "?")

    async def on_outbound(self, event: dict[str, Any]) -> None:
        """An event from the services: deliver it if its dealer is logged on (else the logon sweep will)."""
        deliver = getattr(self.application, "deliver", None)
        if deliver is None:
            return
        for session in self.registry.all():
            counterparty = session.counterparty
            if session.state is State.LOGGED_ON and counterparty is not None and counterparty.code == event["dealer"]:
                try:
                    await deliver(session, kind=event["kind"], obj_id=int(event["id"]))
                except Exception:
                    logger.exception("FIX delivery of %s failed", event)

    async def listen_outbound(self, ready: asyncio.Event | None = None) -> None:
        """Receive the services' ``fix.outbound`` events from the channel layer until cancelled."""
        layer = get_channel_layer()
        if layer is None:
            logger.warning("no channel layer: FIX deliveries happen only at logon")
            if ready is not None:
                ready.set()
            return
        channel = await layer.new_channel("fixgateway.")
        await layer.group_add(OUTBOUND_GROUP, channel)
        rejoin = asyncio.create_task(self._keep_membership(layer, channel))
        waker = asyncio.create_task(_wake_regularly()) if isinstance(layer, InMemoryChannelLayer) else None
        if ready is not None:
            ready.set()
        try:
            while True:
                event = await layer.receive(channel)
                if event.get("type") == "fix.outbound":
                    await self.on_outbound(event)
        finally:
            rejoin.cancel()
            if waker is not None:
                waker.cancel()
            with contextlib.suppress(Exception):
                await layer.group_discard(OUTBOUND_GROUP, channel)

    async def _keep_membership(self, layer: Any, channel: str) -> None:
        """Join the group again now and then: channel layers drop memberships after ``group_expiry`` (a day by
        default), and the in-memory layer drops a channel that let a message expire."""
        while True:
            await asyncio.sleep(REJOIN_PERIOD_S)
            try:
                await layer.group_add(OUTBOUND_GROUP, channel)
            except Exception:
                logger.exception("FIX gateway could not renew its %s membership", OUTBOUND_GROUP)

    async def shutdown(self, timeout: float = 2.0) -> None:
        """Log every session out (a clean Logout, so that peers do not wait for a timeout), then close them."""
        sessions = self.registry.all()
        for session in sessions:
            with contextlib.suppress(Exception):
                await session.logout("gateway shutting down")
        deadline = asyncio.get_running_loop().time() + timeout
        while any(s.state is not State.CLOSED for s in sessions) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        for session in sessions:
            await session.close("gateway stopped")
        # The connection handlers finish their own cleanup (cancelling live quotes…) before the loop goes away.
        pending = list(self.connections)
        if pending:
            _, late = await asyncio.wait(pending, timeout=timeout + 3)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=2)


async def _wake_regularly(period: float = 0.05) -> None:
    """Keep the loop turning. The in-memory channel layer completes our pending receive from the sender's thread,
    which schedules the wake-up without waking the selector: without a tick the event would wait for the next
    timer (up to a heartbeat check period)."""
    while True:
        await asyncio.sleep(period)


def _default_application(conformance: tuple[str, str] | None, dictionary: Path | None) -> Application:
    if conformance is not None:
        return EchoApplication(dictionary_path=dictionary)
    return DealerApplication()


async def fix_gateway_serve(
    *,
    host: str = "127.0.0.1",
    port: int,
    stop_event: asyncio.Event,
    conformance: tuple[str, str] | None = None,
    dictionary: Path | None = None,
    on_ready: Callable[[int], None] | None = None,
    application: Application | None = None,
    resend_timeout: float | None = None,
    max_resend_requests: int = MAX_RESEND_REQUESTS,
    reset_on_logon: bool = False,
) -> None:
    """Run the FIX acceptor until ``stop_event`` is set, then log sessions out and return.

    Parameters
    ----------
    host, port
        Where to listen (``port`` 0: any free port, reported through ``on_ready``).
    stop_event
        Set it (from the same loop) to stop the gateway.
    conformance
        ``(OURS, THEIRS)``: the session layer alone for one peer, echoing validated application messages.
    dictionary
        The FIX44.xml to validate against in conformance mode (default: the one the quickfix package installs).
    on_ready
        Called with the bound port once the gateway accepts connections and listens for outbound events.
    resend_timeout, max_resend_requests
        How long (seconds; None: HeartBtInt plus 20 %) a ResendRequest may stay unanswered before it is sent
        again, and how many in a row before the session is logged out (see :class:`SessionConfig`).
    reset_on_logon
        Every Logon starts both sequences again at 1 (QuickFIX's ``ResetOnLogon=Y``).
    """
    config = SessionConfig(
        sender_comp_id=conformance[0] if conformance else "DESK",
        conformance_peer=conformance[1] if conformance else None,
        resend_timeout=resend_timeout,
        max_resend_requests=max_resend_requests,
        reset_on_logon=reset_on_logon,
        # Conformance mode drops a connection the way the reference engines do, without a Logout to tell why.
        logout_before_drop=conformance is None,
    )
    gateway = Gateway(application=application or _default_application(conformance, dictionary), config=config)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fix-db")
    try:
        async with ThreadSensitiveContext(executor=executor):
            await sync_to_async(store.sessions_mark_disconnected)(sender_comp_id=config.sender_comp_id)
            server = await asyncio.start_server(gateway.handle_connection, host, port)
            listening = asyncio.Event()
            listener = asyncio.create_task(gateway.listen_outbound(listening))
            await asyncio.wait_for(listening.wait(), timeout=10)
            bound = server.sockets[0].getsockname()[1]
            logger.info("FIX gateway listening on %s:%d as %s", host, bound, config.sender_comp_id)
            if on_ready is not None:
                on_ready(bound)
            try:
                await stop_event.wait()
            finally:
                server.close()
                await gateway.shutdown()
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener
                await server.wait_closed()
                await sync_to_async(connections.close_all)()
    finally:
        # Not a blocking shutdown on the loop's thread: a job still running there (a service's after-commit
        # group_send through async_to_sync) may need this very loop to finish.
        await asyncio.to_thread(executor.shutdown, wait=True)


class GatewayThread:
    """The gateway in a thread of its own with its own event loop (``rundesk``, tests). Stop with :meth:`stop`."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        self.host, self.requested_port, self.options = host, port, options
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="fix-gateway", daemon=True)

    def _on_ready(self, port: int) -> None:
        self.port = port
        self._ready.set()

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await fix_gateway_serve(
                host=self.host, port=self.requested_port, stop_event=self._stop, on_ready=self._on_ready, **self.options
            )

        try:
            asyncio.run(main())
        except BaseException as exc:
            self._error = exc
            logger.exception("FIX gateway thread died")
        finally:
            self._ready.set()

    def start(self, timeout: float = 20.0) -> GatewayThread:
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None or not self.port:
            raise RuntimeError(f"the FIX gateway did not start: {self._error!r}")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)


def fix_gateway_thread(*, host: str = "127.0.0.1", port: int, **options: Any) -> GatewayThread:
    """Start the gateway in a daemon thread and return once it accepts connections."""
    return GatewayThread(host=host, port=port, **options).start()
