r"""The wait-or-split decision: take the quotes now, wait for the dealers still to answer, or split. Pure numpy.

Every cost is in basis points of the **arrival mid** ``m₀`` for the whole order of ``Q`` contracts, signed so that
positive is a cost to the desk (``s = +1`` when the desk buys, ``−1`` when it sells).

Quote ``j`` (price ``p_j``, size ``q_j``, honoured on last look with probability ``f_j``) costs

    c_j = s · (p_j − m₀) / m₀ · 10⁴                                             (price against arrival mid)

and taking it carries the **execution-certainty** cost ``(1 − f_j) · R``: a last-look reject sends the desk back
to the market, which costs ``R`` bps more (a re-quote). Whatever the book cannot fill goes to the algorithms at

    c_algo = s · μ + h + η · sqrt(x) + λ σ²_bps T_algo / 3,   x = residual / ADV

(``μ`` the mid's move since arrival in bps, so that the algorithms start from today's mid; half spread ``h``,
square-root impact, the risk of a linear schedule over ``T_algo`` seconds).

**accept** fills ``Q`` from the book, cheapest effective cost ``c_j + (1 − f_j) R`` first:
``C_accept = Σ_j (w_j (c_j + (1 − f_j) R))`` with ``w_j`` the share of ``Q`` taken from ``j``. It is available
when the book covers ``Q`` and each quote taken beats ``c_algo``.

**split** takes from the book only the quotes that beat ``c_algo`` and sends the rest to the algorithms:
``C_split = Σ_j w_j (c_j + (1 − f_j) R) + (1 − Σ w_j) c_algo``.

**A quote can be taken only if it is still live when the accept reaches the dealer**: an accept takes ``L``
seconds (``accept_latency_s``: the trader's click, the desk's checks, the order on its way), so a quote with
``T_j ≤ L`` seconds left (``T_j`` its ``expires_in_s``) is not in the book at all, now or later.

**wait(τ)** waits ``τ`` seconds for the dealers still to answer, then does the better of accept and split with
the book it will have: quotes with ``T_j ≤ τ + L`` are gone. A wait is **bounded**: it must end early enough to
take the best live quote, by price (the board's best: ``b = argmin_j c_j``) and by effective cost (the desk's
first choice: ``e = argmin_j c_j + (1 − f_j) R``), and within the longest wait ``τ_max``:

    τ ≤ τ̄ = min(T_b − L, T_e − L, τ_max)           (τ̄ = τ_max with an empty book)

so that no wait considered can lose the quote that makes acting now worth it. When no ``τ`` with
``0 < τ ≤ τ̄`` is considered, the decision is accept or split.

Dealer ``i`` has been waited for ``e_i`` seconds already without an answer; it answers at all with probability
``π_i`` and its response time ``T_i`` is lognormal (median ``m_i``, log-sd ``σ_i``, both measured on the dealer's
own answers; CDF ``F_i``), so that by the end of the wait it has answered with probability

    ρ_i(τ) = π_i · (F_i(e_i + τ) − F_i(e_i)) / (1 − π_i F_i(e_i))          (Bayes: no answer in e_i seconds)

at a price ``c_i ~ N(μ_i + s·d·τ, σ_i²)``: ``μ_i`` is its modelled cost against the arrival mid were it to answer
now, and ``d`` the mid's expected drift (bps/s), which moves both its price and the algorithms' by ``s·d·τ``.
The expected cost adds the **delay** cost (the risk of the unfilled order over the wait) and the **leakage** of
waiting (the adverse drift ``ℓ`` bps/s while more dealers know of the order):

    C_wait(τ) = E[min(C_accept, C_split | book at τ)] + λ σ²_bps τ + ℓ τ,
    σ²_bps = (σ_annual · 10⁴)² / (365 · 86 400)   (bps² per second)

The expectation is a Monte-Carlo average over ``draws`` fixed draws (:data:`DRAWS` by default), the same draws
for every wait considered, so that the decision is a pure function of its inputs. The waits considered are, for
each pending dealer, the time by which it has answered with conditional probability ``q = 0.8`` if it answers at
all, ``τ_i = m_i exp(σ_i Φ⁻¹(F_i(e_i) + q (1 − F_i(e_i)))) − e_i``, capped at the bound ``τ̄``. The decision is
the cheapest of accept, split and the best ``τ``; ``expected_gain_bps`` is what waiting saves over acting now (≤ 0
when acting now is best).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

SECONDS_PER_YEAR = 365.0 * 86_400.0
DRAWS = 1024
WAIT_QUANTILE = 0.8
"""Conditional probability of having answered (if at all) by a considered wait's end."""
_NORMAL = NormalDist()
UNWORKABLE_BPS = 1e4
"""The algorithms' cost where they cannot work the order (a package of options: the venues trade none): 100 % of
the mark, so that any quote, or waiting for one, is preferred; the decision then never recommends a split."""
UNWORKABLE_WAIT_S = 5.0
"""With no quote to take, nothing to wait for and no algorithm to work the order, the advice waits this long (at
most the longest wait) for the dealers the engine asks again (:mod:`rfq.engine.reask`)."""


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
    """A dealer still to answer: modelled answer probability (before the RFQ was sent), median response time (s),
    price against arrival mid were it to answer now (bps, mean and standard deviation), P(last look ok), the log-sd
    of its response time, and the seconds already waited for it. Pending dealers quote the full size."""

    dealer: str
    p_answer: float
    response_s: float
    price_bps: float
    price_sd_bps: float
    p_fill: float = 1.0
    response_sigma: float = 0.5
    elapsed_s: float = 0.0


@dataclass(frozen=True)
class MarketState:
    """Arrival mid (quote ccy), volatility (annualized), half spread (bps), average daily volume (contracts), the
    impact coefficient ``η`` (bps at participation 1), the mid's move since arrival (bps, + up) and its expected
    drift (bps/s, + up)."""

    mid: float
    volatility: float
    half_spread_bps: float
    adv: float
    impact_coefficient_bps: float = 100.0
    move_bps: float = 0.0
    drift_bps_per_s: float = 0.0


@dataclass(frozen=True)
class OrderTerms:
    """The order: side (``buy``/``sell``), quantity (contracts), risk aversion ``λ`` (1/bps), re-quote cost ``R``
    (bps), adverse drift while waiting ``ℓ`` (bps/s), the algorithms' horizon (s), the longest wait ``τ_max`` (s),
    and the seconds ``L`` an accept takes to reach the dealer (a quote with no more than ``L`` left cannot be taken;
    0 where accepts are instant, as in a replay of history), and whether the algorithms can work the order at all
    (False for a package of options: nothing is split then, see :data:`UNWORKABLE_BPS`)."""

    side: str
    quantity: float
    risk_aversion: float = 0.05
    requote_cost_bps: float = 20.0
    leakage_bps_per_s: float = 0.05
    algo_horizon_s: float = 600.0
    max_wait_s: float = 30.0
    accept_latency_s: float = 0.0
    algo_available: bool = True


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


def _sign(terms: OrderTerms) -> float:
    return 1.0 if terms.side == "buy" else -1.0


def algo_cost_bps(quantity: float, market: MarketState, terms: OrderTerms) -> float:
    """Expected cost (bps of the arrival mid) of working ``quantity`` contracts with the algorithms from now: the
    mid's move since arrival, spread, impact and timing risk (:data:`UNWORKABLE_BPS` when they cannot work it)."""
    if quantity <= 0:
        return 0.0
    if not terms.algo_available:
        return UNWORKABLE_BPS
    participation = quantity / max(market.adv, 1e-9)
    risk = terms.risk_aversion * variance_bps2_per_s(market.volatility) * terms.algo_horizon_s / 3.0
    moved = _sign(terms) * market.move_bps
    return moved + market.half_spread_bps + market.impact_coefficient_bps * math.sqrt(participation) + risk


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


def _algo_cost_vector(residual_share: np.ndarray, market: MarketState, terms: OrderTerms, shift: float) -> np.ndarray:
    if not terms.algo_available:
        return np.full_like(residual_share, UNWORKABLE_BPS, dtype=float)
    participation = residual_share * terms.quantity / max(market.adv, 1e-9)
    risk = terms.risk_aversion * variance_bps2_per_s(market.volatility) * terms.algo_horizon_s / 3.0
    moved = _sign(terms) * market.move_bps + shift
    return moved + market.half_spread_bps + market.impact_coefficient_bps * np.sqrt(participation) + risk


def _lognormal_cdf(t: float, median: float, sigma: float) -> float:
    if t <= 0:
        return 0.0
    return 0.5 * math.erfc(-math.log(t / median) / (sigma * math.sqrt(2.0)))


def answer_reach(dealer: PendingDealer, wait_s: float) -> float:
    """``ρ_i(τ)``: probability that ``dealer``, silent for ``elapsed_s`` so far, has answered ``wait_s`` from now."""
    f_now = _lognormal_cdf(dealer.elapsed_s, dealer.response_s, dealer.response_sigma)
    f_then = _lognormal_cdf(dealer.elapsed_s + wait_s, dealer.response_s, dealer.response_sigma)
    return dealer.p_answer * (f_then - f_now) / max(1.0 - dealer.p_answer * f_now, 1e-12)


def wait_candidate_s(dealer: PendingDealer, max_wait_s: float) -> float:
    """``τ_i``: seconds until ``dealer`` has answered with probability :data:`WAIT_QUANTILE` if it answers at all."""
    f_now = _lognormal_cdf(dealer.elapsed_s, dealer.response_s, dealer.response_sigma)
    level = min(f_now + WAIT_QUANTILE * (1.0 - f_now), 1.0 - 1e-12)
    until = dealer.response_s * math.exp(dealer.response_sigma * _NORMAL.inv_cdf(level))
    return min(max(until - dealer.elapsed_s, 0.0), max_wait_s)


def takeable(book: Sequence[BookQuote], terms: OrderTerms) -> list[BookQuote]:
    """The quotes an accept sent now still reaches alive: more than ``L`` seconds left."""
    return [q for q in book if q.expires_in_s > terms.accept_latency_s]


def wait_bound_s(book: Sequence[BookQuote], market: MarketState, terms: OrderTerms) -> float:
    """``τ̄``: the longest wait (s) that still leaves time to take the best live quote, by price and by effective
    cost, after it (the longest wait ``τ_max`` with an empty book; ≤ 0 when no wait is possible)."""
    live = takeable(book, terms)
    if not live:
        return terms.max_wait_s
    sign = _sign(terms)
    price = np.array([sign * (q.price - market.mid) for q in live], dtype=float)
    effective = price / market.mid * 1e4 + np.array(
        [(1.0 - q.p_fill) * terms.requote_cost_bps for q in live], dtype=float
    )
    by_price, by_cost = live[int(np.argmin(price))], live[int(np.argmin(effective))]
    return min(
        by_price.expires_in_s - terms.accept_latency_s,
        by_cost.expires_in_s - terms.accept_latency_s,
        terms.max_wait_s,
    )


def _expected_after_wait(
    wait_s: float,
    book: Sequence[BookQuote],
    book_costs: np.ndarray,
    pending: Sequence[PendingDealer],
    market: MarketState,
    terms: OrderTerms,
    normal: np.ndarray,
    uniform: np.ndarray,
) -> dict[str, float]:
    """Expected parts (bps) of acting after ``wait_s`` seconds, over draws of who answered and at what price."""
    alive = np.array([q.expires_in_s > wait_s + terms.accept_latency_s for q in book], dtype=bool)
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

    # The drift moves whatever is not yet locked in (new quotes, the algorithms) by s·d·τ.
    shift = _sign(terms) * market.drift_bps_per_s * wait_s
    mean = np.array([d.price_bps for d in pending], dtype=float) + shift
    sd = np.array([d.price_sd_bps for d in pending], dtype=float)
    pending_certainty = np.array([(1.0 - d.p_fill) * terms.requote_cost_bps for d in pending], dtype=float)
    reach = np.array([answer_reach(d, wait_s) for d in pending], dtype=float)
    rows = np.arange(len(normal))
    price_draw = mean + sd * normal
    pending_effective = np.where(uniform < reach, price_draw + pending_certainty, np.inf)
    best = np.argmin(pending_effective, axis=1)
    best_effective = pending_effective[rows, best]

    algo_full = float(_algo_cost_vector(np.ones(1), market, terms, shift)[0])
    # Take the book's quotes cheaper than both the best new quote and the algorithms, up to the whole order.
    cut = np.minimum(np.searchsorted(effective, np.minimum(best_effective, algo_full), side="left"), full)
    residual = np.clip(1.0 - taken[cut], 0.0, 1.0)
    algo_residual = _algo_cost_vector(residual, market, terms, shift)
    use_pending = (best_effective < algo_residual) & (residual > 0)
    new_share = np.where(use_pending, residual, 0.0)
    price = price_prefix[cut] + new_share * np.where(use_pending, price_draw[rows, best], 0.0)
    certainty_part = certainty_prefix[cut] + new_share * pending_certainty[best]
    algo = np.where(use_pending, 0.0, residual * algo_residual)
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
    draws: int = DRAWS,
) -> Decision:
    """Decide between accepting the book, waiting for the pending dealers, and splitting (see the module's math).

    Parameters
    ----------
    book : the live quotes (the desk's side of each); those with no more than ``terms.accept_latency_s`` left are
        left out
    pending : the dealers still expected to answer
    market : arrival mid, volatility, spread and volume
    terms : the order and the desk's preferences
    seed : seed of the fixed Monte-Carlo draws of the wait scenarios
    draws : number of those draws

    Returns
    -------
    Decision
    """
    if terms.side not in ("buy", "sell"):
        raise ValueError(f"side must be 'buy' or 'sell', got {terms.side!r}")
    if not terms.quantity > 0:
        raise ValueError("quantity must be positive")
    # Quotes an accept would reach too late are not in the book, now or after any wait.
    book = takeable(book, terms)
    sign = 1.0 if terms.side == "buy" else -1.0
    costs = np.array([sign * (q.price - market.mid) / market.mid * 1e4 for q in book], dtype=float)
    p_fill = np.array([q.p_fill for q in book], dtype=float)
    sizes = np.array([q.size for q in book], dtype=float)
    action, shares, residual, now_parts = _act_now(costs, p_fill, sizes, market, terms)
    alternatives = {action: now_parts["total"]}
    best_wait: tuple[float, dict[str, float]] | None = None
    bound = wait_bound_s(book, market, terms)
    waits = sorted(w for w in {wait_candidate_s(d, bound) for d in pending if d.p_answer > 0} if w > 0)
    if waits:
        # The same draws for every wait considered (common random numbers): the comparison is not noise.
        rng = np.random.default_rng(np.random.SeedSequence(seed))
        normal = rng.standard_normal((draws, len(pending)))
        uniform = rng.random((draws, len(pending)))
    for wait_s in waits:
        parts = _expected_after_wait(wait_s, book, costs, pending, market, terms, normal, uniform)
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
    if action == "split" and not terms.algo_available:
        # No rest can be worked: take what the book holds (the rest stays asked), or wait for a re-ask. The rest
        # is not priced: nothing is done with it now.
        now_parts = now_parts | {"algo": 0.0}
        now_parts["total"] = sum(v for k, v in now_parts.items() if k != "total")
        if fills:
            action = "accept"
        else:
            return Decision(
                action="wait",
                fills=[],
                algo_quantity=0.0,
                wait_s=max(min(terms.max_wait_s, UNWORKABLE_WAIT_S), 0.0),
                expected_gain_bps=0.0,
                costs=now_parts,
                alternatives=alternatives,
            )
        residual = 0.0
    return Decision(
        action=action,
        fills=fills,
        algo_quantity=float(residual * terms.quantity),
        wait_s=0.0,
        expected_gain_bps=float(gain),
        costs=now_parts,
        alternatives=alternatives,
    )
