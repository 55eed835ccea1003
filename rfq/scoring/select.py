"""Choose the dealers to ask for one RFQ: the best expected price net of the information it leaks. Pure numpy.

For a set ``S`` of dealers the expected cost (bps of the mid, lower is better) is

``C(S) = E[min_{i ∈ S, i answers and fills} c_i] + κ · (|S| − 1) + Σ_{i ∈ S} max(leak_i, 0)``

where dealer ``i`` answers and honours its price with probability ``P(answer) · P(fill)``, its price ``c_i`` is
normal around its expected cost against the mid with the dispersion of its quotes, and ``min`` over nobody is
the failure cost (the desk's typical price plus the re-quote cost ``R``). ``κ`` is the leakage of one more
dealer seeing the RFQ; ``leak_i`` the dealer's measured leakage. The expectation is a Monte-Carlo average over
common random numbers, so that two sets are compared on the same draws. Dealers are added greedily, each time
the one that lowers ``C`` most, until none lowers it or the cap is reached. Suspended (or otherwise inactive)
dealers are never considered. With ``explore`` the estimates are one Thompson draw (:mod:`.cold_start`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rfq.scoring.cold_start import ExplorationPrior, thompson_draw
from rfq.scoring.explain import score_contributions


@dataclass(frozen=True)
class SelectionPolicy:
    """Caps and costs of the selection: counts of dealers, bps, Monte-Carlo draws."""

    max_dealers: int = 5
    min_dealers: int = 1
    leakage_per_dealer_bps: float = 0.5
    requote_cost_bps: float = 20.0
    draws: int = 4096
    explore: bool = False
    exploration: ExplorationPrior = field(default_factory=ExplorationPrior)


@dataclass(frozen=True)
class Selection:
    """The chosen dealers (in the order they were added), the expected cost, and why, dealer by dealer."""

    dealers: list[str]
    expected_cost_bps: float
    rows: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {"dealers": self.dealers, "expected_cost_bps": self.expected_cost_bps, "rows": self.rows}


def set_cost(
    chosen: np.ndarray, price: np.ndarray, available: np.ndarray, leak: np.ndarray, fail_cost: float, kappa: float
) -> float:
    """``C(S)`` in bps for the dealers flagged in ``chosen`` (bool, n), given M × n draws of price and availability."""
    if not chosen.any():
        return float("inf")
    candidate = np.where(available[:, chosen], price[:, chosen], np.inf)
    best = candidate.min(axis=1)
    best = np.where(np.isfinite(best), best, fail_cost)
    return float(best.mean() + kappa * (chosen.sum() - 1) + np.clip(leak[chosen], 0.0, None).sum())


def dealers_select(
    estimates: pd.DataFrame,
    *,
    statuses: Mapping[str, str],
    policy: SelectionPolicy | None = None,
    rng: np.random.Generator | None = None,
) -> Selection:
    """Choose dealers for one RFQ.

    Parameters
    ----------
    estimates : :func:`rfq.scoring.scores.dealer_estimates` rows of the candidate dealers
    statuses : each dealer's counterparty status; only ``"active"`` dealers may be chosen
    policy : caps and costs
    rng : the generator of the Monte-Carlo draws and of the exploration (seeded 0 if omitted)

    Returns
    -------
    :class:`Selection`; each row says whether the dealer was chosen and why (its score, its marginal effect on the
    expected cost in bps, its largest score contributions, or the reason it was left out).
    """
    policy = policy or SelectionPolicy()
    rng = rng or np.random.default_rng(0)
    frame = estimates.reset_index(drop=True)
    if policy.explore:
        frame = thompson_draw(frame, rng, policy.exploration)
    codes = frame["dealer"].astype(str).tolist()
    eligible = np.array([statuses.get(code) == "active" for code in codes], dtype=bool)
    n = len(codes)
    z = rng.standard_normal((policy.draws, n))
    u = rng.random((policy.draws, n))
    price = frame["price_bps"].to_numpy(dtype=float) + frame["noise_bps"].to_numpy(dtype=float) * z
    available = u < (frame["p_answer"].to_numpy(dtype=float) * frame["p_fill"].to_numpy(dtype=float))
    leak = frame["leak_bps"].to_numpy(dtype=float)
    typical = float(np.median(frame["price_bps"])) if n else 0.0
    fail_cost = typical + policy.requote_cost_bps
    chosen = np.zeros(n, dtype=bool)
    gains = np.full(n, np.nan)
    order: list[int] = []
    current = float("inf")
    while len(order) < policy.max_dealers:
        best_i, best_cost = -1, current
        for i in np.flatnonzero(eligible & ~chosen):
            trial = chosen.copy()
            trial[i] = True
            cost = set_cost(trial, price, available, leak, fail_cost, policy.leakage_per_dealer_bps)
            if cost < best_cost or (len(order) < policy.min_dealers and best_i < 0):
                best_i, best_cost = int(i), cost
        if best_i < 0:
            break
        gains[best_i] = (current - best_cost) if np.isfinite(current) else fail_cost - best_cost
        chosen[best_i], current = True, best_cost
        order.append(best_i)
    contributions = score_contributions(frame)
    rows = []
    for i, code in enumerate(codes):
        if not eligible[i]:
            reason = f"excluded: {statuses.get(code, 'unknown')}"
        elif chosen[i]:
            reason = f"chosen #{order.index(i) + 1}: lowers the expected cost by {gains[i]:.2f} bps"
        elif len(order) >= policy.max_dealers:
            reason = f"not chosen: cap of {policy.max_dealers} dealers reached"
        else:
            reason = "not chosen: adding it would not lower the expected cost net of leakage"
        rows.append(
            {
                "dealer": code,
                "chosen": bool(chosen[i]),
                "reason": reason,
                "score_bps": float(frame.loc[i, "score_bps"]),
                "p_answer": float(frame.loc[i, "p_answer"]),
                "p_fill": float(frame.loc[i, "p_fill"]),
                "price_bps": float(frame.loc[i, "price_bps"]),
                "leak_bps": float(leak[i]),
                "marginal_gain_bps": None if np.isnan(gains[i]) else float(gains[i]),
                "explored": bool(policy.explore),
                "contributions": contributions[code],
            }
        )
    cost = current if np.isfinite(current) else float("nan")
    return Selection(dealers=[codes[i] for i in order], expected_cost_bps=float(cost), rows=rows)
