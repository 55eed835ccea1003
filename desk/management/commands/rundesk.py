"""Start the whole desk in one process: ASGI server (HTTP + websockets), Celery worker and beat, the simulated
market and dealers. Ctrl-C stops every part, in order."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from desk.celery import app as celery_app
from desk.embedded import embedded_worker
from execution.fix.gateway import VenueGatewayThread, venue_addresses
from rfq.fix.acceptor import fix_gateway_thread
from sim.fix_venues import fix_venues_start
from sim.world import Simulation, simulation_start

DEMO_LOGINS = ["trader", "risk", "compliance", "admin"]
REMIND_EVERY_S = 300.0
"""The URL and the logins are said again this often (what scrolled by is not lost)."""
QUIET_UNLESS_VERBOSE = ("celery.app.trace", "celery.worker.strategy", "celery.beat")
"""One line per task sent, received and done: the beat alone runs several tasks a second."""


class Command(BaseCommand):
    help = "Run the desk: web app (HTTP and websockets), a Celery worker and beat, the simulated world."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--no-worker", action="store_true", help="web only: workers and beat run as separate processes"
        )
        parser.add_argument("--no-sim", action="store_true", help="no simulated market and dealers")
        parser.add_argument("--fix-port", type=int, default=None, help="FIX acceptor port (default: FIX_PORT)")
        parser.add_argument("--no-fix", action="store_true", help="no FIX gateway (run `fixgateway` apart)")
        parser.add_argument(
            "--verbose",
            action="store_true",
            help="log every HTTP request and every task run (off by default: the demo dealers alone poll about 25 "
            "times a second)",
        )

    def handle(  # noqa: PLR0913 - one keyword per command-line option
        self,
        *args: Any,
        host: str,
        port: int,
        no_worker: bool,
        no_sim: bool,
        fix_port: int | None,
        no_fix: bool,
        verbose: bool,
        **options: Any,
    ) -> None:
        if not verbose:
            for name in QUIET_UNLESS_VERBOSE:
                logging.getLogger(name).setLevel(logging.WARNING)
        mode = "embedded (SQLite, in-memory broker and channel layer)" if settings.EMBEDDED else "Redis"
        database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        config = uvicorn.Config(
            "desk.asgi:application",
            host=host,
            port=port,
            lifespan="off",
            ws="websockets-sansio",
            log_level="info",
            access_log=verbose,
            timeout_graceful_shutdown=5,
        )
        server = uvicorn.Server(config)
        self.stdout.write(f"the desk: mode {mode}, database {database}")
        self.stdout.flush()
        simulate = settings.DEBUG and not no_sim
        with contextlib.ExitStack() as stack:
            if not no_worker:
                stack.enter_context(embedded_worker(celery_app, beat=True))
            gateway_port = None
            if not no_fix:
                gateway = fix_gateway_thread(host=host, port=fix_port if fix_port is not None else settings.FIX_PORT)
                stack.callback(gateway.stop)
                gateway_port = gateway.port
                self.stdout.write(f"  FIX 4.4 acceptor on {host}:{gateway_port} (SenderCompID DESK)")
                self.stdout.flush()
            if settings.DESK_VENUE == "fix" and not no_worker:
                self._venues_start(stack, simulate)
            holder: list[Simulation] = []
            starter = threading.Thread(
                target=self._start_when_serving,
                args=(server, f"http://{host}:{port}", gateway_port, holder, simulate),
                daemon=True,
            )
            starter.start()
            stack.callback(lambda: [simulation.stop() for simulation in holder])
            # uvicorn re-raises Ctrl-C after its graceful shutdown; the other parts then stop in reverse order.
            with contextlib.suppress(KeyboardInterrupt):
                server.run()
        self.stdout.write("the desk stopped")

    def _venues_start(self, stack: contextlib.ExitStack, simulate: bool) -> None:
        """The venues over FIX: the simulated ones (unless DESK_VENUE_FIX names venues elsewhere), then the desk's
        sessions with them (the initiator), in this process beside the worker."""
        addresses = venue_addresses(settings.DESK_VENUE_FIX)
        if not addresses and simulate:
            venues = fix_venues_start()
            stack.callback(venues.stop)
            addresses = venues.addresses()
            where = ", ".join(f"{code} :{port}" for code, (_, port) in addresses.items())
            self.stdout.write(f"  simulated FIX 4.4 venues (acceptors): {where}")
        if addresses:
            gateway = VenueGatewayThread(addresses=addresses, status_timeout_s=settings.DESK_VENUE_STATUS_TIMEOUT_S)
            gateway.start()
            stack.callback(gateway.stop)
            self.stdout.write(f"  the desk's FIX sessions with {len(addresses)} venues (initiator, DESK)")
        self.stdout.flush()

    def _start_when_serving(
        self, server: uvicorn.Server, base_url: str, fix_port: int | None, holder: list[Simulation], simulate: bool
    ) -> None:
        while not server.started:
            if server.should_exit:
                return
            time.sleep(0.05)
        if simulate:
            # The simulated dealers connect as real ones would, over the network: only once the server listens.
            simulation = simulation_start(base_url=base_url, fix_port=fix_port)
            holder.append(simulation)
            self.stdout.write(
                f"  simulated market and dealers started ({len(simulation.rest_bots)} over REST, "
                f"{len(simulation.fix_bots)} over FIX)"
            )
        # Said last, once everything runs, so that it is the line a newcomer sees; and again every few minutes.
        self._where(base_url)
        said = time.monotonic()
        while not server.should_exit:
            time.sleep(0.1)
            if time.monotonic() - said >= REMIND_EVERY_S:
                self._where(base_url)
                said = time.monotonic()
        if simulate:
            # Dealers hang up as soon as the server begins its shutdown, not after it has closed the port.
            holder[0].stop()

    def _where(self, base_url: str) -> None:
        self.stdout.write(f"the desk is ready: open {base_url}/desk/   (health: {base_url}/healthz)")
        if settings.DEBUG:
            logins = ", ".join(f"{name} / demo-{name}" for name in DEMO_LOGINS)
            self.stdout.write(f"  demo logins: {logins}")
        self.stdout.flush()
