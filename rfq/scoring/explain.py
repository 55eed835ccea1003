"""Why a dealer scores what it scores: its largest contributions, as data for the API and the pages. Pure.

A dealer's score is minus the sum of its cost parts (:data:`rfq.scoring.scores.SCORE_PARTS`, bps), so the
parts are an exact additive decomposition. Each contribution is the part's deviation from the average over the
dealers being compared, negated (positive helps the dealer): the contributions of a dealer sum to its score
minus the average score. The two classifiers' own inputs are explained the same way, in log-odds:
``coef · (x − mean) / scale`` of the logistic regression (:meth:`~rfq.scoring.models.LogisticModel.contributions`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from rfq.scoring.scores import SCORE_PARTS

PART_LABELS: dict[str, str] = {
    "price_bps": "price against mid",
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
    parts = estimates.loc[:, list(SCORE_PARTS)].astype(float)
    centred = -(parts - parts.mean(axis=0))
    out: dict[str, list[dict[str, Any]]] = {}
    for index, code in estimates["dealer"].astype(str).items():
        row = centred.loc[index]
        ranked = row.reindex(row.abs().sort_values(ascending=False, kind="stable").index)[:top]
        out[code] = [
            {
                "feature": name,
                "label": PART_LABELS[name],
                "contribution_bps": round(float(value), 3),
                "value_bps": round(float(parts.loc[index, name]), 3),
            }
            for name, value in ranked.items()
        ]
    return out


def dealer_explanations(estimates: pd.DataFrame, *, top: int = 3) -> list[dict[str, Any]]:
    """Every dealer's score (bps), probabilities and largest contributions, best score first: JSON-ready."""
    contributions = score_contributions(estimates, top=top)
    ordered = estimates.sort_values("score_bps", ascending=False, kind="stable")
    return [
        {
            "dealer": str(row["dealer"]),
            "score_bps": round(float(row["score_bps"]), 3),
            "p_answer": round(float(row["p_answer"]), 4),
            "p_fill": round(float(row["p_fill"]), 4),
            "expected_price_improvement_bps": round(-float(row["price_bps"]), 3),
            "observations": int(row["requests"]),
            "contributions": contributions[str(row["dealer"])],
        }
        for _, row in ordered.iterrows()
    ]
