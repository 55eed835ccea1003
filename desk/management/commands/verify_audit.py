from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from desk.audit import chain_verify


class Command(BaseCommand):
    help = (
        "Seal the audit events committed so far (anchoring a checkpoint at the head), then verify the chain from the "
        "last verified position and compare it with the anchor's signed checkpoints; exit 1 naming the first broken "
        "row. --full walks every event; --anchor compares every checkpoint of the given anchor file."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--full", action="store_true", help="walk the whole chain from the genesis")
        parser.add_argument(
            "--anchor", help="anchor file (JSON lines of signed checkpoints) to compare; default DESK_AUDIT_ANCHOR"
        )
        parser.add_argument(
            "--no-seal", action="store_true", help="verify only (a read-only check): chain nothing, anchor nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        anchor = options["anchor"]
        if anchor is not None and not Path(anchor).is_file():
            raise CommandError(f"--anchor: no anchor file at {anchor}")
        report = chain_verify(full=options["full"], anchor=anchor, seal=not options["no_seal"], checkpoint=True)
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict()))
        elif report.ok:
            walked = "full walk" if report.full else f"walked from #{report.from_seq}"
            self.stdout.write(
                f"audit chain OK: {report.events} events, head #{report.head_seq} {report.head_hash} ({walked}, "
                f"{report.checked} events; {report.anchor_checked} anchored checkpoints compared, last "
                f"#{report.anchor_last_seq})"
            )
        else:
            self.stderr.write(f"audit chain BROKEN at row #{report.broken_seq}: {report.reason}")
        if not report.ok:
            raise SystemExit(1)
