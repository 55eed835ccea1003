"""Markouts after fills: how the mid moved against the desk 1 s, 10 s, 1 min and 5 min later. Pure.

Signed so that a positive markout means the market moved against the desk after it traded (adverse selection).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

MARKOUT_HORIZONS_S: tuple[int, ...] = (1, 10, 60, 300)
"""Markout horizons in seconds after the fill."""


def markouts(
    fills: pd.DataFrame,
    mids: pd.DataFrame,
    *,
    horizons_s: Sequence[int] = MARKOUT_HORIZONS_S,
    reference: Literal["mid", "price"] = "mid",
) -> pd.DataFrame:
    """Markouts after each fill: how far the mid moved against the desk ``h`` seconds later (as-of join).

    Parameters
    ----------
    fills : ``time``, ``side``, ``quantity``, ``price`` and optionally ``instrument`` and grouping columns.
    mids : ``time``, ``mid`` and optionally ``instrument``: the mid prevailing from each sample's time on.
    horizons_s : seconds after the fill.
    reference : ``"mid"`` measures from the mid at the fill (the market's move only); ``"price"`` from the fill
        price (the move plus the spread paid).

    Returns
    -------
    One row per fill and horizon (long form): the fills' columns, ``horizon_s``, ``markout`` (quote ccy per
    contract), ``markout_bps`` (of the reference) and ``markout_cost`` (``markout * quantity``, quote ccy). Signed so
    that **positive means the market moved against the desk** after it traded (adverse selection): for a buy,
    ``ref - mid(t + h)``; for a sell, ``mid(t + h) - ref``. NaN when the mid series has no sample at or before the
    fill or ends before ``t + h`` (no market data around the fill); such rows are kept.
    """
    columns = [*fills.columns, "horizon_s", "markout", "markout_bps", "markout_cost"]
    if fills.empty or not len(horizons_s):
        return pd.DataFrame(columns=columns)
    if mids.empty:
        # no market data at all: every fill is kept, with NaN markouts (counted as fills without data)
        nan = np.full(len(fills), np.nan)
        frames = [
            fills.reset_index(drop=True).assign(horizon_s=int(horizon), markout=nan, markout_bps=nan, markout_cost=nan)
            for horizon in horizons_s
        ]
        return pd.concat(frames, ignore_index=True)
    by = "instrument" if "instrument" in fills.columns and "instrument" in mids.columns else None
    base = fills.reset_index(drop=True).assign(_fill=lambda f: np.arange(len(f)))
    base["time"] = pd.to_datetime(base["time"])
    series = mids.loc[:, [c for c in ("time", "mid", by) if c]].copy()
    series["time"] = pd.to_datetime(series["time"])
    series = series.sort_values("time", kind="stable")
    last_seen = series.groupby(by)["time"].max() if by else pd.Series({None: series["time"].max()})

    def mid_at(times: pd.Series) -> np.ndarray:
        probe = base.loc[:, ["_fill", *([by] if by else [])]].assign(time=times.to_numpy())
        probe["time"] = probe["time"].astype(series["time"].dtype)
        probe = probe.sort_values("time", kind="stable")
        joined = pd.merge_asof(probe, series, on="time", by=by, direction="backward")
        ends = joined[by].map(last_seen) if by else pd.Series(last_seen.iloc[0], index=joined.index)
        value = joined["mid"].where(joined["time"] <= ends)
        return value.to_numpy(dtype=float)[np.argsort(joined["_fill"].to_numpy())]

    mid_0 = mid_at(base["time"])
    ref = mid_0 if reference == "mid" else base["price"].to_numpy(dtype=float)
    side = base["side"].to_numpy(dtype=float)
    quantity = base["quantity"].to_numpy(dtype=float)
    frames = []
    for horizon in horizons_s:
        mid_h = mid_at(base["time"] + pd.Timedelta(seconds=horizon))
        move = side * (ref - mid_h)
        frame = base.drop(columns=["_fill"]).assign(
            horizon_s=int(horizon),
            markout=move,
            markout_bps=move / ref * 1e4,
            markout_cost=move * quantity,
        )
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def markout_curves(markout_rows: pd.DataFrame, *, by: str = "dealer") -> pd.DataFrame:
    """Quantity-weighted mean markout per group and horizon: the dealer markout curves.

    Returns
    -------
    Columns ``by``, ``horizon_s``, ``markout_bps`` (quantity-weighted mean over the fills with market data),
    ``markout_cost`` (sum, quote ccy), ``fills`` and ``fills_without_data``; positive means adverse selection.
    """
    if markout_rows.empty:
        return pd.DataFrame(columns=[by, "horizon_s", "markout_bps", "markout_cost", "fills", "fills_without_data"])
    frame = markout_rows.assign(
        _has=markout_rows["markout"].notna(),
        _wq=np.where(markout_rows["markout"].notna(), markout_rows["quantity"].astype(float), 0.0),
    )
    frame["_wbps"] = frame["_wq"] * frame["markout_bps"].fillna(0.0)
    grouped = frame.groupby([by, "horizon_s"], sort=True)
    out = pd.DataFrame(
        {
            "weighted": grouped["_wbps"].sum(),
            "weight": grouped["_wq"].sum(),
            "markout_cost": grouped["markout_cost"].sum(min_count=1),
            "fills": grouped["_has"].size(),
            "fills_without_data": grouped["_has"].apply(lambda has: int((~has).sum())),
        }
    )
    out["markout_bps"] = np.where(out["weight"] > 0, out["weighted"] / out["weight"].where(out["weight"] > 0), np.nan)
    return out.reset_index().loc[:, [by, "horizon_s", "markout_bps", "markout_cost", "fills", "fills_without_data"]]
