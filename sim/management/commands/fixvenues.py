"""Run the simulated FIX venues on their own (the scaled mode): ``python manage.py fixvenues [--port-base N]``.

Prints the ``DESK_VENUE_FIX`` value that points a desk at them. Stops on Ctrl-C and SIGTERM."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from desk.market import VENUES
from sim.fix_venues import fix_venues_start


class Command(BaseCommand):
    help = "Run the simulated venues as FIX 4.4 acceptors (one port per venue), pricing from the shared venue books."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port-base", type=int, default=0, help="first port (default: any free ports)")

    def handle(self, *args: Any, port_base: int, **options: Any) -> None:
        ports = {spec.code: port_base + n for n, spec in enumerate(VENUES)} if port_base else None
        venues = fix_venues_start(ports=ports)
        self.stdout.write(f"DESK_VENUE_FIX={venues.setting()}")
        self.stdout.flush()
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        stop.wait()
        venues.stop()
        self.stdout.write("the simulated venues stopped")
