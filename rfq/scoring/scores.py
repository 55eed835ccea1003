"""Dealer estimates and scores for one RFQ context, from a trained artifact. Pure: no ORM, no training."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rfq.scoring.features import size_bucket
from rfq.scoring.models import (
    REFERENCE_NOTIONAL,
    LogisticModel,
    answer_history,
    dealer_components,
    hyperparameters_of,
    logit,
)

SCORE_PARTS: tuple[str, ...] = ("fill_cost_bps", "adverse_noise_bps", "leak_bps", "no_answer_bps", "last_look_bps")
"""The parts of a dealer's expected cost, bps; the score is minus their sum."""
WEIGHTS_ATTR = "cost_weights"
"""Where estimates frames carry the weights they were scored with (``frame.attrs``), for cold start to reuse."""


def cost_parts(frame: pd.DataFrame, weights: dict[str, float]) -> pd.DataFrame:
    """The :data:`SCORE_PARTS` (bps) and ``score_bps`` of each row of ``frame`` under learned ``weights``.

    ``frame`` holds ``p_answer``, ``p_respond``, ``p_fill``, ``price_bps``, ``response_s``, ``noise_bps`` and
    ``leak_estimate_bps``; ``weights`` is an artifact's ``weights`` (:func:`rfq.scoring.models.cost_weights_fit`).
    The fill part is the expected cost of a fill against the mid at the RFQ, weighted by the chance of one.
    """
    out = frame.copy()
    p_answer = out["p_answer"].to_numpy(dtype=float)
    p_respond = np.maximum(out["p_respond"].to_numpy(dtype=float), p_answer)
    p_fill = out["p_fill"].to_numpy(dtype=float)
    fill_cost = (
        weights["fill_base_bps"]
        + weights["price"] * out["price_bps"].to_numpy(dtype=float)
        + weights["wait_s"] * out["response_s"].to_numpy(dtype=float)
    )
    out["fill_cost_bps"] = p_answer * p_fill * fill_cost
    out["adverse_noise_bps"] = weights["noise"] * out["noise_bps"]
    out["leak_bps"] = weights["leak"] * out["leak_estimate_bps"]
    out["no_answer_bps"] = weights["silent_bps"] * (1 - p_respond) + weights["decline_bps"] * (p_respond - p_answer)
    out["last_look_bps"] = weights["reject_bps"] * p_answer * (1 - p_fill)
    out["score_bps"] = -out.loc[:, list(SCORE_PARTS)].sum(axis=1)
    out.attrs[WEIGHTS_ATTR] = dict(weights)
    return out


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
    expected price improvement), ``response_s`` (median answer time), ``noise_bps``, ``leak_estimate_bps``, the
    :data:`SCORE_PARTS` (bps, weighted by the artifact's learned ``weights``, which ``frame.attrs`` keeps under
    :data:`WEIGHTS_ATTR`) and ``score_bps`` (minus their sum, higher is better).
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
            }
        )
    frame = pd.DataFrame(rows)
    components = dealer_components(frame["dealer"], np.full(len(frame), context.notional), table)
    frame["price_bps"] = components["price"]
    frame["response_s"] = components["wait_s"]
    frame["noise_bps"] = components["noise"]
    frame["leak_estimate_bps"] = components["leak"]
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
    return cost_parts(frame.drop(columns=["fill_history_logit"]), artifact_weights(artifact))


def artifact_weights(artifact: dict[str, Any]) -> dict[str, float]:
    """The artifact's learned cost weights. A version trained before the weights were learned has none: it is scored
    with its stored noise weight and re-quote cost in their place (the price at face value, no fill base)."""
    if "weights" in artifact:
        return dict(artifact["weights"])
    stored = artifact["hyperparameters"]
    requote = float(stored.get("requote_cost_bps", 0.0))
    return {
        "fill_base_bps": 0.0,
        "price": 1.0,
        "wait_s": 0.0,
        "noise": float(stored.get("noise_weight", 0.0)),
        "leak": 1.0,
        "silent_bps": requote,
        "decline_bps": 0.0,
        "reject_bps": requote,
    }


def dealer_scores(artifact: dict[str, Any], context: Context | None = None) -> pd.Series:
    """Score (bps, higher is better) of every dealer the artifact knows, at ``context`` (1m spot by default)."""
    dealers = sorted(artifact["table"]["dealers"])
    frame = dealer_estimates(artifact, dealers, context or Context())
    return pd.Series(frame["score_bps"].to_numpy(), index=frame["dealer"], name="score_bps")
