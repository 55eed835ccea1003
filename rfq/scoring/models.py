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

The dealer's score, in bps (higher is better), is minus its expected all-in cost for a request asked of it, the
cost of each outcome weighted by its probability:

``P(answer)·P(fill)·(b + w_price·price + w_wait·t) + w_noise·σ + w_leak·leak
+ R_silent·(1 − P(respond)) + R_decline·(P(respond) − P(answer)) + R_reject·P(answer)·(1 − P(fill))``

where ``t`` is the dealer's median answer time (s) and σ the dispersion of its quotes around the mid. The weights
are learned from the desk's realized outcomes (:func:`cost_weights_fit`), never set by hand: ``b``, ``w_price``,
``w_wait``, ``w_noise`` and ``w_leak`` by regressing the realized cost of its fills against the mid at the RFQ on
the dealer's components, and each ``R`` as the realized cost of that failure: the market's move against the desk
from the RFQ until its fallback filled. They are stored in the artifact (``weights``) and cold start uses them too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.preprocessing import StandardScaler

from rfq.scoring.features import ANSWER_WINDOW_S, FALLBACK_DELAY_S, shrunk_rate

ANSWER_FEATURES: tuple[str, ...] = ("answer_history_logit", "volatility", "log_notional")
FILL_FEATURES: tuple[str, ...] = ("fill_history_logit", "last_look_move_bps", "cost_bps", "volatility")
LEAK_HORIZON = "markout_rfq_10s_bps"
FILL_COST_COMPONENTS: tuple[str, ...] = ("price", "wait_s", "noise", "leak")
"""What the cost of a fill is regressed on: the dealer's price line (bps), its answer time (s), its quote noise
(bps) and its leakage (bps)."""
FAILURES: tuple[str, ...] = ("silent", "decline", "reject")
REFERENCE_NOTIONAL = 1e6
"""Notional (quote currency) at which dealers are ranked."""


@dataclass(frozen=True)
class Hyperparameters:
    """Knobs of the scoring models. Strengths are in pseudo-observations; ``answer_window_s`` (how long the desk
    waits for answers) and ``fallback_delay_s`` (how long its fallback takes to fill after a failed request) are
    the desk's own process, in seconds: they say when a failure's cost is measured."""

    answer_prior_strength: float = 20.0
    fill_prior_strength: float = 30.0
    logistic_c: float = 1.0
    price_ridge: float = 5.0
    leak_ridge: float = 20.0
    failure_prior_strength: float = 20.0
    answer_window_s: float = ANSWER_WINDOW_S
    fallback_delay_s: float = FALLBACK_DELAY_S
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
    global_response = float(rows["response_s"].median()) if rows["response_s"].notna().any() else 1.0
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
            "response_p50_s": global_response,
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


def dealer_components(dealers: pd.Series, notional: pd.Series | np.ndarray, table: dict[str, Any]) -> pd.DataFrame:
    """The components a fill's cost is regressed on (:data:`FILL_COST_COMPONENTS`), for each dealer and notional
    (quote currency), from the dealer table (a dealer it does not know gets the desk-wide values)."""
    glob = table["global"]
    known = table["dealers"]

    def column(key: str, default: float) -> np.ndarray:
        values = dealers.map({d: v[key] for d, v in known.items()})
        return values.fillna(default).to_numpy(dtype=float)

    response = column("response_p50_s", glob.get("response_p50_s", 1.0))
    response = np.where(response < 0, glob.get("response_p50_s", 1.0), response)
    price = column("price_a_bps", glob["price_a_bps"]) + column("price_b_bps_per_mm", glob["price_b_bps_per_mm"]) * (
        np.asarray(notional, dtype=float) / 1e6
    )
    return pd.DataFrame(
        {
            "price": price,
            "wait_s": response,
            "noise": column("noise_bps", glob["noise_bps"]),
            "leak": column("leak_bps", 0.0),
        },
        index=dealers.index,
    )


def cost_weights_fit(rows: pd.DataFrame, table: dict[str, Any], hp: Hyperparameters) -> dict[str, float]:
    """The weights of the expected cost, learned from the realized outcomes in ``rows`` (see the module docstring).

    The cost of a fill (``cost_arrival_bps``: its price against the mid when the RFQ went out) is regressed on its
    price against the mid when it was quoted, its answer time and the dealer's noise and leakage
    (:func:`dealer_components`), with non-negative slopes (each component can only add cost) and an intercept
    ``fill_base_bps``; each failure's weight (``silent_bps``, ``decline_bps``, ``reject_bps``) is the mean realized
    ``fallback_cost_bps`` of that failure, shrunk toward the mean over all failures (``hp.failure_prior_strength``
    pseudo-observations) because last-look rejects are rare.
    """
    filled = rows.loc[rows["filled"] & rows["cost_arrival_bps"].notna()]
    weights: dict[str, float] = {"fill_base_bps": 0.0, "price": 1.0, "wait_s": 0.0, "noise": 0.0, "leak": 1.0}
    if len(filled) >= 2 * len(FILL_COST_COMPONENTS):
        x = dealer_components(filled["dealer"], filled["notional"], table).loc[:, list(FILL_COST_COMPONENTS)]
        # The fill's own price and answer time where the row has them: the weights are then identified by every
        # fill, not by a dozen dealers' averages (the score puts the dealer's expected price and time in their place).
        x["price"] = filled["cost_bps"].fillna(x["price"]).to_numpy(dtype=float)
        x["wait_s"] = filled["response_s"].fillna(x["wait_s"]).to_numpy(dtype=float)
        fit = LinearRegression(positive=True).fit(x.to_numpy(dtype=float), filled["cost_arrival_bps"].to_numpy())
        weights = {"fill_base_bps": float(fit.intercept_)} | {
            name: float(coef) for name, coef in zip(FILL_COST_COMPONENTS, fit.coef_, strict=True)
        }
    outcome = pd.Series("", index=rows.index)
    outcome[~rows["responded"]] = "silent"
    outcome[rows["responded"] & ~rows["answered"]] = "decline"
    outcome[rows["rejected"]] = "reject"
    failed = rows.loc[outcome.ne("") & rows["fallback_cost_bps"].notna()]
    kinds = outcome.loc[failed.index]
    prior = float(failed["fallback_cost_bps"].mean()) if len(failed) else 0.0
    for name in FAILURES:
        costs = failed.loc[kinds.eq(name), "fallback_cost_bps"]
        total = float(costs.sum()) + hp.failure_prior_strength * prior
        weights[f"{name}_bps"] = total / (len(costs) + hp.failure_prior_strength)
    return weights


def models_fit(rows: pd.DataFrame, hp: Hyperparameters) -> dict[str, Any]:
    """Fit the table, both classifiers and the cost weights on ``rows``; the JSON-ready artifact."""
    table = dealer_table(rows, hp)
    inputs = model_inputs(rows, table, hp)
    answer = logistic_fit(inputs, rows["answered"], ANSWER_FEATURES, c=hp.logistic_c)
    won = rows["won"].to_numpy(dtype=bool)
    fill = logistic_fit(inputs.loc[won], rows.loc[won, "filled"], FILL_FEATURES, c=hp.logistic_c)
    return {
        "table": table,
        "answer": answer.as_dict(),
        "fill": fill.as_dict(),
        "weights": cost_weights_fit(rows, table, hp),
        "hyperparameters": hp.as_dict(),
    }


def hyperparameters_of(artifact: dict[str, Any]) -> Hyperparameters:
    """The artifact's hyper-parameters (knobs a newer desk no longer has are left out)."""
    known = set(Hyperparameters.__dataclass_fields__)
    return Hyperparameters(**{k: v for k, v in artifact["hyperparameters"].items() if k in known})
