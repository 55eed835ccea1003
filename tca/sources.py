"""Where the benchmark prices come from, until the desk stores a mid-price history: a small, swappable adapter.

It turns the raw fills of :func:`tca.selectors.tca_fills_frame` into the ``fills`` and ``orders`` frames of
:mod:`tca.metrics`. There is no market history in the database yet, so each fill is priced from what the data has:

- a dealer fill: the accepted quote's own leg, ``mid = (bid + offer) / 2`` and ``half spread = (offer - bid) / 2``
  at quote time, used as the decision price, the arrival mid, the mid at and after the fill and the end mid;
- an algorithm's fill: the plan's first child order's limit price as a stand-in for all of them (half spread 0).

With one price per order the delay, timing, permanent-impact and opportunity parts are zero by construction and the
cost shows as spread (dealer fills) or temporary impact (algorithm fills). Every row says which source priced it
(``benchmark_source``); a fill without one stays in the frames with NaN prices and is reported as unpriced. Replace
this module by one that reads the stored mids (as-of the decision, arrival, fill and end times) when they exist.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

QUOTE_MID = "quote_mid"
FIRST_CHILD_LIMIT = "first_child_limit"
NO_BENCHMARK = "none"

SOURCE_DESCRIPTIONS: dict[str, str] = {
    QUOTE_MID: "dealer fills: the accepted quote's mid (bid + offer) / 2 at quote time, half spread (offer - bid) / 2",
    FIRST_CHILD_LIMIT: "algorithm fills: the plan's first child order's limit price (a stand-in; no mid history)",
    NO_BENCHMARK: "no price to compare with: reported as unpriced, not costed",
}
"""What each ``benchmark_source`` value means, for the report's notes."""

GROUP_COLUMNS: tuple[str, ...] = ("dealer", "algo", "trader", "leg", "period")


def fills_and_orders(raw: pd.DataFrame, *, end: pd.Timestamp | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The metrics' ``fills`` and ``orders`` frames from the raw fills of a period.

    Parameters
    ----------
    raw : :func:`tca.selectors.tca_fills_frame`.
    end : the period's exclusive end (UTC). An order's unfilled remainder is costed in the period of its last fill
        only (so that consecutive periods do not count it twice); None: always.

    Returns
    -------
    ``fills`` with the metrics' columns plus ``exec_id``, ``instrument``, ``currency``, ``time``,
    ``benchmark_source`` and the grouping columns (``dealer``, ``algo``, ``trader``, ``leg``, ``period`` = the
    fill's UTC date); ``orders`` one row per ``order_key`` with the metrics' columns, ``benchmark_source`` and the
    grouping columns of its first fill (``period`` = the date of its last fill).
    """
    if raw.empty:
        fill_columns = ["order_id", "side", "quantity", "price", "fee", "mid_at_fill", "half_spread_at_fill"]
        order_columns = ["order_id", "side", "target_quantity", "decision_price", "arrival_mid", "end_mid"]
        return (
            pd.DataFrame(columns=[*fill_columns, "mid_after", "benchmark_source", *GROUP_COLUMNS]),
            pd.DataFrame(columns=[*order_columns, "benchmark_source", *GROUP_COLUMNS]),
        )
    is_dealer = (raw["source"] == "dealer").to_numpy()
    bid = raw["quote_bid"].astype(float).to_numpy()
    offer = raw["quote_offer"].astype(float).to_numpy()
    mid = np.where(is_dealer, (bid + offer) / 2.0, raw["first_child_limit"].astype(float).to_numpy())
    half_spread = np.where(is_dealer, (offer - bid) / 2.0, 0.0)
    source = np.where(is_dealer, QUOTE_MID, FIRST_CHILD_LIMIT)
    source = np.where(np.isfinite(mid), source, NO_BENCHMARK)
    times = pd.to_datetime(raw["executed_at"], utc=True)

    fills = pd.DataFrame(
        {
            "exec_id": raw["exec_id"].to_numpy(),
            "order_id": raw["order_key"].to_numpy(),
            "instrument": raw["instrument"].to_numpy(),
            "currency": raw["currency"].to_numpy(),
            "side": raw["side"].astype(int).to_numpy(),
            "quantity": raw["quantity"].astype(float).to_numpy(),
            "price": raw["price"].astype(float).to_numpy(),
            "fee": raw["fee"].astype(float).fillna(0.0).to_numpy(),
            "mid_at_fill": mid,
            "half_spread_at_fill": np.where(np.isfinite(half_spread), half_spread, 0.0),
            "mid_after": mid,
            "time": times.to_numpy(),
            "benchmark_source": source,
            "dealer": raw["dealer"].to_numpy(),
            "algo": raw["algo"].to_numpy(),
            "trader": raw["trader"].to_numpy(),
            "leg": raw["leg"].to_numpy(),
            "period": times.dt.strftime("%Y-%m-%d").to_numpy(),
        }
    )

    by_order = fills.assign(
        _target=raw["order_target"].astype(float).to_numpy(),
        _filled_total=raw["order_filled_total"].astype(float).to_numpy(),
        _last=pd.to_datetime(raw["order_last_fill_at"], utc=True).to_numpy(),
    ).groupby("order_id", sort=False)
    orders = by_order.agg(
        side=("side", "first"),
        filled_here=("quantity", "sum"),
        decision_price=("mid_at_fill", "first"),
        benchmark_source=("benchmark_source", "first"),
        dealer=("dealer", "first"),
        algo=("algo", "first"),
        trader=("trader", "first"),
        leg=("leg", "first"),
        target=("_target", "first"),
        filled_total=("_filled_total", "first"),
        last_fill_at=("_last", "first"),
    ).reset_index()
    unfilled = (orders["target"] - orders["filled_total"]).clip(lower=0.0).fillna(0.0)
    last_fill = pd.to_datetime(orders["last_fill_at"], utc=True)
    finishes_here = pd.Series(True, index=orders.index) if end is None else last_fill < end
    orders["target_quantity"] = orders["filled_here"] + np.where(finishes_here, unfilled, 0.0)
    orders["arrival_mid"] = orders["decision_price"]
    orders["end_mid"] = orders["decision_price"]
    orders["period"] = last_fill.dt.strftime("%Y-%m-%d")
    order_columns = ["order_id", "side", "target_quantity", "decision_price", "arrival_mid", "end_mid"]
    return fills, orders.loc[:, [*order_columns, "benchmark_source", *GROUP_COLUMNS]]
