"""The options the simulated venue lists, and the implied-volatility quotes it publishes for them.

As a crypto options venue does, the venue lists weekly expiries (Fridays, 08:00 UTC) for the next weeks, the
monthly ones (the last Friday of the month) for the next months and the quarterly ones (March, June, September,
December) further out, each on a grid of strikes around the underlying (multiples of a round step near 5 % of
the price). For each expiry and strike it quotes a volatility bid and ask: the simulator's surface, plus or minus
the surface's half spread. The desk fits its own surface to these quotes (:mod:`desk.marks`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from desk.market import SECONDS_PER_YEAR
from sim.market.simulator import MarketSimulator

WEEKLIES = 4
MONTHLIES = 3
QUARTERLIES = 3
MIN_DAYS = 1.0
"""Expiries nearer than this (days) are no longer quoted: their volatility says little about the surface."""
STRIKE_RANGE = (0.7, 1.4)
"""Strikes listed, as fractions of the underlying's price."""


@dataclass(frozen=True)
class ListedQuote:
    """One quote of the venue: the volatility bid and ask of an expiry (UTC) and a strike (USD)."""

    expiry: datetime
    strike: float
    bid_vol: float
    ask_vol: float


def _friday_8am(day: datetime) -> datetime:
    return datetime(day.year, day.month, day.day, 8, 0, tzinfo=UTC)


def _last_friday(year: int, month: int) -> datetime:
    first_next = datetime(year + month // 12, month % 12 + 1, 1, 8, 0, tzinfo=UTC)
    day = first_next - timedelta(days=1)
    while day.weekday() != 4:
        day -= timedelta(days=1)
    return day


def listed_expiries(now: datetime) -> list[datetime]:
    """The expiries listed at ``now`` (UTC-aware), at least :data:`MIN_DAYS` away, in order."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    now = now.astimezone(UTC)
    soonest = now + timedelta(days=MIN_DAYS)
    expiries: set[datetime] = set()
    friday = _friday_8am(now + timedelta(days=(4 - now.weekday()) % 7))
    while len([e for e in expiries if e >= soonest]) < WEEKLIES:
        if friday >= soonest:
            expiries.add(friday)
        friday += timedelta(days=7)
    year, month, monthlies = now.year, now.month, 0
    quarterlies = 0
    while monthlies < MONTHLIES or quarterlies < QUARTERLIES:
        expiry = _last_friday(year, month)
        if expiry >= soonest:
            if monthlies < MONTHLIES:
                expiries.add(expiry)
                monthlies += 1
            elif month % 3 == 0:
                expiries.add(expiry)
                quarterlies += 1
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return sorted(expiries)


def strike_step(spot: float) -> float:
    """A round strike step near 5 % of ``spot`` (1, 2, 2.5 or 5 times a power of ten)."""
    if not (math.isfinite(spot) and spot > 0):
        raise ValueError("spot must be a positive price")
    target = 0.05 * spot
    power = 10.0 ** math.floor(math.log10(target))
    return min((m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0)), key=lambda step: abs(step - target))


def listed_strikes(spot: float) -> list[float]:
    """The strikes listed around ``spot``: multiples of :func:`strike_step` within :data:`STRIKE_RANGE`."""
    step = strike_step(spot)
    low = math.ceil(STRIKE_RANGE[0] * spot / step)
    high = math.floor(STRIKE_RANGE[1] * spot / step)
    return [n * step for n in range(max(low, 1), high + 1)]


def vol_quotes(simulator: MarketSimulator, underlying: str) -> list[ListedQuote]:
    """The venue's volatility quotes of ``underlying`` now: one per listed expiry and strike."""
    now = simulator.now
    spot = simulator.book(underlying).mid
    expiries = listed_expiries(now)
    strikes = np.asarray(listed_strikes(spot), dtype=np.float64)
    half = simulator.config.underlying(underlying).surface.half_spread_vol
    quotes = []
    for expiry in expiries:
        t = (expiry - now).total_seconds() / SECONDS_PER_YEAR
        vols = np.atleast_1d(np.asarray(simulator.implied_vol(underlying, strikes, t), dtype=np.float64))
        for strike, vol in zip(strikes.tolist(), vols.tolist(), strict=True):
            quotes.append(ListedQuote(expiry=expiry, strike=strike, bid_vol=max(vol - half, 0.0), ask_vol=vol + half))
    return quotes
