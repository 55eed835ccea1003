"""Run the simulated world as its own process: the market (venue books and the two signed feeds), TCA's market tape,
the market-health monitor and the demo dealers, connecting to a desk that runs elsewhere.

The scaled mode's counterpart of what ``rundesk`` starts in-process: web processes (``rundesk --no-worker --no-sim``),
Celery workers, the FIX gateway and this command run apart, sharing PostgreSQL and Redis. Stops on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sim.world import simulation_start

SEED_MAX = 2**32 - 1


class Command(BaseCommand):
    help = "Run the simulated market and dealers against a desk served at --url (FIX dealers need --fix-port)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the desk's base URL (REST dealers)")
        parser.add_argument("--fix-port", type=int, default=None, help="the FIX gateway's port on 127.0.0.1")
        parser.add_argument("--seed", type=int, default=20261125)

    def handle(self, *args: Any, url: str, fix_port: int | None, seed: int, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("simulate: the simulated dealers use demo credentials; refused when DESK_DEBUG=0")
        if not 0 <= seed <= SEED_MAX:
            raise CommandError(f"simulate: --seed must be in 0..{SEED_MAX}, got {seed}")
        if settings.EMBEDDED:
            self.stderr.write(
                "simulate: no REDIS_URL - the feeds stay in this process; run the desk with `rundesk` instead"
            )
        stop = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        simulation = simulation_start(base_url=url.rstrip("/"), fix_port=fix_port, seed=seed)
        self.stdout.write(
            f"simulated world: market ticking, {len(simulation.rest_bots)} REST and {len(simulation.fix_bots)} FIX "
            f"dealers connecting to {url}"
        )
        self.stdout.flush()
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            simulation.stop()
            signal.signal(signal.SIGTERM, previous)
        self.stdout.write("simulated world stopped")
