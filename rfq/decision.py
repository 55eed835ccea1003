r"""The wait-or-split decision: take the quotes now, wait for the dealers still to answer, or split. Pure numpy.

Every cost is in basis points of the **arrival mid** ``m₀`` for the whole order of ``Q`` contracts, signed so that
positive is a cost to the desk (``s = +1`` when the desk buys, ``−1`` when it sells).

Quote ``j`` (price ``p_j``, size ``q_j``, honoured on last look with probability ``f_j``) costs

    c_j = s · (p_j − m₀) / m₀ · 10⁴                                             (price against arrival mid)

and taking it carries the **execution-certainty** cost ``(1 − f_j) · R``: a last-look reject sends the desk back
to the market, which costs ``R`` bps more (a re-quote). Whatever the book cannot fill goes to the algorithms at

    c_algo = h + η · sqrt(x) + λ σ²_bps T_algo / 3,   x = residual / ADV

(half spread ``h``, square-root impact, the risk of a linear schedule over ``T_algo`` seconds).

**accept** fills ``Q`` from the book, cheapest effective cost ``c_j + (1 − f_j) R`` first:
``C_accept = Σ_j (w_j (c_j + (1 − f_j) R))`` with ``w_j`` the share of ``Q`` taken from ``j``. It is available
when the book covers ``Q`` and each quote taken beats ``c_algo``.

**split** takes from the book only the quotes that beat ``c_algo`` and sends the rest to the algorithms:
``C_split = Σ_j w_j (c_j + (1 − f_j) R) + (1 − Σ w_j) c_algo``.

**wait(τ)** waits ``τ`` seconds for the dealers still to answer, then does the better of accept and split with
the book it will have: quotes expiring before ``τ`` are gone, dealer ``i`` has answered with probability
``π_i · P(T_i ≤ τ)`` (``T_i`` lognormal around its modelled response time) at a price ``c_i ~ N(μ_i, σ_i²)``. Its
expected cost adds the **delay** cost (the risk of the unfilled order over the wait) and the **leakage** of
waiting (the adverse drift ``ℓ`` bps/s while more dealers know of the order):

    C_wait(τ) = E[min(C_accept, C_split | book at τ)] + λ σ²_bps τ + ℓ τ,
    σ²_bps = (σ_annual · 10⁴)² / (365 · 86 400)   (bps² per second)

The expectation is a Monte-Carlo average over fixed draws (the decision is a pure function of its inputs).
The decision is the cheapest of accept, split and the best ``τ`` among the pending dealers' response times;
``expected_gain_bps`` is what waiting saves over acting now (≤ 0 when acting now is best).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

SECONDS_PER_YEAR = 365.0 * 86_400.0
DRAWS = 2048


@dataclass(frozen=True)
class BookQuote:
    """A live quote: the desk's side of its price (quote ccy), its size (contracts), seconds left, P(last look ok)."""

    dealer: str
    price: float
    size: float
    expires_in_s: float
    p_fill: float = 1.0


@dataclass(frozen=True)
class PendingDealer:
    """A dealer still to answer: modelled answer probability, median response time (s), price against arrival mid
    (bps, mean and standard deviation) and P(last look ok). Pending dealers quote the full size."""

    dealer: str
    p_answer: float
    response_s: float
    price_bps: float
    price_sd_bps: float
    p_fill: float = 1.0
    response_sigma: float = 0.5


@dataclass(frozen=True)
class MarketState:
    """Arrival mid (quote ccy), volatility (annualized), half spread (bps), average daily volume (contracts)."""

    mid: float
    volatility: float
    half_spread_bps: float
    adv: float
    impact_coefficient_bps: float = 100.0


@dataclass(frozen=True)
class OrderTerms:
    """The order: side (``buy``/``sell``), quantity (contracts), risk aversion ``λ`` (1/bps), re-quote cost ``R``
    (bps), adverse drift while waiting ``ℓ`` (bps/s), the algorithms' horizon (s), and the longest wait (s)."""

    side: str
    quantity: float
    risk_aversion: float = 0.05
    requote_cost_bps: float = 20.0
    leakage_bps_per_s: float = 0.05
    algo_horizon_s: float = 600.0
    max_wait_s: float = 30.0


@dataclass(frozen=True)
class Decision:
    """``action`` is ``accept``, ``wait`` or ``split``. ``fills`` are (dealer, contracts) to take now; ``algo_quantity``
    goes to the algorithms; ``wait_s`` is how long to wait. ``costs`` holds the chosen action's parts (bps of the
    arrival mid for the whole order): ``price``, ``certainty``, ``leakage``, ``delay``, ``algo`` and ``total``;
    ``alternatives`` the total of every action considered."""

    action: str
    fills: list[tuple[str, float]]
    algo_quantity: float
    wait_s: float
    expected_gain_bps: float
    costs: dict[str, float]
    alternatives: dict[str, float] = field(default_factory=dict)


def variance_bps2_per_s(volatility: float) -> float:
    """Variance of the mid's return per second, bps², for an annualized volatility."""
    return (volatility * 1e4) ** 2 / SECONDS_PER_YEAR


def algo_cost_bps(quantity: float, market: MarketState, terms: OrderTerms) -> float:
    """Expected cost (bps) of working ``quantity`` contracts with the algorithms: spread, impact and timing risk."""
    if quantity <= 0:
        return 0.0
    participation = quantity / max(market.adv, 1e-9)
    risk = terms.risk_aversion * variance_bps2_per_s(market.volatility) * terms.algo_horizon_s / 3.0
    return market.half_spread_bps + market.impact_coefficient_bps * math.sqrt(participation) + risk


def _fill_plan(
    costs: np.ndarray, certainty: np.ndarray, sizes: np.ndarray, quantity: float, algo: float
) -> tuple[np.ndarray, float]:
    """Shares of the order taken from each quote (cheapest effective cost first, only those beating ``algo``)."""
    effective = costs + certainty
    shares = np.zeros(len(costs))
    left = quantity
    for j in np.argsort(effective, kind="stable"):
        if left <= 0 or effective[j] >= algo:
            break
        take = min(sizes[j], left)
        shares[j] = take / quantity
        left -= take
    return shares, left / quantity


def _act_now(
    costs: np.ndarray, p_fill: np.ndarray, sizes: np.ndarray, market: MarketState, terms: OrderTerms
) -> tuple[str, np.ndarray, float, dict[str, float]]:
    certainty = (1.0 - p_fill) * terms.requote_cost_bps
    algo_full = algo_cost_bps(terms.quantity, market, terms)
    shares, residual = _fill_plan(costs, certainty, sizes, terms.quantity, algo_full)
    algo = algo_cost_bps(residual * terms.quantity, market, terms) if residual > 0 else 0.0
    parts = {
        "price": float(shares @ costs),
        "certainty": float(shares @ certainty),
        "leakage": 0.0,
        "delay": 0.0,
        "algo": float(residual * algo),
    }
    parts["total"] = sum(parts.values())
    action = "accept" if residual <= 1e-12 else "split"
    return action, shares, residual, parts


def _algo_cost_vector(residual_share: np.ndarray, market: MarketState, terms: OrderTerms) -> np.ndarray:
    participation = residual_share * terms.quantity / max(market.adv, 1e-9)
    risk = terms.risk_aversion * variance_bps2_per_s(market.volatility) * terms.algo_horizon_s / 3.0
    return market.half_spread_bps + market.impact_coefficient_bps * np.sqrt(participation) + risk


def _expected_after_wait(
    wait_s: float,
    book: Sequence[BookQuote],
    book_costs: np.ndarray,
    pending: Sequence[PendingDealer],
    market: MarketState,
    terms: OrderTerms,
    rng: np.random.Generator,
) -> dict[str, float]:
    """Expected parts (bps) of acting after ``wait_s`` seconds, over draws of who answered and at what price."""
    alive = np.array([q.expires_in_s > wait_s for q in book], dtype=bool)
    certainty = np.array([(1.0 - q.p_fill) * terms.requote_cost_bps for q in book], dtype=float)[alive]
    costs = book_costs[alive]
    sizes = np.array([q.size for q in book], dtype=float)[alive]
    order = np.argsort(costs + certainty, kind="stable")
    effective = (costs + certainty)[order]
    reached = np.minimum(np.cumsum(sizes[order]) / terms.quantity, 1.0)
    weights = np.diff(np.concatenate([[0.0], reached]))
    taken = np.concatenate([[0.0], np.cumsum(weights)])
    price_prefix = np.concatenate([[0.0], np.cumsum(weights * costs[order])])
    certainty_prefix = np.concatenate([[0.0], np.cumsum(weights * certainty[order])])
    full = int(np.searchsorted(taken, 1.0 - 1e-12)) if taken[-1] >= 1.0 - 1e-12 else len(taken) - 1

    mean = np.array([d.price_bps for d in pending], dtype=float)
    sd = np.array([d.price_sd_bps for d in pending], dtype=float)
    pending_certainty = np.array([(1.0 - d.p_fill) * terms.requote_cost_bps for d in pending], dtype=float)
    reach = np.array(
        [
            d.p_answer
            * 0.5
            * math.erfc(-math.log(max(wait_s, 1e-9) / d.response_s) / (d.response_sigma * math.sqrt(2)))
            for d in pending
        ]
    )
    draws = np.arange(DRAWS)
    price_draw = mean + sd * rng.standard_normal((DRAWS, len(pending)))
    answered = rng.random((DRAWS, len(pending))) < reach
    pending_effective = np.where(answered, price_draw + pending_certainty, np.inf)
    best = np.argmin(pending_effective, axis=1) if len(pending) else np.zeros(DRAWS, dtype=int)
    best_effective = pending_effective[draws, best] if len(pending) else np.full(DRAWS, np.inf)

    algo_full = algo_cost_bps(terms.quantity, market, terms)
    # Take the book's quotes cheaper than both the best new quote and the algorithms, up to the whole order.
    cut = np.minimum(np.searchsorted(effective, np.minimum(best_effective, algo_full), side="left"), full)
    residual = np.clip(1.0 - taken[cut], 0.0, 1.0)
    algo_residual = _algo_cost_vector(residual, market, terms)
    use_pending = np.isfinite(best_effective) & (best_effective < algo_residual) & (residual > 0)
    price = price_prefix[cut] + np.where(use_pending, residual * price_draw[draws, best] if len(pending) else 0.0, 0.0)
    certainty_part = certainty_prefix[cut] + np.where(
        use_pending, residual * pending_certainty[best] if len(pending) else 0.0, 0.0
    )
    algo = np.where(use_pending | (residual <= 0), 0.0, residual * algo_residual)
    out = {
        "price": float(price.mean()),
        "certainty": float(certainty_part.mean()),
        "algo": float(algo.mean()),
        "delay": terms.risk_aversion * variance_bps2_per_s(market.volatility) * wait_s,
        "leakage": terms.leakage_bps_per_s * wait_s,
    }
    out["total"] = sum(out.values())
    return out


def wait_or_split(
    *,
    book: Sequence[BookQuote],
    pending: Sequence[PendingDealer],
    market: MarketState,
    terms: OrderTerms,
    seed: int = 0,
) -> Decision:
    """Decide between accepting the book, waiting for the pending dealers, and splitting (see the module's math).

    Parameters
    ----------
    book : the live quotes (the desk's side of each)
    pending : the dealers still expected to answer
    market : arrival mid, volatility, spread and volume
    terms : the order and the desk's preferences
    seed : seed of the fixed Monte-Carlo draws of the wait scenarios

    Returns
    -------
    Decision
    """
    if terms.side not in ("buy", "sell"):
        raise ValueError(f"side must be 'buy' or 'sell', got {terms.side!r}")
    if not terms.quantity > 0:
        raise ValueError("quantity must be positive")
    sign = 1.0 if terms.side == "buy" else -1.0
    costs = np.array([sign * (q.price - market.mid) / market.mid * 1e4 for q in book], dtype=float)
    p_fill = np.array([q.p_fill for q in book], dtype=float)
    sizes = np.array([q.size for q in book], dtype=float)
    action, shares, residual, now_parts = _act_now(costs, p_fill, sizes, market, terms)
    alternatives = {action: now_parts["total"]}
    best_wait: tuple[float, dict[str, float]] | None = None
    rng_seed = np.random.SeedSequence(seed)
    for wait_s in sorted({min(d.response_s * 1.5, terms.max_wait_s) for d in pending if d.p_answer > 0}):
        parts = _expected_after_wait(wait_s, book, costs, pending, market, terms, np.random.default_rng(rng_seed))
        alternatives[f"wait {wait_s:.1f}s"] = parts["total"]
        if best_wait is None or parts["total"] < best_wait[1]["total"]:
            best_wait = (wait_s, parts)
    if best_wait is not None and best_wait[1]["total"] < now_parts["total"]:
        wait_s, parts = best_wait
        return Decision(
            action="wait",
            fills=[],
            algo_quantity=0.0,
            wait_s=wait_s,
            expected_gain_bps=now_parts["total"] - parts["total"],
            costs=parts,
            alternatives=alternatives,
        )
    gain = (now_parts["total"] - best_wait[1]["total"]) if best_wait is not None else 0.0
    fills = [(book[int(j)].dealer, float(shares[j] * terms.quantity)) for j in np.flatnonzero(shares > 0)]
    return Decision(
        action=action,
        fills=fills,
        algo_quantity=float(residual * terms.quantity),
        wait_s=0.0,
        expected_gain_bps=float(gain),
        costs=now_parts,
        alternatives=alternatives,
    )
