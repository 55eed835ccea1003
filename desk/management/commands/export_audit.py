from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from desk.audit import chain_verify
from desk.selectors import AuditFilter, audit_export_lines, audit_export_statement


def _when(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not an ISO 8601 time: {value!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Command(BaseCommand):
    help = (
        "Export the audit trail (a time range, optionally filtered) as CSV or JSONL. The events committed so far are "
        "sealed and anchored first; the file's first line and this command's output state the hash-chain "
        "verification; exit 1 when the chain is broken."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="start", help="ISO 8601, inclusive; UTC when no offset is given")
        parser.add_argument("--to", dest="end", help="ISO 8601, exclusive; UTC when no offset is given")
        parser.add_argument("--format", dest="export_format", choices=["csv", "jsonl"], default="csv")
        parser.add_argument("--output", required=True, help="file to write, or - for stdout")
        parser.add_argument("--actor", default="", help="exact actor, e.g. user:trader")
        parser.add_argument("--object-type", default="", help="exact object type, e.g. rfq.rfq")
        parser.add_argument("--action", default="", help="action prefix, e.g. rfq.")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        filters = AuditFilter(
            start=_when(options["start"]) if options["start"] else None,
            end=_when(options["end"]) if options["end"] else None,
            actor=options["actor"],
            object_type=options["object_type"],
            action=options["action"],
        )
        if filters.start and filters.end and filters.end <= filters.start:
            raise CommandError("--to must be after --from")
        report = chain_verify(checkpoint=True)
        lines = audit_export_lines(filters=filters, report=report, export_format=options["export_format"])
        rows = -2 if options["export_format"] == "csv" else -1  # the statement line, and the CSV header
        if options["output"] == "-":
            for line in lines:
                sys.stdout.write(line)
                rows += line.count("\n")
        else:
            with open(options["output"], "w", encoding="utf-8", newline="") as out:
                for line in lines:
                    out.write(line)
                    rows += line.count("\n")
        statement = audit_export_statement(report=report)
        # With --output -, the export owns stdout: the verification goes to stderr.
        say = self.stderr.write if options["output"] == "-" else self.stdout.write
        if options["json"]:
            say(json.dumps({"chain": report.as_dict(), "rows": rows, "output": options["output"]}))
        else:
            say(f"{statement}\n{rows} events written to {options['output']}")
        if not report.ok:
            raise SystemExit(1)
