from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from desk.audit import chain_verify


class Command(BaseCommand):
    help = "Walk the audit hash chain; exit 1 naming the first broken row."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        report = chain_verify()
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict()))
        elif report.ok:
            self.stdout.write(f"audit chain OK: {report.events} events, head #{report.head_seq} {report.head_hash}")
        else:
            self.stderr.write(f"audit chain BROKEN at row #{report.broken_seq}: {report.reason}")
        if not report.ok:
            raise SystemExit(1)
