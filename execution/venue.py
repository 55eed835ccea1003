"""The simulated venues: two lit books and a dark midpoint pool per underlying, their pricing and the router.

The venues' state lives in :class:`~execution.models.VenueBook` rows, so that every process (web, several Celery
workers) trades against the same market. The pricing and routing functions here are pure (floats in, floats out);
:mod:`execution.services` locks the rows, calls them and writes the result in one transaction. Impact comes from
:func:`execution.market.impact_fractions`, the same function the in-memory simulator prices with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F

from desk.fields import to_decimal
from execution.market import BookTop, ImpactConfig, MarketConfig, UnderlyingConfig, impact_fractions
from execution.models import VenueBook, VenueKind

# Volume of the participation window the risk check reads (the last 5 minutes), seconds.
VOLUME_WINDOW_S = 300.0
_MARKET = MarketConfig()


@dataclass(frozen=True)
class VenueSpec:
    """Static terms of one venue.

    Attributes
    ----------
    code : str
        Venue code, stored on the child order and in the fill's exec id.
    kind : {'lit', 'dark'}
        A lit book charges half the spread and takes temporary impact; a dark pool fills at the mid when its
        hidden size can take the whole order.
    fee_bps : float
        Fee, basis points of the notional.
    spread_multiplier : float
        The venue's half spread over the market's (0 in a midpoint pool).
    depth_share : float
        The venue's share of the market's top-of-book depth (of its hidden size for a dark pool).
    """

    code: str
    kind: str
    fee_bps: float
    spread_multiplier: float
    depth_share: float


VENUES: tuple[VenueSpec, ...] = (
    VenueSpec("LIT-A", VenueKind.LIT, fee_bps=2.0, spread_multiplier=1.0, depth_share=0.6),
    VenueSpec("LIT-B", VenueKind.LIT, fee_bps=1.0, spread_multiplier=1.25, depth_share=0.4),
    VenueSpec("DARK-MID", VenueKind.DARK, fee_bps=0.5, spread_multiplier=0.0, depth_share=0.3),
)
VENUE_BY_CODE: dict[str, VenueSpec] = {venue.code: venue for venue in VENUES}


# A book the market service has not ticked for this long (seconds) is stale: no order leaves on it.
MAX_BOOK_AGE_S = 10.0
STALE_PRICE = "stale_price"


class NoVenue(Exception):
    """No simulated venue trades this underlying."""


class StaleBook(Exception):
    """The market service stopped ticking the venue's book: its price cannot be trusted."""


def venue_book_check_fresh(row: VenueBook, *, now: datetime) -> None:
    """Raise :class:`StaleBook` when the market service's last tick of ``row`` is older than
    :data:`MAX_BOOK_AGE_S`. A book no market service ever ticked (default books, a desk without the simulated
    market) is not judged."""
    if row.ticked_at is None:
        return
    age = (now - row.ticked_at).total_seconds()
    if age > MAX_BOOK_AGE_S:
        raise StaleBook(
            f"{STALE_PRICE}: the {row.underlying} book was last ticked {age:.1f} s ago (limit {MAX_BOOK_AGE_S:.0f} s)"
        )


def underlying_config(underlying: str) -> UnderlyingConfig:
    """The simulated market's parameters for ``underlying``; :class:`NoVenue` when it is not simulated."""
    try:
        return _MARKET.underlying(underlying)
    except KeyError:
        raise NoVenue(f"no simulated venue trades {underlying}") from None


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
    """One order priced on a venue.

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


def temporary_decayed(temporary_impact: float, elapsed_s: float, half_life_s: float) -> float:
    """The temporary displacement left after ``elapsed_s`` seconds of exponential decay (fraction of mid)."""
    return temporary_impact * 0.5 ** (max(elapsed_s, 0.0) / half_life_s)


def venue_price(quote: VenueQuote, *, side: str, coins: float, impact: ImpactConfig) -> VenueFill:
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


def venue_expected_cost_bps(quote: VenueQuote, *, side: str, coins: float, impact: ImpactConfig) -> float:
    """Expected all-in cost of the order on the venue, bps of the market mid: spread, impact, our own lingering
    temporary impact, and the fee. ``inf`` when a dark pool's hidden size cannot take the whole order (its fill
    probability is then taken as zero)."""
    if quote.kind == VenueKind.DARK and quote.depth < coins:
        return math.inf
    fill = venue_price(quote, side=side, coins=coins, impact=impact)
    sign = 1.0 if side == "buy" else -1.0
    return 1e4 * sign * (fill.price - quote.mid) / quote.mid + quote.fee_bps


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


def _initial_rows(config: UnderlyingConfig, now: datetime) -> list[VenueBook]:
    volatility = config.regime_vols[config.initial_regime]
    half_spread = config.half_spread_floor_bps + config.half_spread_per_vol_bps * volatility
    depth = config.top_depth * config.volatility_reference / volatility
    volume_5m = config.daily_volume * VOLUME_WINDOW_S / 86_400.0
    return [
        VenueBook(
            venue=spec.code,
            kind=spec.kind,
            underlying=config.symbol,
            mid=to_decimal(config.spot),
            half_spread_bps=to_decimal(half_spread * spec.spread_multiplier),
            depth=to_decimal(depth * spec.depth_share),
            volatility=to_decimal(volatility),
            volume_5m=to_decimal(volume_5m),
            fee_bps=to_decimal(spec.fee_bps),
            temporary_impact_at=now,
            updated_at=now,
        )
        for spec in VENUES
    ]


def venue_books_ensure(*, underlying: str, now: datetime) -> None:
    """Create the underlying's venue rows from the market's defaults when they do not exist yet (a worker may
    trade before the market service has written its first tick). Safe against a concurrent creator."""
    config = underlying_config(underlying)
    if VenueBook.objects.filter(underlying=underlying).count() == len(VENUES):
        return
    for row in _initial_rows(config, now):
        try:
            with transaction.atomic():
                row.save(force_insert=True)
        except IntegrityError:
            continue


def venue_quote(row: VenueBook, *, now: datetime) -> VenueQuote:
    """The pure view of a venue row, its temporary impact decayed to ``now`` (explicit float conversion)."""
    half_life = underlying_config(row.underlying).impact.decay_half_life_s
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


def venue_books_sync(*, books: list[BookTop], previous_mids: dict[str, float], volumes_5m: dict[str, float]) -> None:
    """Write one market tick to the venue rows (the market service calls it about once a second).

    The stored mid moves by the simulator's return since the previous tick, ``mid × now / before``, in one
    ``UPDATE`` per underlying: the permanent impact our fills left in the stored mid stays, and a fill that holds
    the row lock is not overwritten (the update waits for it and applies to its result).
    """
    for book in books:
        try:
            config = underlying_config(book.underlying)
        except NoVenue:
            continue
        # Wall time, like the fills' clock (the simulator's own clock may drift from it).
        now = datetime.now(UTC)
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


def coins(quantity: Decimal, multiplier: Decimal) -> float:
    """Contracts to units of the underlying, as the float the impact functions take."""
    return float(quantity * multiplier)
