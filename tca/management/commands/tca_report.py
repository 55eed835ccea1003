"""``python manage.py tca_report --from DATE --to DATE --group-by dealer|algo|trader|leg|period
--format html|csv|json|parquet [--output PATH]``"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tca import reports, sources
from tca.selectors import tca_fills_frame


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise CommandError(f"not a date (YYYY-MM-DD): {value!r}") from error


class Command(BaseCommand):
    help = (
        "Post-trade TCA of the fills executed between two dates (inclusive, UTC): implementation shortfall and its "
        "parts, and the slippage against arrival, interval VWAP, TWAP and close, per dealer, algorithm, trader, leg "
        "or day."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="start", metavar="DATE", required=True, help="first day, YYYY-MM-DD (UTC)")
        parser.add_argument(
            "--to", dest="end", metavar="DATE", required=True, help="last day, YYYY-MM-DD (UTC), inclusive"
        )
        parser.add_argument("--group-by", dest="group_by", choices=reports.GROUP_BY_CHOICES, default="dealer")
        parser.add_argument("--format", dest="output_format", choices=reports.FORMAT_CHOICES, default="html")
        parser.add_argument("--json", action="store_true", help="print one JSON object (same as --format json)")
        parser.add_argument(
            "--output",
            metavar="PATH",
            default=None,
            help="write the report to this file instead of printing it (required for --format parquet)",
        )
        parser.add_argument(
            "--benchmark",
            choices=("decision", "arrival"),
            default="decision",
            help="the paper portfolio's price: the decision price or the arrival mid",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        start, end = _date(options["start"]), _date(options["end"])
        if start > end:
            raise CommandError(f"--from {start.isoformat()} is after --to {end.isoformat()}: swap them")
        output_format = "json" if options["json"] else options["output_format"]
        output = options["output"]
        if output_format in reports.FILE_ONLY_FORMATS and not output:
            raise CommandError(f"--format {output_format} writes a binary file: give --output PATH")
        if output and not Path(output).parent.is_dir():
            raise CommandError(f"--output {output}: the directory {Path(output).parent} does not exist")
        window_start = datetime.combine(start, time.min, tzinfo=UTC)
        window_end = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)

        raw = tca_fills_frame(start=window_start, end=window_end)
        tape = sources.tape_for(raw)
        fills, orders = sources.fills_and_orders(raw, end=pd.Timestamp(window_end), tape=tape)
        report = reports.tca_report_build(
            fills,
            orders,
            group_by=options["group_by"],
            start=start,
            end=end,
            benchmark=options["benchmark"],
            source_descriptions=sources.SOURCE_DESCRIPTIONS,
            tape=tape,
            benchmark_orders=True,
        )
        if output:
            written = reports.report_write(report, output_format=output_format, path=output)
            self.stderr.write(f"{report['note']}\nwritten: {written}")
            return
        self.stdout.write(reports.report_render(report, output_format=output_format), ending="")
        if output_format == "json":
            self.stdout.write("")
        if output_format == "csv" and not report["rows"]:
            self.stderr.write(report["note"])
