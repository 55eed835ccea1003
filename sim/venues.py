"""The simulated venues: what a venue does when the desk sends it an order, and the market's ticks on its books.

:class:`SimulatedVenue` is execution's venue port (:class:`execution.venue.Venue`), selected by the
``DESK_VENUE`` setting: it fills an order at the price the simulated market's impact gives and says what the
order leaves in the book (the mid after the permanent impact, the venue's temporary displacement and depth).
:func:`venue_books_sync` writes the simulated market's ticks to the shared venue books. Impact comes from
:func:`desk.impact.impact_fractions`, the same function the in-memory simulator prices with.
"""

from __future__ import annotations

import math

from django.db.models import F

from desk import clock
from desk.fields import to_decimal
from desk.impact import ImpactConfig, impact_fractions
from desk.market import VENUES, NoVenue, venue_books_ensure
from desk.models import VenueBook, VenueKind
from execution.venue import VenueFill, VenueQuote
from sim.market import BookTop, MarketConfig

_MARKET = MarketConfig()


def venue_fill(quote: VenueQuote, *, side: str, coins: float, impact: ImpactConfig) -> VenueFill:
    """Price an order of ``coins`` on a venue as the simulator does: mid · (1 ± (half spread + temporary +
    permanent / 2)) on a lit book, the mid on a dark pool (no spread, no temporary impact); the permanent
    impact then stays in the market mid and the temporary one on the venue.

    Parameters
    ----------
    quote : VenueQuote
        The venue now (temporary impact already decayed to now).
    side : {'buy', 'sell'}
        The desk's side.
    coins : float
        Order size in units of the underlying, > 0.
    impact : ImpactConfig
        The underlying's impact coefficients.

    Returns
    -------
    VenueFill
    """
    if not (coins > 0 and math.isfinite(coins)):
        raise ValueError("coins must be a positive finite number")
    sign = 1.0 if side == "buy" else -1.0
    temporary, permanent = impact_fractions(
        coins, config=impact, volatility=quote.volatility, liquidity=quote.liquidity
    )
    temporary_f, permanent_f = float(temporary), float(permanent)
    venue_mid = quote.mid * (1.0 + quote.temporary_impact)
    if quote.kind == VenueKind.DARK:
        cost_fraction = 0.5 * permanent_f
        temporary_after = quote.temporary_impact
    else:
        cost_fraction = quote.half_spread_bps * 1e-4 + temporary_f + 0.5 * permanent_f
        # Keep the venue's price positive whatever the desk does to it (as the simulator does).
        temporary_after = max(quote.temporary_impact + sign * temporary_f, -0.95)
    price = venue_mid * (1.0 + sign * cost_fraction)
    return VenueFill(
        price=price,
        fee=abs(price * coins) * quote.fee_bps * 1e-4,
        mid_after=quote.mid * (1.0 + sign * permanent_f),
        temporary_impact_after=temporary_after,
        depth_after=max(quote.depth - coins, 0.0),
        cost_bps=1e4 * sign * (price - venue_mid) / venue_mid,
    )


class SimulatedVenue:
    """The simulated venues behind execution's venue port: an order fills at :func:`venue_fill`'s price with
    the simulated market's impact of the underlying."""

    def fill(self, quote: VenueQuote, *, underlying: str, side: str, coins: float) -> VenueFill:
        """The fill of ``coins`` on the venue of ``quote`` and the book it leaves (see :class:`VenueFill`)."""
        try:
            impact = _MARKET.underlying(underlying).impact
        except KeyError:
            raise NoVenue(f"no simulated venue trades {underlying}") from None
        return venue_fill(quote, side=side, coins=coins, impact=impact)


def venue_books_sync(*, books: list[BookTop], previous_mids: dict[str, float], volumes_5m: dict[str, float]) -> None:
    """Write one market tick to the venue rows (the market service calls it at every tick, twice a second).

    The stored mid moves by the simulator's return since the previous tick, ``mid × now / before``, in one
    ``UPDATE`` per underlying: the permanent impact our fills left in the stored mid stays, and a fill that holds
    the row lock is not overwritten (the update waits for it and applies to its result).
    """
    for book in books:
        try:
            config = _MARKET.underlying(book.underlying)
        except KeyError:
            continue
        # The desk's clock, like the fills' (wall time in a running desk; a replay's simulated time under clock_use).
        now = clock.now()
        if not VenueBook.objects.filter(underlying=book.underlying).exists():
            venue_books_ensure(underlying=book.underlying, now=now)
        before = previous_mids.get(book.underlying)
        market_spread_bps = 1e4 * (book.ask - book.bid) / (2.0 * book.mid)
        market_depth = 0.5 * (book.bid_size + book.ask_size)
        normal_depth = config.top_depth * config.volatility_reference / max(book.volatility, 1e-6)
        liquidity = min(max(market_depth / normal_depth, 0.0), 1.0)
        for spec in VENUES:
            fields: dict[str, object] = {
                "half_spread_bps": to_decimal(market_spread_bps * spec.spread_multiplier),
                "depth": to_decimal(market_depth * spec.depth_share),
                "volatility": to_decimal(book.volatility),
                "liquidity": to_decimal(liquidity),
                "volume_5m": to_decimal(volumes_5m.get(book.underlying, 0.0)),
                "updated_at": now,
                "ticked_at": now,
                "version": F("version") + 1,
            }
            # The first tick of a service adopts the simulator's mid; later ones apply its return.
            fields["mid"] = to_decimal(book.mid) if before is None else F("mid") * to_decimal(book.mid / before)
            VenueBook.objects.filter(underlying=book.underlying, venue=spec.code).update(**fields)
        previous_mids[book.underlying] = book.mid
