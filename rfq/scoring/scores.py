"""Dealer estimates and scores for one RFQ context, from a trained artifact. Pure: no ORM, no training."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rfq.scoring.features import size_bucket
from rfq.scoring.models import REFERENCE_NOTIONAL, LogisticModel, answer_history, hyperparameters_of, logit

SCORE_PARTS: tuple[str, ...] = ("price_bps", "adverse_noise_bps", "leak_bps", "no_answer_bps", "last_look_bps")
"""The parts of a dealer's expected cost, bps; the score is minus their sum."""


@dataclass(frozen=True)
class Context:
    """An RFQ as the scoring sees it: instrument class, notional (quote currency), regime and volatility."""

    kind: str = "spot"
    notional: float = REFERENCE_NOTIONAL
    regime: str = "normal"
    volatility: float = 0.65


def dealer_estimates(artifact: dict[str, Any], dealers: Sequence[str], context: Context) -> pd.DataFrame:
    """Per dealer: the models' estimates and the parts of its expected cost for ``context``.

    Returns
    -------
    One row per dealer (in the given order): ``known`` (in the training data), ``requests`` (observations),
    ``answers``, ``wins``, ``fills``, ``p_answer`` (a price comes), ``p_respond`` (a price or a decline),
    ``p_fill`` (fill if accepted), ``price_bps`` (expected cost against mid, positive a cost; its negative is the
    expected price improvement), ``noise_bps``, the :data:`SCORE_PARTS` (bps) and ``score_bps`` (minus their sum,
    higher is better).
    """
    hp = hyperparameters_of(artifact)
    table = artifact["table"]
    glob = table["global"]
    rows = []
    for code in dealers:
        d = table["dealers"].get(code)
        known = d is not None
        d = d or {
            "requests": 0.0,
            "answers": 0.0,
            "wins": 0.0,
            "fills": 0.0,
            "answer_rate": glob["answer_rate"],
            "respond_rate": glob["respond_rate"],
            "fill_rate": glob["fill_rate"],
            "price_a_bps": glob["price_a_bps"],
            "price_b_bps_per_mm": glob["price_b_bps_per_mm"],
            "noise_bps": glob["noise_bps"],
            "leak_bps": 0.0,
        }
        price = d["price_a_bps"] + d["price_b_bps_per_mm"] * context.notional / 1e6
        rows.append(
            {
                "dealer": code,
                "known": known,
                "requests": d["requests"],
                "answers": d["answers"],
                "wins": d["wins"],
                "fills": d["fills"],
                "p_respond": d["respond_rate"],
                "fill_history_logit": float(logit(np.array([d["fill_rate"]]))[0]),
                "price_bps": price,
                "noise_bps": d["noise_bps"],
                "leak_bps": d["leak_bps"],
            }
        )
    frame = pd.DataFrame(rows)
    probe = pd.DataFrame(
        {
            "dealer": frame["dealer"],
            "kind": context.kind,
            "size_bucket": size_bucket(np.full(len(frame), context.notional)).to_numpy(),
            "regime": context.regime,
        }
    )
    inputs = pd.DataFrame(
        {
            "answer_history_logit": logit(answer_history(probe, table, hp)),
            "volatility": context.volatility,
            "log_notional": np.log10(max(context.notional, 1.0)),
            "fill_history_logit": frame["fill_history_logit"],
            # Accepted at once: the mid has not moved, the dealer's price is its usual cost away from it.
            "last_look_move_bps": -frame["price_bps"],
            "cost_bps": frame["price_bps"],
        }
    )
    frame["p_answer"] = LogisticModel.from_dict(artifact["answer"]).predict(inputs)
    frame["p_fill"] = LogisticModel.from_dict(artifact["fill"]).predict(inputs)
    frame["adverse_noise_bps"] = hp.noise_weight * frame["noise_bps"]
    frame["no_answer_bps"] = hp.requote_cost_bps * (1 - frame["p_respond"])
    frame["last_look_bps"] = hp.requote_cost_bps * frame["p_respond"] * (1 - frame["p_fill"])
    frame["score_bps"] = -frame.loc[:, list(SCORE_PARTS)].sum(axis=1)
    return frame.drop(columns=["fill_history_logit"])


def dealer_scores(artifact: dict[str, Any], context: Context | None = None) -> pd.Series:
    """Score (bps, higher is better) of every dealer the artifact knows, at ``context`` (1m spot by default)."""
    dealers = sorted(artifact["table"]["dealers"])
    frame = dealer_estimates(artifact, dealers, context or Context())
    return pd.Series(frame["score_bps"].to_numpy(), index=frame["dealer"], name="score_bps")
