"""``python manage.py stress --scenario NAME --seed S [--no-safeguards] [--duration S] [--database-url URL] [--json]``:
replay a market scenario with an execution plan running into it through the desk's own services (:mod:`sim.stress`)
and report the loss, the halt, the breaches and the market-health checks that fired (``checks_fired``). The desk's
daily-loss and position limits are read from the desk's database; the replay books into a database of the run's own
(:mod:`sim.database`: a fresh SQLite file, migrated, removed afterwards, or ``--database-url``), never the desk's.
Refused when ``DESK_DEBUG=0``; bad arguments are refused with one line before anything is booked."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import replace
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from risk import selectors
from risk.models import LimitKind
from sim.database import DATABASE_URL_HELP, run_database_config, run_database_use, simulated_bookings_allowed
from sim.market import SCENARIOS
from sim.stress import SEED_MAX, StressConfig, StressRefused, stress_run, stress_validate

# StressConfig field ← the Limit kind it reads.
LIMIT_FIELDS = {"daily_loss_limit": LimitKind.MAX_DAILY_LOSS, "max_position": LimitKind.MAX_POSITION}


def _config_from_limits(config: StressConfig) -> tuple[StressConfig, dict[str, str]]:
    """``config`` with the desk's daily-loss and position limits where they are set (the tightest at the firm or
    desk scope), and where each figure comes from."""
    rows = selectors.stress_limits()
    changes: dict[str, float] = {}
    source: dict[str, str] = {}
    for name, kind in LIMIT_FIELDS.items():
        row = rows.get(kind)
        if row is not None and row.value > 0:
            changes[name] = float(row.value)
            source[name] = f"{row.scope} limit"
        else:
            source[name] = "default"
    return replace(config, **changes), source


class Command(BaseCommand):
    help = "Replay a market scenario with an execution running, with or without the desk's safeguards."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scenario", required=True, help=f"one of {', '.join(sorted(SCENARIOS))}")
        parser.add_argument("--seed", type=int, required=True, help=f"seed of the simulated market (0..{SEED_MAX})")
        parser.add_argument(
            "--no-safeguards",
            action="store_true",
            help="run the checks in shadow: record breaches, never refuse or halt",
        )
        parser.add_argument(
            "--daily-loss-limit",
            type=float,
            default=None,
            help=f"USD (default: the desk's max_daily_loss limit, else {StressConfig().daily_loss_limit:g})",
        )
        parser.add_argument(
            "--duration",
            type=float,
            default=None,
            help="simulated seconds after the episode starts (default: the longer of the episode and the plan)",
        )
        parser.add_argument("--database-url", default=None, help=DATABASE_URL_HELP)
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        scenario, seed, duration = options["scenario"], options["seed"], options["duration"]
        if not 0 <= seed <= SEED_MAX:
            raise CommandError(f"--seed must be in 0..{SEED_MAX}, not {seed}")
        if duration is not None and not (math.isfinite(duration) and duration > 0):
            raise CommandError(f"--duration must be a positive number of seconds, not {duration}")
        try:
            stress_validate(scenario, seed=seed, duration_s=duration)
        except StressRefused as refused:
            raise CommandError(str(refused)) from None
        simulated_bookings_allowed("stress")
        config, source = _config_from_limits(StressConfig())
        limit = options["daily_loss_limit"]
        if limit is not None:
            if not (math.isfinite(limit) and limit > 0):
                raise CommandError(f"--daily-loss-limit must be a positive number of USD, not {limit}")
            config = replace(config, daily_loss_limit=limit)
            source["daily_loss_limit"] = "--daily-loss-limit"
        database = run_database_config(options["database_url"])
        if options["verbosity"] < 2:
            # Steps of 10 simulated seconds are longer than the monitor's 5 s silence threshold: it would log every
            # step's findings. The halts and breaches are in the report; -v 2 shows the monitor's log.
            logging.getLogger("risk.monitor").setLevel(logging.ERROR)
        try:
            # The replay creates its own trader, instrument and book limits; its rows stay in the run's database.
            with run_database_use(database, demo=False):
                result = stress_run(
                    scenario,
                    seed=seed,
                    safeguards=not options["no_safeguards"],
                    config=config,
                    duration_s=duration,
                    rollback=False,
                )
        except StressRefused as refused:
            raise CommandError(str(refused)) from None
        report = result.as_dict()
        if options["json"]:
            self.stdout.write(json.dumps(report))
            return
        mode = "with safeguards" if result.safeguards else "without safeguards"
        self.stdout.write(f"{scenario} (seed {seed}) {mode}")
        self.stdout.write(
            "  limits: " + ", ".join(f"{name} {getattr(config, name):g} ({origin})" for name, origin in source.items())
        )
        self.stdout.write(
            f"  loss {result.loss:,.2f} USD (max seen {result.max_loss_seen:,.2f}), "
            f"daily limit {result.daily_loss_limit:,.2f}"
        )
        if result.halted:
            self.stdout.write(
                f"  halted after {result.seconds_to_halt:g} s at a loss of {result.loss_at_halt:,.2f}: "
                f"{result.halt_reason}"
            )
            self.stdout.write(f"  orders after the halt: {result.orders_after_halt}")
        else:
            self.stdout.write("  never halted")
        for breach in result.breaches:
            self.stdout.write(
                f"  breach {breach['limit']}: {breach['count']}x from {breach['first_at_s']:g} s, "
                f"worst {breach['worst_observed']} against {breach['threshold']}"
            )
        for fired in result.checks_fired:
            self.stdout.write(
                f"  market health {fired['underlying']} {fired['state']}: check {fired['check']} from "
                f"{fired['first_at_s']:g} s ({fired['times']}x)"
            )
