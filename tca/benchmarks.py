"""Benchmark prices for TCA: arrival, interval VWAP, TWAP and close, and the slippage against them. Pure.

Money in quote currency per contract, times UTC (naive timestamps are taken as UTC), ``side`` +1 buy / -1 sell; a
cost is positive when the desk paid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
import pandas as pd

from tca.sources import TAPE_MAX_AGE_S, tape_asof

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


# --- the report's benchmark slippage ----------------------------------------------------------------------------

BENCHMARK_NAMES: tuple[str, ...] = ("arrival", "vwap", "twap", "close")
BENCHMARK_DESCRIPTIONS: dict[str, str] = {
    "arrival": "the mid at the order's arrival (the tape's when it covers the order, else its quote or limit "
    "stand-in, as in the shortfall)",
    "vwap": "the interval VWAP between arrival and end: the tape's mids weighted by the volume the market traded "
    "(a stand-in for the market's prints)",
    "twap": "the interval TWAP: the tape's mid averaged over time between arrival and end",
    "close": "the tape's mid at the order's end (its last fill)",
}
"""What each benchmark of :func:`order_benchmark_slippage` is, for the report's notes."""
ORDER_SLIPPAGE_COLUMNS: tuple[str, ...] = (
    "instrument",
    "side",
    "quantity",
    "average_price",
    "notional",
    "arrival_time",
    "end_time",
    "has_tape",
    *(f"{name}_{field}" for name in BENCHMARK_NAMES for field in ("price", "cost", "bps")),
)


def _order_column(orders: pd.DataFrame, name: str, index: pd.Index, default: object = np.nan) -> pd.Series:
    if name not in orders.columns:
        return pd.Series(default, index=index, dtype=object if default is None else None)
    return orders.drop_duplicates("order_id").set_index("order_id")[name].reindex(index)


def order_benchmark_slippage(
    fills: pd.DataFrame, orders: pd.DataFrame, tape: pd.DataFrame | None = None, *, max_age_s: float | None = None
) -> pd.DataFrame:
    """Each order's average fill price against arrival, interval VWAP, interval TWAP and close. Vectorized.

    The market's prints are not recorded: the tape's volume-weighted mid stands in for them. Each sample's
    ``volume`` is what the market traded since the previous sample, so the VWAP over an order's interval
    ``(arrival, end]`` is ``sum(mid_k * volume_k) / sum(volume_k)`` over the samples ``arrival < t_k <= end``
    (:func:`interval_vwap`). The TWAP is the time average of the tape's mid, a step function, over
    ``[arrival, end]`` (:func:`interval_twap`); the close is the mid prevailing at ``end``. An order has tape when the
    tape holds a sample at most ``max_age_s`` seconds before its arrival and before its end; without, its VWAP, TWAP
    and close are NaN (``has_tape`` False: counted by the report, not dropped). The arrival benchmark is the order's
    ``arrival_mid``, whatever priced it.

    Parameters
    ----------
    fills : ``order_id``, ``side`` (+1 buy / -1 sell), ``quantity`` (contracts), ``price`` (quote ccy per contract)
        of the period; optionally ``instrument``.
    orders : ``order_id``, ``arrival_mid`` and, for the tape benchmarks, ``instrument``, ``arrival_time`` and
        ``end_time`` (UTC); the ``side`` of the order when present, else its first fill's.
    tape : the market tape (:func:`tca.selectors.market_tape_frame`: ``time``, ``instrument``, ``mid``, ``volume``);
        None or empty: no tape.
    max_age_s : the oldest sample that still counts at arrival and at end, seconds
        (:data:`tca.sources.TAPE_MAX_AGE_S` by default).

    Returns
    -------
    Indexed by ``order_id``, the columns :data:`ORDER_SLIPPAGE_COLUMNS`: ``quantity`` filled in the period,
    ``average_price`` (quantity-weighted), ``notional`` (``sum q p``, quote ccy) and for each benchmark ``b``:
    ``b_price``, ``b_cost = s Q (avg - b_price)`` (quote ccy, positive when the desk paid; fees not included) and
    ``b_bps = s (avg - b_price) / b_price * 1e4``; NaN where the benchmark is unknown.
    """
    age = TAPE_MAX_AGE_S if max_age_s is None else float(max_age_s)
    if fills.empty:
        return pd.DataFrame(columns=list(ORDER_SLIPPAGE_COLUMNS), index=pd.Index([], name="order_id"))
    quantity_by_fill = fills["quantity"].astype(float)
    grouped = fills.assign(
        _q=quantity_by_fill, _qp=quantity_by_fill * fills["price"].astype(float), _side=fills["side"].astype(float)
    ).groupby("order_id", sort=False)
    out = grouped.agg(quantity=("_q", "sum"), notional=("_qp", "sum"), _side=("_side", "first"))
    out.index.name = "order_id"
    index = out.index
    if "instrument" in orders.columns:
        out["instrument"] = _order_column(orders, "instrument", index, None)
    elif "instrument" in fills.columns:
        out["instrument"] = grouped["instrument"].first()
    else:
        out["instrument"] = None
    order_side = _order_column(orders, "side", index).astype(float)
    out["side"] = order_side.where(order_side.notna(), out["_side"])
    with np.errstate(invalid="ignore", divide="ignore"):
        out["average_price"] = np.where(out["quantity"] > 0, out["notional"] / out["quantity"], np.nan)
    out["arrival_time"] = pd.to_datetime(_order_column(orders, "arrival_time", index, None), utc=True)
    end_time = pd.to_datetime(_order_column(orders, "end_time", index, None), utc=True)
    # an end recorded before the arrival (clock skew between services) is read as a point interval at the arrival
    out["end_time"] = end_time.where(~(end_time < out["arrival_time"]), out["arrival_time"])
    prices = {name: np.full(len(out), np.nan) for name in BENCHMARK_NAMES}
    prices["arrival"] = _order_column(orders, "arrival_mid", index).astype(float).to_numpy()
    has_tape = np.zeros(len(out), dtype=bool)
    timed = (out["arrival_time"].notna() & out["end_time"].notna()).to_numpy()
    if tape is not None and not tape.empty and timed.any():
        market = pd.DataFrame(
            {
                "time": pd.to_datetime(tape["time"], utc=True),
                "instrument": tape["instrument"].astype(object),
                "mid": tape["mid"].astype(float),
                "volume": tape["volume"].astype(float).fillna(0.0),
            }
        )
        instrument = out["instrument"].to_numpy(dtype=object)[timed]
        start, end = out["arrival_time"][timed], out["end_time"][timed]
        at_start = tape_asof(market, instrument, start, max_age_s=age)
        at_end = tape_asof(market, instrument, end, max_age_s=age)
        covered = np.isfinite(at_start) & np.isfinite(at_end)
        # a sample's volume traded before its time: the one at the arrival itself belongs to the market before it
        after_start = start + pd.Timedelta(nanoseconds=1)
        vwap = interval_vwap(market.rename(columns={"mid": "price"}), after_start, end, instrument)
        twap = interval_twap(market, start, end, instrument)
        has_tape[timed] = covered
        for name, values in (("vwap", vwap), ("twap", twap), ("close", at_end)):
            prices[name][timed] = np.where(covered, values, np.nan)
    out["has_tape"] = has_tape
    side = out["side"].to_numpy(dtype=float)
    quantity = out["quantity"].to_numpy(dtype=float)
    average = out["average_price"].to_numpy(dtype=float)
    for name in BENCHMARK_NAMES:
        price = prices[name]
        out[f"{name}_price"] = price
        out[f"{name}_cost"] = side * quantity * (average - price)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"{name}_bps"] = np.where(price > 0, side * (average - price) / price * 1e4, np.nan)
    return out.loc[:, list(ORDER_SLIPPAGE_COLUMNS)]


def benchmark_groups(slippage: pd.DataFrame, keys: pd.Series | np.ndarray) -> pd.DataFrame:
    """The orders' benchmark slippage added up per group. Vectorized.

    Parameters
    ----------
    slippage : :func:`order_benchmark_slippage`.
    keys : the group of each order, aligned with ``slippage``'s rows.

    Returns
    -------
    Indexed by group: ``orders``, ``orders_without_tape``, ``quantity``, ``notional`` (quote ccy) and for each
    benchmark ``b``: ``b_orders`` (orders with that benchmark), ``b_notional`` (their notional), ``b_cost`` (the sum
    of their costs rounded to the cent each, in cents) and ``b_bps``: the notional-weighted mean of the orders' bps,
    ``sum(bps_i N_i) / sum(N_i)``; NaN when no order of the group has that benchmark.
    """
    notional = slippage["notional"].to_numpy(dtype=float)
    columns: dict[str, np.ndarray] = {
        "orders": np.ones(len(slippage), dtype=np.int64),
        "orders_without_tape": (~slippage["has_tape"].to_numpy(dtype=bool)).astype(np.int64),
        "quantity": slippage["quantity"].to_numpy(dtype=float),
        "notional": notional,
    }
    for name in BENCHMARK_NAMES:
        bps = slippage[f"{name}_bps"].to_numpy(dtype=float)
        known = np.isfinite(bps) & np.isfinite(slippage[f"{name}_cost"].to_numpy(dtype=float))
        columns[f"{name}_orders"] = known.astype(np.int64)
        columns[f"{name}_notional"] = np.where(known, notional, 0.0)
        columns[f"{name}_weighted"] = np.where(known, bps * notional, 0.0)
        columns[f"{name}_cost"] = np.where(known, np.rint(slippage[f"{name}_cost"].to_numpy(dtype=float) * 100.0), 0)
    sums = pd.DataFrame(columns).groupby(np.asarray(keys, dtype=object), sort=True).sum()
    for name in BENCHMARK_NAMES:
        with np.errstate(invalid="ignore", divide="ignore"):
            sums[f"{name}_bps"] = np.where(
                sums[f"{name}_orders"] > 0, sums[f"{name}_weighted"] / sums[f"{name}_notional"], np.nan
            )
        sums[f"{name}_cost"] = sums[f"{name}_cost"].astype(np.int64)
    return sums.drop(columns=[f"{name}_weighted" for name in BENCHMARK_NAMES])
