"""Simulated RFQ episodes for the backtest: what the market and the dealers would do after each RFQ.

An episode is generated once, from the seeded market (:class:`~sim.market.MarketSimulator`, with a named
scenario laid over it on repeat) and the dealer bots (:func:`sim.dealers.profiles.dealer_answer`, their hidden
profiles), through the world of :mod:`sim.scoring` (fair values, leakage shifts, tick rounding). It
holds everything any policy could ever see: each asked dealer's answer (time, price, size), the mid path sampled
at every answer and on a grid until the RFQ expires, the venue's half spread, volatility and liquidity along it,
and the seed of each dealer's last-look draw. Replaying the same episodes under every policy makes the
comparison paired. Episodes carry the dealers' hidden profiles only to play their last look; policies never
receive them (see :mod:`sim.backtest.core`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np

from desk.impact import impact_fractions
from sim.dealers.profiles import DealerProfile, LegRequest, dealer_answer, dealer_last_look
from sim.market import SCENARIOS, ImpactConfig, MarketSimulator, scenario_start
from sim.scoring import LEAK_DELAY_S, InstrumentTerms, ScoringWorld, instrument_terms, price_to_tick

HORIZON_S = 30.0
"""Seconds an RFQ stays open (its expiry): every policy has finished by then."""
QUOTE_VALIDITY_S = 15.0
"""Seconds a quote stays valid after it arrives."""
ANSWER_WINDOW_S = 8.0
"""Seconds after which the desk looks at the book even if no dealer has answered."""
DRIFT_LOOKBACK_S = 60.0
"""Seconds of mid history before the RFQ kept for the drift estimate."""
SCENARIO_UNDERLYING = "BTC"


@dataclass(frozen=True)
class InstrumentSpec:
    """What the backtest needs of an instrument: symbol, kind, underlying code, tick and lot, contract multiplier."""

    symbol: str
    kind: str
    underlying: str
    tick: float
    lot: Decimal
    multiplier: float = 1.0


DEMO_INSTRUMENTS: tuple[InstrumentSpec, ...] = (
    InstrumentSpec("BTC-USD", "spot", "BTC", 0.01, Decimal("0.0001")),
    InstrumentSpec("BTC-PERP", "perpetual", "BTC", 0.1, Decimal("0.0001")),
    InstrumentSpec("ETH-USD", "spot", "ETH", 0.01, Decimal("0.001")),
    InstrumentSpec("ETH-PERP", "perpetual", "ETH", 0.1, Decimal("0.001")),
)
"""The demo desk's spot and perpetual instruments (``desk.demo``), for runs without a database."""


@dataclass(frozen=True)
class Answer:
    """One dealer's answer: ``action`` is ``quote`` or ``decline``, ``at_s`` seconds after the RFQ. ``price`` is the
    desk's side of the quote (offer when it buys, bid when it sells), ``bid``/``offer`` both sides on the tick,
    ``size`` contracts. ``profile`` and ``last_look_seed`` play the dealer's hidden last look."""

    dealer: str
    action: str
    at_s: float
    profile: DealerProfile
    last_look_seed: int
    price: float = 0.0
    bid: Decimal | None = None
    offer: Decimal | None = None
    size: float = 0.0


@dataclass(frozen=True)
class Episode:
    """One RFQ and everything that would follow it.

    Attributes
    ----------
    index : position in the run
    instrument : the instrument's spec; ``side`` the desk's side; ``quantity`` contracts (whole lots)
    sent_at : simulated send time, UTC
    arrival_mid : the instrument's fair value when the RFQ is sent (the benchmark), quote ccy
    notional : quantity × arrival mid × multiplier, quote ccy
    asked : dealer codes asked, in order
    answers : answers in time order (silent dealers have none)
    times : sample times, seconds after the RFQ (sorted, from 0 to the horizon; every answer time is one)
    mids : the fair value at each sample (leakage included), quote ccy
    half_spread_bps, volatility, liquidity : the venue at each sample (bps, annualized, 0 to 1)
    mid_before : the fair value :data:`DRIFT_LOOKBACK_S` seconds before the RFQ (observable history)
    impact : the venue's impact model of the underlying (the desk's calibrated cost model of its algorithms)
    """

    index: int
    instrument: InstrumentSpec
    side: str
    quantity: float
    sent_at: datetime
    arrival_mid: float
    notional: float
    asked: tuple[str, ...]
    answers: tuple[Answer, ...]
    times: np.ndarray
    mids: np.ndarray
    half_spread_bps: np.ndarray
    volatility: np.ndarray
    liquidity: np.ndarray
    mid_before: float
    impact: ImpactConfig

    @property
    def sign(self) -> float:
        return 1.0 if self.side == "buy" else -1.0

    def sample(self, t: float) -> int:
        """Index of the last sample at or before ``t`` seconds (the market as last seen)."""
        return max(int(np.searchsorted(self.times, t + 1e-9, side="right")) - 1, 0)

    def bps(self, price: float) -> float:
        """Cost to the desk of trading at ``price``, bps of the arrival mid."""
        return self.sign * (price - self.arrival_mid) / self.arrival_mid * 1e4

    def honoured(self, answer: Answer, t: float) -> bool:
        """The dealer's last look (its hidden rule, its own fixed draw) on an acceptance at ``t`` seconds."""
        return dealer_last_look(
            answer.profile,
            desk_side=self.side,
            quoted_price=answer.price,
            fair_now=float(self.mids[self.sample(t)]),
            rng=np.random.default_rng(answer.last_look_seed),
        )

    def impact_bps(self, quantity: float, t: float) -> tuple[float, float]:
        """Temporary and permanent impact (bps) of ``quantity`` contracts executed at ``t`` (the venue's model)."""
        i = self.sample(t)
        temporary, permanent = impact_fractions(
            quantity * self.instrument.multiplier,
            config=self.impact,
            volatility=float(self.volatility[i]),
            liquidity=float(self.liquidity[i]),
        )
        return float(temporary) * 1e4, float(permanent) * 1e4

    def algo_cost_path_bps(self, quantity: float) -> np.ndarray:
        """:meth:`algo_cost_bps` of ``quantity`` at every sample at once."""
        if quantity <= 0:
            return np.zeros(len(self.times))
        # The venue's impact at unit scale, then scaled by volatility and liquidity as impact_fractions scales it.
        temporary, permanent = impact_fractions(
            quantity * self.instrument.multiplier,
            config=self.impact,
            volatility=self.impact.volatility_reference,
            liquidity=1.0,
        )
        scale = (self.volatility / self.impact.volatility_reference) / np.maximum(
            self.liquidity, self.impact.liquidity_floor
        )
        cap = self.impact.max_impact
        impact = np.minimum(float(temporary) * scale, cap) + 0.5 * np.minimum(float(permanent) * scale, cap)
        moved = self.sign * (self.mids - self.arrival_mid) / self.arrival_mid * 1e4
        return moved + self.half_spread_bps + impact * 1e4

    def algo_cost_bps(self, quantity: float, t: float) -> float:
        """Realized cost (bps of the arrival mid, for those contracts) of finishing ``quantity`` at the venue at ``t``:
        the mid's move since arrival, the half spread, the temporary impact and half the permanent one — the price
        the simulated venue gives one child order (:meth:`MarketSimulator.execute`)."""
        if quantity <= 0:
            return 0.0
        i = self.sample(t)
        temporary, permanent = self.impact_bps(quantity, t)
        return self.bps(float(self.mids[i])) + float(self.half_spread_bps[i]) + temporary + 0.5 * permanent


@dataclass(frozen=True)
class _InstrumentStub:
    """The one attribute of an Instrument that the simulation's world reads for spot and perpetuals."""

    symbol: str


class _QuietWorld(ScoringWorld):
    """The simulation's world without its per-step record of mids (the episodes keep their own samples)."""

    def _record(self) -> None:
        return None


def _world_terms(spec: InstrumentSpec) -> InstrumentTerms:
    return InstrumentTerms(
        instrument=_InstrumentStub(spec.symbol),  # type: ignore[arg-type]
        kind=spec.kind,
        underlying=spec.underlying,
        tick=spec.tick,
        lot=spec.lot,
        multiplier=spec.multiplier,
    )


def instrument_spec(instrument: object) -> InstrumentSpec:
    """The spec of a stored :class:`desk.models.Instrument` (spot or perpetual)."""
    terms = instrument_terms(instrument)  # type: ignore[arg-type]
    return InstrumentSpec(
        symbol=instrument.symbol,  # type: ignore[attr-defined]
        kind=terms.kind,
        underlying=terms.underlying,
        tick=terms.tick,
        lot=terms.lot,
        multiplier=terms.multiplier,
    )


def _sample_times(answer_times: Sequence[float]) -> np.ndarray:
    grid = np.concatenate([np.arange(0.0, 10.0, 0.5), np.arange(10.0, HORIZON_S + 1e-9, 1.0), [LEAK_DELAY_S]])
    return np.unique(np.round(np.concatenate([grid, np.asarray(answer_times, dtype=float)]), 1))


def episodes_generate(
    *,
    n: int,
    seed: int,
    profiles: dict[str, DealerProfile],
    instruments: Sequence[InstrumentSpec] = DEMO_INSTRUMENTS,
    scenario: str | None = None,
    notional_range: tuple[float, float] = (5e4, 5e6),
    mean_gap_s: float = 15.0,
    dealers_per_rfq: tuple[int, int] = (3, 5),
    start: datetime | None = None,
) -> list[Episode]:
    """Generate ``n`` RFQ episodes on a fresh market seeded ``seed`` (the same arguments give the same episodes).

    Parameters
    ----------
    n : number of RFQs
    seed : seed of the market, the RFQs (instrument, size, side, dealers asked) and the dealers' draws
    profiles : the simulated dealers' hidden parameters, by code (the dealers that may be asked)
    instruments : instruments RFQs are drawn from, uniformly; with a scenario only those on its underlying
    scenario : a key of :data:`sim.market.SCENARIOS`, laid over the market again whenever it ends, so that
        every RFQ meets the scenario at some phase
    notional_range : smallest and largest notional, quote ccy, drawn log-uniformly
    mean_gap_s : mean quiet time between one RFQ's expiry and the next RFQ, seconds (plus 5 s)
    dealers_per_rfq : fewest and most dealers asked, drawn uniformly (the desk's exploring selection)
    start : simulated start, UTC (the market's default if omitted)
    """
    if scenario is not None and scenario not in SCENARIOS:
        raise KeyError(f"unknown scenario {scenario!r}; known: {', '.join(sorted(SCENARIOS))}")
    if scenario is not None:
        instruments = [spec for spec in instruments if spec.underlying == SCENARIO_UNDERLYING]
    if not instruments:
        raise ValueError("no instrument to trade")
    rng = np.random.default_rng([seed, 41])
    market = MarketSimulator(seed, start=start)
    terms = [_world_terms(spec) for spec in instruments]
    world = _QuietWorld(market, terms)
    codes = sorted(profiles)
    impact = {u: market.config.underlyings[i].impact for i, u in enumerate(market.underlyings)}
    log_low, log_high = math.log(notional_range[0]), math.log(notional_range[1])
    scenario_end: datetime | None = None
    history: dict[str, deque[tuple[datetime, float]]] = {spec.symbol: deque(maxlen=64) for spec in instruments}

    def advance(seconds: float) -> None:
        # Stepped in slices of at most 5 s so that the mid history before each RFQ is sampled.
        target = market.now + timedelta(seconds=round(seconds, 1))
        while market.now < target - timedelta(milliseconds=50):
            world.advance_to(min(target, market.now + timedelta(seconds=5.0)))
            for spec, term in zip(instruments, terms, strict=True):
                history[spec.symbol].append((market.now, world.fair(term)))

    advance(DRIFT_LOOKBACK_S)
    episodes: list[Episode] = []
    for index in range(n):
        if scenario is not None and (scenario_end is None or market.now >= scenario_end):
            laid = scenario_start(market, scenario, underlying=SCENARIO_UNDERLYING)
            scenario_end = laid.end
        advance(5.0 + rng.exponential(mean_gap_s))
        pick = int(rng.integers(len(instruments)))
        spec, term = instruments[pick], terms[pick]
        episodes.append(
            _episode(
                index=index,
                world=world,
                spec=spec,
                term=term,
                notional=math.exp(rng.uniform(log_low, log_high)),
                side="buy" if rng.random() < 0.5 else "sell",
                asked=_dealers_pick(codes, rng, dealers_per_rfq),
                profiles=profiles,
                rng=rng,
                history=history[spec.symbol],
                impact=impact[spec.underlying],
            )
        )
        advance(HORIZON_S - (market.now - episodes[-1].sent_at).total_seconds())
    return episodes


def _dealers_pick(codes: list[str], rng: np.random.Generator, bounds: tuple[int, int]) -> tuple[str, ...]:
    k = min(len(codes), int(rng.integers(bounds[0], bounds[1] + 1)))
    return tuple(codes[i] for i in sorted(rng.choice(len(codes), size=k, replace=False)))


def _episode(
    *,
    index: int,
    world: ScoringWorld,
    spec: InstrumentSpec,
    term: InstrumentTerms,
    notional: float,
    side: str,
    asked: tuple[str, ...],
    profiles: dict[str, DealerProfile],
    rng: np.random.Generator,
    history: deque[tuple[datetime, float]],
    impact: ImpactConfig,
) -> Episode:
    market = world.market
    t0 = market.now
    fair = world.fair(term)
    lots = (Decimal(repr(notional / (fair * spec.multiplier))) / spec.lot).quantize(Decimal(1), rounding="ROUND_DOWN")
    quantity = float(max(lots, Decimal(1)) * spec.lot)
    leg = LegRequest(
        leg_no=1,
        kind=spec.kind,
        side=side,
        quantity=quantity,
        fair_price=1.0,
        contract_notional=fair * spec.multiplier,
    )
    drawn = []
    leak_bps = 0.0
    for code in asked:
        answer = dealer_answer(profiles[code], [leg], rng, tick=1e-12)
        leak_bps += answer.leak_bps
        drawn.append((code, answer, int(rng.integers(2**31))))
    answer_times = [round(a.delay_s, 1) for _, a, _ in drawn if a.action != "silent" and a.delay_s <= HORIZON_S]
    times = _sample_times(answer_times)
    mids, spreads, vols, liquidity = [], [], [], []
    for t in times:
        world.advance_to(t0 + timedelta(seconds=float(t)))
        if t == LEAK_DELAY_S and leak_bps:
            world.leak(spec.underlying, (1.0 if side == "buy" else -1.0) * leak_bps)
        book = market.book(spec.underlying)
        mids.append(world.fair(term))
        spreads.append((book.ask - book.bid) / 2.0 / book.mid * 1e4)
        vols.append(book.volatility)
        liquidity.append(market.effects(spec.underlying).liquidity)
    mids_a = np.asarray(mids)
    answers = []
    for code, answer, last_look_seed in drawn:
        if answer.action == "silent" or answer.delay_s > HORIZON_S:
            continue
        at = round(answer.delay_s, 1)
        declined = Answer(
            dealer=code, action=answer.action, at_s=at, profile=profiles[code], last_look_seed=last_look_seed
        )
        if answer.action == "decline":
            answers.append(declined)
            continue
        fair_then = float(mids_a[int(np.searchsorted(times, at + 1e-9, side="right")) - 1])
        bid = price_to_tick(answer.legs[0].bid_price * fair_then, spec.tick, up=False)
        offer = max(
            price_to_tick(answer.legs[0].offer_price * fair_then, spec.tick, up=True), bid + Decimal(str(spec.tick))
        )
        price = float(offer if side == "buy" else bid)
        answers.append(replace(declined, price=price, bid=bid, offer=offer, size=quantity))
    answers.sort(key=lambda a: (a.at_s, a.dealer))
    before = [mid for when, mid in history if (t0 - when).total_seconds() >= DRIFT_LOOKBACK_S - 1e-6]
    return Episode(
        index=index,
        instrument=spec,
        side=side,
        quantity=quantity,
        sent_at=t0,
        arrival_mid=fair,
        notional=quantity * fair * spec.multiplier,
        asked=asked,
        answers=tuple(answers),
        times=times,
        mids=mids_a,
        half_spread_bps=np.asarray(spreads),
        volatility=np.asarray(vols),
        liquidity=np.asarray(liquidity),
        mid_before=before[-1] if before else fair,
        impact=impact,
    )
