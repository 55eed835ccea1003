"""Model governance after training: the challenger in shadow, drift of the live model, and scheduled training.

**Shadow** (:func:`scoring_shadow_evaluate`): on the RFQs answered since the challenger was trained, the live and the
challenger models both predict P(answer) and P(fill); AUC and Brier score of each are stored side by side in each
version's ``shadow_metrics``, so that a risk officer promotes on evidence from data neither model was trained on.

**Drift** (:func:`scoring_drift_check`): the live model's inputs on recent RFQs against its training window, as the
population stability index ``PSI = Σ (r − t) ln(r / t)`` over the training quantile bins (``t`` training share,
``r`` recent share per bin; > 0.25 is the usual "shifted" line), and its calibration: the mean predicted P(fill)
against the observed fill rate. A breach is audited and broadcast (``model.drift``) for the desk's pages.

**Scheduled training** (:func:`scoring_train_scheduled`): beat trains a new version on the last window; it becomes
validated when its hold-out passes, never live: promotion stays a risk officer's act.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction

from desk import clock
from desk.audit import audit_record, json_normalize
from desk.events import broadcast
from rfq.engine import selection
from rfq.models import ScoringModelStatus, ScoringModelVersion
from rfq.scoring.features import mids_from_tape_or_quotes, request_features
from rfq.scoring.history import scoring_history_frame
from rfq.scoring.models import LogisticModel, hyperparameters_of, model_inputs
from rfq.scoring.services import ScoringModelRefused, scoring_model_train
from rfq.scoring.services import json_clean as scoring_json_clean
from rfq.scoring.train import classifier_metrics

GOVERNANCE_ACTOR = "system:model-governance"


def json_clean(value: Any) -> Any:
    """JSON-ready: NaN and infinities as None, datetimes as ISO strings."""
    return json_normalize(scoring_json_clean(value))


PSI_ALERT = 0.25
CALIBRATION_ALERT = 0.10
DRIFT_INPUTS = ("log_notional", "volatility")


def _recent_rows(*, start: datetime, end: datetime, mids: pd.DataFrame | None = None) -> pd.DataFrame:
    history = scoring_history_frame(start=start, end=end)
    if history.empty:
        return pd.DataFrame()
    return request_features(history, mids if mids is not None else mids_from_tape_or_quotes(history))


def model_metrics_on(version: ScoringModelVersion, rows: pd.DataFrame) -> dict[str, Any]:
    """AUC and Brier of ``version``'s two classifiers on ``rows`` (request features), with constant baselines."""
    hp = hyperparameters_of(version.artifact)
    inputs = model_inputs(rows, version.artifact["table"], hp)
    y_answer = rows["answered"].to_numpy(dtype=int)
    won = rows["won"].to_numpy(dtype=bool)
    y_fill = rows.loc[won, "filled"].to_numpy(dtype=int)
    answer = LogisticModel.from_dict(version.artifact["answer"]).predict(inputs)
    fill = LogisticModel.from_dict(version.artifact["fill"]).predict(inputs.loc[won])
    base = version.metrics
    return {
        "answer": classifier_metrics(y_answer, answer, float(base.get("answer", {}).get("observed_rate", 0.5))),
        "fill": classifier_metrics(y_fill, fill, float(base.get("fill", {}).get("observed_rate", 0.9))),
        "rfqs": int(rows["rfq_id"].nunique()),
    }


def scoring_shadow_evaluate(*, now: datetime | None = None, mids: pd.DataFrame | None = None) -> dict[str, Any]:
    """Score the live model and its challenger on the RFQs since the challenger's training window ended; store the
    metrics in both versions' ``shadow_metrics``. Returns them (empty without both models or new RFQs)."""
    now = now or clock.now()
    live = ScoringModelVersion.objects.filter(status=ScoringModelStatus.LIVE).first()
    challenger = selection.challenger_version(live)
    if live is None or challenger is None:
        return {}
    rows = _recent_rows(start=challenger.data_end + timedelta(microseconds=1), end=now, mids=mids)
    if rows.empty:
        return {}
    window = {"start": challenger.data_end, "end": now, "rfqs": int(rows["rfq_id"].nunique())}
    result = {
        "window": window,
        "live": {"version": live.version, **model_metrics_on(live, rows)},
        "challenger": {"version": challenger.version, **model_metrics_on(challenger, rows)},
    }
    with transaction.atomic():
        for version, own, other in ((live, "live", "challenger"), (challenger, "challenger", "live")):
            version.shadow_metrics = json_clean({"role": own, "against": result[other]["version"], **result})
            version.save(update_fields=["shadow_metrics"])
        audit_record(
            actor=GOVERNANCE_ACTOR,
            action="scoring_model.shadow",
            obj=challenger,
            after=json_clean({"live": live.version, "challenger": challenger.version, "window": window}),
        )
    return json_clean(result)


def psi(expected: np.ndarray, actual: np.ndarray, *, bins: int = 10) -> float:
    """Population stability index of ``actual`` against ``expected`` over ``expected``'s quantile bins."""
    expected = np.asarray(expected, dtype=float)
    actual = np.asarray(actual, dtype=float)
    expected, actual = expected[np.isfinite(expected)], actual[np.isfinite(actual)]
    if len(expected) < bins or len(actual) == 0:
        return float("nan")
    edges = np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1)))
    if len(edges) < 2:
        return 0.0 if np.allclose(actual, expected[0]) else float("inf")
    edges[0], edges[-1] = -np.inf, np.inf
    t = np.histogram(expected, edges)[0] / len(expected)
    r = np.histogram(actual, edges)[0] / len(actual)
    t, r = np.clip(t, 1e-4, None), np.clip(r, 1e-4, None)
    return float(np.sum((r - t) * np.log(r / t)))


def scoring_drift_check(
    *, now: datetime | None = None, recent: timedelta = timedelta(days=1), mids: pd.DataFrame | None = None
) -> dict[str, Any]:
    """Compare the live model's inputs and calibration on the last ``recent`` of RFQs with its training window;
    store the result on the version and alert on a breach. Empty without a live model or recent RFQs."""
    now = now or clock.now()
    live = ScoringModelVersion.objects.filter(status=ScoringModelStatus.LIVE).first()
    if live is None:
        return {}
    rows = _recent_rows(start=now - recent, end=now, mids=mids)
    train = _recent_rows(start=live.data_start, end=live.data_end + timedelta(microseconds=1), mids=mids)
    if rows.empty or train.empty:
        return {}
    inputs = {name: psi(train[name].to_numpy(), rows[name].to_numpy()) for name in DRIFT_INPUTS if name in rows}
    metrics = model_metrics_on(live, rows)
    fill = metrics["fill"]
    gap = abs(fill["mean_predicted"] - fill["observed_rate"]) if fill.get("n", 0) else 0.0
    alerts = [f"{name} PSI {value:.2f} > {PSI_ALERT}" for name, value in inputs.items() if value > PSI_ALERT]
    if gap > CALIBRATION_ALERT:
        alerts.append(
            f"P(fill) calibration: predicted {fill['mean_predicted']:.2f} vs observed {fill['observed_rate']:.2f}"
        )
    result = json_clean(
        {
            "checked_at": now,
            "window_s": recent.total_seconds(),
            "psi": inputs,
            "calibration_gap": gap,
            "metrics": metrics,
            "alerts": alerts,
        }
    )
    with transaction.atomic():
        live.drift = result
        live.save(update_fields=["drift"])
        if alerts:
            audit_record(actor=GOVERNANCE_ACTOR, action="scoring_model.drift", obj=live, after={"alerts": alerts})
    if alerts:
        broadcast(event="model.drift", payload={"version": live.version, "alerts": alerts})
    return result


def scoring_train_scheduled(*, now: datetime | None = None) -> int | None:
    """Beat: train on the last ``SCORING_TRAIN_WINDOW_DAYS`` days; the new version's number, or None without
    history. Never promotes."""
    now = now or clock.now()
    days = float(getattr(settings, "SCORING_TRAIN_WINDOW_DAYS", 30))
    try:
        version = scoring_model_train(actor="system:beat", start=now - timedelta(days=days), end=now)
    except (ScoringModelRefused, ValueError):
        return None
    return version.version
