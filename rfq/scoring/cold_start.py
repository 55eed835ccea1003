"""Cold start: Beta priors and Thompson sampling, so that a dealer with little history still gets asked.

Each probability is a Beta posterior whose mean is the model's estimate and whose weight is the prior's
pseudo-observations plus the dealer's observations: ``Beta(p (n + s), (1 − p)(n + s))``. A new dealer (``n = 0``)
draws widely around the desk's average and is sometimes drawn better than the incumbents: it gets asked, its
answers become history, and its posterior narrows to its own record. The expected price draws from a normal
whose standard deviation shrinks as ``1 / sqrt(1 + answers)``. The drawn estimates are scored with the same cost
weights the model version learned (:func:`rfq.scoring.scores.cost_parts`). Pure numpy; the draws come from the caller's
generator, so a seeded run replays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rfq.scoring.scores import WEIGHTS_ATTR, cost_parts


@dataclass(frozen=True)
class ExplorationPrior:
    """Prior weights (pseudo-observations) and the price's prior spread (bps)."""

    strength: float = 4.0
    price_sd_bps: float = 6.0


def beta_parameters(mean: np.ndarray, observations: np.ndarray, strength: float) -> tuple[np.ndarray, np.ndarray]:
    """``(alpha, beta)`` of the Beta with mean ``mean`` and weight ``observations + strength``."""
    weight = np.asarray(observations, dtype=float) + strength
    p = np.clip(np.asarray(mean, dtype=float), 1e-4, 1 - 1e-4)
    return p * weight, (1 - p) * weight


def thompson_draw(
    estimates: pd.DataFrame, rng: np.random.Generator, prior: ExplorationPrior | None = None
) -> pd.DataFrame:
    """One Thompson sample of every dealer's estimates (:func:`rfq.scoring.scores.dealer_estimates` columns).

    Returns
    -------
    A copy of ``estimates`` with ``p_answer``, ``p_respond``, ``p_fill`` and ``price_bps`` drawn from their
    posteriors, the score parts and ``score_bps`` recomputed with the same learned weights the estimates were scored
    with (``estimates.attrs[WEIGHTS_ATTR]``), and ``explored`` (True for every row).
    """
    prior = prior or ExplorationPrior()
    weights = estimates.attrs.get(WEIGHTS_ATTR)
    if weights is None:
        raise ValueError("the estimates carry no cost weights: score them with dealer_estimates or cost_parts")
    out = estimates.copy()
    requests = out["requests"].to_numpy(dtype=float)
    for column, observations in (("p_answer", requests), ("p_respond", requests), ("p_fill", out["wins"])):
        a, b = beta_parameters(out[column].to_numpy(), np.asarray(observations, dtype=float), prior.strength)
        out[column] = rng.beta(a, b)
    sd = prior.price_sd_bps / np.sqrt(1.0 + out["answers"].to_numpy(dtype=float))
    out["price_bps"] = rng.normal(out["price_bps"].to_numpy(dtype=float), sd)
    out = cost_parts(out, weights)
    out["explored"] = True
    return out


def ucb_bonus(observations: np.ndarray, total: float, *, c: float = 1.0) -> np.ndarray:
    """The upper-confidence bonus ``c · sqrt(2 ln(total + 1) / (observations + 1))`` (UCB1), dimensionless."""
    return c * np.sqrt(2.0 * np.log(total + 1.0) / (np.asarray(observations, dtype=float) + 1.0))
