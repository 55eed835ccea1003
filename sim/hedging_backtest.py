"""Backtest of the delta hedger on the simulated market: the P&L of an options book, hedged and unhedged.

Each path is one seeded :class:`~sim.market.MarketSimulator` world. The book holds ``contracts`` European
options on the underlying, marked with Black–Scholes at one flat implied volatility (the simulator's volatility when
the book opens; the live hedger reads each option's from the desk's fitted surface). Every ``dt_s`` the hedged book
applies the desk's rule (:func:`execution.hedging.hedge_order`: no trade inside the band, else back to the band's
``target``, mid-band by default, at least ``min_trade_coins``, whole lots) and pays ``cost_bps`` of each hedge's
notional; the unhedged book only marks. The P&L over the horizon is, per path,

``unhedged = V(S_N, T - N·dt) − V(S_0, T)`` and ``hedged = unhedged + Σ_k h_k (S_{k+1} − S_k) − costs``

with ``h_k`` the hedge held (coins) over step k. Pure: no ORM.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from desk.market import SECONDS_PER_YEAR
from execution.hedging import HedgeBand, HedgeTarget, OptionPositions, book_greeks, hedge_order
from sim.market import MarketConfig, MarketSimulator


@dataclass(frozen=True)
class HedgeBacktest:
    """P&L per path (quote currency) of the hedged and unhedged book, their variances and the hedging effort."""

    hedged_pnl: npt.NDArray[np.float64]
    unhedged_pnl: npt.NDArray[np.float64]
    hedges_per_path: float
    cost_per_path: float

    @property
    def hedged_variance(self) -> float:
        return float(np.var(self.hedged_pnl, ddof=1))

    @property
    def unhedged_variance(self) -> float:
        return float(np.var(self.unhedged_pnl, ddof=1))

    @property
    def variance_ratio(self) -> float:
        """Hedged over unhedged P&L variance (below 1: hedging removed risk)."""
        return self.hedged_variance / self.unhedged_variance


def hedge_backtest(
    *,
    seed: int,
    paths: int = 100,
    steps: int = 96,
    dt_s: float = 900.0,
    underlying: str = "BTC",
    contracts: float = -10.0,
    moneyness: float = 1.0,
    expiry_days: float = 30.0,
    is_call: bool = True,
    band_coins: float = 0.25,
    lot_coins: float = 0.01,
    cost_bps: float = 5.0,
    target: HedgeTarget = "inside",
    min_trade_coins: float = 0.0,
) -> HedgeBacktest:
    """Simulate ``paths`` seeded worlds over ``steps × dt_s`` seconds and return both books' P&L.

    Parameters
    ----------
    seed : int
        Path ``i`` runs the world ``seed · 100 003 + i``.
    contracts : float
        Signed option contracts (multiplier 1 coin), negative for a short book.
    moneyness : float
        Strike over the opening spot.
    band_coins, lot_coins : float
        Half-width of the no-trade band and the hedge instrument's lot, coins.
    target, min_trade_coins
        Where a hedge trades back to and its smallest size (:class:`execution.hedging.HedgeBand`).
    cost_bps : float
        Cost of a hedge (half spread plus fee), basis points of its notional.
    """
    if paths < 2 or steps < 1 or not dt_s > 0:
        raise ValueError("need at least two paths, one step and a positive step")
    rate = MarketConfig().rate
    band = HedgeBand(threshold_coins=band_coins, target=target, min_trade_coins=min_trade_coins)
    expiry_years = expiry_days * 86_400 / SECONDS_PER_YEAR
    hedged = np.empty(paths)
    unhedged = np.empty(paths)
    trades = 0
    costs = 0.0
    for i in range(paths):
        world = MarketSimulator(seed * 100_003 + i)
        top = world.book(underlying)
        spot, vol = top.mid, top.volatility
        strike = moneyness * spot

        def book(t_left: float, *, strike: float = strike, vol: float = vol) -> OptionPositions:
            return OptionPositions.of(
                quantity=[contracts], multiplier=1.0, strike=[strike], t_years=[t_left], is_call=[is_call], vol=vol
            )

        opening = book_greeks(book(expiry_years), linear_coins=0.0, spot=spot, rate=rate).value
        hedge, hedge_pnl, path_cost = 0.0, 0.0, 0.0
        for k in range(steps):
            greeks = book_greeks(
                book(expiry_years - k * dt_s / SECONDS_PER_YEAR), linear_coins=hedge, spot=spot, rate=rate
            )
            order = hedge_order(greeks.delta, band=band, lot_coins=lot_coins)
            if order is not None:
                hedge += order.coins if order.side == "buy" else -order.coins
                path_cost += order.coins * spot * cost_bps / 10_000
                trades += 1
            world.step(dt_s)
            following = world.book(underlying).mid
            hedge_pnl += hedge * (following - spot)
            spot = following
        closing = book_greeks(
            book(expiry_years - steps * dt_s / SECONDS_PER_YEAR), linear_coins=0.0, spot=spot, rate=rate
        ).value
        unhedged[i] = closing - opening
        hedged[i] = unhedged[i] + hedge_pnl - path_cost
        costs += path_cost
    return HedgeBacktest(
        hedged_pnl=hedged, unhedged_pnl=unhedged, hedges_per_path=trades / paths, cost_per_path=costs / paths
    )
