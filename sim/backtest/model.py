r"""The desk's model of its dealers, fitted on what it observed of past RFQs (never the bots' hidden parameters).

Per dealer, from :func:`history_observe`'s observations: ``π`` the quote rate, a lognormal response time (median
and log-sd of the answer times), the price against the mid at answer time ``a + b·notional/10⁶`` bps (least squares
once there are ten quotes) with its residual sd, and the last-look honour rate of the quotes the desk took; each
shrunk towards the all-dealer value with a prior weight of :data:`PRIOR_WEIGHT` observations. Pure: episodes in,
estimates out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from sim.backtest.episodes import ANSWER_WINDOW_S, Episode

PRIOR_WEIGHT = 5.0
"""Observations' worth of the all-dealer prior in each dealer's estimates."""


@dataclass(frozen=True)
class DealerEstimate:
    """The desk's estimate of one dealer: quote rate, lognormal response time (median s, log-sd), price against
    the mid at answer time ``a + b·notional/10⁶`` (bps) with residual sd, last-look honour rate; ``n`` asked."""

    p_answer: float
    response_median_s: float
    response_sigma: float
    price_a_bps: float
    price_b_bps_per_mm: float
    price_sd_bps: float
    p_fill: float
    n: int = 0


@dataclass(frozen=True)
class DealerModel:
    """Estimates by dealer code, and the all-dealer prior for dealers never observed."""

    dealers: dict[str, DealerEstimate]
    prior: DealerEstimate

    def get(self, code: str) -> DealerEstimate:
        return self.dealers.get(code, self.prior)


@dataclass(frozen=True)
class Observation:
    """What the desk recorded of one dealer on one past RFQ: whether and when it answered within the answer window,
    the quote's cost against the mid at answer time (bps), the RFQ's notional, and the last-look outcome when the
    desk took its quote (None when it did not)."""

    dealer: str
    answered: bool
    quoted: bool
    at_s: float
    cost_bps: float
    notional: float
    honoured: bool | None


def history_observe(episodes: Iterable[Episode]) -> list[Observation]:
    """Observations of past RFQs as the desk saw them: answers within the answer window, then the best quote taken
    (the next one after a last-look reject) at the window's end or when everyone has answered."""
    out: list[Observation] = []
    for episode in episodes:
        seen = [a for a in episode.answers if a.at_s <= ANSWER_WINDOW_S]
        decided = (
            max((a.at_s for a in seen), default=ANSWER_WINDOW_S) if len(seen) == len(episode.asked) else ANSWER_WINDOW_S
        )
        outcome: dict[str, bool] = {}
        for answer in sorted((a for a in seen if a.action == "quote"), key=lambda a: episode.bps(a.price)):
            outcome[answer.dealer] = episode.honoured(answer, decided)
            if outcome[answer.dealer]:
                break
        by_dealer = {a.dealer: a for a in seen}
        for code in episode.asked:
            got = by_dealer.get(code)
            if got is None:
                out.append(Observation(code, False, False, 0.0, 0.0, episode.notional, None))
                continue
            mid = float(episode.mids[episode.sample(got.at_s)])
            cost = episode.sign * (got.price - mid) / mid * 1e4 if got.action == "quote" else 0.0
            out.append(
                Observation(code, True, got.action == "quote", got.at_s, cost, episode.notional, outcome.get(code))
            )
    return out


def _estimate(rows: Sequence[Observation], prior: DealerEstimate | None) -> DealerEstimate:
    w = PRIOR_WEIGHT if prior is not None else 0.0
    p = prior or DealerEstimate(0.5, 1.0, 0.5, 5.0, 1.0, 3.0, 0.95)
    n = len(rows)
    quoted = [r for r in rows if r.quoted]
    times = np.log([max(r.at_s, 0.05) for r in rows if r.answered])
    log_median = (times.sum() + w * math.log(p.response_median_s)) / (len(times) + w) if len(times) + w else 0.0
    spread2 = float(((times - log_median) ** 2).sum()) if len(times) else 0.0
    sigma = math.sqrt((spread2 + w * p.response_sigma**2) / max(len(times) + w - 1.0, 1.0))
    costs = np.array([r.cost_bps for r in quoted])
    size = np.array([r.notional / 1e6 for r in quoted])
    if len(quoted) >= 10 and np.ptp(size) > 0:
        b, a = np.polyfit(size, costs, 1)
        b = (len(quoted) * b + w * p.price_b_bps_per_mm) / (len(quoted) + w)
    else:
        b = p.price_b_bps_per_mm
    a = (float((costs - b * size).sum()) + w * p.price_a_bps) / (len(quoted) + w) if len(quoted) + w else 0.0
    resid2 = float(((costs - a - b * size) ** 2).sum())
    sd = math.sqrt((resid2 + w * p.price_sd_bps**2) / max(len(quoted) + w - 1.0, 1.0))
    taken = [r.honoured for r in rows if r.honoured is not None]
    return DealerEstimate(
        p_answer=(len(quoted) + w * p.p_answer) / (n + w) if n + w else p.p_answer,
        response_median_s=math.exp(log_median),
        response_sigma=max(sigma, 0.1),
        price_a_bps=a,
        price_b_bps_per_mm=float(b),
        price_sd_bps=max(sd, 0.5),
        p_fill=(sum(taken) + w * p.p_fill) / (len(taken) + w) if len(taken) + w else p.p_fill,
        n=n,
    )


def dealer_model_fit(observations: Sequence[Observation]) -> DealerModel:
    """Fit :class:`DealerModel` on the desk's observations (see the module's docstring)."""
    if not observations:
        raise ValueError("no observations to fit the dealer model on")
    prior = _estimate(observations, None)
    codes = sorted({o.dealer for o in observations})
    return DealerModel(
        dealers={code: _estimate([o for o in observations if o.dealer == code], prior) for code in codes},
        prior=prior,
    )
