"""TCA: a full report over 1,000,000 synthetic fills, pandas against a row-by-row Python loop, and its peak memory.

Both compute the implementation shortfall of every fill and every order's unfilled remainder, split into Perold's
parts, rounded to the cent along the price path (:func:`tca.metrics.to_cents`) and added up per dealer; the bench
asserts that they agree to the cent before it reports any time.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Iterator
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from tca import metrics, reports

FILLS = 1_000_000
FILLS_PER_ORDER = 10
DEALERS = 8
SEED = 20261125


def synthetic(fills: int = FILLS, *, seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``fills`` fills on ``fills / 10`` orders with a price path around 100 (decision, arrival, mids, spread,
    impact) and whole-contract quantities; every tenth order is left a tenth unfilled."""
    rng = np.random.default_rng(seed)
    n_orders = fills // FILLS_PER_ORDER
    order_side = rng.choice(np.array([-1, 1]), n_orders)
    decision = np.round(100.0 + rng.normal(0, 1, n_orders), 2)
    arrival = np.round(decision + rng.normal(0, 0.05, n_orders), 2)
    end_mid = np.round(arrival + rng.normal(0, 0.2, n_orders), 2)
    order_of_fill = np.repeat(np.arange(n_orders), FILLS_PER_ORDER)
    side = order_side[order_of_fill]
    quantity = rng.integers(1, 50, fills).astype(float)
    mid = np.round(arrival[order_of_fill] + rng.normal(0, 0.1, fills), 2)
    mid_after = np.round(mid + side * np.abs(rng.normal(0, 0.02, fills)), 2)
    half_spread = np.round(np.abs(rng.normal(0.05, 0.01, fills)), 3)
    price = np.round(mid_after + side * (half_spread + np.abs(rng.normal(0, 0.03, fills))), 2)
    fill_frame = pd.DataFrame(
        {
            "order_id": order_of_fill,
            "side": side,
            "quantity": quantity,
            "price": price,
            "fee": np.round(quantity * price * 1e-4, 2),
            "mid_at_fill": mid,
            "half_spread_at_fill": half_spread,
            "mid_after": mid_after,
            "dealer": np.array([f"D{i}" for i in range(DEALERS)], dtype=object)[order_of_fill % DEALERS],
        }
    )
    filled = np.bincount(order_of_fill, weights=quantity, minlength=n_orders)
    target = filled + np.where(np.arange(n_orders) % 10 == 0, np.ceil(filled / 10), 0.0)
    order_frame = pd.DataFrame(
        {
            "order_id": np.arange(n_orders),
            "side": order_side,
            "target_quantity": target,
            "decision_price": decision,
            "arrival_mid": arrival,
            "end_mid": end_mid,
            "dealer": np.array([f"D{i}" for i in range(DEALERS)], dtype=object)[np.arange(n_orders) % DEALERS],
        }
    )
    return fill_frame, order_frame


def report_pandas(fills: pd.DataFrame, orders: pd.DataFrame) -> dict[str, dict[str, int]]:
    """The report the desk prints (:func:`tca.reports.tca_report_build`), as whole cents per dealer and part."""
    report = reports.tca_report_build(fills, orders, group_by="dealer", start=date(2026, 1, 1), end=date(2026, 1, 1))
    return {
        row["group"]: {
            **{name: int(row["parts"][name].scaleb(2)) for name in metrics.PARTS},
            "total": int(row["total_cost"].scaleb(2)),
            "notional": int(row["notional"].scaleb(2)),
            "fills": row["fills"],
        }
        for row in report["rows"]
    }


def _cents_path(parts: list[float], total: float) -> list[int]:
    """The rounding of :func:`tca.metrics.to_cents` for one row, in plain Python (``round`` is half-to-even)."""
    out, previous, running = [], 0, 0.0
    for index, value in enumerate(parts):
        running += value
        rounded = round((total if index == len(parts) - 1 else running) * 100.0)
        out.append(rounded - previous)
        previous = rounded
    return out


def report_loop(fills: pd.DataFrame, orders: pd.DataFrame) -> dict[str, dict[str, int]]:
    """The same numbers, one row at a time: Perold's parts of each fill, then of each unfilled remainder."""
    order_rows = {
        row[0]: row[1:]
        for row in orders.loc[
            :, ["order_id", "side", "target_quantity", "decision_price", "arrival_mid", "end_mid", "dealer"]
        ].itertuples(index=False)
    }
    groups: dict[str, dict[str, int]] = {}
    filled: dict[object, float] = {}
    order_dealers: dict[object, set[str]] = {}
    columns = [
        "order_id",
        "side",
        "quantity",
        "price",
        "fee",
        "mid_at_fill",
        "half_spread_at_fill",
        "mid_after",
        "dealer",
    ]
    for order_id, s, q, p, fee, m_pre, h, m_post, dealer in fills.loc[:, columns].itertuples(index=False):
        _, _, p_d, p_a, _, _ = order_rows[order_id]
        s, q = float(s), float(q)
        parts = [
            s * q * (p_a - p_d),
            s * q * (m_pre - p_a),
            s * q * (m_post - m_pre),
            q * h,
            s * q * (p - m_post) - q * h,
            fee,
            0.0,
        ]
        cents = _cents_path(parts, s * q * (p - p_d) + fee)
        group = groups.setdefault(dealer, dict.fromkeys([*metrics.PARTS, "total", "notional", "fills"], 0))
        for name, value in zip(metrics.PARTS, cents, strict=True):
            group[name] += value
        group["total"] += sum(cents)
        group["notional"] += round(q * p * 100.0)
        group["fills"] += 1
        filled[order_id] = filled.get(order_id, 0.0) + q
        order_dealers.setdefault(order_id, set()).add(dealer)
    for order_id, (side, target, p_d, _p_a, end_mid, dealer) in order_rows.items():
        rest = float(target) - filled.get(order_id, 0.0)
        if rest <= 0:
            continue
        opportunity = float(side) * rest * (end_mid - p_d)
        cents = _cents_path([0.0] * 6 + [opportunity], opportunity)
        group = groups.setdefault(dealer, dict.fromkeys([*metrics.PARTS, "total", "notional", "fills"], 0))
        for name, value in zip(metrics.PARTS, cents, strict=True):
            group[name] += value
        group["total"] += sum(cents)
    return dict(sorted(groups.items()))


def _timed(func: Any, *args: Any) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    result = func(*args)
    return time.perf_counter() - start, result


def benchmarks() -> Iterator[dict[str, Any]]:
    """The 1M-fill report: pandas (best of 2) against the Python loop (once), then the pandas report's peak memory
    against the size of its input frames."""
    fills, orders = synthetic()
    vectorized = min(_timed(report_pandas, fills, orders)[0] for _ in range(2))
    _, by_pandas = _timed(report_pandas, fills, orders)
    loop_seconds, by_loop = _timed(report_loop, fills, orders)
    if by_pandas != by_loop:
        raise AssertionError(f"the pandas report and the Python loop disagree: {by_pandas} != {by_loop}")
    for group in by_pandas.values():
        assert sum(group[name] for name in metrics.PARTS) == group["total"]
    yield {
        "bench": f"tca report[{FILLS} fills, {FILLS // FILLS_PER_ORDER} orders, by dealer] pandas vs python loop",
        "value": vectorized,
        "baseline": loop_seconds,
        "ratio": loop_seconds / vectorized,
        "unit": "s",
    }
    input_bytes = int(fills.memory_usage(deep=True).sum() + orders.memory_usage(deep=True).sum())
    gc.collect()
    tracemalloc.start()
    try:
        report_pandas(fills, orders)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    yield {
        "bench": f"tca report[{FILLS} fills] peak memory (tracemalloc) vs the input frames",
        "value": peak / 2**20,
        "baseline": input_bytes / 2**20,
        "ratio": peak / input_bytes,
        "unit": "MiB",
    }
