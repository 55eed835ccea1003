"""Backtest a quote policy on the simulator and book it: ``python manage.py backtest --policy {best-now,
best-at-window,first-k,wait-or-split,oracle} --rfqs N --seed S [--scenario NAME] [--json]``.

It generates N seeded RFQ episodes (:mod:`sim.backtest.episodes`: the simulated market, the named scenario laid over
it, the demo dealers' simulated behaviour, the desk's spot and perpetual instruments; ``seed_demo`` first), fits
the desk's dealer model on a separate block of simulated history observed as the desk observes it and its impact
model on child orders it executed on a separate market (:mod:`sim.backtest.impact`), replays the
episodes under the policy (:mod:`sim.backtest.core`, which defines the cost), and books RFQs, quotes, fills,
last-look rejects and decision records through the RFQ services (:mod:`sim.backtest.booking`), into a database of
the run's own (:mod:`sim.database`: a fresh SQLite file, or ``--database-url``), never the desk's; refused when
``DESK_DEBUG=0``. The same seed and
scenario give the same episodes for every policy, so that runs compare pair by pair. With ``--json`` it prints
one object ``{"policy", "n", "mean_cost_bps", "p90_cost_bps", "fill_ratio"}``; otherwise a table. Bad arguments
(an unknown policy or scenario, a count below 1, a seed outside 0..2³²−1) are refused with one line before anything
is generated or booked.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from desk import clock
from desk.models import Instrument, InstrumentKind
from rfq.models import Counterparty, CounterpartyStatus
from sim.backtest.booking import outcomes_book
from sim.backtest.core import (
    HISTORY_RFQS,
    HISTORY_SEED_OFFSET,
    POLICIES,
    desk_history_fit,
    episode_replay,
    oracle_replay,
    policy_make,
    summary,
)
from sim.backtest.episodes import SCENARIO_UNDERLYING, episodes_generate, instrument_spec
from sim.database import DATABASE_URL_HELP, run_database_config, run_database_use, simulated_bookings_allowed
from sim.dealers.profiles import DEMO_PROFILES
from sim.market import SCENARIOS

SECONDS_PER_RFQ = 60
MAX_RFQS = 100_000
MAX_SEED = 2**32 - 1


class Command(BaseCommand):
    help = "Backtest a quote policy (or the hindsight oracle) on simulated RFQs, booked through the services."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--policy", required=True, help=f"one of {', '.join(POLICIES)}")
        parser.add_argument("--rfqs", type=int, required=True, help="number of simulated RFQs (> 0)")
        parser.add_argument("--seed", type=int, default=1, help="seed of the market, the RFQs and the dealers")
        parser.add_argument("--scenario", default=None, help=f"one of {', '.join(sorted(SCENARIOS))}")
        parser.add_argument("--user", default="trader", help="the trader the RFQs are booked as")
        parser.add_argument("--database-url", default=None, help=DATABASE_URL_HELP)
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        policy, n, seed, scenario = options["policy"], options["rfqs"], options["seed"], options["scenario"]
        if policy not in POLICIES:
            raise CommandError(f"--policy: unknown policy {policy!r}; choose one of {', '.join(POLICIES)}")
        if n <= 0 or n > MAX_RFQS:
            raise CommandError(f"--rfqs: must be between 1 and {MAX_RFQS}, got {n}")
        if not 0 <= seed <= MAX_SEED:
            raise CommandError(f"--seed: must be between 0 and {MAX_SEED} (2**32-1), got {seed}")
        if scenario is not None and scenario not in SCENARIOS:
            raise CommandError(
                f"--scenario: unknown scenario {scenario!r}; choose one of {', '.join(sorted(SCENARIOS))}"
            )
        simulated_bookings_allowed("backtest")
        with run_database_use(run_database_config(options["database_url"])):
            self._run(policy, n, seed, scenario, options)

    def _run(self, policy: str, n: int, seed: int, scenario: str | None, options: dict[str, Any]) -> None:
        trader = get_user_model().objects.filter(username=options["user"]).first()
        if trader is None:
            raise CommandError(f"--user: no user {options['user']!r}: run seed_demo first or pass --user")
        dealers = {
            d.code: d for d in Counterparty.objects.filter(code__in=DEMO_PROFILES, status=CounterpartyStatus.ACTIVE)
        }
        underlyings = [SCENARIO_UNDERLYING] if scenario else ["BTC", "ETH"]
        instruments = {
            i.symbol: i
            for i in Instrument.objects.filter(
                is_active=True, kind__in=[InstrumentKind.SPOT, InstrumentKind.PERPETUAL]
            ).select_related("underlying")
        }
        specs = [s for s in (instrument_spec(i) for i in instruments.values()) if s.underlying in underlyings]
        if not dealers or not specs:
            raise CommandError("no simulated dealers or instruments: run seed_demo first")
        profiles = {code: DEMO_PROFILES[code] for code in dealers}
        # The simulated RFQs end about now, like the history train_scoring books.
        start = clock.now().replace(microsecond=0) - timedelta(seconds=SECONDS_PER_RFQ * n)
        specs.sort(key=lambda s: s.symbol)
        episodes = episodes_generate(
            n=n, seed=seed, profiles=profiles, instruments=specs, scenario=scenario, start=start
        )
        versions: dict[str, Any] = {}
        if policy == "oracle":
            outcomes = [oracle_replay(e) for e in episodes]
        else:
            if policy == "wait-or-split":
                model, impact = desk_history_fit(seed=seed, profiles=profiles, instruments=specs, start=start)
                chosen = policy_make(policy, model=model, impact=impact)
                versions = {
                    "dealer_model": f"backtest-history-seed-{seed + HISTORY_SEED_OFFSET}-n{HISTORY_RFQS}",
                    "impact_model": f"backtest-executions-seed-{seed + HISTORY_SEED_OFFSET}",
                }
            else:
                chosen = policy_make(policy)
            outcomes = [episode_replay(e, chosen, name=policy, keep_views=True) for e in episodes]
        booked = outcomes_book(
            outcomes=outcomes, instruments=instruments, dealers=dealers, actor=trader, model_versions=versions
        )
        result = summary(policy, outcomes)
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        self.stdout.write(f"backtest of {policy} on {n} RFQs, seed {seed}, scenario {scenario or 'none'}")
        for key in ("n", "mean_cost_bps", "p90_cost_bps", "fill_ratio"):
            self.stdout.write(f"  {key:<16}{result[key]:>12}")
        self.stdout.write(
            f"  booked: {booked.rfqs} RFQs, {booked.quotes} quotes, {booked.fills} fills, {booked.rejects} last-look "
            f"rejects, {booked.decisions} decision records, {booked.refused} refused by the services"
        )
