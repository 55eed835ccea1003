"""Why a dealer scores what it scores: its largest contributions, as data for the API and the pages. Pure.

A dealer's score is minus the sum of its cost parts (:data:`rfq.scoring.scores.SCORE_PARTS`, bps), so the
parts are an exact additive decomposition. Each contribution is the part's deviation from the average over the
dealers being compared, negated (positive helps the dealer): the contributions of a dealer sum to its score
minus the average score. The two classifiers' own inputs are explained the same way, in log-odds:
``coef · (x − mean) / scale`` of the logistic regression (:meth:`~rfq.scoring.models.LogisticModel.contributions`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from rfq.scoring.scores import SCORE_PARTS

PART_LABELS: dict[str, str] = {
    "fill_cost_bps": "price of a fill against the arrival mid",
    "adverse_noise_bps": "pricing noise",
    "leak_bps": "information leakage",
    "no_answer_bps": "silence (no answer)",
    "last_look_bps": "last-look rejections",
}


def score_contributions(estimates: pd.DataFrame, *, top: int = 3) -> dict[str, list[dict[str, Any]]]:
    """Per dealer, its ``top`` largest score contributions (bps, positive helps), largest magnitude first.

    Parameters
    ----------
    estimates : rows with ``dealer`` and the :data:`~rfq.scoring.scores.SCORE_PARTS` columns (bps)
    top : how many contributions to keep per dealer
    """
    parts = estimates.loc[:, list(SCORE_PARTS)].to_numpy(dtype=float)
    centred = -(parts - parts.mean(axis=0)) if len(parts) else parts
    # Largest magnitude first; ties keep the parts' order (a stable sort on the negated magnitude).
    order = np.argsort(-np.abs(centred), axis=1, kind="stable")[:, :top]
    out: dict[str, list[dict[str, Any]]] = {}
    for i, code in enumerate(estimates["dealer"].astype(str).tolist()):
        out[code] = [
            {
                "feature": SCORE_PARTS[j],
                "label": PART_LABELS[SCORE_PARTS[j]],
                "contribution_bps": round(float(centred[i, j]), 3),
                "value_bps": round(float(parts[i, j]), 3),
            }
            for j in order[i]
        ]
    return out


def dealer_explanations(estimates: pd.DataFrame, *, top: int = 3) -> list[dict[str, Any]]:
    """Every dealer's score (bps), probabilities and largest contributions, best score first: JSON-ready."""
    contributions = score_contributions(estimates, top=top)
    ordered = estimates.sort_values("score_bps", ascending=False, kind="stable")
    columns = {name: ordered[name].to_numpy() for name in ("dealer", "score_bps", "p_answer", "p_fill", "price_bps")}
    requests = ordered["requests"].to_numpy(dtype=float)
    return [
        {
            "dealer": str(columns["dealer"][i]),
            "score_bps": round(float(columns["score_bps"][i]), 3),
            "p_answer": round(float(columns["p_answer"][i]), 4),
            "p_fill": round(float(columns["p_fill"][i]), 4),
            "expected_price_improvement_bps": round(-float(columns["price_bps"][i]), 3),
            "observations": int(requests[i]),
            "contributions": contributions[str(columns["dealer"][i])],
        }
        for i in range(len(ordered))
    ]
