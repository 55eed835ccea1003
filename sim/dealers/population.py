"""Dealer populations drawn from a seed, and each dealer's true quality measured by trading with it.

A population is a named family of worlds (:data:`POPULATIONS`): how its dealers' hidden parameters are spread
(:class:`~sim.dealers.profiles.DealerProfile`) and how its market behaves around an RFQ (:class:`MarketBehaviour`:
how fast informed flow moves the mid against the desk once it asks, and how long the desk's fallback takes to fill
after a failed request). :func:`population_draw` draws one world of the family from a seed.

The truth is measured, not a formula: :func:`true_costs` trades many simulated RFQs with each dealer alone, on the
simulated market (:class:`sim.scoring.ScoringWorld`, the same world the desk's history is booked in), and
averages what each cost the desk against the mid when the RFQ went out: the price of a fill, or, after a silence,
a decline or a last-look reject, the market's move until the desk's fallback filled plus the venue's half-spread
it filled at. The scoring code never reads
any of it; the scoring evaluation compares the desk's ranking with it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

from sim.dealers.profiles import DealerProfile, LegRequest, dealer_answer, dealer_last_look
from sim.market import MarketSimulator
from sim.scoring import ANSWER_WINDOW_S, FLOW_DRIFT_HORIZON_S, LEAK_DELAY_S, InstrumentTerms, ScoringWorld

Range = tuple[float, float]


@dataclass(frozen=True)
class MarketBehaviour:
    """How the market of a population behaves around the desk's RFQs.

    Attributes
    ----------
    flow_drift_bps_per_s : how fast the mid moves against the desk after it sends an RFQ (informed flow), bps/s
    requote_delay_s : seconds from a failed request to the fill of the desk's fallback
    """

    flow_drift_bps_per_s: float
    requote_delay_s: float


@dataclass(frozen=True)
class PopulationSpec:
    """The ranges a population's dealers and market are drawn from (uniform unless said otherwise)."""

    dealers: int = 12
    pricing_noise_bps: Range = (1.0, 9.0)
    half_spread_bps: Range = (2.0, 12.0)
    size_spread_bps_per_million: Range = (0.3, 3.0)
    response_median_s: Range = (0.3, 4.0)  # log-uniform
    no_answer_prob: Range = (0.0, 0.3)
    appetite: Range = (0.4, 1.0)
    last_look_reject_prob: Range = (0.0, 0.15)
    last_look_move_bps: Range = (3.0, 20.0)
    leaky_share: float = 0.3
    leakage_prob: Range = (0.2, 0.7)
    leak_impact_bps: Range = (4.0, 15.0)
    size_limited_share: float = 0.5
    max_notional: Range = (2e5, 5e6)  # log-uniform
    flow_drift_bps_per_s: Range = (0.2, 1.2)
    requote_delay_s: Range = (2.0, 15.0)


POPULATIONS: dict[str, PopulationSpec] = {
    "balanced": PopulationSpec(),
    "leaky": PopulationSpec(leaky_share=0.6, leak_impact_bps=(6.0, 20.0), flow_drift_bps_per_s=(0.0, 0.5)),
    "flaky": PopulationSpec(
        no_answer_prob=(0.05, 0.45), last_look_reject_prob=(0.02, 0.3), flow_drift_bps_per_s=(0.8, 2.0)
    ),
    "tight": PopulationSpec(half_spread_bps=(1.0, 5.0), pricing_noise_bps=(0.5, 4.0), requote_delay_s=(1.0, 5.0)),
    "wide": PopulationSpec(dealers=16, half_spread_bps=(2.0, 25.0), response_median_s=(0.2, 6.0)),
    "calm": PopulationSpec(flow_drift_bps_per_s=(0.0, 0.0), requote_delay_s=(5.0, 20.0)),
}
"""Named families of dealer populations; ``population_draw(name, seed)`` draws one."""


@dataclass(frozen=True)
class Population:
    """One drawn world: the dealers' hidden profiles (by code) and the market's behaviour."""

    name: str
    seed: int
    profiles: dict[str, DealerProfile]
    market: MarketBehaviour


def _uniform(rng: np.random.Generator, bounds: Range) -> float:
    return float(rng.uniform(bounds[0], bounds[1])) if bounds[1] > bounds[0] else float(bounds[0])


def profile_draw(code: str, spec: PopulationSpec, rng: np.random.Generator) -> DealerProfile:
    """One dealer's hidden parameters from ``spec``."""
    leaky = rng.random() < spec.leaky_share
    size_limited = rng.random() < spec.size_limited_share
    low, high = spec.response_median_s
    size_low, size_high = spec.max_notional
    return DealerProfile(
        code=code,
        pricing_noise_bps=_uniform(rng, spec.pricing_noise_bps),
        half_spread_bps=_uniform(rng, spec.half_spread_bps),
        size_spread_bps_per_million=_uniform(rng, spec.size_spread_bps_per_million),
        response_median_s=float(math.exp(rng.uniform(math.log(low), math.log(high)))),
        response_sigma=_uniform(rng, (0.3, 0.7)),
        no_answer_prob=_uniform(rng, spec.no_answer_prob),
        appetite={
            "spot": _uniform(rng, spec.appetite),
            "perpetual": _uniform(rng, spec.appetite),
            "option": _uniform(rng, (0.1, 1.0)),
        },
        last_look_reject_prob=_uniform(rng, spec.last_look_reject_prob),
        last_look_move_bps=_uniform(rng, spec.last_look_move_bps),
        leakage_prob=_uniform(rng, spec.leakage_prob) if leaky else 0.0,
        leak_impact_bps=_uniform(rng, spec.leak_impact_bps) if leaky else 0.0,
        max_notional=float(math.exp(rng.uniform(math.log(size_low), math.log(size_high))))
        if size_limited
        else math.inf,
    )


def population_draw(name: str, seed: int, *, spec: PopulationSpec | None = None) -> Population:
    """Draw population ``name`` (a key of :data:`POPULATIONS`, or ``spec`` given) from ``seed``.

    Dealer codes are ``P01``, ``P02``, ...; the same name and seed give the same world.
    """
    if spec is None:
        if name not in POPULATIONS:
            raise KeyError(f"unknown population {name!r}; choose one of {', '.join(sorted(POPULATIONS))}")
        spec = POPULATIONS[name]
    rng = np.random.default_rng([seed, 4242])
    profiles = {f"P{i + 1:02d}": profile_draw(f"P{i + 1:02d}", spec, rng) for i in range(spec.dealers)}
    market = MarketBehaviour(
        flow_drift_bps_per_s=_uniform(rng, spec.flow_drift_bps_per_s),
        requote_delay_s=_uniform(rng, spec.requote_delay_s),
    )
    return Population(name=name, seed=seed, profiles=profiles, market=market)


def _rfq_cost(
    *,
    world: ScoringWorld,
    terms: InstrumentTerms,
    profile: DealerProfile,
    notional: float,
    buy: bool,
    market: MarketBehaviour,
    rng: np.random.Generator,
) -> tuple[float, str]:
    """Ask ``profile`` alone for one RFQ at the world's current time: its all-in cost (bps) and the outcome."""
    t0 = world.market.now
    sign = 1.0 if buy else -1.0
    arrival = world.fair(terms)
    if market.flow_drift_bps_per_s:
        world.drift(terms.underlying, sign * market.flow_drift_bps_per_s, FLOW_DRIFT_HORIZON_S)
    leg = LegRequest(
        leg_no=1,
        kind=terms.kind,
        side="buy" if buy else "sell",
        quantity=notional / (arrival * terms.multiplier),
        fair_price=1.0,
        contract_notional=arrival * terms.multiplier,
    )
    answer = dealer_answer(profile, [leg], rng, tick=1e-12)
    if answer.leak_bps:
        world.advance_to(t0 + timedelta(seconds=LEAK_DELAY_S))
        world.leak(terms.underlying, sign * answer.leak_bps)
    delay = round(answer.delay_s, 1)
    if answer.action == "silent" or delay > ANSWER_WINDOW_S:
        failed_at, outcome = t0 + timedelta(seconds=ANSWER_WINDOW_S), "silent"
    elif answer.action == "decline":
        failed_at, outcome = t0 + timedelta(seconds=delay), "decline"
    else:
        world.advance_to(t0 + timedelta(seconds=delay))
        fair = world.fair(terms)
        price = (answer.legs[0].offer_price if buy else answer.legs[0].bid_price) * fair
        if dealer_last_look(profile, desk_side=leg.side, quoted_price=price, fair_now=fair, rng=rng):
            return sign * (price - arrival) / arrival * 1e4, "fill"
        failed_at, outcome = t0 + timedelta(seconds=delay), "reject"
    world.advance_to(failed_at + timedelta(seconds=market.requote_delay_s))
    book = world.market.book(terms.underlying)
    venue_half_spread_bps = (book.ask - book.bid) / 2 / book.mid * 1e4
    return sign * (world.fair(terms) - arrival) / arrival * 1e4 + venue_half_spread_bps, outcome


def true_costs(
    population: Population,
    *,
    terms: Sequence[InstrumentTerms],
    rfqs_per_dealer: int,
    seed: int,
    notional_range: tuple[float, float] = (5e4, 5e6),
    mean_gap_s: float = 30.0,
) -> pd.DataFrame:
    """Each dealer's true quality: its mean all-in cost to the desk over ``rfqs_per_dealer`` RFQs traded with it.

    Every dealer faces the same stream of RFQs (instrument, side, notional, gaps) on the same seeded market, so that
    the dealers differ by their own behaviour, not by their luck with the market.

    Parameters
    ----------
    population : the dealers and the market behaviour
    terms : the instruments the RFQs are drawn from, uniformly (spot and perpetuals)
    rfqs_per_dealer : RFQs per dealer
    seed : seed of the market, the RFQ stream and the dealers' draws
    notional_range : smallest and largest notional, quote currency, drawn log-uniformly

    Returns
    -------
    One row per dealer code: ``cost_bps`` (mean all-in cost against the arrival mid, positive a cost; the true
    quality is its negative), ``cost_se_bps`` (its standard error), ``fill_rate``, ``silent_rate``,
    ``decline_rate``, ``reject_rate`` and ``rfqs``.
    """
    log_low, log_high = math.log(notional_range[0]), math.log(notional_range[1])
    rows = []
    for index, (code, profile) in enumerate(sorted(population.profiles.items())):
        stream = np.random.default_rng([seed, 17])
        dealer_rng = np.random.default_rng([seed, 23, index])
        world = ScoringWorld(MarketSimulator(seed), terms)
        costs, outcomes = [], []
        for _ in range(rfqs_per_dealer):
            world.advance_to(world.market.now + timedelta(seconds=round(5 + stream.exponential(mean_gap_s), 1)))
            cost, outcome = _rfq_cost(
                world=world,
                terms=terms[int(stream.integers(len(terms)))],
                profile=profile,
                notional=math.exp(stream.uniform(log_low, log_high)),
                buy=bool(stream.random() < 0.5),
                market=population.market,
                rng=dealer_rng,
            )
            costs.append(cost)
            outcomes.append(outcome)
            # Let the RFQ's drift run out before the next one, as in the desk's booked history.
            world.advance_to(world.market.now + timedelta(seconds=FLOW_DRIFT_HORIZON_S))
            world.rows.clear()
        values = np.asarray(costs)
        kinds = pd.Series(outcomes)
        rows.append(
            {
                "dealer": code,
                "cost_bps": float(values.mean()),
                "cost_se_bps": float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.nan,
                "fill_rate": float(kinds.eq("fill").mean()),
                "silent_rate": float(kinds.eq("silent").mean()),
                "decline_rate": float(kinds.eq("decline").mean()),
                "reject_rate": float(kinds.eq("reject").mean()),
                "rfqs": len(values),
            }
        )
    return pd.DataFrame(rows).set_index("dealer")
