"""``python manage.py tca_calibrate [--days N] [--json]``: refit and store the pre-trade models now."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tca import services


class Command(BaseCommand):
    help = "Fit the square-root impact coefficient and the dealer terms on the desk's recent fills and store them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=services.CALIBRATION_WINDOW.days, help="look-back window")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"]
        if days < 1:
            raise CommandError(f"--days {days}: must be at least 1")
        fits = services.calibration_refit(window=timedelta(days=days), actor="system:tca_calibrate")
        rows = [
            {
                "id": fit.pk,
                "kind": fit.kind,
                "underlying": fit.underlying,
                "parameters": fit.parameters,
                "std_error": fit.std_error,
                "n": fit.n,
                "is_default": fit.is_default,
            }
            for fit in fits
        ]
        if options["json"]:
            self.stdout.write(json.dumps({"fits": rows}))
            return
        for row in rows:
            flag = " (default)" if row["is_default"] else ""
            self.stdout.write(f"{row['kind']} {row['underlying'] or 'all'}: {row['parameters']} n={row['n']}{flag}")
