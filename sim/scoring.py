"""Book simulated RFQ history through the desk's own services, so that dealer scoring learns from the database.

The driver plays both sides: the desk (choose dealers, wait for answers, take the best quote) and the simulated
dealers (:func:`sim.dealers.profiles.dealer_answer` and :func:`~sim.dealers.profiles.dealer_last_look`, with their
hidden profiles). Every write goes through :mod:`rfq.services`, in process, with its audit event, exactly as the live
desk books it. This module (and the tests) may import the simulator's hidden truth; the scoring code never does.

Time is simulated: a :class:`~sim.market.MarketSimulator` is stepped from event to event (answers, the
decision, markout horizons), and the desk clock (:mod:`desk.clock`, which the services and the ``auto_now`` stamps
read) is set to the simulated time for this context only: another thread of a running desk keeps the wall clock.
The audit trail keeps wall-clock time: it records when an event was booked.

A dealer who leaks trades ahead of the desk right after it sees the RFQ: the mid of the RFQ's underlying moves
``leak_bps`` against the desk from then on (a permanent shift kept beside the simulator's own mid). Where the
world's order flow is informed (``flow_drift_bps_per_s``), the mid also drifts against the desk for
:data:`FLOW_DRIFT_HORIZON_S` after each RFQ goes out, and the market is sampled every
:data:`FLOW_SAMPLE_STEP_S` over that time so that the desk's mids see the drift.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

import numpy as np
import pandas as pd

from desk.clock import clock_use
from desk.models import Instrument, InstrumentKind
from rfq.models import Counterparty, CounterpartyStatus, Quote, Side
from rfq.services import (
    LegInput,
    QuoteLegInput,
    QuoteRefused,
    dealer_order_fill,
    dealer_order_reject,
    quote_accept,
    quote_receive,
    quote_request_decline,
    rfq_create,
    rfq_send,
)
from sim.dealers.profiles import DealerProfile, LegRequest, dealer_answer, dealer_last_look
from sim.market import MarketSimulator

ANSWER_WINDOW_S = 8.0
"""Seconds the simulated desk waits for answers before it takes the best quote."""
QUOTE_VALIDITY_S = 15.0
"""Seconds a simulated quote stays valid after it is sent."""
LEAK_DELAY_S = 0.3
"""Seconds after the RFQ at which a leaking dealer trades ahead."""
MARKOUT_STEPS_S: tuple[float, ...] = (1.0, 10.0, 60.0)
"""Horizons after the RFQ and after the fill at which the market is sampled, seconds."""

FLOW_DRIFT_HORIZON_S = 30.0
"""Seconds after an RFQ during which informed flow moves the mid against the desk."""
FLOW_SAMPLE_STEP_S = 2.0
"""Seconds between the market samples taken while informed flow drifts the mid."""

DealerChooser = Callable[["RFQContext", list[Counterparty], np.random.Generator], list[Counterparty]]


@dataclass(frozen=True)
class RFQContext:
    """What the simulated desk knows when it chooses dealers: instrument class, size, market state."""

    instrument: str
    kind: str
    side: str
    quantity: float
    notional: float
    mid: float
    regime: str
    volatility: float
    sent_at: datetime


@dataclass(frozen=True)
class SimulationResult:
    """What a simulation booked, and the market it saw.

    Attributes
    ----------
    rfqs : number of RFQs booked (an RFQ no dealer could be asked for is skipped)
    mids : ``time`` (UTC), ``instrument``, ``mid`` (quote ccy per contract, leakage included), ``regime`` (name),
        ``volatility`` (annualized) and ``half_spread_bps`` (the venue's): the market at every simulated step, for
        features, markouts and what a fallback to the venue costs
    start, end : simulated time of the first RFQ and of the last market step, UTC
    """

    rfqs: int
    mids: pd.DataFrame
    start: datetime
    end: datetime


class SimulatedClock:
    """The simulated time a booking runs at (set by whoever steps the simulation), a :mod:`desk.clock` source."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@contextmanager
def simulated_clock(clock: SimulatedClock) -> Iterator[None]:
    """Make the desk's services and ``auto_now`` stamps read ``clock.now`` in the current context (thread or task)
    only, until the block ends."""
    with clock_use(clock):
        yield


@dataclass(frozen=True)
class InstrumentTerms:
    """What the simulated world needs of an instrument to price it and size an RFQ in it."""

    instrument: Instrument
    kind: str
    underlying: str
    tick: float
    lot: Decimal
    multiplier: float


def instrument_terms(instrument: Instrument) -> InstrumentTerms:
    """The terms of ``instrument`` (an option's underlying is its underlying instrument's base currency)."""
    underlying = instrument.underlying.base_currency if instrument.underlying_id else instrument.base_currency
    return InstrumentTerms(
        instrument=instrument,
        kind=instrument.kind,
        underlying=underlying,
        tick=float(instrument.tick_size),
        lot=instrument.lot_size,
        multiplier=float(instrument.multiplier),
    )


class ScoringWorld:
    """The simulated market plus the dealers' leakage, sampled at each step."""

    def __init__(self, market: MarketSimulator, terms: Sequence[InstrumentTerms]) -> None:
        self.market = market
        self.terms = list(terms)
        self.shift: dict[str, float] = dict.fromkeys(market.underlyings, 0.0)
        self.drifts: list[tuple[str, float, datetime, datetime]] = []
        self.rows: list[tuple[datetime, str, float, str, float, float]] = []
        self._record()

    def fair(self, terms: InstrumentTerms) -> float:
        factor = math.exp(self.shift[terms.underlying])
        if terms.kind == InstrumentKind.PERPETUAL:
            return self.market.perpetual(terms.underlying).mark * factor
        if terms.kind == InstrumentKind.OPTION:
            instrument = terms.instrument
            quote = self.market.option(
                terms.underlying, float(instrument.strike), instrument.expiry, instrument.option_type
            )
            spot = self.market.book(terms.underlying).mid
            return max(quote.price + quote.delta * spot * (factor - 1.0), terms.tick)
        return self.market.book(terms.underlying).mid * factor

    def _record(self) -> None:
        now = self.market.now
        for terms in self.terms:
            book = self.market.book(terms.underlying)
            half_spread_bps = (book.ask - book.bid) / 2 / book.mid * 1e4
            self.rows.append(
                (now, terms.instrument.symbol, self.fair(terms), book.regime_name, book.volatility, half_spread_bps)
            )

    def advance_to(self, at: datetime) -> None:
        seconds = round((at - self.market.now).total_seconds(), 1)
        if seconds > 0:
            before = self.market.now
            self.market.step(seconds)
            for underlying, bps_per_s, start, end in self.drifts:
                overlap = (min(end, self.market.now) - max(start, before)).total_seconds()
                if overlap > 0:
                    self.shift[underlying] += bps_per_s * overlap / 1e4
            self._record()

    def drift(self, underlying: str, bps_per_s: float, seconds: float) -> None:
        """Move ``underlying``'s mid by ``bps_per_s`` (signed) for the next ``seconds``, on top of the market."""
        now = self.market.now
        self.drifts = [d for d in self.drifts if d[3] > now]
        self.drifts.append((underlying, bps_per_s, now, now + timedelta(seconds=seconds)))

    def leak(self, underlying: str, bps: float) -> None:
        self.shift[underlying] += bps / 1e4
        # A second sample at the same time: the mid from now on includes the leak (as-of joins take the last).
        self._record()

    def mids(self) -> pd.DataFrame:
        frame = pd.DataFrame(
            self.rows, columns=["time", "instrument", "mid", "regime", "volatility", "half_spread_bps"]
        )
        frame["time"] = pd.to_datetime(frame["time"], utc=True)
        return frame


def dealers_random(context: RFQContext, eligible: list[Counterparty], rng: np.random.Generator) -> list[Counterparty]:
    """The exploring desk: three to five eligible dealers at random (uniform), whatever their record."""
    del context
    k = min(len(eligible), int(rng.integers(3, 6)))
    picks = rng.choice(len(eligible), size=k, replace=False)
    return [eligible[i] for i in sorted(picks)]


def price_to_tick(price: float, tick: float, up: bool) -> Decimal:
    """``price`` rounded to a whole number of ``tick`` (up or down), at least one tick."""
    step = Decimal(str(tick))
    units = (Decimal(repr(price)) / step).quantize(Decimal(1), rounding=ROUND_UP if up else ROUND_DOWN)
    return max(units, Decimal(1)) * step


def _quantity(notional: float, fair: float, terms: InstrumentTerms) -> Decimal:
    raw = Decimal(repr(notional / (fair * terms.multiplier)))
    lots = (raw / terms.lot).quantize(Decimal(1), rounding=ROUND_DOWN)
    return max(lots, Decimal(1)) * terms.lot


@dataclass
class _Answer:
    dealer: Counterparty
    profile: DealerProfile
    action: str
    at: datetime
    bid: Decimal | None = None
    offer: Decimal | None = None
    quote: Quote | None = None


def scoring_simulate(
    *,
    n_rfqs: int,
    seed: int,
    dealers: Sequence[Counterparty],
    profiles: Mapping[str, DealerProfile],
    instruments: Sequence[Instrument],
    actor: Any,
    choose: DealerChooser = dealers_random,
    market: MarketSimulator | None = None,
    notional_range: tuple[float, float] = (5e4, 5e6),
    mean_gap_s: float = 30.0,
    flow_drift_bps_per_s: float = 0.0,
) -> SimulationResult:
    """Book ``n_rfqs`` simulated single-instrument RFQs through :mod:`rfq.services` and return the market seen.

    Parameters
    ----------
    n_rfqs : number of RFQs to book
    seed : seed of the desk's and the dealers' random choices (the market has its own seed)
    dealers : the counterparties that may be asked; each needs a profile in ``profiles``
    profiles : the simulated dealers' hidden parameters, by counterparty code
    instruments : the instruments RFQs are drawn from, uniformly
    actor : the trader who creates and accepts
    choose : the desk's dealer selection, given the RFQ's context and the eligible dealers
    market : the market to step (a fresh ``MarketSimulator(seed)`` if omitted); its clock is the desk's clock
    notional_range : smallest and largest notional, quote currency; drawn log-uniformly
    mean_gap_s : mean quiet time between the last markout of an RFQ and the next RFQ, seconds
    flow_drift_bps_per_s : how fast the mid moves against the desk after each RFQ (informed flow), bps per second
    """
    rng = np.random.default_rng([seed, 7])
    market = market or MarketSimulator(seed)
    terms = [instrument_terms(instrument) for instrument in instruments]
    world = ScoringWorld(market, terms)
    clock = SimulatedClock(market.now)
    start = market.now
    log_low, log_high = math.log(notional_range[0]), math.log(notional_range[1])
    booked = 0
    with simulated_clock(clock):
        for _ in range(n_rfqs):
            world.advance_to(market.now + timedelta(seconds=round(5 + rng.exponential(mean_gap_s), 1)))
            booked += _one_rfq(
                world=world,
                clock=clock,
                terms=terms[int(rng.integers(len(terms)))],
                notional=math.exp(rng.uniform(log_low, log_high)),
                side=Side.BUY if rng.random() < 0.5 else Side.SELL,
                dealers=dealers,
                profiles=profiles,
                choose=choose,
                actor=actor,
                rng=rng,
                flow_drift_bps_per_s=flow_drift_bps_per_s,
            )
    return SimulationResult(rfqs=booked, mids=world.mids(), start=start, end=market.now)


def _one_rfq(
    *,
    world: ScoringWorld,
    clock: SimulatedClock,
    terms: InstrumentTerms,
    notional: float,
    side: str,
    dealers: Sequence[Counterparty],
    profiles: Mapping[str, DealerProfile],
    choose: DealerChooser,
    actor: Any,
    rng: np.random.Generator,
    flow_drift_bps_per_s: float = 0.0,
) -> bool:
    """Book one RFQ from send to fill (or to the last reject); False when no dealer was eligible or chosen."""
    market = world.market
    t0 = market.now
    clock.now = t0
    fair = world.fair(terms)
    quantity = _quantity(notional, fair, terms)
    book = market.book(terms.underlying)
    context = RFQContext(
        instrument=terms.instrument.symbol,
        kind=terms.kind,
        side=side,
        quantity=float(quantity),
        notional=float(quantity) * fair * terms.multiplier,
        mid=fair,
        regime=book.regime_name,
        volatility=book.volatility,
        sent_at=t0,
    )
    eligible = [d for d in dealers if d.status == CounterpartyStatus.ACTIVE and d.quotes_kind(terms.kind)]
    chosen = choose(context, eligible, rng) if eligible else []
    if not chosen:
        return False
    rfq = rfq_create(
        legs=[LegInput(instrument=terms.instrument, side=side, quantity=quantity)],
        actor=actor,
        expires_in=timedelta(seconds=30),
    )
    requests = {r.dealer_id: r for r in rfq_send(rfq=rfq, dealers=list(chosen), actor=actor)}
    if flow_drift_bps_per_s:
        sign = 1.0 if side == Side.BUY else -1.0
        world.drift(terms.underlying, sign * flow_drift_bps_per_s, FLOW_DRIFT_HORIZON_S)

    # Each dealer decides at once; its price is relative to fair value, applied to the fair value when it answers.
    leg = LegRequest(
        leg_no=1,
        kind=terms.kind,
        side=side,
        quantity=float(quantity),
        fair_price=1.0,
        contract_notional=fair * terms.multiplier,
    )
    answers: list[_Answer] = []
    for dealer in chosen:
        profile = profiles[dealer.code]
        answer = dealer_answer(profile, [leg], rng, tick=1e-12)
        at = t0 + timedelta(seconds=round(answer.delay_s, 1))
        if answer.leak_bps:
            sign = 1.0 if side == Side.BUY else -1.0
            world.advance_to(t0 + timedelta(seconds=LEAK_DELAY_S))
            world.leak(terms.underlying, sign * answer.leak_bps)
        item = _Answer(dealer=dealer, profile=profile, action=answer.action, at=at)
        if answer.action == "quote":
            item.bid, item.offer = Decimal(repr(answer.legs[0].bid_price)), Decimal(repr(answer.legs[0].offer_price))
        answers.append(item)

    window_end = t0 + timedelta(seconds=ANSWER_WINDOW_S)
    arriving = sorted((a for a in answers if a.action != "silent" and a.at <= window_end), key=lambda a: a.at)
    for answer in arriving:
        world.advance_to(answer.at)
        clock.now = max(answer.at, market.now)
        request = requests[answer.dealer.pk]
        if answer.action == "decline":
            quote_request_decline(dealer=answer.dealer, quote_req_id=request.quote_req_id, reason="no appetite")
            continue
        fair_now = world.fair(terms)
        bid = price_to_tick(float(answer.bid) * fair_now, terms.tick, up=False)
        offer = max(price_to_tick(float(answer.offer) * fair_now, terms.tick, up=True), bid + Decimal(str(terms.tick)))
        answer.quote = quote_receive(
            dealer=answer.dealer,
            quote_req_id=request.quote_req_id,
            quote_id=f"{rfq.reference}-{answer.dealer.code}",
            legs=[QuoteLegInput(leg_no=1, bid_price=bid, bid_size=quantity, offer_price=offer, offer_size=quantity)],
            valid_until=clock.now + timedelta(seconds=QUOTE_VALIDITY_S),
        )
        answer.bid, answer.offer = bid, offer

    quoted = [a for a in arriving if a.quote is not None]
    everyone_answered = len(arriving) == len(chosen)
    decided_at = max((a.at for a in arriving), default=t0) if everyone_answered else window_end
    world.advance_to(decided_at)
    clock.now = max(decided_at, market.now)
    filled_at = None
    # The desk takes the best price; on a last-look reject it goes to the next best live quote.
    for answer in sorted(quoted, key=lambda a: a.offer if side == Side.BUY else -a.bid):
        price = answer.offer if side == Side.BUY else answer.bid
        try:
            order = quote_accept(quote=answer.quote, actor=actor)
        except QuoteRefused:
            continue
        honoured = dealer_last_look(
            answer.profile, desk_side=side, quoted_price=float(price), fair_now=world.fair(terms), rng=rng
        )
        if honoured:
            dealer_order_fill(
                dealer=answer.dealer, cl_ord_id=order.cl_ord_id, exec_id=order.cl_ord_id, quantity=quantity, price=price
            )
            filled_at = clock.now
            break
        dealer_order_reject(dealer=answer.dealer, cl_ord_id=order.cl_ord_id, reason="last look")
    horizons = [t0 + timedelta(seconds=h) for h in MARKOUT_STEPS_S]
    if filled_at is not None:
        horizons += [filled_at + timedelta(seconds=h) for h in MARKOUT_STEPS_S]
    if flow_drift_bps_per_s:
        steps = int(FLOW_DRIFT_HORIZON_S / FLOW_SAMPLE_STEP_S)
        horizons += [t0 + timedelta(seconds=FLOW_SAMPLE_STEP_S * k) for k in range(1, steps + 1)]
    for at in sorted(horizons):
        world.advance_to(at)
    return True
