r"""Positions marked live, and the day's P&L explained.

**Marks.** A delta-one contract is marked at its underlying's lit mid times the multiplier; an option at
Black–Scholes on that mid at the volatility of the desk's implied-volatility surface for its strike and expiry
(:func:`instrument_mark`, :func:`desk.marks.mark_surface`), with its greeks per contract: delta
(coins), gamma (per coin), vega (per 1.00 of volatility) and theta (per year). Unrealized P&L is
``q · (m/k − avg) · k`` for ``q`` contracts of multiplier ``k`` at mark ``m`` per contract and average price ``avg``.

**The day's P&L, explained** (per instrument, all books together: moves between the desk's own books cancel). With
the start-of-day position ``q₀`` at mark ``m₀`` (:class:`~tca.models.PnlSnapshot`), the day's fills ``i`` (side
``sᵢ`` = ±1, ``qᵢ`` contracts at price ``pᵢ`` per unit, fee ``fᵢ``, the mid ``μᵢ`` per contract when it was filled)
and the position ``q₁`` at mark ``m₁`` now::

    total      = q₁ m₁ − q₀ m₀ − Σ sᵢ qᵢ pᵢ k − Σ fᵢ
               = q₀ (m₁ − m₀)               the start position's move, split below
               + Σ sᵢ qᵢ (m₁ − μᵢ)           the day's trades' move since each fill ("new trades")
               − Σ [sᵢ qᵢ (pᵢ k − μᵢ) + fᵢ]   "execution": what the fills paid over the mid, fees included

The start position's move is attributed with its greeks at the start of the day: delta ``q₀ Δ₀ dS``, gamma
``½ q₀ Γ₀ dS²``, vega ``q₀ ν₀ dσ``, theta ``q₀ Θ₀ dt`` (years); what the greeks do not explain is ``residual``. The
identity is exact; only the split of the start position's move is an approximation (second order in the spot).
A fill with no mid on the market tape is taken at its own price (no execution cost beyond its fee) and counted in
``unpriced_fills``. The day is explained from its snapshot's time (:func:`tca.services.pnl_snapshot_take`, within a
minute of midnight or of the desk's start), or from midnight with every position flat when the desk held none.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import numpy as np

from desk.market import SECONDS_PER_YEAR
from desk.models import Instrument, InstrumentKind
from desk.surface import MarkSurface
from execution.models import Fill, Position
from rfq.engine.market import NoMarket, UnderlyingState, underlying_state
from tca.models import PnlSnapshot
from tca.selectors import market_tape_frame
from tca.sources import tape_asof


@dataclass(frozen=True)
class Mark:
    """One contract's mark and greeks (see the module); ``volatility`` 0 for delta-one."""

    per_contract: float
    spot: float
    volatility: float
    delta: float
    gamma: float
    vega: float
    theta: float


def underlying_code(instrument: Instrument) -> str:
    return instrument.underlying.base_currency if instrument.underlying_id else instrument.base_currency


def instrument_mark(
    instrument: Instrument, state: UnderlyingState, *, now: datetime, surface: MarkSurface | None = None
) -> Mark:
    """The contract's mark and greeks on the underlying's state; an option's on the desk's implied-volatility surface
    the state carries (:func:`desk.marks.mark_surface`), or ``surface``, at its strike and expiry (see the module)."""
    k = float(instrument.multiplier)
    if instrument.kind != InstrumentKind.OPTION:
        return Mark(state.spot * k, state.spot, 0.0, k, 0.0, 0.0, 0.0)
    surface = surface or state.surface
    t = max(((instrument.expiry or now) - now).total_seconds(), 0.0) / SECONDS_PER_YEAR
    strike = float(instrument.strike or state.spot)
    vol = float(np.asarray(surface.vol(spot=state.spot, strike=strike, t_years=t)))
    bs = surface.price(spot=state.spot, strike=strike, t_years=t, kind=instrument.option_type)
    return Mark(
        float(bs.price) * k,
        state.spot,
        vol,
        float(bs.delta) * k,
        float(bs.gamma) * k,
        float(bs.vega) * k,
        float(bs.theta) * k,
    )


class Marks:
    """Marks of several instruments at one instant, each underlying's state read once."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._states: dict[str, UnderlyingState | None] = {}

    def of(self, instrument: Instrument) -> Mark | None:
        code = underlying_code(instrument)
        if code not in self._states:
            try:
                self._states[code] = underlying_state(code)
            except NoMarket:
                self._states[code] = None
        state = self._states[code]
        return None if state is None else instrument_mark(instrument, state, now=self.now)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def positions_marked(*, now: datetime) -> list[dict[str, Any]]:
    """Every open or P&L-carrying position, by book and instrument, marked now: quantity, average price, mark,
    unrealized and realized P&L, and the position's greeks (quantity × per contract) and implied volatility."""
    marks = Marks(now)
    rows = []
    positions = Position.objects.select_related("instrument__underlying").order_by("book", "instrument__symbol")
    for position in positions:
        q = float(position.quantity)
        if q == 0 and position.realized_pnl == 0:
            continue
        instrument = position.instrument
        mark = marks.of(instrument)
        k = float(instrument.multiplier)
        unrealized = None if mark is None else q * (mark.per_contract / k - float(position.average_price)) * k
        rows.append(
            {
                "book": position.book,
                "instrument": instrument.symbol,
                "underlying": underlying_code(instrument),
                "kind": instrument.kind,
                "quantity": q,
                "average_price": float(position.average_price),
                "mark": None if mark is None else mark.per_contract,
                "unrealized": unrealized,
                "realized": float(position.realized_pnl),
                "delta": None if mark is None else q * mark.delta,
                "gamma": None if mark is None else q * mark.gamma,
                "vega": None if mark is None else q * mark.vega,
                "theta": None if mark is None else q * mark.theta,
                "iv": None if mark is None or instrument.kind != InstrumentKind.OPTION else mark.volatility,
            }
        )
    return rows


def explain(
    *,
    q0: float,
    start: Mark | None,
    q1: float,
    now: Mark,
    fills: list[tuple[float, float, float, float, float | None]],
    multiplier: float,
    years: float,
) -> dict[str, float]:
    """The day's P&L of one instrument and its parts (see the module). ``fills``: (side ±1, contracts, price per
    unit, fee, mid per contract at the fill or None)."""
    m0 = start.per_contract if start is not None else now.per_contract
    cash = sum(s * q * p * multiplier + f for s, q, p, f, _ in fills)
    total = q1 * now.per_contract - q0 * m0 - cash
    mids = [(mu if mu is not None and np.isfinite(mu) else p * multiplier) for _, _, p, _, mu in fills]
    new_trades = sum(s * q * (now.per_contract - mu) for (s, q, _, _, _), mu in zip(fills, mids, strict=True))
    execution = sum(s * q * (p * multiplier - mu) + f for (s, q, p, f, _), mu in zip(fills, mids, strict=True))
    parts = {"delta": 0.0, "gamma": 0.0, "vega": 0.0, "theta": 0.0}
    if start is not None and q0:
        ds, dvol = now.spot - start.spot, now.volatility - start.volatility
        parts = {
            "delta": q0 * start.delta * ds,
            "gamma": 0.5 * q0 * start.gamma * ds * ds,
            "vega": q0 * start.vega * dvol,
            "theta": q0 * start.theta * years,
        }
    moved = q0 * (now.per_contract - m0)
    return {
        "total": total,
        **parts,
        "residual": moved - sum(parts.values()),
        "new_trades": new_trades,
        "execution": -execution,
    }


def pnl_explain(*, now: datetime) -> dict[str, Any]:
    """Today's P&L (UTC day) per instrument and underlying, explained (see the module), with its start."""
    day = now.date()
    start_at = day_start(day)
    snapshots = PnlSnapshot.objects.filter(day=day).select_related("instrument__underlying")
    taken_at = min((s.taken_at for s in snapshots), default=None)
    q0: dict[int, float] = defaultdict(float)
    start: dict[int, Mark] = {}
    instruments: dict[int, Instrument] = {}
    for s in snapshots:
        q0[s.instrument_id] += float(s.quantity)
        start[s.instrument_id] = Mark(float(s.mark), float(s.spot), s.volatility, s.delta, s.gamma, s.vega, s.theta)
        instruments[s.instrument_id] = s.instrument
    since = taken_at or start_at
    fills = list(
        Fill.objects.filter(executed_at__gte=since, executed_at__lte=now).select_related("instrument__underlying")
    )
    mids = np.array([])
    if fills:
        symbols = np.array([f.instrument.symbol for f in fills], dtype=object)
        tape = market_tape_frame(start=since, end=now, instruments=sorted(set(symbols)))
        mids = tape_asof(tape, symbols, [f.executed_at for f in fills])
    by_instrument: dict[int, list[tuple[float, float, float, float, float | None]]] = defaultdict(list)
    unpriced = 0
    for fill, mu in zip(fills, mids, strict=True):
        instruments[fill.instrument_id] = fill.instrument
        unpriced += int(not np.isfinite(mu))
        sign = 1.0 if fill.side == "buy" else -1.0
        by_instrument[fill.instrument_id].append(
            (sign, float(fill.quantity), float(fill.price), float(fill.fee), float(mu) if np.isfinite(mu) else None)
        )
    q1: dict[int, float] = defaultdict(float)
    for instrument_id, quantity in Position.objects.values_list("instrument_id", "quantity"):
        q1[instrument_id] += float(quantity)
    marks = Marks(now)
    years = max((now - since).total_seconds(), 0.0) / SECONDS_PER_YEAR
    rows, unmarked = [], []
    for instrument_id, instrument in sorted(instruments.items(), key=lambda item: item[1].symbol):
        mark = marks.of(instrument)
        if mark is None:
            unmarked.append(instrument.symbol)
            continue
        parts = explain(
            q0=q0.get(instrument_id, 0.0),
            start=start.get(instrument_id),
            q1=q1.get(instrument_id, 0.0),
            now=mark,
            fills=by_instrument.get(instrument_id, []),
            multiplier=float(instrument.multiplier),
            years=years,
        )
        rows.append({"instrument": instrument.symbol, "underlying": underlying_code(instrument)} | parts)
    by_underlying: dict[str, dict[str, float]] = {}
    for row in rows:
        acc = by_underlying.setdefault(row["underlying"], defaultdict(float))
        for key, value in row.items():
            if isinstance(value, float):
                acc[key] += value
    return {
        "day": day.isoformat(),
        "since": since.isoformat(),
        "as_of": now.isoformat(),
        "instruments": rows,
        "underlyings": [{"underlying": u} | dict(parts) for u, parts in sorted(by_underlying.items())],
        "unpriced_fills": unpriced,
        "unmarked": unmarked,
    }
