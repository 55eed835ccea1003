"""What the simulated market answers with: books, fills, perpetual and option quotes (frozen dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from desk.pricing import OptionKind

Side = Literal["buy", "sell"]


@dataclass(frozen=True)
class BookTop:
    """Top of book of one underlying at one instant (the venue's truth, not a feed's view of it).

    Attributes
    ----------
    underlying : str
        Underlying code.
    timestamp : datetime
        Simulated time, UTC.
    bid, ask, mid, last : float
        Prices in USD; ``last`` is the latest trade.
    bid_size, ask_size : float
        Coins shown at the best bid and ask, spoof orders included.
    bid_depth, ask_depth : float
        Coins resting on each side within the book band (the best level and the levels behind it), spoof orders
        included.
    volume : float
        Cumulative coins traded since the simulator started.
    regime : int
        Volatility regime number (0 is the calmest).
    regime_name : str
        Its name.
    volatility : float
        Current realized volatility of the process, annualized (regime level times scenario multiplier).
    dealer_appetite : float
        0 to 1: dealers' willingness to take risk now (1 normal, 0 when liquidity has vanished).
    """

    underlying: str
    timestamp: datetime
    bid: float
    ask: float
    bid_size: float
    ask_size: float
    mid: float
    last: float
    volume: float
    regime: int
    regime_name: str
    volatility: float
    dealer_appetite: float
    bid_depth: float = 0.0
    ask_depth: float = 0.0

    @property
    def spread(self) -> float:
        """Ask minus bid, USD."""
        return self.ask - self.bid

    @property
    def spread_bps(self) -> float:
        """Spread in basis points of the mid."""
        return 1e4 * self.spread / self.mid


@dataclass(frozen=True)
class ExecutionResult:
    """One child order filled against the simulated venue.

    Attributes
    ----------
    underlying : str
        Underlying code.
    side : {'buy', 'sell'}
        Direction.
    quantity : float
        Coins filled (always the full order: impact, not a partial fill, prices scarce liquidity).
    average_price : float
        USD per coin, half spread and impact included.
    mid_before, mid_after : float
        Mid just before and just after the fill, USD.
    spread_cost_bps, temporary_impact_bps, permanent_impact_bps : float
        Components of the cost, basis points of ``mid_before`` (the average price carries half of the
        permanent impact: the price moves during the fill).
    cost_bps : float
        ``side · (average_price − mid_before) / mid_before`` in basis points; positive is a cost.
    timestamp : datetime
        Simulated time of the fill, UTC.
    """

    underlying: str
    side: Side
    quantity: float
    average_price: float
    mid_before: float
    mid_after: float
    spread_cost_bps: float
    temporary_impact_bps: float
    permanent_impact_bps: float
    cost_bps: float
    timestamp: datetime


@dataclass(frozen=True)
class PerpetualQuote:
    """A perpetual swap: spot plus a small funding basis.

    Attributes
    ----------
    underlying : str
        Underlying code; the instrument is ``f"{underlying}-PERP"``.
    timestamp : datetime
        Simulated time, UTC.
    index : float
        Spot mid, USD.
    mark : float
        Perpetual mid, USD: ``index · (1 + basis)``.
    bid, ask : float
        USD, the spot half spread around ``mark``.
    basis : float
        Premium of the perpetual over spot, fraction.
    funding_rate_8h : float
        Funding paid by longs to shorts per 8 hours, fraction (the premium, clamped to ±0.75 %).
    """

    underlying: str
    timestamp: datetime
    index: float
    mark: float
    bid: float
    ask: float
    basis: float
    funding_rate_8h: float


@dataclass(frozen=True)
class OptionQuote:
    """A European option on the spot, priced by Black–Scholes from the implied-volatility surface.

    Attributes
    ----------
    underlying : str
        Underlying code.
    strike : float
        USD.
    expiry : datetime
        UTC.
    kind : {'call', 'put'}
        Option type.
    t_years : float
        Time to expiry in years (365-day).
    forward : float
        USD, ``spot · exp(rate · t)``.
    implied_vol : float
        Annualized, from the surface.
    price, bid, ask : float
        USD per option on one coin; bid and ask are ``price ∓ half_spread_vol · vega`` (bid floored at 0).
    delta, gamma, vega, theta : float
        Black–Scholes greeks (vega per 1.00 of volatility, theta per year).
    """

    underlying: str
    strike: float
    expiry: datetime
    kind: OptionKind
    t_years: float
    forward: float
    implied_vol: float
    price: float
    bid: float
    ask: float
    delta: float
    gamma: float
    vega: float
    theta: float
