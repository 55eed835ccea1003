"""What an RFQ is worth in the market right now: each leg's mid, the package's mark and risk, and the market state
the wait-or-split decision reads. Read-only (a selector): the venue books for the underlying, and options marked
with the desk's implied-volatility surface fitted to the market's quotes (:func:`desk.marks.mark_surface`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from desk import clock
from desk.market import SECONDS_PER_YEAR, NoVenue, underlying_reference, venue_books
from desk.marks import mark_surface
from desk.models import Instrument, InstrumentKind, VenueKind
from desk.surface import MarkSurface
from rfq.decision import MarketState
from rfq.models import RFQ, RFQLeg
from rfq.packages import PackageLeg, package_risk


class NoMarket(Exception):
    """The simulated market has not priced the RFQ's underlying yet."""


@dataclass(frozen=True)
class UnderlyingState:
    """The underlying's lit mid, its realized ``volatility`` (annualized), tightest half spread, daily volume (coins)
    and the ``surface`` its options are marked with."""

    underlying: str
    spot: float
    volatility: float
    half_spread_bps: float
    adv_coins: float
    surface: MarkSurface


@dataclass(frozen=True)
class RFQMarket:
    """``mid`` is the package's gross mark per package unit (the sum of the legs' absolute marks, quote currency;
    a single leg's mid), ``net`` its signed net premium, ``state`` the decision's market inputs (volatility of the
    gross mark, with the legs' correlation), ``leg_mids`` per leg number, ``diversification`` package sd / legs' sd."""

    underlying: str
    mid: float
    net: float
    quantity: float
    state: MarketState
    leg_mids: dict[int, float]
    diversification: float
    regime: str
    kind: str
    notional: float


def underlying_state(underlying: str) -> UnderlyingState:
    """The lit books' mid, volatility and tightest half spread, a daily volume (coins) and the options' surface."""
    books = [row for row in venue_books(underlying=underlying) if row.kind == VenueKind.LIT]
    if not books:
        raise NoMarket(f"no market for {underlying} yet")
    volume_5m = float(books[0].volume_5m)
    try:
        adv = underlying_reference(underlying).daily_volume
    except NoVenue:
        adv = volume_5m * 288.0
    return UnderlyingState(
        underlying=underlying,
        spot=float(books[0].mid),
        volatility=float(books[0].volatility),
        half_spread_bps=min(float(row.half_spread_bps) for row in books),
        adv_coins=max(adv, volume_5m * 288.0, 1.0),
        surface=mark_surface(underlying),
    )


def _underlying_code(instrument: Instrument) -> str:
    return instrument.underlying.base_currency if instrument.underlying_id else instrument.base_currency


def _years_to_expiry(instrument: Instrument, now: datetime) -> float:
    # A second at least: an option about to expire is still marked on its (vanishing) time value.
    return max(((instrument.expiry or now) - now).total_seconds(), 1.0) / SECONDS_PER_YEAR


def package_leg(leg: RFQLeg, *, now: datetime, state: UnderlyingState | None = None) -> PackageLeg:
    """The leg as :mod:`rfq.packages` describes it; with ``state``, an option leg carries its implied volatility from
    the surface it is marked with."""
    instrument = leg.instrument
    expiry = None
    vol = None
    if instrument.kind == InstrumentKind.OPTION and instrument.expiry is not None:
        expiry = max((instrument.expiry - now).total_seconds(), 0.0) / SECONDS_PER_YEAR
        if state is not None:
            strike = float(instrument.strike or state.spot)
            t = _years_to_expiry(instrument, now)
            vol = float(state.surface.vol(spot=state.spot, strike=strike, t_years=t))
    return PackageLeg(
        kind=instrument.kind,
        underlying=_underlying_code(instrument),
        side=leg.side,
        quantity=float(leg.quantity),
        ratio=leg.ratio,
        option_type=instrument.option_type,
        strike=float(instrument.strike) if instrument.strike is not None else None,
        expiry_years=expiry,
        multiplier=float(instrument.multiplier),
        implied_vol=vol,
    )


def instrument_mid(instrument: Instrument, *, spot: float, surface: MarkSurface, now: datetime) -> float:
    """Mid per contract (quote currency): the book's mid, or for an option its mark, Black–Scholes at the
    volatility of the desk's surface for its strike and expiry."""
    if instrument.kind != InstrumentKind.OPTION:
        return spot * float(instrument.multiplier)
    t = _years_to_expiry(instrument, now)
    priced = surface.price(spot=spot, strike=float(instrument.strike or spot), t_years=t, kind=instrument.option_type)
    return float(priced.price) * float(instrument.multiplier)


def instrument_reference_mid(instrument: Instrument, *, now: datetime) -> float | None:
    """Mid per contract (quote currency) to value an order in ``instrument`` at: the venue book's, else the desk's
    reference data (a typical price, before the market has written a book); None when it knows neither."""
    underlying = _underlying_code(instrument)
    try:
        state = underlying_state(underlying)
        spot, surface = state.spot, state.surface
    except NoMarket:
        try:
            reference = underlying_reference(underlying)
        except NoVenue:
            return None
        spot, surface = reference.spot, mark_surface(underlying)
    return instrument_mid(instrument, spot=spot, surface=surface, now=now)


def rfq_market(
    *, rfq: RFQ | None, legs: QuerySet[RFQLeg] | list[RFQLeg] | None = None, now: datetime | None = None
) -> RFQMarket:
    """The market now of ``rfq`` (or of unsaved ``legs``). Raises :class:`NoMarket` when the underlying has no
    book."""
    now = now or clock.now()
    if legs is None:
        if rfq is None:
            raise ValueError("rfq_market needs an RFQ or its legs")
        legs = rfq.legs.select_related("instrument__underlying")
    legs = list(legs)
    underlying = _underlying_code(legs[0].instrument)
    state = underlying_state(underlying)
    leg_mids = {
        leg.leg_no: instrument_mid(leg.instrument, spot=state.spot, surface=state.surface, now=now) for leg in legs
    }
    units = min(float(leg.quantity) / leg.ratio for leg in legs)
    # One package unit: ratio × each leg, so that the risk and the marks are per package, like a package price.
    unit_legs = [
        PackageLeg(**{**package_leg(leg, now=now, state=state).__dict__, "quantity": float(leg.ratio)}) for leg in legs
    ]
    risk = package_risk(unit_legs, spot=state.spot, vol=state.volatility, rate=state.surface.rate)
    gross = sum(abs(leg_mids[leg.leg_no]) * leg.ratio for leg in legs)
    net = sum((1 if leg.side == "buy" else -1) * leg_mids[leg.leg_no] * leg.ratio for leg in legs)
    if len(legs) == 1:
        volatility, half_spread = state.volatility, state.half_spread_bps
        if legs[0].instrument.kind == InstrumentKind.OPTION:
            volatility = risk.volatility_of_gross()
            half_spread = max(state.half_spread_bps * 10.0, 25.0)
    else:
        volatility = risk.volatility_of_gross()
        half_spread = max(state.half_spread_bps * 10.0, 25.0)
    coins_per_unit = sum(float(leg.instrument.multiplier) * leg.ratio for leg in legs)
    adv_units = state.adv_coins / max(coins_per_unit, 1e-12)
    kind = legs[0].instrument.kind if len(legs) == 1 else "package"
    return RFQMarket(
        underlying=underlying,
        mid=gross,
        net=net,
        quantity=units,
        state=MarketState(mid=gross, volatility=volatility, half_spread_bps=half_spread, adv=adv_units),
        leg_mids=leg_mids,
        diversification=risk.diversification,
        regime="normal",
        kind=kind,
        notional=gross * units,
    )
