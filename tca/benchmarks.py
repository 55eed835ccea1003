"""Benchmark prices for TCA: arrival, interval VWAP, TWAP and close, and the slippage against them. Pure.

Money in quote currency per contract, times UTC (naive timestamps are taken as UTC), ``side`` +1 buy / -1 sell; a
cost is positive when the desk paid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
import pandas as pd

ArrayLike: TypeAlias = np.ndarray | pd.Series


def _ns(values: ArrayLike | Sequence[object]) -> np.ndarray:
    """UTC nanoseconds since the epoch (naive timestamps are taken as UTC)."""
    return pd.DatetimeIndex(pd.to_datetime(pd.Series(values), utc=True)).as_unit("ns").asi8


def _per_instrument(frame: pd.DataFrame) -> dict[object, pd.DataFrame]:
    if "instrument" not in frame.columns:
        return {None: frame}
    return {key: group for key, group in frame.groupby("instrument", sort=False)}


def interval_vwap(
    trades: pd.DataFrame, start: ArrayLike, end: ArrayLike, instrument: ArrayLike | None = None
) -> np.ndarray:
    """Market VWAP over closed intervals ``[start, end]``, vectorized with cumulative sums.

    Parameters
    ----------
    trades : the market's prints: ``time``, ``price`` (quote ccy per contract), ``volume`` (contracts) and
        optionally ``instrument``.
    start, end : interval bounds (UTC timestamps), one per interval.
    instrument : the instrument of each interval when ``trades`` has several.

    Returns
    -------
    ``sum(price * volume) / sum(volume)`` over the prints inside each interval; NaN when there is none.
    """
    starts = _ns(start)
    ends = _ns(end)
    keys = np.full(len(starts), None, dtype=object) if instrument is None else np.asarray(instrument, dtype=object)
    result = np.full(len(starts), np.nan)
    for key, group in _per_instrument(trades).items():
        ordered = group.sort_values("time", kind="stable")
        times = _ns(ordered["time"])
        volume = ordered["volume"].to_numpy(dtype=float)
        value = ordered["price"].to_numpy(dtype=float) * volume
        cum_value = np.concatenate([[0.0], np.cumsum(value)])
        cum_volume = np.concatenate([[0.0], np.cumsum(volume)])
        mask = np.ones(len(starts), dtype=bool) if key is None else keys == key
        lo = np.searchsorted(times, starts[mask], side="left")
        hi = np.searchsorted(times, ends[mask], side="right")
        vol = cum_volume[hi] - cum_volume[lo]
        with np.errstate(invalid="ignore", divide="ignore"):
            result[mask] = np.where(vol > 0, (cum_value[hi] - cum_value[lo]) / vol, np.nan)
    return result


def interval_twap(
    mids: pd.DataFrame, start: ArrayLike, end: ArrayLike, instrument: ArrayLike | None = None
) -> np.ndarray:
    """Time-weighted average mid over ``[start, end]``, the mid being a step function (last value carried forward).

    Parameters
    ----------
    mids : ``time``, ``mid`` (quote ccy per contract) and optionally ``instrument``.
    start, end : interval bounds (UTC timestamps).

    Returns
    -------
    ``(1 / (end - start)) * integral of mid(t) dt`` over the interval, the mid at ``start`` when ``end == start``;
    NaN when no mid is known at ``start`` or ``end < start``.
    """
    starts = _ns(start)
    ends = _ns(end)
    keys = np.full(len(starts), None, dtype=object) if instrument is None else np.asarray(instrument, dtype=object)
    result = np.full(len(starts), np.nan)
    for key, group in _per_instrument(mids).items():
        ordered = group.sort_values("time", kind="stable").drop_duplicates("time", keep="last")
        origin = _ns(ordered["time"])[0] if len(ordered) else 0
        # seconds from the first sample keep the running integral small enough for float64 over long series
        times = (_ns(ordered["time"]) - origin) / 1e9
        mid = ordered["mid"].to_numpy(dtype=float)
        # integral up to each sample: the previous mid held over the gap
        cum = np.concatenate([[0.0], np.cumsum(mid[:-1] * np.diff(times))])
        mask = np.ones(len(starts), dtype=bool) if key is None else keys == key
        if not len(ordered) or not mask.any():
            continue
        t0 = (starts[mask] - origin) / 1e9
        t1 = (ends[mask] - origin) / 1e9
        i0 = np.searchsorted(times, t0, side="right") - 1
        i1 = np.searchsorted(times, t1, side="right") - 1
        ok = (i0 >= 0) & (t1 >= t0)
        j0, j1 = np.clip(i0, 0, None), np.clip(i1, 0, None)
        area = (cum[j1] + mid[j1] * (t1 - times[j1])) - (cum[j0] + mid[j0] * (t0 - times[j0]))
        span = t1 - t0
        with np.errstate(invalid="ignore", divide="ignore"):
            value = np.where(span > 0, area / np.where(span > 0, span, 1.0), mid[j0])
        result[mask] = np.where(ok, value, np.nan)
    return result


def average_fill_price(fills: pd.DataFrame) -> pd.Series:
    """Quantity-weighted average fill price per ``order_id`` (quote ccy per contract)."""
    if fills.empty:
        return pd.Series(dtype=float, name="average_price")
    value = (fills["quantity"].astype(float) * fills["price"].astype(float)).groupby(fills["order_id"]).sum()
    quantity = fills.groupby("order_id")["quantity"].sum().astype(float)
    return (value / quantity).rename("average_price")


def benchmark_slippage(fills: pd.DataFrame, benchmark_price: pd.Series) -> pd.Series:
    """Cost of the filled quantity against a benchmark price per order.

    Parameters
    ----------
    fills : ``order_id``, ``side``, ``quantity``, ``price``.
    benchmark_price : indexed by ``order_id`` (arrival mid, interval VWAP, TWAP or close).

    Returns
    -------
    ``s X (avg_price - benchmark)`` per order in quote currency, positive when the desk paid.
    """
    if fills.empty:
        return pd.Series(dtype=float, name="slippage")
    side = fills.groupby("order_id")["side"].first().astype(float)
    quantity = fills.groupby("order_id")["quantity"].sum().astype(float)
    avg = average_fill_price(fills)
    return (side * quantity * (avg - benchmark_price.reindex(avg.index).astype(float))).rename("slippage")


def order_benchmarks(
    orders: pd.DataFrame, *, trades: pd.DataFrame | None = None, mids: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The four benchmark prices of each order.

    Parameters
    ----------
    orders : ``order_id``, ``arrival_mid``, ``end_mid`` and, for the interval benchmarks, ``arrival_time`` and
        ``end_time`` (and ``instrument`` when the market frames hold several).
    trades : market prints for the interval VWAP (see :func:`interval_vwap`); None: NaN.
    mids : mid samples for the TWAP (see :func:`interval_twap`); None: NaN.

    Returns
    -------
    Indexed by ``order_id``: ``arrival``, ``vwap``, ``twap``, ``close`` (quote ccy per contract).
    """
    instrument = orders["instrument"] if "instrument" in orders.columns else None
    out = pd.DataFrame(index=pd.Index(orders["order_id"], name="order_id"))
    out["arrival"] = orders["arrival_mid"].astype(float).to_numpy()
    if trades is not None and not orders.empty and not trades.empty:
        out["vwap"] = interval_vwap(trades, orders["arrival_time"], orders["end_time"], instrument)
    else:
        out["vwap"] = np.nan
    if mids is not None and not orders.empty and not mids.empty:
        out["twap"] = interval_twap(mids, orders["arrival_time"], orders["end_time"], instrument)
    else:
        out["twap"] = np.nan
    out["close"] = orders["end_mid"].astype(float).to_numpy()
    return out
