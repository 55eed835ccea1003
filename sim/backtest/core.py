r"""The backtest's pure core: replay an episode under a policy, the hindsight oracle, the summary figures.

**Replay.** The desk decides at *decision points*: each dealer answer (a quote or a decline), the end of the answer
window (:data:`~sim.backtest.episodes.ANSWER_WINDOW_S`, when the desk looks even if nobody has answered), and any
time a policy asked to be woken at. At a decision point the policy receives a :class:`View` built only from the
past: the live quotes (arrived, unexpired, not taken, not rejected), the dealers asked that have not answered yet,
the market as last sampled (mid, half spread, volatility, liquidity) and a drift estimate from the mids seen
since :data:`~sim.backtest.episodes.DRIFT_LOOKBACK_S` seconds before the RFQ. It answers with an :class:`Action`:
take quotes (each goes through the dealer's last look at that instant; a reject sends the desk back to decide at
once without it and, as in :func:`rfq.services.dealer_order_reject`, closes the RFQ to new quotes when no other
quote is live), send a quantity to the algorithms, or wait until a time. At the RFQ's expiry
(:data:`~sim.backtest.episodes.HORIZON_S`) whatever is left goes to the algorithms.

**Cost.** Implementation shortfall against the arrival mid ``m₀``, bps, positive a cost: for the fills
``Σ_k q_k s (p_k − m₀) / m₀ · 10⁴ / Q``, and for the quantity ``r`` the RFQ did not fill, what the desk pays to
finish it at the venue when it hands it over at ``t_h``: ``r/Q · (s (m(t_h) − m₀)/m₀ · 10⁴ + h(t_h) + I_tmp(r) +
I_perm(r)/2)``, the venue's half spread and impact (the price :meth:`MarketSimulator.execute` gives one child
order). ``fill_ratio`` is the notional filled by dealers over the notional requested (the algorithms' part is
charged, not counted as filled). ``mean_cost_bps`` and ``p90_cost_bps`` are over RFQs, each weighted alike.

**Policies.**
- ``best-now`` takes the best live quote the moment there is one (and the next best after a last-look reject);
  with no quote it waits for the answers until the answer window ends, then hands the order to the algorithms.
- ``best-at-window`` waits the answer window (less if every dealer asked has answered), then takes the best live
  quote, the next best after a last-look reject, and the algorithms when none is left: the strongest simple rule.
- ``first-k`` takes the best live quote once ``k = ⌈n/2⌉`` of the ``n`` dealers asked have answered (or the window
  ends), as best-at-window otherwise (:func:`first_k_count` says why half).
- ``wait-or-split`` asks :func:`rfq.decision.wait_or_split` at every decision point (:class:`WaitOrSplitPolicy`),
  with the pending dealers modelled by :class:`DealerModel` (fitted on the desk's observable history, never the
  bots' hidden parameters; a dealer's expected price is its modelled cost against the mid plus the mid's move since
  arrival), the live quotes' honour rates from the same model, the venue's half spread and the desk's impact
  model for the algorithms (:class:`~sim.backtest.impact.DeskImpactModel`, fitted on the desk's earlier child
  orders, never the venue's :class:`~desk.impact.ImpactConfig`), and the drift estimate. Its preferences: risk
  aversion ``λ = 0.02``/bps for a notional of 2 million left, in proportion to the notional (a constant aversion to
  the cost's variance in currency: a small order risks little by going to the venue), re-quote cost ``R = 20`` bps,
  leakage ``ℓ = 0.02`` bps/s, and the algorithms charged the risk of working the residual over ``T_algo = 1,800`` s
  (``λσ²T/3``, about 16 bps at 65 % volatility for 2 million): a preference, not an expected cost, that keeps the
  desk on the dealers' prices for large orders unless their quotes are far worse. The 2 million was chosen on seeds
  100 and 101 (against ``λ`` constant and 1 million), never on the tests' seeds.
- ``oracle`` sees the whole episode: every quote that will arrive, every later mid and every last-look outcome. It
  takes the cheapest fill that the dealers would honour at some instant of the quote's life (greedy by cost, the
  rest at the algorithms' cheapest instant from the first decision point on). Any policy acts at those instants
  with those quotes (the simulated dealers quote the full size), so no policy can beat it on any episode.
  ``oracle_replay(..., quotes_first=True)`` is the RFQ's own hindsight bound, a reference: the cheapest honourable
  quote whatever the algorithms cost, the algorithms only when no quote can be had.

**What a policy can know.** A policy is a callable on a :class:`View`; the view carries the past only and no
hidden parameter of the simulator (no impact configuration, no dealer profile, no :class:`Answer`), and a policy's
own fields hold only models fitted on the desk's history. The simulator alone decides what a fill or an algorithm
costs (:meth:`Episode.honoured`, :meth:`Episode.algo_cost_bps`).

The dealer model lives in :mod:`sim.backtest.model`, the impact model in :mod:`sim.backtest.impact`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from rfq.decision import (
    DRAWS,
    BookQuote,
    Decision,
    MarketState,
    OrderTerms,
    PendingDealer,
    variance_bps2_per_s,
    wait_or_split,
)
from sim.backtest.episodes import (
    ANSWER_WINDOW_S,
    DEMO_INSTRUMENTS,
    DRIFT_LOOKBACK_S,
    HORIZON_S,
    QUOTE_VALIDITY_S,
    Answer,
    Episode,
    InstrumentSpec,
    episodes_generate,
)
from sim.backtest.impact import DeskImpactModel, executions_observe, impact_model_fit
from sim.backtest.model import DealerModel, dealer_model_fit, history_observe
from sim.dealers.profiles import DealerProfile
from sim.market.simulator import DEFAULT_START

BASELINES: tuple[str, ...] = ("best-now", "best-at-window", "first-k")
"""The simple rules wait-or-split is judged against."""
POLICIES: tuple[str, ...] = (*BASELINES, "wait-or-split", "oracle")
_EPS = 1e-9


@dataclass(frozen=True)
class LiveQuote:
    """A quote in the book at decision time: the desk's side of its price, its size, arrival and expiry (s)."""

    dealer: str
    price: float
    size: float
    arrived_s: float
    expires_s: float


@dataclass(frozen=True)
class View:
    """What the desk knows at ``t`` seconds after sending the RFQ; ``remaining`` contracts are still to do."""

    t: float
    instrument: InstrumentSpec
    side: str
    quantity: float
    remaining: float
    notional: float
    arrival_mid: float
    asked: tuple[str, ...]
    book: tuple[LiveQuote, ...]
    pending: tuple[str, ...]
    mid: float
    half_spread_bps: float
    volatility: float
    liquidity: float
    drift_bps_per_s: float

    @property
    def sign(self) -> float:
        return 1.0 if self.side == "buy" else -1.0


@dataclass(frozen=True)
class Action:
    """``kind`` is ``accept``, ``split`` or ``wait``: ``fills`` (dealer, contracts) to take now, ``algo_quantity``
    to hand to the algorithms now, ``wait_until_s`` when to look again (sooner if an answer comes)."""

    kind: str
    fills: tuple[tuple[str, float], ...] = ()
    algo_quantity: float = 0.0
    wait_until_s: float = 0.0
    decision: Decision | None = None


Policy = Callable[[View], Action]


@dataclass(frozen=True)
class Fill:
    dealer: str
    at_s: float
    quantity: float
    price: float


@dataclass
class Outcome:
    """What a policy did with one episode and what it cost (see the module's definition of cost)."""

    episode: Episode
    policy: str
    cost_bps: float = 0.0
    fills: list[Fill] = field(default_factory=list)
    rejects: list[tuple[str, float]] = field(default_factory=list)
    algo_quantity: float = 0.0
    algo_at_s: float = 0.0
    decisions: list[tuple[float, View, Action]] = field(default_factory=list)
    log: list[tuple[float, str, Any]] = field(default_factory=list)
    """In order: ``("decision", (view, action))`` (kept views only), ``("fill", Fill)``, ``("reject", dealer)``."""

    @property
    def filled(self) -> float:
        return sum(f.quantity for f in self.fills)


# -- the view ------------------------------------------------------------------------------------------------------


def drift_estimate_bps_per_s(episode: Episode, t: float) -> float:
    """The mid's drift (bps/s, + up) from the mids seen over the lookback and since the RFQ, shrunk towards 0 by
    its own noise: ``d̂ = r · r² / (r² + se²)`` with ``r`` the average move per second and ``se`` its sd under no
    drift (``σ_bps / sqrt(elapsed)``)."""
    i = episode.sample(t)
    elapsed = DRIFT_LOOKBACK_S + float(episode.times[i])
    raw = (float(episode.mids[i]) - episode.mid_before) / episode.arrival_mid * 1e4 / elapsed
    se2 = variance_bps2_per_s(float(episode.volatility[i])) / elapsed
    return raw * raw * raw / (raw * raw + se2) if raw else 0.0


def view_at(episode: Episode, t: float, *, remaining: float, gone: set[str], closed_at: float | None = None) -> View:
    """The desk's view at ``t``: only answers that arrived by ``t`` and the market sampled by ``t``; once the RFQ
    closed (at ``closed_at``) no answer arrives and nobody is pending any more."""
    i = episode.sample(t)
    until = t if closed_at is None else min(t, closed_at)
    arrived = [a for a in episode.answers if a.at_s <= until + _EPS]
    book = tuple(
        LiveQuote(a.dealer, a.price, a.size, a.at_s, a.at_s + QUOTE_VALIDITY_S)
        for a in arrived
        if a.action == "quote" and a.dealer not in gone and t < a.at_s + QUOTE_VALIDITY_S - _EPS
    )
    answered = {a.dealer for a in arrived}
    return View(
        t=t,
        instrument=episode.instrument,
        side=episode.side,
        quantity=episode.quantity,
        remaining=remaining,
        notional=episode.notional,
        arrival_mid=episode.arrival_mid,
        asked=episode.asked,
        book=book,
        pending=() if closed_at is not None else tuple(code for code in episode.asked if code not in answered),
        mid=float(episode.mids[i]),
        half_spread_bps=float(episode.half_spread_bps[i]),
        volatility=float(episode.volatility[i]),
        liquidity=float(episode.liquidity[i]),
        drift_bps_per_s=drift_estimate_bps_per_s(episode, t),
    )


# -- replay --------------------------------------------------------------------------------------------------------


def _quote_of(episode: Episode, dealer: str) -> Answer:
    return next(a for a in episode.answers if a.dealer == dealer and a.action == "quote")


def _finish(outcome: Outcome, remaining: float, at_s: float) -> Outcome:
    episode = outcome.episode
    q = episode.quantity
    outcome.algo_quantity, outcome.algo_at_s = max(remaining, 0.0), at_s
    price = sum(f.quantity * episode.bps(f.price) for f in outcome.fills) / q
    outcome.cost_bps = price + outcome.algo_quantity / q * episode.algo_cost_bps(outcome.algo_quantity, at_s)
    return outcome


def episode_replay(episode: Episode, policy: Policy, *, name: str = "policy", keep_views: bool = False) -> Outcome:
    """Play ``policy`` on ``episode`` (see the module's replay rules) and cost the result."""
    outcome = Outcome(episode=episode, policy=name)
    answer_times = sorted({a.at_s for a in episode.answers})
    t = min([*answer_times, ANSWER_WINDOW_S])
    remaining = episode.quantity
    gone: set[str] = set()
    closed_at: float | None = None
    while remaining > _EPS:
        if t >= HORIZON_S - _EPS:
            return _finish(outcome, remaining, HORIZON_S)
        view = view_at(episode, t, remaining=remaining, gone=gone, closed_at=closed_at)
        action = policy(view)
        live = {q.dealer for q in view.book}
        if any(dealer not in live for dealer, _ in action.fills):
            raise ValueError(f"the policy took {action.fills}; live quotes at {t:.1f} s: {sorted(live)}")
        if keep_views:
            outcome.decisions.append((t, view, action))
            outcome.log.append((t, "decision", (view, action)))
        rejected = False
        for dealer, quantity in action.fills:
            answer = _quote_of(episode, dealer)
            take = min(quantity, remaining, answer.size)
            gone.add(dealer)
            if episode.honoured(answer, t):
                outcome.fills.append(Fill(dealer=dealer, at_s=t, quantity=take, price=answer.price))
                outcome.log.append((t, "fill", outcome.fills[-1]))
                remaining -= take
            else:
                outcome.rejects.append((dealer, t))
                outcome.log.append((t, "reject", dealer))
                rejected = True
        if rejected:
            # As rfq.services rules: a last-look reject with no other live quote closes the RFQ to new quotes.
            if closed_at is None and not view_at(episode, t, remaining=remaining, gone=gone).book:
                closed_at = t
            continue
        if remaining <= _EPS:
            continue
        if action.algo_quantity > _EPS:
            return _finish(outcome, remaining, t)
        if action.fills:
            continue
        later = [
            s for s in [*([] if closed_at is not None else answer_times), ANSWER_WINDOW_S, HORIZON_S] if s > t + _EPS
        ]
        wake = action.wait_until_s if action.kind == "wait" else HORIZON_S
        t = round(max(min([wake, *later]), t + 0.1), 6)
    return _finish(outcome, 0.0, t)


# -- best-now ------------------------------------------------------------------------------------------------------


def best_now(view: View) -> Action:
    """Take the best live quote now; with none, wait for answers until the answer window ends, then the algorithms."""
    if view.book:
        best = min(view.book, key=lambda q: view.sign * q.price)
        return Action(kind="accept", fills=((best.dealer, min(best.size, view.remaining)),))
    if not view.pending or view.t >= ANSWER_WINDOW_S - _EPS:
        return Action(kind="split", algo_quantity=view.remaining)
    return Action(kind="wait", wait_until_s=ANSWER_WINDOW_S)


def _best_or_algorithms(view: View) -> Action:
    if view.book:
        best = min(view.book, key=lambda q: view.sign * q.price)
        return Action(kind="accept", fills=((best.dealer, min(best.size, view.remaining)),))
    return Action(kind="split", algo_quantity=view.remaining)


def best_at_window(view: View) -> Action:
    """Wait the answer window, then take the best live quote (the next best after a last-look reject); with none,
    the algorithms. The window ends early once every dealer asked has answered: nothing more can come."""
    if view.pending and view.t < ANSWER_WINDOW_S - _EPS:
        return Action(kind="wait", wait_until_s=ANSWER_WINDOW_S)
    return _best_or_algorithms(view)


def first_k_count(asked: int) -> int:
    """``k = ⌈n/2⌉`` of ``n`` dealers asked: half the panel has spoken, so the best of the answers is the best of
    a sample of the panel's prices as large as the rest, while the slower half is not waited for."""
    return max(math.ceil(asked / 2), 1)


def first_k(view: View) -> Action:
    """Take the best live quote once :func:`first_k_count` of the dealers asked have answered (a quote or a
    decline) and a quote is live, or when the answer window ends; with no live quote then, the algorithms."""
    answered = len(view.asked) - len(view.pending)
    early = answered < first_k_count(len(view.asked)) or not view.book
    if view.pending and view.t < ANSWER_WINDOW_S - _EPS and early:
        return Action(kind="wait", wait_until_s=ANSWER_WINDOW_S)
    return _best_or_algorithms(view)


# -- oracle --------------------------------------------------------------------------------------------------------


def oracle_replay(episode: Episode, *, quotes_first: bool = False) -> Outcome:
    """The hindsight bound: the cheapest fill the dealers would honour, the rest at the algorithms' best instant.

    With ``quotes_first`` it is the hindsight bound of the RFQ alone: it fills from the cheapest honourable quotes
    whatever the algorithms would cost, and uses them only for what no quote can fill (a reference, not a bound on
    a policy that splits)."""
    outcome = Outcome(episode=episode, policy="oracle")
    first = min([a.at_s for a in episode.answers] + [ANSWER_WINDOW_S])
    instants = [float(s) for s in episode.times if first - _EPS <= s <= HORIZON_S + _EPS]
    feasible: list[tuple[float, Answer, float]] = []
    for answer in episode.answers:
        if answer.action != "quote":
            continue
        end = min(answer.at_s + QUOTE_VALIDITY_S, HORIZON_S)
        at = next((s for s in instants if answer.at_s - _EPS <= s < end - _EPS and episode.honoured(answer, s)), None)
        if at is not None:
            feasible.append((episode.bps(answer.price), answer, at))
    feasible.sort(key=lambda item: item[0])
    best: Outcome | None = None
    # Take the k cheapest honourable quotes and the rest at the algorithms' cheapest instant; keep the best k.
    for k in [len(feasible)] if quotes_first else range(len(feasible) + 1):
        trial = Outcome(episode=episode, policy="oracle")
        remaining = episode.quantity
        for _, answer, at in feasible[:k]:
            take = min(answer.size, remaining)
            if take > _EPS:
                trial.fills.append(Fill(dealer=answer.dealer, at_s=at, quantity=take, price=answer.price))
                trial.log.append((at, "fill", trial.fills[-1]))
                remaining -= take
        if remaining > _EPS:
            path = episode.algo_cost_path_bps(remaining)
            allowed = (episode.times >= first - _EPS) & (episode.times <= HORIZON_S + _EPS)
            _finish(trial, remaining, float(episode.times[np.flatnonzero(allowed)[np.argmin(path[allowed])]]))
        else:
            _finish(trial, 0.0, max(f.at_s for f in trial.fills))
        if best is None or trial.cost_bps < best.cost_bps - 1e-12:
            best = trial
    return best or outcome


# -- wait-or-split -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WaitOrSplitPolicy:
    """The desk's wait-or-split rule (:func:`rfq.decision.wait_or_split`) on a :class:`View`, with the pending
    dealers from ``model`` and the algorithms' cost from ``impact`` (both fitted on the desk's history).
    ``risk_aversion`` ``λ`` (1/bps), ``requote_cost_bps`` ``R``, ``leakage_bps_per_s``
    ``ℓ``, and ``draws`` Monte-Carlo draws per wait considered."""

    model: DealerModel
    impact: DeskImpactModel
    risk_aversion: float = 0.02
    requote_cost_bps: float = 20.0
    leakage_bps_per_s: float = 0.02
    algo_horizon_s: float = 1800.0
    reference_notional: float | None = 2e6
    draws: int = DRAWS
    seed: int = 0

    def risk_aversion_at(self, view: View) -> float:
        """``λ`` (1/bps) for the order still to do: ``risk_aversion``, or, with ``reference_notional`` set, a
        constant aversion to the variance of the cost in currency, which in bps grows with the notional left."""
        if self.reference_notional is None:
            return self.risk_aversion
        return self.risk_aversion * view.notional * view.remaining / view.quantity / self.reference_notional

    def inputs(self, view: View) -> dict[str, Any]:
        """The decision's inputs at ``view`` (what a decision record stores)."""
        move = (view.mid - view.arrival_mid) / view.arrival_mid * 1e4
        notional_mm = view.notional / 1e6
        book = [
            BookQuote(
                dealer=q.dealer,
                price=q.price,
                size=q.size,
                expires_in_s=q.expires_s - view.t,
                p_fill=self.model.get(q.dealer).p_fill,
            )
            for q in view.book
        ]
        pending = []
        for code in view.pending:
            est = self.model.get(code)
            pending.append(
                PendingDealer(
                    dealer=code,
                    p_answer=est.p_answer,
                    response_s=est.response_median_s,
                    price_bps=view.sign * move + est.price_a_bps + est.price_b_bps_per_mm * notional_mm,
                    price_sd_bps=est.price_sd_bps,
                    p_fill=est.p_fill,
                    response_sigma=est.response_sigma,
                    elapsed_s=view.t,
                )
            )
        # The algorithms priced with the desk's own fit (sim.backtest.impact), never the venue's parameters: the
        # sqrt part as the decision's square-root impact over ADV, the linear part added to the half spread.
        estimate = self.impact.get(view.instrument.underlying)
        coins = view.remaining * view.instrument.multiplier
        _, linear_bps = estimate.cost_parts_bps(coins, volatility=view.volatility, liquidity=view.liquidity)
        unit_bps, _ = estimate.cost_parts_bps(estimate.adv, volatility=view.volatility, liquidity=view.liquidity)
        market = MarketState(
            mid=view.arrival_mid,
            volatility=view.volatility,
            half_spread_bps=view.half_spread_bps + linear_bps,
            adv=estimate.adv / view.instrument.multiplier,
            impact_coefficient_bps=unit_bps,
            move_bps=move,
            drift_bps_per_s=view.drift_bps_per_s,
        )
        terms = OrderTerms(
            side=view.side,
            quantity=view.remaining,
            risk_aversion=self.risk_aversion_at(view),
            requote_cost_bps=self.requote_cost_bps,
            leakage_bps_per_s=self.leakage_bps_per_s,
            algo_horizon_s=self.algo_horizon_s,
            max_wait_s=max(HORIZON_S - view.t, 0.0),
        )
        return {"book": book, "pending": pending, "market": market, "terms": terms}

    def __call__(self, view: View) -> Action:
        decision = wait_or_split(**self.inputs(view), seed=self.seed, draws=self.draws)
        if decision.action == "wait":
            return Action(kind="wait", wait_until_s=view.t + decision.wait_s, decision=decision)
        return Action(
            kind=decision.action,
            fills=tuple(decision.fills),
            algo_quantity=decision.algo_quantity,
            decision=decision,
        )


# -- running and summarizing ---------------------------------------------------------------------------------------


def policy_make(name: str, *, model: DealerModel | None = None, impact: DeskImpactModel | None = None) -> Policy:
    """The policy called ``name`` (one of :data:`POLICIES` but ``oracle``, which is not a policy: it sees the
    future); wait-or-split needs the desk's dealer ``model`` and ``impact`` model."""
    simple: dict[str, Policy] = {"best-now": best_now, "best-at-window": best_at_window, "first-k": first_k}
    if name in simple:
        return simple[name]
    if name == "wait-or-split":
        if model is None or impact is None:
            raise ValueError("wait-or-split needs the desk's dealer model and impact model")
        return WaitOrSplitPolicy(model=model, impact=impact)
    raise ValueError(f"unknown policy {name!r}; known: {', '.join(POLICIES)}")


HISTORY_RFQS = 200
"""Simulated past RFQs the desk's dealer model is fitted on."""
HISTORY_SEED_OFFSET = 1_000_003
"""The desk's history runs on seed ``seed + HISTORY_SEED_OFFSET``: another market, other draws, the same dealers."""
HISTORY_LEAD = timedelta(days=1)
"""How long before the backtest's episodes the desk's history starts."""


def desk_history_fit(
    *,
    seed: int,
    profiles: Mapping[str, DealerProfile],
    instruments: Sequence[InstrumentSpec] = DEMO_INSTRUMENTS,
    start: datetime | None = None,
) -> tuple[DealerModel, DeskImpactModel]:
    """The desk's dealer and impact models, fitted on what it observed of a separate simulated history (seed
    ``seed + HISTORY_SEED_OFFSET``) that ends before the episodes of ``seed`` starting at ``start`` begin: its past
    RFQs to ``profiles``' dealers (:func:`~sim.backtest.model.history_observe`) and its past child orders
    (:func:`~sim.backtest.impact.executions_observe`). The profiles only play the dealers; nothing fitted reads
    them."""
    began = (start or DEFAULT_START) - HISTORY_LEAD
    history = episodes_generate(
        n=HISTORY_RFQS, seed=seed + HISTORY_SEED_OFFSET, profiles=dict(profiles), instruments=instruments, start=began
    )
    model = dealer_model_fit(history_observe(history))
    impact = impact_model_fit(executions_observe(seed=seed + HISTORY_SEED_OFFSET, start=began))
    return model, impact


def policy_run(
    name: str,
    episodes: Sequence[Episode],
    *,
    model: DealerModel | None = None,
    impact: DeskImpactModel | None = None,
    keep_views: bool = False,
) -> list[Outcome]:
    """Replay ``episodes`` under the policy called ``name`` (one of :data:`POLICIES`)."""
    if name == "oracle":
        return [oracle_replay(e) for e in episodes]
    policy = policy_make(name, model=model, impact=impact)
    return [episode_replay(e, policy, name=name, keep_views=keep_views) for e in episodes]


def summary(name: str, outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """``{"policy", "n", "mean_cost_bps", "p90_cost_bps", "fill_ratio"}`` of a run (see the module's definitions)."""
    costs = np.array([o.cost_bps for o in outcomes], dtype=float)
    requested = sum(o.episode.quantity * o.episode.arrival_mid * o.episode.instrument.multiplier for o in outcomes)
    filled = sum(o.filled * o.episode.arrival_mid * o.episode.instrument.multiplier for o in outcomes)
    return {
        "policy": name,
        "n": len(outcomes),
        "mean_cost_bps": round(float(costs.mean()), 4) if len(costs) else 0.0,
        "p90_cost_bps": round(float(np.percentile(costs, 90)), 4) if len(costs) else 0.0,
        "fill_ratio": round(filled / requested, 6) if requested else 0.0,
    }
