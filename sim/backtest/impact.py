r"""The desk's model of what its algorithms cost at the venue, fitted on its own past child orders.

The backtest's policies must not price the algorithms with the simulator's own impact parameters
(:class:`desk.impact.ImpactConfig`, which decides what a child order really costs). This module gives them the
desk's estimate instead, measured the way a desk measures it: from child orders it executed earlier
(:func:`executions_observe`, a separate market seed run before the episodes), each with what the desk saw before
sending it (mid, half spread, volatility, liquidity, the tape's traded volume) and the price it got.

**Form.** What a block of ``q`` coins pays beyond the half spread, bps of the mid, is fitted per underlying as the
square-root law plus a linear term, scaled by the volatility and by the market's liquidity (depth against normal):

    y = (Y · x_sqrt + K · x_lin) / max(L, L_f),   x_sqrt = σ_d sqrt(q / ADV) · 10⁴,   x_lin = σ_d (q / ADV) · 10⁴

with ``σ_d`` the daily volatility (:func:`tca.pretrade.daily_volatility`), ``ADV`` the tape's traded coins per day
over the history, ``L`` the liquidity (1 normal). ``Y`` and ``K`` are least squares through the origin (as
:func:`tca.calibration.sqrt_coefficient_fit`, here with two regressors, clipped at 0); the floor ``L_f`` is the
one of :data:`FLOOR_GRID` with the smallest residual. The history lays the simulator's named scenarios over the
market in turn, so that the desk has seen thin markets before; nothing reads the venue's configuration.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from sim.market import SCENARIOS, MarketSimulator, scenario_start
from tca.pretrade import BPS, daily_volatility

FLOOR_GRID: tuple[float, ...] = tuple(float(f) for f in np.geomspace(0.01, 0.5, 25))
"""Candidate liquidity floors ``L_f`` of the fit (a log grid from 1 % to half of normal depth)."""
HISTORY_EXECUTIONS = 400
"""Child orders in the desk's impact history."""
MIN_EXECUTIONS = 20
"""Fewest child orders of an underlying for a fit."""


@dataclass(frozen=True)
class ChildExecution:
    """One past child order as the desk recorded it: underlying, coins, the book before it (mid, half spread in
    bps, annualized volatility, liquidity 0 to 1), the tape's average coins per day so far, the average price, and
    the side (``+1`` buy, ``−1`` sell)."""

    underlying: str
    coins: float
    mid: float
    half_spread_bps: float
    volatility: float
    liquidity: float
    adv: float
    price: float
    sign: float

    @property
    def impact_bps(self) -> float:
        """What the order paid beyond the half spread, bps of the mid before it (positive a cost)."""
        return self.sign * (self.price - self.mid) / self.mid * BPS - self.half_spread_bps


@dataclass(frozen=True)
class ImpactEstimate:
    """The desk's fit for one underlying: ``Y`` (sqrt term), ``K`` (linear term), the liquidity floor, the ADV
    (coins per day) the regressors use, the residual sd (bps) and the number of child orders."""

    sqrt_coefficient: float
    linear_coefficient: float
    liquidity_floor: float
    adv: float
    residual_bps: float
    n: int

    def cost_parts_bps(self, coins: float, *, volatility: float, liquidity: float) -> tuple[float, float]:
        """The sqrt and linear parts (bps of the mid) of what ``coins`` pay beyond the half spread."""
        scale = daily_volatility(volatility) * BPS / max(liquidity, self.liquidity_floor)
        share = max(coins, 0.0) / self.adv
        return self.sqrt_coefficient * math.sqrt(share) * scale, self.linear_coefficient * share * scale

    def cost_bps(self, coins: float, *, volatility: float, liquidity: float) -> float:
        """What ``coins`` pay beyond the half spread, bps of the mid (the module's form)."""
        return sum(self.cost_parts_bps(coins, volatility=volatility, liquidity=liquidity))


@dataclass(frozen=True)
class DeskImpactModel:
    """The desk's impact estimates by underlying code."""

    underlyings: dict[str, ImpactEstimate]

    def get(self, underlying: str) -> ImpactEstimate:
        try:
            return self.underlyings[underlying]
        except KeyError:
            raise KeyError(f"no impact history for {underlying!r}") from None


def executions_observe(
    *,
    seed: int,
    n: int = HISTORY_EXECUTIONS,
    underlyings: Sequence[str] = ("BTC", "ETH"),
    notional_range: tuple[float, float] = (5e4, 5e6),
    mean_gap_s: float = 60.0,
    start: datetime | None = None,
) -> list[ChildExecution]:
    """Execute ``n`` child orders on a market seeded ``seed`` and record them as the desk saw them.

    Sizes are log-uniform in notional (quote ccy), sides and underlyings uniform, gaps exponential
    (``mean_gap_s``). Every ``n / (len(SCENARIOS) + 1)`` orders the next named scenario is laid over the first
    underlying, so the history holds calm and stressed markets alike.
    """
    rng = np.random.default_rng([seed, 97])
    market = MarketSimulator(seed, start=start)
    market.run(600.0, 5.0)
    began, volume0 = market.now, {u: market.book(u).volume for u in underlyings}
    scenarios = sorted(SCENARIOS)
    every = max(n // (len(scenarios) + 1), 1)
    out: list[ChildExecution] = []
    for i in range(n):
        if i and i % every == 0 and i // every <= len(scenarios):
            scenario_start(market, scenarios[i // every - 1], underlying=underlyings[0])
        gap = 1.0 + rng.exponential(mean_gap_s)
        market.run(gap, min(5.0, gap))
        underlying = underlyings[int(rng.integers(len(underlyings)))]
        book = market.book(underlying)
        notional = math.exp(rng.uniform(math.log(notional_range[0]), math.log(notional_range[1])))
        side = "buy" if rng.random() < 0.5 else "sell"
        days = (market.now - began).total_seconds() / 86_400.0
        adv = (book.volume - volume0[underlying]) / days
        fill = market.execute(underlying, side, notional / book.mid)
        out.append(
            ChildExecution(
                underlying=underlying,
                coins=notional / book.mid,
                mid=book.mid,
                half_spread_bps=(book.ask - book.bid) / 2.0 / book.mid * BPS,
                volatility=book.volatility,
                liquidity=market.effects(underlying).liquidity,
                adv=adv,
                price=fill.average_price,
                sign=1.0 if side == "buy" else -1.0,
            )
        )
    return out


def _fit(rows: Sequence[ChildExecution]) -> ImpactEstimate:
    adv = float(np.median([r.adv for r in rows]))
    sigma = np.array([daily_volatility(r.volatility) for r in rows]) * BPS
    share = np.array([r.coins for r in rows]) / adv
    liquidity = np.array([r.liquidity for r in rows])
    y = np.array([r.impact_bps for r in rows])
    best: ImpactEstimate | None = None
    for floor in FLOOR_GRID:
        scale = sigma / np.maximum(liquidity, floor)
        x = np.column_stack([np.sqrt(share) * scale, share * scale])
        coefficients = np.clip(np.linalg.lstsq(x, y, rcond=None)[0], 0.0, None)
        residual = y - x @ coefficients
        sd = math.sqrt(float(residual @ residual) / max(len(y) - 2, 1))
        if best is None or sd < best.residual_bps - 1e-12:
            best = ImpactEstimate(float(coefficients[0]), float(coefficients[1]), floor, adv, sd, len(rows))
    assert best is not None
    return best


def impact_model_fit(executions: Sequence[ChildExecution]) -> DeskImpactModel:
    """Fit :class:`DeskImpactModel` on the desk's past child orders (see the module's form), per underlying."""
    by: dict[str, list[ChildExecution]] = {}
    for row in executions:
        by.setdefault(row.underlying, []).append(row)
    fits = {u: _fit(rows) for u, rows in by.items() if len(rows) >= MIN_EXECUTIONS}
    if not fits:
        raise ValueError(f"too few child orders to fit an impact model (an underlying needs {MIN_EXECUTIONS})")
    return DeskImpactModel(underlyings=fits)
