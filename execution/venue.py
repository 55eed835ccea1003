"""The desk's side of the venues: their books as the router sees them, the routing by expected cost, and the
venue port an order is sent through.

The venues' state lives in :class:`~desk.models.VenueBook` rows (see :mod:`desk.market`), so that every process
(web, several Celery workers) trades against the same market. The functions here are pure (floats in, floats
out); :mod:`execution.services` locks the rows, routes, asks the venue for the fill and writes the result in one
transaction. The venue is configuration, not an import: :func:`venue` loads the class named by the
``DESK_VENUE`` setting (the simulated venues, :class:`sim.venues.SimulatedVenue`, in this desk). The book checks
the services apply before an order leaves (:class:`StaleBook`, :func:`venue_book_check_fresh`,
:func:`venue_books_ensure`) live with the books in :mod:`desk.market` and are re-exported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from desk.impact import ImpactConfig, impact_fractions
from desk.market import STALE_PRICE as STALE_PRICE
from desk.market import NoVenue, UnderlyingReference, underlying_reference
from desk.market import StaleBook as StaleBook
from desk.market import venue_book_check_fresh as venue_book_check_fresh
from desk.market import venue_books_ensure as venue_books_ensure
from desk.models import VenueBook, VenueKind


@dataclass(frozen=True)
class VenueQuote:
    """What a venue looks like to the router and the pricer at one instant (floats, the pure side).

    ``mid`` is the market mid in quote currency per coin, ``half_spread_bps`` the venue's own, ``depth`` coins,
    ``temporary_impact`` the signed fraction of the mid our earlier orders still displace on this venue.
    """

    venue: str
    kind: str
    mid: float
    half_spread_bps: float
    depth: float
    volatility: float
    liquidity: float
    fee_bps: float
    temporary_impact: float


@dataclass(frozen=True)
class VenueFill:
    """One order filled on a venue, and the book it leaves.

    Attributes
    ----------
    price : float
        Average price, quote currency per coin (half spread and impact included, fee not).
    fee : float
        Quote currency.
    mid_after : float
        The market mid after the order's permanent impact.
    temporary_impact_after : float
        The venue's signed temporary displacement after the order.
    depth_after : float
        The venue's depth after the order took its size (coins).
    cost_bps : float
        Signed cost against the venue's mid before the order, bps (positive is a cost), fee excluded.
    """

    price: float
    fee: float
    mid_after: float
    temporary_impact_after: float
    depth_after: float
    cost_bps: float


class Venue(Protocol):
    """The port an order leaves the desk through: a venue fills ``coins`` of ``underlying`` on the venue quoted
    by ``quote`` and says the price, the fee and what the order left in the book (which the desk then stores in
    the venue's rows, under the lock it took to quote)."""

    def fill(self, quote: VenueQuote, *, underlying: str, side: str, coins: float) -> VenueFill: ...


def venue() -> Venue:
    """The configured venue (``settings.DESK_VENUE``, a dotted path to a class built without arguments)."""
    venue_class = import_string(settings.DESK_VENUE)
    return venue_class()


def underlying_config(underlying: str) -> UnderlyingReference:
    """The desk's reference data of ``underlying`` (:func:`desk.market.underlying_reference`); :class:`NoVenue`
    when no venue trades it."""
    return underlying_reference(underlying)


def temporary_decayed(temporary_impact: float, elapsed_s: float, half_life_s: float) -> float:
    """The temporary displacement left after ``elapsed_s`` seconds of exponential decay (fraction of mid)."""
    return temporary_impact * 0.5 ** (max(elapsed_s, 0.0) / half_life_s)


def venue_expected_price(quote: VenueQuote, *, side: str, coins: float, impact: ImpactConfig) -> float:
    """The price the desk expects for ``coins`` on the venue, quote currency per coin: the venue's mid (with our
    lingering temporary impact) moved by half the spread, the order's temporary impact and half its permanent
    impact on a lit book, by half the permanent impact alone in a dark pool."""
    if not (coins > 0 and math.isfinite(coins)):
        raise ValueError("coins must be a positive finite number")
    sign = 1.0 if side == "buy" else -1.0
    temporary, permanent = impact_fractions(
        coins, config=impact, volatility=quote.volatility, liquidity=quote.liquidity
    )
    if quote.kind == VenueKind.DARK:
        cost_fraction = 0.5 * float(permanent)
    else:
        cost_fraction = quote.half_spread_bps * 1e-4 + float(temporary) + 0.5 * float(permanent)
    return quote.mid * (1.0 + quote.temporary_impact) * (1.0 + sign * cost_fraction)


def venue_expected_cost_bps(quote: VenueQuote, *, side: str, coins: float, impact: ImpactConfig) -> float:
    """Expected all-in cost of the order on the venue, bps of the market mid: spread, impact, our own lingering
    temporary impact, and the fee. ``inf`` when a dark pool's hidden size cannot take the whole order (its fill
    probability is then taken as zero)."""
    if quote.kind == VenueKind.DARK and quote.depth < coins:
        return math.inf
    price = venue_expected_price(quote, side=side, coins=coins, impact=impact)
    sign = 1.0 if side == "buy" else -1.0
    return 1e4 * sign * (price - quote.mid) / quote.mid + quote.fee_bps


def venue_route(quotes: list[VenueQuote], *, side: str, coins: float, impact: ImpactConfig) -> VenueQuote:
    """The venue with the lowest expected all-in cost; on a tie, the deeper one (more displayed liquidity).

    A dark pool is chosen only when its hidden size can fill the whole order; a lit book always fills (impact,
    not a partial fill, prices scarce depth), so there is always a lit venue to fall back on.
    """
    if not quotes:
        raise NoVenue("no venue to route to")
    return min(
        quotes, key=lambda q: (venue_expected_cost_bps(q, side=side, coins=coins, impact=impact), -q.depth, q.venue)
    )


def venue_quote(row: VenueBook, *, now: datetime) -> VenueQuote:
    """The pure view of a venue row, its temporary impact decayed to ``now`` (explicit float conversion)."""
    half_life = underlying_reference(row.underlying).impact.decay_half_life_s
    elapsed = (now - row.temporary_impact_at).total_seconds()
    return VenueQuote(
        venue=row.venue,
        kind=row.kind,
        mid=float(row.mid),
        half_spread_bps=float(row.half_spread_bps),
        depth=float(row.depth),
        volatility=float(row.volatility),
        liquidity=float(row.liquidity),
        fee_bps=float(row.fee_bps),
        temporary_impact=temporary_decayed(float(row.temporary_impact), elapsed, half_life),
    )


def coins(quantity: Decimal, multiplier: Decimal) -> float:
    """Contracts to units of the underlying, as the float the impact functions take."""
    return float(quantity * multiplier)
