"""Delta hedging of an options book in its underlying: the book's greeks and the banded hedge rule (pure).

Floats and numpy arrays only: no ORM, no Decimal (:mod:`execution.hedging_services` converts at the boundary).

Units
-----
Deltas are in **coins** (units of the underlying): an option position of ``q`` contracts of multiplier ``m`` has
delta ``q · m · ∂V/∂S``; a spot or perpetual position of ``q`` contracts has delta ``q · m`` (the perpetual's
funding basis is ignored: it moves one for one with spot). Gamma is in coins per unit of spot (quote currency per
coin), so that ``gamma · ΔS`` is the change of the book's delta in coins. Values are in quote currency.

Target of a hedge: inside the band (default), its edge, or zero
-----------------------------------------------------------------
No trade while ``|net delta| <= threshold``. Outside the band the default rule (``target="inside"``) trades back to a
target **inside** the band, ``inside_fraction × threshold`` (half the band by default), and never less than the band's
**minimum trade** (``min_trade_coins``). Trading only back to the **edge** (``target="edge"``) is the optimal policy
when every cost is proportional to the traded size (Davis, Panas & Zariphopoulou 1993; Whalley & Wilmott 1997), but a
hedge also costs per trade: a plan, its child orders, the venue's minimum fee, a person's attention. With a cost per
trade on top of the proportional one the optimal policy trades to a target inside the no-trade region, not to its
edge (Korn 1998, "Portfolio optimisation with strictly positive transaction costs and impulse control"; Zakamouline
2006): a hedge to the edge leaves the book on the boundary, where the next small move of the underlying calls for the
next tiny hedge (on the desk, 14 s after a 5-contract call was hedged to 0.9999 coin, a second hedge sold
0.0032 BTC). Trading to mid-band leaves room for the market to move half a band before the next hedge, and the
minimum trade keeps any hedge from being dust. ``target="zero"`` (trade to the centre) is the right rule when the
desk wants no residual direction at all; it trades most.

Lot rounding: the quantity is the fewest whole lots that reach the target (the delta ends on it or just past it,
toward zero), then at least the minimum trade, and never so many that the delta changes sign (toward zero, that rounds
down, short of zero). The hedged book ends inside the band provided the band is at least one lot wide and the minimum
trade no wider than the band, which :class:`HedgeBand` and :func:`hedge_order` require.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from desk.pricing import black_scholes

HedgeTarget = Literal["inside", "edge", "zero"]
HEDGE_TARGETS: tuple[str, ...] = ("inside", "edge", "zero")


@dataclass(frozen=True)
class OptionPositions:
    """The option positions of a book on one underlying, as parallel arrays (one entry per position).

    Attributes
    ----------
    quantity : ndarray of float
        Signed contracts: + long, - short.
    multiplier : ndarray of float
        Units of the underlying (coins) per contract, > 0.
    strike : ndarray of float
        Quote currency per coin, > 0.
    t_years : ndarray of float
        Time to expiry in years, >= 0.
    is_call : ndarray of bool
        True for a call, False for a put.
    vol : ndarray of float
        Implied volatility, annualized fraction (0.65 is 65 %), >= 0.
    """

    quantity: npt.NDArray[np.float64]
    multiplier: npt.NDArray[np.float64]
    strike: npt.NDArray[np.float64]
    t_years: npt.NDArray[np.float64]
    is_call: npt.NDArray[np.bool_]
    vol: npt.NDArray[np.float64]

    @classmethod
    def of(
        cls,
        *,
        quantity: npt.ArrayLike,
        multiplier: npt.ArrayLike,
        strike: npt.ArrayLike,
        t_years: npt.ArrayLike,
        is_call: npt.ArrayLike,
        vol: npt.ArrayLike,
    ) -> OptionPositions:
        """Build from array-likes, broadcast to one common 1-d shape (a scalar multiplier or vol is shared)."""
        arrays = np.broadcast_arrays(
            *(np.atleast_1d(np.asarray(x, dtype=np.float64)) for x in (quantity, multiplier, strike, t_years, vol)),
            np.atleast_1d(np.asarray(is_call, dtype=bool)),
        )
        q, m, k, t, v, c = (np.array(a) for a in arrays)
        if q.ndim != 1:
            raise ValueError("option positions must be one-dimensional arrays")
        if np.any(m <= 0) or not np.all(np.isfinite(q)):
            raise ValueError("multipliers must be positive and quantities finite")
        return cls(quantity=q, multiplier=m, strike=k, t_years=t, is_call=c.astype(bool), vol=v)

    @classmethod
    def empty(cls) -> OptionPositions:
        """A book without options."""
        return cls.of(quantity=[], multiplier=[], strike=[], t_years=[], is_call=[], vol=[])

    @property
    def notional_coins(self) -> float:
        """Gross underlying amount of the options, ``Σ |quantity · multiplier|``, coins."""
        return float(np.sum(np.abs(self.quantity * self.multiplier)))


@dataclass(frozen=True)
class BookGreeks:
    """Greeks of a book on one underlying.

    Attributes
    ----------
    delta : float
        Net delta, coins (options plus spot and perpetual positions).
    option_delta : float
        The options' part of ``delta``, coins.
    linear_delta : float
        The spot and perpetual part of ``delta``, coins.
    gamma : float
        d(delta)/d(spot), coins per unit of spot (quote currency per coin).
    value : float
        Mark-to-model value of the options plus the linear positions' ``coins · spot``, quote currency.
    """

    delta: float
    option_delta: float
    linear_delta: float
    gamma: float
    value: float


def _kinds(options: OptionPositions) -> npt.NDArray[np.str_]:
    return np.where(options.is_call, "call", "put")


def option_deltas(options: OptionPositions, *, spot: float, rate: float) -> npt.NDArray[np.float64]:
    """Delta of each option position, coins: ``quantity · multiplier · N(d1)`` for a call, ``… · (N(d1) − 1)`` for
    a put.

    Parameters
    ----------
    options : OptionPositions
        The book's options.
    spot : float
        Underlying price, quote currency per coin, > 0.
    rate : float
        Risk-free rate, continuously compounded, per year.

    Returns
    -------
    ndarray
        One delta per position, coins.
    """
    if options.quantity.size == 0:
        return np.zeros(0)
    greeks = black_scholes(spot, options.strike, options.t_years, rate, options.vol, _kinds(options))
    return options.quantity * options.multiplier * np.asarray(greeks.delta, dtype=np.float64)


def book_greeks(options: OptionPositions, *, linear_coins: float, spot: float, rate: float) -> BookGreeks:
    """Net delta, gamma and value of a book on one underlying.

    Parameters
    ----------
    options : OptionPositions
        The book's options on the underlying.
    linear_coins : float
        Signed spot and perpetual position, coins (contracts × multiplier, summed).
    spot : float
        Underlying price, quote currency per coin, > 0.
    rate : float
        Risk-free rate, continuously compounded, per year.

    Returns
    -------
    BookGreeks
    """
    if not (math.isfinite(spot) and spot > 0):
        raise ValueError("spot must be a positive finite price")
    if options.quantity.size:
        greeks = black_scholes(spot, options.strike, options.t_years, rate, options.vol, _kinds(options))
        scale = options.quantity * options.multiplier
        option_delta = float(np.sum(scale * np.asarray(greeks.delta)))
        gamma = float(np.sum(scale * np.asarray(greeks.gamma)))
        option_value = float(np.sum(scale * np.asarray(greeks.price)))
    else:
        option_delta = gamma = option_value = 0.0
    return BookGreeks(
        delta=option_delta + linear_coins,
        option_delta=option_delta,
        linear_delta=float(linear_coins),
        gamma=gamma,
        value=option_value + linear_coins * spot,
    )


def book_value(options: OptionPositions, *, linear_coins: float, spot: float, rate: float) -> float:
    """Mark-to-model value of the book at ``spot``, quote currency (the function whose slope is the delta)."""
    return book_greeks(options, linear_coins=linear_coins, spot=spot, rate=rate).value


@dataclass(frozen=True)
class HedgeBand:
    """When and how far to hedge.

    Attributes
    ----------
    threshold_coins : float
        Half-width of the no-trade band, coins, >= 0: no hedge while ``|net delta| <= threshold_coins``.
    target : {'inside', 'edge', 'zero'}
        Trade to ``inside_fraction × threshold`` (default), to the band edge, or to zero delta (module notes).
    inside_fraction : float
        With ``target="inside"``: the target as a fraction of the threshold, in [0, 1] (0.5: mid-band).
    min_trade_coins : float
        The smallest hedge, coins, >= 0 and no wider than the band: a hedge trades at least this much (unless that
        would flip the delta's sign).
    """

    threshold_coins: float
    target: HedgeTarget = "inside"
    inside_fraction: float = 0.5
    min_trade_coins: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.threshold_coins) and self.threshold_coins >= 0):
            raise ValueError(f"the band must be a non-negative number of coins, not {self.threshold_coins!r}")
        if self.target not in HEDGE_TARGETS:
            raise ValueError(f"target must be one of {', '.join(HEDGE_TARGETS)}, not {self.target!r}")
        if not (math.isfinite(self.inside_fraction) and 0.0 <= self.inside_fraction <= 1.0):
            raise ValueError(f"inside_fraction must be between 0 and 1, not {self.inside_fraction!r}")
        if not (math.isfinite(self.min_trade_coins) and 0.0 <= self.min_trade_coins <= self.threshold_coins):
            raise ValueError(
                f"the minimum trade must be between 0 and the band's {self.threshold_coins} coins, "
                f"not {self.min_trade_coins!r}"
            )

    @property
    def target_coins(self) -> float:
        """The absolute delta a hedge aims at, coins."""
        if self.target == "edge":
            return self.threshold_coins
        if self.target == "inside":
            return self.inside_fraction * self.threshold_coins
        return 0.0

    @classmethod
    def of_notional(
        cls,
        fraction: float,
        notional_coins: float,
        *,
        target: HedgeTarget = "inside",
        inside_fraction: float = 0.5,
        min_trade_fraction: float = 0.0,
    ) -> HedgeBand:
        """A band of ``fraction`` of a notional (coins; for instance :attr:`OptionPositions.notional_coins`), its
        minimum trade ``min_trade_fraction`` of the band."""
        if not (math.isfinite(fraction) and fraction >= 0):
            raise ValueError(f"fraction must be non-negative, not {fraction!r}")
        threshold = fraction * abs(notional_coins)
        return cls(
            threshold_coins=threshold,
            target=target,
            inside_fraction=inside_fraction,
            min_trade_coins=min_trade_fraction * threshold,
        )


def whalley_wilmott_half_width(*, gamma: float, spot: float, cost_fraction: float, risk_aversion: float) -> float:
    """Asymptotically optimal half-width of the no-trade band under proportional costs, coins.

    Whalley & Wilmott (1997), "An asymptotic analysis of an optimal hedging model for option pricing with
    transaction costs": ``H = (3/2 · κ · S · Γ² / γ)^(1/3)`` (discounting over the option's life neglected).

    Parameters
    ----------
    gamma : float
        Book gamma, coins per unit of spot.
    spot : float
        Quote currency per coin, > 0.
    cost_fraction : float
        Proportional cost of trading the underlying (half spread plus fee), fraction of the notional, >= 0.
    risk_aversion : float
        Exponential-utility risk aversion, per unit of quote currency, > 0.

    Returns
    -------
    float
        Half-width, coins.
    """
    if spot <= 0 or cost_fraction < 0 or risk_aversion <= 0:
        raise ValueError("spot and risk aversion must be positive, the cost non-negative")
    return float((1.5 * cost_fraction * spot * gamma * gamma / risk_aversion) ** (1.0 / 3.0))


@dataclass(frozen=True)
class HedgeOrder:
    """An order in the hedge instrument.

    Attributes
    ----------
    side : {'buy', 'sell'}
        The book's side.
    lots : int
        Whole lots of the hedge instrument, > 0 (quantity in contracts is ``lots × lot size``).
    coins : float
        Underlying amount traded, coins (``lots × lot size × multiplier``), > 0.
    delta_before : float
        Net delta before the hedge, coins.
    delta_after : float
        Net delta once the hedge is filled, coins.
    target : float
        The delta the rule aimed at before lot rounding, coins.
    """

    side: str
    lots: int
    coins: float
    delta_before: float
    delta_after: float
    target: float


# Lot arithmetic on floats: a delta that is a whole number of lots up to this relative error counts as whole, so that
# 0.3 / 0.1 rounds to 3 lots, not 2.
_LOT_EPSILON = 1e-9


def hedge_order(net_delta: float, *, band: HedgeBand, lot_coins: float) -> HedgeOrder | None:
    """The hedge for a book whose net delta is ``net_delta`` coins, or None inside the band.

    Parameters
    ----------
    net_delta : float
        Net delta of the book, coins.
    band : HedgeBand
        Threshold and target.
    lot_coins : float
        One lot of the hedge instrument, coins (lot size × multiplier), > 0, not wider than the band.

    Returns
    -------
    HedgeOrder or None
        None when ``|net_delta| <= band.threshold_coins`` or when no whole lot can be traded without carrying the
        delta past zero. Otherwise a sell for a long delta (a buy for a short one) of at least the band's minimum
        trade, after which ``|delta| <= threshold`` and the delta keeps its sign (or is zero).

    Raises
    ------
    ValueError
        On a non-positive lot, a non-finite delta, or a band narrower than one lot (it could not be held).
    """
    if not (math.isfinite(lot_coins) and lot_coins > 0):
        raise ValueError("lot_coins must be a positive finite number")
    if not math.isfinite(net_delta):
        raise ValueError("net_delta must be finite")
    if band.threshold_coins < lot_coins:
        raise ValueError(
            f"a band of {band.threshold_coins} coins is narrower than the hedge lot of {lot_coins} coins: "
            "it cannot be held"
        )
    exposure = abs(net_delta)
    if exposure <= band.threshold_coins:
        return None
    sign = 1.0 if net_delta > 0 else -1.0
    target = band.target_coins
    # The fewest whole lots that reach the target, at least the minimum trade, but never so many that the delta
    # changes sign: toward the edge or inside the band that rounds up (past the target, toward zero), toward zero
    # it rounds down (short of zero).
    reach = math.ceil((exposure - target) / lot_coins - _LOT_EPSILON)
    minimum = math.ceil(band.min_trade_coins / lot_coins - _LOT_EPSILON)
    lots = min(max(reach, minimum), math.floor(exposure / lot_coins + _LOT_EPSILON))
    if lots <= 0:
        return None
    traded = lots * lot_coins
    return HedgeOrder(
        side="sell" if sign > 0 else "buy",
        lots=int(lots),
        coins=traded,
        delta_before=net_delta,
        delta_after=net_delta - sign * traded,
        target=sign * target,
    )
