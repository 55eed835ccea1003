"""Market reference data and the venue books, as the desk reads them.

The reference data of each underlying (its typical price, volatility, daily volume and intraday profile, the
impact of the desk's orders, the implied-volatility surface) and the venues that trade it are the desk's view
of the market: execution schedules and routes with it, risk scales its checks by it, TCA and the pages show
it. The simulated world (:mod:`sim`) builds its market on the same numbers.

The venues' state lives in :class:`~desk.models.VenueBook` rows, which a market data source (the simulated
market service, or a real venue's adapter) writes and every process reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction

from desk.fields import to_decimal
from desk.impact import ImpactConfig
from desk.models import VenueBook, VenueKind
from desk.pricing import VolSurfaceConfig

SECONDS_PER_DAY = 86_400.0
# Crypto trades every day of the year, so a year of variance is 365 calendar days.
SECONDS_PER_YEAR = 365.0 * SECONDS_PER_DAY
# Risk-free rate for option pricing, continuously compounded, per year.
RATE = 0.04
# Volume of the participation window the risk check reads (the last 5 minutes), seconds.
VOLUME_WINDOW_S = 300.0
# A book the market data source has not ticked for this long (seconds) is stale: no order leaves on it.
MAX_BOOK_AGE_S = 10.0
STALE_PRICE = "stale_price"


@dataclass(frozen=True)
class UnderlyingReference:
    """What the desk knows of one underlying's market.

    Units are in the names or here: volatilities are annualized fractions (0.65 is 65 %), spreads basis points of
    the mid, sizes coins (units of the underlying).

    Attributes
    ----------
    symbol : str
        Underlying code, e.g. ``"BTC"``.
    spot : float
        Reference mid, USD.
    volatility : float
        Realized volatility of an ordinary day.
    volatility_reference : float
        Volatility at which depth is ``top_depth`` and impact takes its stated coefficients.
    daily_volume : float
        Coins traded per day on an ordinary day.
    volume_profile_amplitude : float
        Height of the intraday U of volume (see :func:`desk.volume.volume_density`).
    half_spread_floor_bps : float
        Half spread at zero volatility.
    half_spread_per_vol_bps : float
        Extra half spread per 1.00 of volatility.
    top_depth : float
        Typical size on each side of the top of book at ``volatility_reference``.
    surface : VolSurfaceConfig
        Implied-volatility surface.
    impact : ImpactConfig
        Impact of the desk's orders.
    """

    symbol: str
    spot: float
    volatility: float
    volatility_reference: float
    daily_volume: float
    volume_profile_amplitude: float
    half_spread_floor_bps: float
    half_spread_per_vol_bps: float
    top_depth: float
    surface: VolSurfaceConfig
    impact: ImpactConfig


UNDERLYINGS: tuple[UnderlyingReference, ...] = (
    UnderlyingReference(
        symbol="BTC",
        spot=100_000.0,
        volatility=0.65,
        volatility_reference=0.60,
        daily_volume=20_000.0,
        volume_profile_amplitude=1.5,
        half_spread_floor_bps=0.3,
        half_spread_per_vol_bps=2.0,
        top_depth=5.0,
        surface=VolSurfaceConfig(),
        impact=ImpactConfig(reference_volume=20_000.0),
    ),
    UnderlyingReference(
        symbol="ETH",
        spot=3_500.0,
        volatility=0.80,
        volatility_reference=0.75,
        daily_volume=300_000.0,
        volume_profile_amplitude=1.5,
        half_spread_floor_bps=0.8,
        half_spread_per_vol_bps=2.0,
        top_depth=80.0,
        surface=VolSurfaceConfig(atm_long=0.85),
        impact=ImpactConfig(reference_volume=300_000.0, volatility_reference=0.75),
    ),
)
_BY_SYMBOL: dict[str, UnderlyingReference] = {reference.symbol: reference for reference in UNDERLYINGS}


class NoVenue(Exception):
    """No venue trades this underlying."""


def underlying_reference(underlying: str) -> UnderlyingReference:
    """The reference data of ``underlying``; :class:`NoVenue` when no venue trades it."""
    try:
        return _BY_SYMBOL[underlying]
    except KeyError:
        raise NoVenue(f"no simulated venue trades {underlying}") from None


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


class StaleBook(Exception):
    """The market data source stopped ticking the venue's book: its price cannot be trusted."""


def venue_book_check_fresh(row: VenueBook, *, now: datetime) -> None:
    """Raise :class:`StaleBook` when the market data source's last tick of ``row`` is older than
    :data:`MAX_BOOK_AGE_S`. A book no source ever ticked (default books, a desk without the simulated market) is
    not judged."""
    if row.ticked_at is None:
        return
    age = (now - row.ticked_at).total_seconds()
    if age > MAX_BOOK_AGE_S:
        raise StaleBook(
            f"{STALE_PRICE}: the {row.underlying} book was last ticked {age:.1f} s ago (limit {MAX_BOOK_AGE_S:.0f} s)"
        )


def venue_books(*, underlying: str) -> list[VenueBook]:
    """The venue books of ``underlying``, in a fixed order (the first is the primary lit book)."""
    return list(VenueBook.objects.filter(underlying=underlying).order_by("pk"))


def _initial_rows(reference: UnderlyingReference, now: datetime) -> list[VenueBook]:
    volatility = reference.volatility
    half_spread = reference.half_spread_floor_bps + reference.half_spread_per_vol_bps * volatility
    depth = reference.top_depth * reference.volatility_reference / volatility
    volume_5m = reference.daily_volume * VOLUME_WINDOW_S / SECONDS_PER_DAY
    return [
        VenueBook(
            venue=spec.code,
            kind=spec.kind,
            underlying=reference.symbol,
            mid=to_decimal(reference.spot),
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
    """Create the underlying's venue rows from its reference data when they do not exist yet (a worker may trade
    before the market data source has written its first tick). Safe against a concurrent creator."""
    reference = underlying_reference(underlying)
    if VenueBook.objects.filter(underlying=underlying).count() == len(VENUES):
        return
    for row in _initial_rows(reference, now):
        try:
            with transaction.atomic():
                row.save(force_insert=True)
        except IntegrityError:
            continue
