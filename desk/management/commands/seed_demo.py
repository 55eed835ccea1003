from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from desk.demo import demo_seed


class Command(BaseCommand):
    help = "Load the demo data (users per role, instruments, dealers). Idempotent; refused when DESK_DEBUG=0."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_demo is refused when DESK_DEBUG=0: demo passwords must never reach production")
        created = demo_seed()
        if options["json"]:
            self.stdout.write(json.dumps({"created": created}))
        else:
            summary = ", ".join(f"{count} {kind}" for kind, count in created.items())
            self.stdout.write(f"demo data: created {summary}")
