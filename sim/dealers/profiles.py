"""Simulated dealers: the hidden behaviour of each bot, and how it answers an RFQ and decides on last look.

The parameters here are the simulator's hidden behaviour. The desk's own logic (scoring, selection, the
wait-or-split decision) never imports this module. A dealer's true quality is not a formula of them: it is
measured by trading with the dealer (:func:`sim.dealers.population.true_costs`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class DealerProfile:
    """Hidden parameters of one simulated dealer.

    Attributes
    ----------
    pricing_noise_bps : std of the dealer's error around fair value, basis points (lower is more skilled)
    half_spread_bps : half of the dealer's bid-offer spread at zero size, basis points
    size_spread_bps_per_million : extra half-spread per million of notional (quote currency), basis points
    response_median_s, response_sigma : lognormal response time, seconds
    no_answer_prob : chance the dealer never answers an RFQ
    appetite : chance the dealer quotes at all, by instrument kind (spot, perpetual, option)
    last_look_reject_prob : chance of rejecting an accepted quote when the market did not move
    last_look_move_bps : a move against the dealer beyond this always gets rejected, basis points
    leakage_prob : chance the dealer trades ahead in the RFQ's direction after seeing it
    leak_impact_bps : how far such trading moves the mid against the desk, basis points
    max_notional : the dealer declines a leg larger than this notional, quote currency (its appetite by size)
    """

    code: str
    pricing_noise_bps: float
    half_spread_bps: float
    size_spread_bps_per_million: float
    response_median_s: float
    response_sigma: float
    no_answer_prob: float
    appetite: dict[str, float] = field(default_factory=lambda: {"spot": 1.0, "perpetual": 1.0, "option": 1.0})
    last_look_reject_prob: float = 0.02
    last_look_move_bps: float = 15.0
    leakage_prob: float = 0.0
    leak_impact_bps: float = 0.0
    max_notional: float = math.inf

    def expected_half_spread_bps(self, notional: float) -> float:
        return self.half_spread_bps + self.size_spread_bps_per_million * notional / 1e6


@dataclass(frozen=True)
class LegRequest:
    leg_no: int
    kind: str
    side: str  # the desk's side
    quantity: float
    fair_price: float
    contract_notional: float  # quote currency per contract at fair value


@dataclass(frozen=True)
class LegQuote:
    leg_no: int
    bid_price: float
    offer_price: float
    size: float


@dataclass(frozen=True)
class DealerAnswer:
    """``action`` is ``quote``, ``decline`` or ``silent``; ``delay_s`` is when it is sent."""

    action: str
    delay_s: float
    legs: tuple[LegQuote, ...] = ()
    leak_bps: float = 0.0
    reason: str = ""


def _round_to_tick(price: float, tick: float, up: bool) -> float:
    steps = price / tick
    return (math.ceil(steps - 1e-9) if up else math.floor(steps + 1e-9)) * tick


def dealer_answer(
    profile: DealerProfile, legs: list[LegRequest], rng: np.random.Generator, *, tick: float = 0.01
) -> DealerAnswer:
    """How the dealer answers an RFQ: a two-way price per leg around its (noisy) view of fair value."""
    delay = float(rng.lognormal(math.log(profile.response_median_s), profile.response_sigma))
    if rng.random() < profile.no_answer_prob:
        return DealerAnswer(action="silent", delay_s=delay)
    for leg in legs:
        if rng.random() > profile.appetite.get(leg.kind, 0.0):
            return DealerAnswer(action="decline", delay_s=delay, reason=f"no appetite for {leg.kind}")
        if leg.quantity * leg.contract_notional > profile.max_notional:
            return DealerAnswer(action="decline", delay_s=delay, reason="too large")
    leak = profile.leak_impact_bps if rng.random() < profile.leakage_prob else 0.0
    quoted = []
    for leg in legs:
        notional = leg.quantity * leg.contract_notional
        view = leg.fair_price * (1 + rng.normal(0.0, profile.pricing_noise_bps) / 1e4)
        half = leg.fair_price * profile.expected_half_spread_bps(notional) / 1e4
        bid = max(_round_to_tick(view - half, tick, up=False), tick)
        offer = max(_round_to_tick(view + half, tick, up=True), bid + tick)
        quoted.append(LegQuote(leg_no=leg.leg_no, bid_price=bid, offer_price=offer, size=leg.quantity))
    return DealerAnswer(action="quote", delay_s=delay, legs=tuple(quoted), leak_bps=leak)


def dealer_last_look(
    profile: DealerProfile, *, desk_side: str, quoted_price: float, fair_now: float, rng: np.random.Generator
) -> bool:
    """True when the dealer honours an accepted quote. A market move against the dealer beyond its threshold is
    always rejected; otherwise it rejects at its base rate."""
    # The dealer sells when the desk buys: a rising fair value hurts it, and vice versa.
    move_bps = (fair_now - quoted_price) / quoted_price * 1e4 * (1 if desk_side == "buy" else -1)
    if move_bps > profile.last_look_move_bps:
        return False
    return rng.random() >= profile.last_look_reject_prob


# The demo dealers' hidden truth (codes match desk.demo.DEMO_DEALERS). A spread of quality on purpose:
# tight and reliable, tight but leaky, wide but certain, slow, flaky, and an options specialist.
DEMO_PROFILES: dict[str, DealerProfile] = {
    p.code: p
    for p in [
        DealerProfile("ALPHA", 2.0, 4.0, 0.5, 0.4, 0.4, 0.02, last_look_reject_prob=0.01),
        DealerProfile("BRAVO", 3.0, 3.5, 0.8, 0.6, 0.5, 0.05, leakage_prob=0.6, leak_impact_bps=12.0),
        DealerProfile("CHARLIE", 6.0, 9.0, 1.0, 0.8, 0.5, 0.01, last_look_reject_prob=0.0),
        DealerProfile("DELTA", 4.0, 6.0, 1.5, 2.5, 0.6, 0.10, last_look_reject_prob=0.05),
        DealerProfile("ECHO", 8.0, 7.0, 2.0, 0.5, 0.4, 0.25, last_look_reject_prob=0.15),
        DealerProfile(
            "FOXTROT", 5.0, 5.0, 1.0, 1.0, 0.5, 0.05, appetite={"spot": 0.9, "perpetual": 0.9, "option": 0.2}
        ),
        DealerProfile("GOLF", 2.5, 5.0, 0.7, 1.2, 0.5, 0.05, appetite={"spot": 0.3, "perpetual": 0.3, "option": 1.0}),
        DealerProfile("HOTEL", 10.0, 12.0, 3.0, 1.5, 0.7, 0.15, leakage_prob=0.3, leak_impact_bps=8.0),
    ]
}
