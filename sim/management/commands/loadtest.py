"""``python manage.py loadtest --url URL --clients N [--rate R] --seconds S --json``: simulated dealers drive a
running desk over REST (see :mod:`sim.loadtest`). Run it with the desk's own settings (it provisions its dealers and
RFQ in the desk's database), on a development desk only."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sim.loadtest import LoadtestRefused, loadtest_provision, loadtest_run, target_check


class Command(BaseCommand):
    help = "Load test a running desk (loopback only) as N REST dealers; open loop with --rate, else closed loop."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", required=True, help="the desk, e.g. http://127.0.0.1:8000 (loopback only)")
        parser.add_argument("--clients", type=int, default=1, help="dealers, each on its own connection (1..500)")
        parser.add_argument("--rate", type=float, default=None, help="requests per second offered by all clients")
        parser.add_argument("--seconds", type=float, default=10.0, help="length of the window (at most 600)")
        parser.add_argument("--json", action="store_true", help="one JSON object instead of a table")

    def handle(self, *args: Any, url: str, clients: int, rate: float | None, seconds: float, **options: Any) -> None:
        try:
            target = target_check(url, clients, rate, seconds)
            if not settings.DEBUG:
                raise LoadtestRefused("the load test provisions test dealers: run it against a development desk")
            setup = loadtest_provision(clients=clients, seconds=seconds)
        except LoadtestRefused as error:
            raise CommandError(str(error)) from None
        figures = loadtest_run(target=target, setup=setup, rate=rate, seconds=seconds)
        if options["json"]:
            self.stdout.write(json.dumps(figures))
            return
        for key, value in figures.items():
            self.stdout.write(f"{key:>14}  {value}")
