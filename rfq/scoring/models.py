"""The dealer-scoring models and the dealer feature table they read. Pure: frames in, JSON-ready dicts out.

Four estimates per dealer and RFQ context (instrument class, notional, volatility regime):

- ``P(answer)``: a logistic regression on the dealer's shrunk answer rate in the context's cell (its logit), the
  market volatility and the log notional. Logistic regression is calibrated by construction: its maximum-
  likelihood fit with an intercept makes the mean predicted probability equal the observed rate on the training
  set, and its first-order conditions do the same within every direction of the inputs, so no separate
  calibration step (``CalibratedClassifierCV``, which would also need a further split of a small set) is needed;
  the hold-out Brier score against a constant baseline checks it.
- ``P(fill | accepted)``: a logistic regression on the dealer's shrunk fill rate (logit), the mid's move against
  the dealer between its quote and our acceptance (bps; the last-look trigger), the quote's cost against the mid
  (bps; a quote too good to be true is the one pulled) and the volatility.
- Expected price against mid, bps (positive a cost, its negative the price improvement): per dealer, a ridge
  line in the notional (``a + b · notional / 1e6``) shrunk toward the desk-wide line.
- Leakage, bps: a ridge regression of every RFQ's 10 s markout (spot and perpetual RFQs; the mid's move against
  the desk) on which dealers were asked. It separates the dealers who were asked together.

The dealer's score, in bps (higher is better), is minus its expected cost for a request:
``−(price + 0.4 σ + leak + R · (1 − P(respond) · P(fill)))`` where σ is the dispersion of its quotes around
the mid (a noisy quote, taken when it is the best one, is wrong against the desk by ``σ φ(0) ≈ 0.4 σ`` on
average), and ``R`` the cost of a failed request (a silence or a last-look reject: wait and ask again).
A decline is quick and free: appetite enters the selection through ``P(answer)``, not the score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import StandardScaler

from rfq.scoring.features import shrunk_rate

ANSWER_FEATURES: tuple[str, ...] = ("answer_history_logit", "volatility", "log_notional")
FILL_FEATURES: tuple[str, ...] = ("fill_history_logit", "last_look_move_bps", "cost_bps", "volatility")
LEAK_HORIZON = "markout_rfq_10s_bps"
REFERENCE_NOTIONAL = 1e6
"""Notional (quote currency) at which dealers are ranked."""


@dataclass(frozen=True)
class Hyperparameters:
    """Knobs of the scoring models. Strengths are in pseudo-observations; ``requote_cost_bps`` in bps."""

    answer_prior_strength: float = 20.0
    fill_prior_strength: float = 30.0
    logistic_c: float = 1.0
    price_ridge: float = 5.0
    leak_ridge: float = 20.0
    requote_cost_bps: float = 20.0
    noise_weight: float = 0.4
    holdout_fraction: float = 0.25

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def logit(p: pd.Series | np.ndarray) -> np.ndarray:
    """``log(p / (1 − p))``, with ``p`` clipped to [1e-4, 1 − 1e-4] so that a perfect record stays finite."""
    q = np.clip(np.asarray(p, dtype=float), 1e-4, 1 - 1e-4)
    return np.log(q / (1 - q))


@dataclass(frozen=True)
class LogisticModel:
    """A fitted logistic regression on standardized inputs, stored as plain numbers."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    def _z(self, frame: pd.DataFrame) -> np.ndarray:
        x = frame.loc[:, list(self.features)].to_numpy(dtype=float)
        x = np.where(np.isnan(x), np.asarray(self.mean), x)
        return (x - np.asarray(self.mean)) / np.asarray(self.scale)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Probabilities, one per row of ``frame`` (missing inputs take the training mean)."""
        logit = self._z(frame) @ np.asarray(self.coef) + self.intercept
        return 1.0 / (1.0 + np.exp(-logit))

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Each input's contribution to the log-odds against an average request: ``coef · (x − mean) / scale``."""
        return pd.DataFrame(self._z(frame) * np.asarray(self.coef), columns=list(self.features), index=frame.index)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogisticModel:
        return cls(
            features=tuple(data["features"]),
            mean=tuple(data["mean"]),
            scale=tuple(data["scale"]),
            coef=tuple(data["coef"]),
            intercept=float(data["intercept"]),
        )


def logistic_fit(frame: pd.DataFrame, target: pd.Series, features: Sequence[str], *, c: float) -> LogisticModel:
    """Fit ``P(target)`` on ``features`` (L2-penalized logistic regression on standardized inputs)."""
    x = frame.loc[:, list(features)].to_numpy(dtype=float)
    known = ~np.isnan(x)
    # An input with no values at all (no market data: no volatility) gets mean 0 and so no say.
    mean = np.nansum(x, axis=0) / np.maximum(known.sum(axis=0), 1)
    x = np.where(known, x, mean)
    scaler = StandardScaler().fit(x)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    y = np.asarray(target, dtype=int)
    if len(np.unique(y)) < 2:
        rate = float(np.clip(y.mean() if len(y) else 0.5, 1e-4, 1 - 1e-4))
        return LogisticModel(
            tuple(features), tuple(mean), tuple(scale), (0.0,) * len(features), math.log(rate / (1 - rate))
        )
    model = LogisticRegression(C=c, max_iter=1000).fit((x - mean) / scale, y)
    return LogisticModel(
        features=tuple(features),
        mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale),
        coef=tuple(float(v) for v in model.coef_[0]),
        intercept=float(model.intercept_[0]),
    )


def _counts(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    work = rows.assign(
        _answered=rows["answered"].astype(float),
        _responded=rows["responded"].astype(float),
        _won=rows["won"].astype(float),
        _filled=rows["filled"].astype(float),
    )
    grouped = work.groupby(keys, observed=True)
    return pd.DataFrame(
        {
            "requests": grouped.size().astype(float),
            "answers": grouped["_answered"].sum(),
            "responses": grouped["_responded"].sum(),
            "wins": grouped["_won"].sum(),
            "fills": grouped["_filled"].sum(),
        }
    ).reset_index()


def _price_lines(rows: pd.DataFrame, ridge: float) -> tuple[dict[str, tuple[float, float]], tuple[float, float]]:
    answered = rows.loc[rows["answered"] & rows["cost_bps"].notna()]
    x_all = answered["notional"].to_numpy(dtype=float) / 1e6
    y_all = answered["cost_bps"].to_numpy(dtype=float)
    design = np.column_stack([np.ones_like(x_all), x_all])
    if len(y_all) >= 2:
        glob = np.linalg.lstsq(design, y_all, rcond=None)[0]
    else:
        glob = np.array([float(y_all.mean()) if len(y_all) else 10.0, 0.0])
    lines = {}
    for dealer, group in answered.groupby("dealer"):
        x = np.column_stack([np.ones(len(group)), group["notional"].to_numpy(dtype=float) / 1e6])
        y = group["cost_bps"].to_numpy(dtype=float)
        beta = np.linalg.solve(x.T @ x + ridge * np.eye(2), x.T @ y + ridge * glob)
        lines[str(dealer)] = (float(beta[0]), float(beta[1]))
    return lines, (float(glob[0]), float(glob[1]))


def _leakage(rows: pd.DataFrame, ridge: float) -> dict[str, float]:
    usable = rows.loc[rows["kind"].isin(["spot", "perpetual"]) & rows[LEAK_HORIZON].notna()]
    if usable.empty:
        return {}
    asked = pd.crosstab(usable["rfq_id"], usable["dealer"]).clip(upper=1)
    markout = usable.groupby("rfq_id")[LEAK_HORIZON].first().reindex(asked.index)
    model = Ridge(alpha=ridge).fit(asked.to_numpy(dtype=float), markout.to_numpy(dtype=float))
    return {str(dealer): float(coef) for dealer, coef in zip(asked.columns, model.coef_, strict=True)}


def dealer_table(rows: pd.DataFrame, hp: Hyperparameters) -> dict[str, Any]:
    """The dealer feature table the models read, from :func:`~rfq.scoring.features.request_features` rows.

    Returns
    -------
    A JSON-ready dict: ``global`` (desk-wide rates and price line), ``dealers`` (per dealer: counts, shrunk
    ``respond_rate``, ``answer_rate``, ``fill_rate``, price line ``price_a_bps``/``price_b_bps_per_mm``,
    ``noise_bps``, ``leak_bps``, ``response_p50_s``, markouts), ``kinds`` and ``cells`` (answer counts per
    dealer × class and per dealer × class × size bucket × regime).
    """
    global_answer = float(rows["answered"].mean()) if len(rows) else 0.8
    global_respond = float(rows["responded"].mean()) if len(rows) else 0.9
    won = rows.loc[rows["won"]]
    global_fill = float(won["filled"].mean()) if len(won) else 0.95
    lines, glob_line = _price_lines(rows, hp.price_ridge)
    leaks = _leakage(rows, hp.leak_ridge)
    per_dealer = _counts(rows, ["dealer"]).set_index("dealer")
    noise = rows.groupby("dealer")["quote_error_bps"].std()
    response = rows.groupby("dealer")["response_s"].median()
    markouts = rows.groupby("dealer")[["markout_rfq_10s_bps", "markout_fill_10s_bps", "markout_fill_60s_bps"]].mean()
    global_noise = float(rows["quote_error_bps"].std()) if rows["quote_error_bps"].notna().sum() > 1 else 5.0
    dealers: dict[str, dict[str, float]] = {}
    for dealer, counts in per_dealer.iterrows():
        code = str(dealer)
        line = lines.get(code, glob_line)
        dealers[code] = {
            "requests": float(counts["requests"]),
            "answers": float(counts["answers"]),
            "responses": float(counts["responses"]),
            "wins": float(counts["wins"]),
            "fills": float(counts["fills"]),
            "answer_rate": float(
                shrunk_rate(counts["answers"], counts["requests"], global_answer, hp.answer_prior_strength)
            ),
            "respond_rate": float(
                shrunk_rate(counts["responses"], counts["requests"], global_respond, hp.answer_prior_strength)
            ),
            "fill_rate": float(shrunk_rate(counts["fills"], counts["wins"], global_fill, hp.fill_prior_strength)),
            "price_a_bps": line[0],
            "price_b_bps_per_mm": line[1],
            "noise_bps": float(noise.get(dealer, global_noise)) if pd.notna(noise.get(dealer)) else global_noise,
            "leak_bps": leaks.get(code, 0.0),
            "response_p50_s": float(response.get(dealer, np.nan)) if pd.notna(response.get(dealer)) else -1.0,
            "markout_rfq_10s_bps": _num(markouts, dealer, "markout_rfq_10s_bps"),
            "markout_fill_10s_bps": _num(markouts, dealer, "markout_fill_10s_bps"),
            "markout_fill_60s_bps": _num(markouts, dealer, "markout_fill_60s_bps"),
        }
    kinds = _counts(rows, ["dealer", "kind"])
    cells = _counts(rows, ["dealer", "kind", "size_bucket", "regime"])
    return {
        "global": {
            "answer_rate": global_answer,
            "respond_rate": global_respond,
            "fill_rate": global_fill,
            "price_a_bps": glob_line[0],
            "price_b_bps_per_mm": glob_line[1],
            "noise_bps": global_noise,
        },
        "dealers": dealers,
        "kinds": kinds.loc[:, ["dealer", "kind", "requests", "answers"]].to_dict("records"),
        "cells": cells.loc[:, ["dealer", "kind", "size_bucket", "regime", "requests", "answers"]].to_dict("records"),
    }


def _num(frame: pd.DataFrame, dealer: object, column: str) -> float:
    value = frame[column].get(dealer) if dealer in frame.index else None
    return float(value) if value is not None and pd.notna(value) else 0.0


def answer_history(frame: pd.DataFrame, table: dict[str, Any], hp: Hyperparameters) -> np.ndarray:
    """The shrunk answer rate of each row's cell: desk → dealer → dealer × class → cell, each level the prior of
    the next (``hp.answer_prior_strength`` pseudo-observations)."""
    glob = table["global"]["answer_rate"]
    dealer_rate = frame["dealer"].map({d: v["answer_rate"] for d, v in table["dealers"].items()}).fillna(glob)
    kinds = pd.DataFrame(table["kinds"], columns=["dealer", "kind", "requests", "answers"])
    cells = pd.DataFrame(table["cells"], columns=["dealer", "kind", "size_bucket", "regime", "requests", "answers"])
    probe = frame.loc[:, ["dealer", "kind", "size_bucket", "regime"]].reset_index(drop=True)
    with_kind = probe.merge(kinds, on=["dealer", "kind"], how="left")
    kind_rate = shrunk_rate(
        with_kind["answers"].fillna(0.0),
        with_kind["requests"].fillna(0.0),
        dealer_rate.to_numpy(),
        hp.answer_prior_strength,
    )
    with_cell = probe.merge(cells, on=["dealer", "kind", "size_bucket", "regime"], how="left")
    cell_rate = shrunk_rate(
        with_cell["answers"].fillna(0.0),
        with_cell["requests"].fillna(0.0),
        kind_rate.to_numpy(),
        hp.answer_prior_strength,
    )
    return cell_rate.to_numpy(dtype=float)


def model_inputs(rows: pd.DataFrame, table: dict[str, Any], hp: Hyperparameters) -> pd.DataFrame:
    """The models' inputs for each row, from the dealer table (never from the row's own outcome)."""
    fill_rate = rows["dealer"].map({d: v["fill_rate"] for d, v in table["dealers"].items()})
    return pd.DataFrame(
        {
            "answer_history_logit": logit(answer_history(rows, table, hp)),
            "fill_history_logit": logit(fill_rate.fillna(table["global"]["fill_rate"]).to_numpy(dtype=float)),
            "volatility": rows["volatility"].to_numpy(dtype=float),
            "log_notional": rows["log_notional"].to_numpy(dtype=float),
            "last_look_move_bps": rows["last_look_move_bps"].to_numpy(dtype=float),
            "cost_bps": rows["cost_bps"].to_numpy(dtype=float),
        },
        index=rows.index,
    )


def models_fit(rows: pd.DataFrame, hp: Hyperparameters) -> dict[str, Any]:
    """Fit the table and both classifiers on ``rows``; the JSON-ready artifact."""
    table = dealer_table(rows, hp)
    inputs = model_inputs(rows, table, hp)
    answer = logistic_fit(inputs, rows["answered"], ANSWER_FEATURES, c=hp.logistic_c)
    won = rows["won"].to_numpy(dtype=bool)
    fill = logistic_fit(inputs.loc[won], rows.loc[won, "filled"], FILL_FEATURES, c=hp.logistic_c)
    return {"table": table, "answer": answer.as_dict(), "fill": fill.as_dict(), "hyperparameters": hp.as_dict()}


def hyperparameters_of(artifact: dict[str, Any]) -> Hyperparameters:
    return Hyperparameters(**artifact["hyperparameters"])
