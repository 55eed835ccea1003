"""Post-trade TCA metrics: pure functions on pandas frames and numpy arrays, no ORM.

This module holds the implementation shortfall, its parts, the ledger in cents, the aggregation by group and the
package shortfall; it re-exports the benchmarks (:mod:`tca.benchmarks`) and the markouts (:mod:`tca.markouts`).

Conventions used by every function here
---------------------------------------
- Money is in the quote currency of the instrument (the desk's currency); prices are quote currency per contract;
  quantities are contracts and always positive; ``side`` is +1 for a buy and -1 for a sell.
- A **cost is positive when the desk paid** (a buy above the benchmark, a sell below it) and negative when the
  desk gained.
- Bad data is not dropped silently: a fill or an order whose benchmark is missing (NaN) gives NaN in the float
  metrics and is flagged by :func:`cost_ledger` (``priced`` False), never turned into a zero.

Frames
------
``fills`` (one row per execution):
    ``order_id``, ``side`` (+1/-1), ``quantity`` (contracts, > 0), ``price`` (quote ccy per contract),
    ``fee`` (quote ccy, >= 0, optional: 0), ``mid_at_fill`` (mid prevailing just before the fill),
    ``half_spread_at_fill`` (quote ccy per contract, optional: 0), ``mid_after`` (the mid once the temporary
    impact has decayed, optional: ``mid_at_fill``), ``time`` (UTC timestamps, for markouts and benchmarks) and any
    grouping columns (``dealer``, ``algo``, ``trader``, ``leg``...).
``orders`` (one row per parent order):
    ``order_id``, ``side`` (+1/-1), ``target_quantity`` (contracts), ``decision_price`` (the paper portfolio's price
    when the decision was taken), ``arrival_mid`` (the mid when the order reached the market), ``end_mid`` (the mid
    at the end of the order's horizon or the close: the price the unfilled remainder is marked at), and optionally
    ``decision_time``, ``arrival_time``, ``end_time``.

Implementation shortfall and its parts
--------------------------------------
Perold (1988) measures the shortfall of the real portfolio against a paper portfolio that traded the whole target
quantity ``Q`` at the decision price ``P_d``::

    IS = sum_i s q_i (p_i - P_d) + sum_i fee_i + s (Q - X) (P_end - P_d),      X = sum_i q_i

For each fill the price path from the decision price to the fill price is walked in steps, and each step is one
part (Wagner / Kissell decomposition, and the CFA curriculum's delay / realized / missed-trade split)::

    P_d --delay--> P_a --timing--> m_pre --impact_permanent--> m_post --spread--> m_post + s h
        --impact_temporary--> p ;  then + fee ;   and per order  P_d --opportunity--> P_end  on Q - X

where ``m_pre`` is ``mid_at_fill``, ``m_post`` is ``mid_after`` and ``h`` the half spread. Market impact is the
move from the pre-trade mid to the price (Kissell): its permanent part is the mid's move that stays
(``m_post - m_pre``), its temporary part what the desk paid beyond the post-trade mid and the half spread.
Spread capture (a fill inside the touch) therefore shows as a negative temporary impact; it is also reported on
its own by :func:`spread_capture`. Against the arrival mid (``benchmark="arrival"``) the paper portfolio trades
at ``P_a``: the delay part is zero and the opportunity cost is marked from ``P_a``.

To the cent, exactly
--------------------
Each ledger row (a fill, or an order's unfilled remainder) is rounded along its own path: the cumulative costs
``C_1 = delay, C_2 = delay + timing, ...`` are rounded half-to-even to whole cents, the last one being the row's
total computed directly from Perold's formula, and each part is the difference of two consecutive rounded
cumulative values. The parts of a row therefore telescope to the row's rounded total with integer arithmetic
(no remainder is pushed into one chosen part), and each part is within one cent of its exact value. Orders,
groups and reports add rows in integer cents, so every sum of parts equals its total exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Literal, TypeAlias

import numpy as np
import pandas as pd

# The benchmarks and markouts live in their own modules; they are part of this module's public face too.
from tca.benchmarks import average_fill_price, benchmark_slippage, interval_twap, interval_vwap, order_benchmarks
from tca.markouts import MARKOUT_HORIZONS_S, markout_curves, markouts

__all__ = [
    "FILL_PARTS",
    "MARKOUT_HORIZONS_S",
    "PARTS",
    "aggregate",
    "average_fill_price",
    "benchmark_slippage",
    "cents_to_decimal",
    "cost_ledger",
    "delay_cost",
    "fill_shortfall",
    "interval_twap",
    "interval_vwap",
    "markout_curves",
    "markouts",
    "opportunity_cost",
    "order_benchmarks",
    "order_shortfall",
    "package_shortfall",
    "permanent_impact_cost",
    "shortfall_parts",
    "spread_capture",
    "spread_cost",
    "temporary_impact_cost",
    "timing_cost",
    "to_cents",
]

ArrayLike: TypeAlias = np.ndarray | pd.Series

FILL_PARTS: tuple[str, ...] = ("delay", "timing", "impact_permanent", "spread", "impact_temporary", "fees")
"""The parts of a fill's cost, in the order of the price path they walk (the rounding order)."""
PARTS: tuple[str, ...] = (*FILL_PARTS, "opportunity")
"""Every part of the implementation shortfall; they add up to ``total_cost``."""

Benchmark = Literal["decision", "arrival"]


# --- one function per part: arrays in, arrays out, quote currency, positive = the desk paid ---------------------------


def delay_cost(side: ArrayLike, quantity: ArrayLike, arrival_mid: ArrayLike, decision_price: ArrayLike) -> ArrayLike:
    """Delay cost: the market's move between the decision and the order's arrival, on the filled quantity.

    Parameters
    ----------
    side : +1 buy, -1 sell.
    quantity : filled contracts.
    arrival_mid, decision_price : quote currency per contract.

    Returns
    -------
    ``s q (P_a - P_d)`` in quote currency; positive when the price ran away from the desk before it started.
    """
    return side * quantity * (arrival_mid - decision_price)


def timing_cost(side: ArrayLike, quantity: ArrayLike, mid_at_fill: ArrayLike, arrival_mid: ArrayLike) -> ArrayLike:
    """Timing cost: the mid's drift from the order's arrival to the moment of the fill.

    Returns
    -------
    ``s q (m_pre - P_a)`` in quote currency; it includes the permanent impact of the order's earlier fills.
    """
    return side * quantity * (mid_at_fill - arrival_mid)


def permanent_impact_cost(
    side: ArrayLike, quantity: ArrayLike, mid_after: ArrayLike, mid_at_fill: ArrayLike
) -> ArrayLike:
    """Permanent market impact: the part of the mid's move around the fill that did not revert.

    Returns
    -------
    ``s q (m_post - m_pre)`` in quote currency. Without a model of the market's own drift this also carries the
    noise of the reversion window: choose ``mid_after`` close to the fill.
    """
    return side * quantity * (mid_after - mid_at_fill)


def spread_cost(quantity: ArrayLike, half_spread: ArrayLike) -> ArrayLike:
    """Spread cost: the half spread paid to cross from the mid to the touch.

    Returns
    -------
    ``q h`` in quote currency, never negative for a sane quote.
    """
    return quantity * half_spread


def temporary_impact_cost(
    side: ArrayLike, quantity: ArrayLike, price: ArrayLike, mid_after: ArrayLike, half_spread: ArrayLike
) -> ArrayLike:
    """Temporary market impact: the price paid beyond the post-trade mid and the half spread.

    Returns
    -------
    ``s q (p - m_post) - q h`` in quote currency; negative when the fill was inside the touch (spread capture).
    """
    return side * quantity * (price - mid_after) - quantity * half_spread


def opportunity_cost(
    side: ArrayLike, unfilled_quantity: ArrayLike, end_mid: ArrayLike, benchmark_price: ArrayLike
) -> ArrayLike:
    """Opportunity cost of what was not filled, marked at the end of the horizon (Perold's cost of not trading).

    Parameters
    ----------
    unfilled_quantity : ``Q - X`` contracts, >= 0.
    end_mid : the mid at the end of the horizon or the close.
    benchmark_price : the decision price (or the arrival mid for the arrival benchmark).

    Returns
    -------
    ``s (Q - X) (P_end - P_d)`` in quote currency.
    """
    return side * unfilled_quantity * (end_mid - benchmark_price)


def fill_shortfall(
    side: ArrayLike, quantity: ArrayLike, price: ArrayLike, fee: ArrayLike, benchmark_price: ArrayLike
) -> ArrayLike:
    """Shortfall of one fill against the paper trade at the benchmark price: ``s q (p - P_d) + fee``."""
    return side * quantity * (price - benchmark_price) + fee


def spread_capture(
    side: ArrayLike, quantity: ArrayLike, price: ArrayLike, mid_at_fill: ArrayLike, half_spread: ArrayLike
) -> ArrayLike:
    """Spread capture: how much better than the far touch the fill was (a gain, not a cost).

    Returns
    -------
    ``q h - s q (p - m_pre)`` in quote currency; positive when the desk dealt inside the quoted spread, zero at the
    touch, negative when it paid through the touch.
    """
    return quantity * half_spread - side * quantity * (price - mid_at_fill)


# --- frames -----------------------------------------------------------------------------------------------------------


FILL_COLUMNS: tuple[str, ...] = ("order_id", "side", "quantity", "price", "mid_at_fill")
"""The columns a fills frame must have (``fee``, ``half_spread_at_fill``, ``mid_after`` are optional)."""
ORDER_COLUMNS: tuple[str, ...] = ("order_id", "side", "target_quantity", "decision_price", "arrival_mid", "end_mid")
"""The columns an orders frame must have."""


def _ensure_columns(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    missing = [name for name in columns if name not in frame.columns]
    if not missing:
        return frame
    if frame.empty:
        return frame.reindex(columns=[*frame.columns, *missing])
    raise ValueError(f"missing columns: {', '.join(missing)}")


def _with_defaults(fills: pd.DataFrame) -> pd.DataFrame:
    out = fills.copy()
    if "fee" not in out.columns:
        out["fee"] = 0.0
    if "half_spread_at_fill" not in out.columns:
        out["half_spread_at_fill"] = 0.0
    if "mid_after" not in out.columns:
        out["mid_after"] = out["mid_at_fill"]
    return out


def _benchmark_column(benchmark: Benchmark) -> str:
    if benchmark == "decision":
        return "decision_price"
    if benchmark == "arrival":
        return "arrival_mid"
    raise ValueError(f"unknown benchmark {benchmark!r}: 'decision' or 'arrival'")


def shortfall_parts(fills: pd.DataFrame, orders: pd.DataFrame, *, benchmark: Benchmark = "decision") -> pd.DataFrame:
    """The implementation shortfall of every fill and every order's unfilled remainder, split into its parts.

    Parameters
    ----------
    fills, orders : see the module docstring for the columns.
    benchmark : ``"decision"`` (Perold's paper portfolio at the decision price) or ``"arrival"`` (at the arrival
        mid, so the delay part is zero).

    Returns
    -------
    One row per fill (``kind`` "fill") then one row per order with an unfilled remainder (``kind`` "unfilled"),
    with the columns ``order_id``, ``kind``, ``quantity`` (filled contracts; the unfilled ones for "unfilled"
    rows), ``notional`` (``q p``, quote currency; 0 for unfilled), one float column per name in :data:`PARTS`
    (quote currency) and ``total`` computed directly from Perold's formula. The fills' other columns (grouping
    keys) pass through to the fill rows, the orders' other columns to the unfilled rows. Floats, not rounded: see
    :func:`cost_ledger` for cents.
    """
    _benchmark_column(benchmark)
    fills = _ensure_columns(fills, FILL_COLUMNS)
    orders = _ensure_columns(orders, ORDER_COLUMNS)
    order_cols = ["order_id", "side", "target_quantity", "decision_price", "arrival_mid", "end_mid"]
    order_frame = orders.loc[:, order_cols].copy()
    if benchmark == "arrival":
        order_frame["decision_price"] = order_frame["arrival_mid"]
    fill_frame = _with_defaults(fills)
    joined = fill_frame.merge(
        order_frame.loc[:, ["order_id", "decision_price", "arrival_mid"]].rename(
            columns={"decision_price": "_p_d", "arrival_mid": "_p_a"}
        ),
        on="order_id",
        how="left",
        validate="many_to_one",
    )
    s = joined["side"].to_numpy(dtype=float)
    q = joined["quantity"].to_numpy(dtype=float)
    p = joined["price"].to_numpy(dtype=float)
    fee = joined["fee"].to_numpy(dtype=float)
    m_pre = joined["mid_at_fill"].to_numpy(dtype=float)
    m_post = joined["mid_after"].to_numpy(dtype=float)
    h = joined["half_spread_at_fill"].to_numpy(dtype=float)
    p_d = joined["_p_d"].to_numpy(dtype=float)
    p_a = joined["_p_a"].to_numpy(dtype=float)

    fill_rows = joined.drop(columns=["_p_d", "_p_a"])
    fill_rows["kind"] = "fill"
    fill_rows["notional"] = q * p
    fill_rows["delay"] = delay_cost(s, q, p_a, p_d)
    fill_rows["timing"] = timing_cost(s, q, m_pre, p_a)
    fill_rows["impact_permanent"] = permanent_impact_cost(s, q, m_post, m_pre)
    fill_rows["spread"] = spread_cost(q, h)
    fill_rows["impact_temporary"] = temporary_impact_cost(s, q, p, m_post, h)
    fill_rows["fees"] = fee
    fill_rows["opportunity"] = 0.0
    fill_rows["total"] = fill_shortfall(s, q, p, fee, p_d)

    filled = fill_frame.groupby("order_id", sort=False)["quantity"].sum()
    unfilled = order_frame.assign(
        filled=order_frame["order_id"].map(filled).fillna(0.0).astype(float),
    )
    unfilled["quantity"] = unfilled["target_quantity"].astype(float) - unfilled["filled"]
    unfilled = unfilled.loc[unfilled["quantity"] > 0]
    opp = opportunity_cost(
        unfilled["side"].to_numpy(dtype=float),
        unfilled["quantity"].to_numpy(dtype=float),
        unfilled["end_mid"].to_numpy(dtype=float),
        unfilled["decision_price"].to_numpy(dtype=float),
    )
    order_rows = pd.DataFrame(
        {
            "order_id": unfilled["order_id"].to_numpy(),
            "side": unfilled["side"].to_numpy(),
            "kind": "unfilled",
            "quantity": unfilled["quantity"].to_numpy(dtype=float),
            "notional": 0.0,
            **dict.fromkeys(FILL_PARTS, 0.0),
            "opportunity": opp,
            "total": opp,
        }
    )
    reserved = {*order_cols, "kind", "quantity", "notional", *PARTS, "total", "filled"}
    for name in (column for column in orders.columns if column not in reserved):
        order_rows[name] = orders.loc[unfilled.index, name].to_numpy()
    frames = [frame for frame in (fill_rows, order_rows) if not frame.empty]
    if not frames:
        return fill_rows.iloc[0:0]
    return pd.concat(frames, ignore_index=True, sort=False)


def to_cents(parts: pd.DataFrame, *, names: Sequence[str] = PARTS, total: str = "total") -> pd.DataFrame:
    """Round each row's parts to whole cents so that they add up to the row's rounded total exactly.

    Parameters
    ----------
    parts : float costs in quote currency, one column per name and a ``total`` column.
    names : the part columns in the order of the price path.

    Returns
    -------
    A frame of ``int64`` cents with the same index, the part columns and ``total``: ``total`` is the row's total
    rounded half-to-even to the cent, and part ``k`` is ``round(C_k) - round(C_{k-1})`` with ``C_k`` the
    cumulative sum of the first ``k`` parts (``C_last`` being the directly computed total), so the parts telescope
    to the total and each is within one cent of its exact value. Rows with a NaN anywhere are all zero here and
    must be excluded by the caller (see ``priced`` in :func:`cost_ledger`).
    """
    values = parts.loc[:, list(names)].to_numpy(dtype=float)
    cumulative = np.cumsum(values, axis=1)
    cumulative[:, -1] = parts[total].to_numpy(dtype=float)
    rounded = np.rint(cumulative * 100.0)
    rounded = np.where(np.isfinite(rounded), rounded, 0.0).astype(np.int64)
    steps = np.diff(rounded, axis=1, prepend=np.zeros((len(parts), 1), dtype=np.int64))
    out = pd.DataFrame(steps, index=parts.index, columns=list(names))
    out[total] = rounded[:, -1]
    return out


def cost_ledger(fills: pd.DataFrame, orders: pd.DataFrame, *, benchmark: Benchmark = "decision") -> pd.DataFrame:
    """The shortfall ledger in whole cents: the unit every aggregation and report adds up.

    Returns
    -------
    The rows of :func:`shortfall_parts` with each part and ``total_cents`` as ``int64`` cents (columns
    ``<part>_cents``), and ``priced``: False when a benchmark or a mid needed by the row is missing (NaN); such a
    row keeps zero cents and is counted, not hidden, by :func:`aggregate`.
    """
    parts = shortfall_parts(fills, orders, benchmark=benchmark)
    priced = np.isfinite(parts.loc[:, [*PARTS, "total"]].to_numpy(dtype=float)).all(axis=1)
    cents = to_cents(parts)
    ledger = parts  # a fresh frame of shortfall_parts: no copy
    ledger["priced"] = priced
    for name in PARTS:
        ledger[f"{name}_cents"] = np.where(priced, cents[name].to_numpy(), 0).astype(np.int64)
    ledger["total_cents"] = np.where(priced, cents["total"].to_numpy(), 0).astype(np.int64)
    return ledger


def cents_to_decimal(cents: int | np.integer) -> Decimal:
    """Whole cents to a Decimal amount with two places (exact)."""
    return Decimal(int(cents)).scaleb(-2)


def aggregate(ledger: pd.DataFrame, *, by: str) -> list[dict[str, object]]:
    """Add the ledger up by a group column into report rows.

    Parameters
    ----------
    ledger : the output of :func:`cost_ledger` with a column named ``by`` (dealer, algo, trader, leg, period...).
        Unfilled rows without a value in that column are grouped with their order's fills when those share one
        value, else under ``"(unattributed)"``.
    by : the grouping column.

    Returns
    -------
    One dict per group, sorted by group: ``{"group", "quantity", "notional", "total_cost", "parts", "fills",
    "unpriced_fills"}`` with ``quantity`` the filled contracts, ``notional`` the filled ``q p`` (Decimal, cents),
    ``total_cost`` and each of ``parts`` Decimal in quote currency, the parts summing exactly to ``total_cost``.
    """
    if ledger.empty:
        return []
    fill_mask = (ledger["kind"] == "fill").to_numpy()
    priced = ledger["priced"].to_numpy(dtype=bool)
    if by in ledger.columns:
        keys = pd.Series(ledger[by].to_numpy(dtype=object, copy=True))
    else:
        keys = pd.Series(np.full(len(ledger), np.nan, dtype=object))
    missing = ~fill_mask & keys.isna().to_numpy()
    if missing.any():
        # an unfilled remainder takes its order's group when all of the order's fills share one
        order_ids = ledger["order_id"].to_numpy()
        fill_groups = keys[fill_mask].groupby(order_ids[fill_mask])
        per_order = fill_groups.first().where(fill_groups.nunique(dropna=False).eq(1))
        keys[missing] = pd.Series(order_ids[missing]).map(per_order).to_numpy()
    keys = keys.where(keys.notna(), "(unattributed)")
    codes, uniques = pd.factorize(keys)
    counted = fill_mask & priced
    cent_cols = [f"{name}_cents" for name in PARTS]
    columns = {
        "filled_quantity": np.where(counted, ledger["quantity"].to_numpy(dtype=float), 0.0),
        "filled_notional_cents": np.where(counted, np.rint(ledger["notional"].to_numpy(dtype=float) * 100.0), 0).astype(
            np.int64
        ),
        "total_cents": ledger["total_cents"].to_numpy(dtype=np.int64),
        "is_fill": fill_mask.astype(np.int64),
        "unpriced_fill": (fill_mask & ~priced).astype(np.int64),
        **{name: ledger[name].to_numpy(dtype=np.int64) for name in cent_cols},
    }
    by_code = pd.DataFrame(columns).groupby(codes, sort=False).sum()
    # groups are named by their text (a few labels: cheap), and two keys with one text are one group
    sums = by_code.groupby([str(uniques[code]) for code in by_code.index], sort=True).sum()
    rows: list[dict[str, object]] = []
    for group, row in zip(sums.index, sums.to_dict("records"), strict=True):
        rows.append(
            {
                "group": group,
                "quantity": float(row["filled_quantity"]),
                "notional": cents_to_decimal(row["filled_notional_cents"]),
                "total_cost": cents_to_decimal(row["total_cents"]),
                "parts": {name: cents_to_decimal(row[f"{name}_cents"]) for name in PARTS},
                "fills": int(row["is_fill"]),
                "unpriced_fills": int(row["unpriced_fill"]),
            }
        )
    return rows


def order_shortfall(fills: pd.DataFrame, orders: pd.DataFrame, *, benchmark: Benchmark = "decision") -> pd.DataFrame:
    """Implementation shortfall per order in cents, with its parts and in basis points of the paper notional.

    Returns
    -------
    Indexed by ``order_id``: ``<part>_cents`` and ``total_cents`` (int64, parts sum to the total), ``paper_notional``
    (``Q P_d``, quote currency) and ``total_bps`` (``total / paper_notional * 1e4``).
    """
    ledger = cost_ledger(fills, orders, benchmark=benchmark)
    cent_cols = [*(f"{name}_cents" for name in PARTS), "total_cents"]
    if ledger.empty:
        return pd.DataFrame(columns=[*cent_cols, "paper_notional", "total_bps"], index=pd.Index([], name="order_id"))
    sums = ledger.groupby("order_id", sort=False)[cent_cols].sum()
    bench = orders.set_index("order_id")[_benchmark_column(benchmark)].astype(float)
    paper = orders.set_index("order_id")["target_quantity"].astype(float) * bench
    sums["paper_notional"] = paper.reindex(sums.index)
    sums["total_bps"] = sums["total_cents"] / 100.0 / sums["paper_notional"] * 1e4
    return sums


# --- packages ---------------------------------------------------------------------------------------------------------


def package_shortfall(fills: pd.DataFrame, packages: pd.DataFrame) -> pd.DataFrame:
    """A multi-leg package judged as one trade: its legs' signed notional against the package decision price.

    Parameters
    ----------
    fills : ``package_id``, ``side`` (+1/-1, the desk's side on the leg), ``quantity``, ``price``, ``fee``
        (optional) of every leg fill.
    packages : ``package_id``, ``quantity`` (packages traded) and ``decision_price`` (the net price per package
        the desk would pay on paper, quote ccy; negative when the package is a net credit).

    Returns
    -------
    Indexed by ``package_id``: ``net_paid`` (``sum s q p``, quote ccy), ``paper`` (``N * P_pkg``), ``fees``,
    ``total_cost`` (``net_paid - paper + fees``, positive when the desk paid more than the package price) and
    ``total_cents`` (rounded half-to-even). Legs are not judged one by one: a leg bought dear and one sold dear
    net out, as they do in the package price a dealer quotes.
    """
    columns = ["net_paid", "paper", "fees", "total_cost", "total_cents"]
    if packages.empty:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="package_id"))
    leg_fills = fills if "fee" in fills.columns else fills.assign(fee=0.0)
    signed = leg_fills["side"].astype(float) * leg_fills["quantity"].astype(float) * leg_fills["price"].astype(float)
    net_paid = signed.groupby(leg_fills["package_id"]).sum()
    fees = leg_fills["fee"].astype(float).groupby(leg_fills["package_id"]).sum()
    out = pd.DataFrame(index=pd.Index(packages["package_id"], name="package_id"))
    out["net_paid"] = net_paid.reindex(out.index).fillna(0.0)
    out["paper"] = packages["quantity"].astype(float).to_numpy() * packages["decision_price"].astype(float).to_numpy()
    out["fees"] = fees.reindex(out.index).fillna(0.0)
    out["total_cost"] = out["net_paid"] - out["paper"] + out["fees"]
    out["total_cents"] = np.rint(out["total_cost"] * 100.0).astype(np.int64)
    return out
