"""Train the dealer-scoring models:
``python manage.py train_scoring [--rfqs N --seed S] [--by USERNAME] [--owner NAME] [--json]``.

With ``--rfqs N`` it first books N simulated RFQs through the RFQ services (the demo dealers and their simulated
behaviour, the spot and perpetual instruments of the simulated underlyings) and trains with that market's mids, all
in a database of the run's own (:mod:`sim.database`: a fresh SQLite file, or ``--database-url``), never the desk's;
``--rfqs`` is refused when ``DESK_DEBUG=0``. Without, it trains on the desk's stored history. Either way the result
is a new model version, draft or validated; promotion stays a risk officer's act. The version records who trained
it: the desk user named by ``--by``, else the command and the operating-system account that ran it.
"""

from __future__ import annotations

import getpass
import json
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from desk import clock
from desk.models import Instrument, InstrumentKind
from rfq.models import Counterparty, CounterpartyStatus
from rfq.scoring.scores import dealer_scores
from rfq.scoring.services import ScoringModelRefused, scoring_model_train
from sim.database import DATABASE_URL_HELP, run_database_config, run_database_use, simulated_bookings_allowed
from sim.dealers.profiles import DEMO_PROFILES
from sim.market import MarketSimulator
from sim.scoring import scoring_simulate


class Command(BaseCommand):
    help = "Train the dealer-scoring models and store a model version (draft, or validated when the hold-out passes)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rfqs", type=int, default=0, help="book this many simulated RFQs first")
        parser.add_argument("--seed", type=int, default=1, help="seed of the simulation")
        parser.add_argument("--user", default="trader", help="the trader the simulated RFQs are booked as")
        parser.add_argument("--owner", default="quant", help="who answers for the model")
        parser.add_argument(
            "--by", default=None, help="the desk user who trains (recorded on the version); else the OS account"
        )
        parser.add_argument("--database-url", default=None, help=f"with --rfqs: {DATABASE_URL_HELP}")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["rfqs"] <= 0:
            if options["database_url"] is not None:
                raise CommandError("--database-url: only with --rfqs (the simulated bookings' own database)")
            self._train(options)
            return
        simulated_bookings_allowed("train_scoring --rfqs")
        with run_database_use(run_database_config(options["database_url"])):
            self._train(options)

    def _train(self, options: dict[str, Any]) -> None:
        # Resolved in the database the version is stored in (with --rfqs, the run's own, with the demo users), before
        # a long simulation.
        actor = self._trainer(options["by"])
        mids = None
        simulated = 0
        if options["rfqs"] > 0:
            simulation = self._simulate(options["rfqs"], options["seed"], options["user"])
            mids, simulated = simulation.mids, simulation.rfqs
        try:
            version = scoring_model_train(actor=actor, mids=mids, owner=options["owner"])
        except ScoringModelRefused as refused:
            raise CommandError("; ".join(refused.messages)) from None
        metrics = version.metrics
        result = {
            "version": version.version,
            "status": version.status,
            "training_data_sha256": version.training_data_sha256,
            "trained_by": version.trained_by,
            "data_start": version.data_start.isoformat(),
            "data_end": version.data_end.isoformat(),
            "rfqs_simulated": simulated,
            "metrics": metrics,
            "scores_bps": {k: round(v, 3) for k, v in dealer_scores(version.artifact).items()},
        }
        if options["json"]:
            self.stdout.write(json.dumps(result, sort_keys=True))
            return
        fill, answer = metrics["fill"], metrics["answer"]
        self.stdout.write(
            f"scoring model v{version.version}: {version.status}; hold-out P(fill) AUC {fill.get('auc')}, "
            f"Brier {fill.get('brier')} (constant {fill.get('brier_baseline')}); P(answer) AUC {answer.get('auc')}"
        )

    def _trainer(self, username: str | None) -> Any:
        if username is None:
            try:
                account = getpass.getuser()
            except (KeyError, OSError):
                account = "unknown"
            return f"system:train_scoring (os user {account})"
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"--by: no active desk user {username!r}")
        return user

    def _simulate(self, n_rfqs: int, seed: int, username: str) -> Any:
        trader = get_user_model().objects.filter(username=username).first()
        if trader is None:
            raise CommandError(f"no user {username!r}: run seed_demo first or pass --user")
        dealers = list(Counterparty.objects.filter(code__in=DEMO_PROFILES, status=CounterpartyStatus.ACTIVE))
        # The simulated history ends about now: start far enough back (about 75 s of market per RFQ).
        start = clock.now().replace(microsecond=0) - timedelta(seconds=75 * n_rfqs)
        market = MarketSimulator(seed, start=start)
        instruments = list(
            Instrument.objects.filter(
                is_active=True,
                kind__in=[InstrumentKind.SPOT, InstrumentKind.PERPETUAL],
                base_currency__in=market.underlyings,
            )
        )
        if not dealers or not instruments:
            raise CommandError("no simulated dealers or instruments: run seed_demo first")
        return scoring_simulate(
            n_rfqs=n_rfqs,
            seed=seed,
            dealers=dealers,
            profiles=DEMO_PROFILES,
            instruments=instruments,
            actor=trader,
            market=market,
        )
