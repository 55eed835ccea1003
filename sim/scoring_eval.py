"""Dealer scoring judged against a truth it does not share: book a population's history, train, compare.

:func:`scoring_evaluate` draws a dealer population (:mod:`sim.dealers.population`), books ``n_rfqs`` simulated RFQs
with it through the RFQ services (:func:`sim.scoring.scoring_simulate`: an exploring desk that asks three to five
dealers at random), trains the desk's scoring model on the earlier RFQs (:func:`rfq.scoring.services.
scoring_model_train`, which learns its cost weights from the realized outcomes) and judges it on the later ones:

- ``spearman``: rank correlation between the dealers' expected all-in cost by the model (averaged over the RFQs the
  truth trades: instrument classes in their shares, notionals log-uniform) and their true cost, measured by
  :func:`sim.dealers.population.true_costs` on a separate simulated market;
- ``auc_answer`` and ``auc_fill``: how well ``P(answer)`` and ``P(fill | accepted)`` separate what happened in the
  held-out window (the latest quarter of the RFQs by send time).

It writes into the database it is given: the command gives it a database of the run's own (:mod:`sim.database`);
a test may run it inside its own transaction and roll it back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from desk.models import Instrument, InstrumentKind
from desk.roles import Role
from rfq.models import Connectivity, Counterparty
from rfq.scoring.features import request_features
from rfq.scoring.history import scoring_history_frame
from rfq.scoring.models import (
    ANSWER_FEATURES,
    FILL_FEATURES,
    Hyperparameters,
    LogisticModel,
    hyperparameters_of,
    model_inputs,
)
from rfq.scoring.scores import Context, dealer_estimates
from rfq.scoring.services import scoring_model_train
from sim.dealers.population import Population, true_costs
from sim.market import MarketSimulator
from sim.scoring import ANSWER_WINDOW_S, instrument_terms, scoring_simulate

HOLDOUT_FRACTION = 0.25
"""The latest share of the booked RFQs (by send time) the model is judged on."""
TRUTH_SEED_OFFSET = 1_000_003
"""The truth trades on its own market: the booking's seed plus this (mod 2**32)."""
NOTIONAL_RANGE = (5e4, 5e6)
"""Smallest and largest RFQ notional, quote currency (log-uniform), in the booking and in the truth alike."""
EVAL_INSTRUMENTS: tuple[tuple[str, str, str, str, str], ...] = (
    ("SIMEVAL-BTC-USD", "spot", "BTC", "0.5", "0.0001"),
    ("SIMEVAL-ETH-USD", "spot", "ETH", "0.05", "0.001"),
    ("SIMEVAL-BTC-PERP", "perpetual", "BTC", "0.5", "0.001"),
)
"""The instruments the evaluation books: symbol, kind, base currency, tick and lot."""


@dataclass(frozen=True)
class Evaluation:
    """The figures the command prints, the truth and the model's view of each dealer, and the learned weights."""

    spearman: float
    auc_answer: float
    auc_fill: float
    dealers: int
    rfqs: int
    truth: pd.DataFrame
    expected_cost_bps: pd.Series
    weights: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "spearman": round(self.spearman, 4),
            "auc_answer": round(self.auc_answer, 4),
            "auc_fill": round(self.auc_fill, 4),
            "dealers": self.dealers,
            "rfqs": self.rfqs,
        }


def evaluation_world_create(population: Population) -> tuple[Any, list[Counterparty], list[Instrument]]:
    """The evaluation's desk: a trader, the :data:`EVAL_INSTRUMENTS` and one counterparty per dealer."""
    trader = get_user_model().objects.create_user(username=f"simeval-trader-{population.seed}")
    trader.groups.add(Group.objects.get(name=Role.TRADER))
    instruments: list[Instrument] = []
    for symbol, kind, base, tick, lot in EVAL_INSTRUMENTS:
        underlying = next((i for i in instruments if i.base_currency == base), None)
        instruments.append(
            Instrument.objects.create(
                symbol=symbol,
                kind=kind,
                base_currency=base,
                quote_currency="USD",
                tick_size=Decimal(tick),
                lot_size=Decimal(lot),
                underlying=underlying if kind == InstrumentKind.PERPETUAL else None,
            )
        )
    dealers = [
        Counterparty.objects.create(
            code=code,
            name=f"Simulated dealer {code}",
            connectivity=Connectivity.REST,
            instrument_classes=[InstrumentKind.SPOT, InstrumentKind.PERPETUAL],
        )
        for code in sorted(population.profiles)
    ]
    return trader, dealers, instruments


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else math.nan


def expected_costs(artifact: dict[str, Any], dealers: list[str], contexts: list[Context]) -> pd.Series:
    """Each dealer's expected all-in cost (bps, minus its score) by the model, averaged over ``contexts``."""
    frames = [dealer_estimates(artifact, dealers, context).set_index("dealer")["score_bps"] for context in contexts]
    return -pd.concat(frames, axis=1).mean(axis=1)


def scoring_evaluate(
    *, population: Population, n_rfqs: int, seed: int, truth_rfqs: int, start: datetime | None = None
) -> Evaluation:
    """Book, train on the earlier RFQs, judge on the later ones and against the measured truth (module docstring).

    Parameters
    ----------
    population : the dealers and the market behaviour (:func:`sim.dealers.population.population_draw`)
    n_rfqs : RFQs to book through the services
    seed : seed of the booking's market and choices; the truth's market is ``seed + TRUTH_SEED_OFFSET``
    truth_rfqs : RFQs per dealer the truth trades
    start : simulated time of the first RFQ (the market's fixed default start when omitted, so that the same
        arguments give the same figures whatever the time of day)
    """
    trader, dealers, instruments = evaluation_world_create(population)
    result = scoring_simulate(
        n_rfqs=n_rfqs,
        seed=seed,
        dealers=dealers,
        profiles=population.profiles,
        instruments=instruments,
        actor=trader,
        market=MarketSimulator(seed, start=start),
        notional_range=NOTIONAL_RANGE,
        flow_drift_bps_per_s=population.market.flow_drift_bps_per_s,
    )
    history = scoring_history_frame()
    rfq_times = history.groupby("rfq_id")["sent_at"].first().sort_values(kind="stable")
    cut = rfq_times.iloc[int(round(len(rfq_times) * (1 - HOLDOUT_FRACTION)))].to_pydatetime()
    # The desk knows its own process: how long it waits for answers and how long its fallback takes to fill.
    hp = Hyperparameters(answer_window_s=ANSWER_WINDOW_S, fallback_delay_s=population.market.requote_delay_s)
    version = scoring_model_train(actor=trader, mids=result.mids, end=cut, hp=hp, owner="scoring_eval")
    artifact = version.artifact
    hp = hyperparameters_of(artifact)

    rows = request_features(
        history, result.mids, answer_window_s=hp.answer_window_s, fallback_delay_s=hp.fallback_delay_s
    )
    later = rows.loc[rows["sent_at"] >= cut].reset_index(drop=True)
    inputs = model_inputs(later, artifact["table"], hp)
    answer = LogisticModel.from_dict(artifact["answer"]).predict(inputs.loc[:, list(ANSWER_FEATURES)])
    won = later["won"].to_numpy(dtype=bool)
    fill = LogisticModel.from_dict(artifact["fill"]).predict(inputs.loc[won, list(FILL_FEATURES)])

    terms = [instrument_terms(instrument) for instrument in instruments]
    truth = true_costs(
        population,
        terms=terms,
        rfqs_per_dealer=truth_rfqs,
        seed=(seed + TRUTH_SEED_OFFSET) % 2**32,
        notional_range=NOTIONAL_RANGE,
    )
    volatility = float(result.mids["volatility"].median())
    notionals = np.exp(np.linspace(math.log(NOTIONAL_RANGE[0]), math.log(NOTIONAL_RANGE[1]), 7))
    contexts = [
        Context(kind=t.kind, notional=float(notional), regime="normal", volatility=volatility)
        for t in terms
        for notional in notionals
    ]
    codes = sorted(population.profiles)
    expected = expected_costs(artifact, codes, contexts)
    rho = float(spearmanr(expected.reindex(codes), truth["cost_bps"].reindex(codes)).statistic)
    return Evaluation(
        spearman=rho,
        auc_answer=_auc(later["answered"].to_numpy(dtype=int), answer),
        auc_fill=_auc(later.loc[won, "filled"].to_numpy(dtype=int), fill),
        dealers=len(codes),
        rfqs=result.rfqs,
        truth=truth,
        expected_cost_bps=expected,
        weights=dict(artifact["weights"]),
    )
