"""Judge the dealer scoring against a measured truth: ``python manage.py scoring_eval --rfqs N --seed S
--population P [--truth-rfqs T] [--json]``.

It draws population ``P`` from seed ``S`` (:mod:`sim.dealers.population`), books ``N`` simulated RFQs with it
through the RFQ services, trains the scoring model on the earlier three quarters and judges it on the latest quarter
and against each dealer's true all-in cost, measured by trading ``T`` RFQs with each dealer alone on a separate
simulated market (:func:`sim.scoring_eval.scoring_evaluate`). With ``--json`` it prints one object
``{"spearman", "auc_answer", "auc_fill", "dealers", "rfqs"}``; otherwise the figures, the learned weights and the
dealers side by side.

A simulated booking never reaches the live desk: everything it writes (RFQs, quotes, fills, audit events, the
model version) goes to a database of the run's own (:mod:`sim.database`: a fresh SQLite file, migrated, removed
afterwards, or ``--database-url``), never the desk's, and the command is refused when ``DESK_DEBUG=0``. Bad
arguments (an unknown population, a count below 1, a seed outside 0..2³²−1) are refused with one line before
anything is drawn or booked.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sim.database import DATABASE_URL_HELP, run_database_config, run_database_use, simulated_bookings_allowed
from sim.dealers.population import POPULATIONS, population_draw
from sim.scoring_eval import scoring_evaluate

MAX_RFQS = 100_000
MAX_TRUTH_RFQS = 100_000
MAX_SEED = 2**32 - 1


class Command(BaseCommand):
    help = "Judge dealer scoring on a simulated dealer population against each dealer's measured all-in cost."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rfqs", type=int, required=True, help="simulated RFQs to book (> 0)")
        parser.add_argument("--seed", type=int, default=1, help="seed of the population, the market and the RFQs")
        parser.add_argument("--population", default="balanced", help=f"one of {', '.join(sorted(POPULATIONS))}")
        parser.add_argument("--truth-rfqs", type=int, default=1500, help="RFQs per dealer the truth trades (> 0)")
        parser.add_argument("--database-url", default=None, help=DATABASE_URL_HELP)
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        n, seed, name, truth_rfqs = options["rfqs"], options["seed"], options["population"], options["truth_rfqs"]
        if name not in POPULATIONS:
            raise CommandError(
                f"--population: unknown population {name!r}; choose one of {', '.join(sorted(POPULATIONS))}"
            )
        if not 1 <= n <= MAX_RFQS:
            raise CommandError(f"--rfqs: must be between 1 and {MAX_RFQS}, got {n}")
        if not 1 <= truth_rfqs <= MAX_TRUTH_RFQS:
            raise CommandError(f"--truth-rfqs: must be between 1 and {MAX_TRUTH_RFQS}, got {truth_rfqs}")
        if not 0 <= seed <= MAX_SEED:
            raise CommandError(f"--seed: must be between 0 and {MAX_SEED} (2**32-1), got {seed}")
        simulated_bookings_allowed("scoring_eval")
        config = run_database_config(options["database_url"])
        population = population_draw(name, seed)
        # The evaluation creates its own trader, instruments and dealers: the run's database needs no demo data.
        with run_database_use(config, demo=False):
            evaluation = scoring_evaluate(population=population, n_rfqs=n, seed=seed, truth_rfqs=truth_rfqs)
        result = evaluation.as_dict()
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        market = population.market
        self.stdout.write(
            f"scoring_eval: population {name}, seed {seed}, {result['dealers']} dealers, {result['rfqs']} RFQs booked "
            f"(in the run's own database); informed flow {market.flow_drift_bps_per_s:.2f} bps/s, fallback after "
            f"{market.requote_delay_s:.1f} s"
        )
        for key in ("spearman", "auc_answer", "auc_fill"):
            self.stdout.write(f"  {key:<12}{result[key]:>10}")
        weights = ", ".join(f"{k} {v:.3g}" for k, v in evaluation.weights.items())
        self.stdout.write(f"  learned weights: {weights}")
        self.stdout.write(f"  {'dealer':<8}{'true cost':>12}{'± se':>8}{'model cost':>12}")
        truth = evaluation.truth.sort_values("cost_bps")
        for code, row in truth.iterrows():
            model = evaluation.expected_cost_bps[code]
            self.stdout.write(f"  {code:<8}{row['cost_bps']:>12.2f}{row['cost_se_bps']:>8.2f}{model:>12.2f}")
