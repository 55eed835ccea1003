"""Training and time-ordered validation of the dealer-scoring models. Pure: frames in, artifact and metrics out.

The hold-out is the latest ``holdout_fraction`` of the RFQs by send time: the models and the dealer table are
fitted on the earlier RFQs only and judged on the later ones (no look-ahead). The artifact that goes live is then
refitted on the whole window; its metrics are the hold-out's.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score

from rfq.scoring.models import (
    ANSWER_FEATURES,
    FILL_FEATURES,
    Hyperparameters,
    LogisticModel,
    model_inputs,
    models_fit,
)

DEFAULT_THRESHOLDS: dict[str, float] = {
    "fill_auc_min": 0.6,
    "answer_auc_min": 0.6,
    "min_holdout_fills": 20,
    "brier_must_beat_baseline": 1.0,
}
"""A version is validated when both AUCs reach their floors (a floor of 0 waives it), both Brier scores beat their
constant baselines (unless ``brier_must_beat_baseline`` is 0), and the hold-out holds at least
``min_holdout_fills`` accepted quotes."""


@dataclass(frozen=True)
class TrainResult:
    artifact: dict[str, Any]
    metrics: dict[str, Any]
    features: dict[str, list[str]] = field(default_factory=dict)
    passed: bool = False


def frame_sha256(frame: pd.DataFrame) -> str:
    """SHA-256 (hex) of a frame's content: columns sorted, rows in order, as CSV."""
    canonical = frame.reindex(sorted(frame.columns), axis=1).to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S.%f%z")
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def training_manifest(
    *,
    history: pd.DataFrame,
    mids: pd.DataFrame,
    hyperparameters: dict[str, Any],
    thresholds: dict[str, Any],
    features: dict[str, list[str]],
) -> dict[str, Any]:
    """What a training's result depends on, each part hashed or written out: the RFQ history, the market's mids the
    features and markouts were measured with (the tape, or the quotes' consensus), the hyper-parameters, the
    validation thresholds (they decide the status), the features and the training code itself (its modules'
    source)."""
    from rfq.scoring import features as features_module
    from rfq.scoring import history as history_module
    from rfq.scoring import models as models_module

    code = hashlib.sha256()
    for module in (features_module, history_module, models_module, sys.modules[__name__]):
        code.update(inspect.getsource(module).encode("utf-8"))
    return {
        "history_sha256": frame_sha256(history),
        "mids_sha256": frame_sha256(mids),
        "hyperparameters": dict(sorted(hyperparameters.items())),
        "thresholds": dict(sorted(thresholds.items())),
        "features": features,
        "code_sha256": code.hexdigest(),
    }


def training_sha256(manifest: dict[str, Any]) -> str:
    """SHA-256 (hex) of a :func:`training_manifest`: two trainings with the same hash get the same models, metrics
    and status."""
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def time_split(rows: pd.DataFrame, holdout_fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Earlier and later RFQs: the hold-out is the latest ``holdout_fraction`` of RFQs by send time."""
    rfq_times = rows.groupby("rfq_id")["sent_at"].first().sort_values(kind="stable")
    cut = int(round(len(rfq_times) * (1 - holdout_fraction)))
    train_ids = set(rfq_times.index[:cut])
    in_train = rows["rfq_id"].isin(train_ids)
    return rows.loc[in_train], rows.loc[~in_train]


def classifier_metrics(y: np.ndarray, p: np.ndarray, base_rate: float) -> dict[str, float]:
    if len(y) == 0:
        return {"n": 0}
    out = {
        "n": int(len(y)),
        "positives": int(y.sum()),
        "brier": float(brier_score_loss(y, p)),
        "brier_baseline": float(brier_score_loss(y, np.full(len(y), base_rate))),
        "mean_predicted": float(np.mean(p)),
        "observed_rate": float(np.mean(y)),
    }
    out["auc"] = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")
    return out


def holdout_metrics(train: pd.DataFrame, holdout: pd.DataFrame, hp: Hyperparameters) -> dict[str, Any]:
    """Fit on ``train``, score ``holdout``: AUC and Brier (with the constant baseline) of both classifiers, and
    the price model's mean absolute error (bps) against the desk-wide mean."""
    artifact = models_fit(train, hp)
    inputs = model_inputs(holdout, artifact["table"], hp)
    answer = LogisticModel.from_dict(artifact["answer"])
    fill = LogisticModel.from_dict(artifact["fill"])
    y_answer = holdout["answered"].to_numpy(dtype=int)
    won = holdout["won"].to_numpy(dtype=bool)
    y_fill = holdout.loc[won, "filled"].to_numpy(dtype=int)
    train_won = train.loc[train["won"]]
    dealers = artifact["table"]["dealers"]
    answered = holdout.loc[holdout["answered"] & holdout["cost_bps"].notna()]
    line_a = answered["dealer"].map({d: v["price_a_bps"] for d, v in dealers.items()})
    line_b = answered["dealer"].map({d: v["price_b_bps_per_mm"] for d, v in dealers.items()})
    predicted = (line_a + line_b * answered["notional"] / 1e6).fillna(artifact["table"]["global"]["price_a_bps"])
    train_mean = float(train.loc[train["answered"], "cost_bps"].mean())
    return {
        "answer": classifier_metrics(y_answer, answer.predict(inputs), float(train["answered"].mean())),
        "fill": classifier_metrics(
            y_fill, fill.predict(inputs.loc[won]), float(train_won["filled"].mean()) if len(train_won) else 0.95
        ),
        "price": {
            "n": int(len(answered)),
            "mae_bps": float((answered["cost_bps"] - predicted).abs().mean()),
            "mae_baseline_bps": float((answered["cost_bps"] - train_mean).abs().mean()),
        },
        "train_rfqs": int(train["rfq_id"].nunique()),
        "holdout_rfqs": int(holdout["rfq_id"].nunique()),
    }


def metrics_pass(metrics: dict[str, Any], thresholds: dict[str, float]) -> bool:
    """Whether hold-out metrics pass: AUCs above their floors and Brier scores below their baselines."""
    answer, fill = metrics["answer"], metrics["fill"]
    if answer.get("n", 0) == 0 or fill.get("n", 0) < thresholds["min_holdout_fills"]:
        return False
    checks = [
        thresholds["answer_auc_min"] <= 0 or answer["auc"] >= thresholds["answer_auc_min"],
        thresholds["fill_auc_min"] <= 0 or fill["auc"] >= thresholds["fill_auc_min"],
    ]
    if thresholds.get("brier_must_beat_baseline", 1.0):
        checks += [answer["brier"] < answer["brier_baseline"], fill["brier"] < fill["brier_baseline"]]
    return bool(all(checks))


def scoring_fit(
    rows: pd.DataFrame, *, hp: Hyperparameters | None = None, thresholds: dict[str, float] | None = None
) -> TrainResult:
    """Validate on the time-ordered hold-out, then refit on everything.

    Parameters
    ----------
    rows : :func:`~rfq.scoring.features.request_features` rows of the training window
    hp : hyper-parameters (defaults if omitted)
    thresholds : validation thresholds (:data:`DEFAULT_THRESHOLDS` if omitted)
    """
    hp = hp or Hyperparameters()
    thresholds = DEFAULT_THRESHOLDS | (thresholds or {})
    if rows.empty:
        raise ValueError("no RFQ history to train on")
    train, holdout = time_split(rows, hp.holdout_fraction)
    metrics = holdout_metrics(train, holdout, hp)
    passed = metrics_pass(metrics, thresholds)
    metrics["thresholds"] = dict(thresholds)
    metrics["passed"] = passed
    artifact = models_fit(rows, hp)
    features = {
        "answer": list(ANSWER_FEATURES),
        "fill": list(FILL_FEATURES),
        "table": ["dealer", "kind", "size_bucket", "regime"],
    }
    return TrainResult(artifact=artifact, metrics=metrics, features=features, passed=passed)
