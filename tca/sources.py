"""Where the benchmark prices come from: the stored market tape, or, where it has no sample around a fill, what the
trade itself holds. A small, swappable adapter.

It turns the raw fills of :func:`tca.selectors.tca_fills_frame` into the ``fills`` and ``orders`` frames of
:mod:`tca.metrics`. An order is priced **on the tape** (:func:`tca.selectors.market_tape_frame`) when the tape has a
sample of its instrument at most :data:`TAPE_MAX_AGE_S` seconds old at its decision time, its arrival time and just
before each of its fills:

- decision price: the mid at the RFQ's or the plan's creation; arrival mid: at the RFQ sent or the plan started;
- mid at fill: the last sample strictly before the fill; mid after: the mid :data:`PERMANENT_WINDOW_S` seconds
  later (what stayed: permanent impact); end mid: the mid that long after the order's last fill;
- half spread: the accepted quote's (the touch the desk was shown) for a dealer fill, the tape's for an algorithm's.

Otherwise the whole order falls back to one price per order (the delay, timing, permanent-impact and opportunity
parts are then zero by construction), and its fills are flagged ``on_tape`` False and counted by the report:

- a dealer fill: the accepted quote's own leg, ``mid = (bid + offer) / 2`` and ``half spread = (offer - bid) / 2``;
- an algorithm's fill: the plan's first child order's limit price as a stand-in for all of them (half spread 0).

Every row says which source priced it (``benchmark_source``); a fill with no price at all stays in the frames with
NaN prices and is reported as unpriced.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tca.selectors import market_tape_frame

TAPE = "tape"
QUOTE_MID = "quote_mid"
FIRST_CHILD_LIMIT = "first_child_limit"
NO_BENCHMARK = "none"

SOURCE_DESCRIPTIONS: dict[str, str] = {
    TAPE: "the market tape: decision, arrival, fill, post-fill and end mids as recorded around the order",
    QUOTE_MID: "dealer fills without tape around them: the accepted quote's mid (bid + offer) / 2, half spread "
    "(offer - bid) / 2; delay, timing and permanent impact not measured",
    FIRST_CHILD_LIMIT: "algorithm fills without tape around them: the plan's first child order's limit price (a "
    "stand-in); delay, timing and permanent impact not measured",
    NO_BENCHMARK: "no price to compare with: reported as unpriced, not costed",
}
"""What each ``benchmark_source`` value means, for the report's notes."""

GROUP_COLUMNS: tuple[str, ...] = ("dealer", "algo", "trader", "leg", "period")
INTERVAL_COLUMNS: tuple[str, ...] = ("instrument", "arrival_time", "end_time")
"""The orders' columns for the interval benchmarks (:func:`tca.benchmarks.order_benchmark_slippage`): the
instrument, the arrival (the RFQ sent, the plan started) and the end (the order's last fill, in the period or not)."""

TAPE_MAX_AGE_S = 10.0
"""Oldest tape sample (seconds before the moment priced) that still counts as market data around it."""
PERMANENT_WINDOW_S = 5.0
"""Seconds after a fill at which the mid is read as what stayed (the permanent impact): short, so that the market's
own drift adds little; the venue's stored mid carries the permanent impact only (temporary impact is apart)."""
TAPE_MARGIN_S = 300.0
"""Seconds of tape loaded after the last fill (the longest markout horizon)."""


def _ns(values: object) -> np.ndarray:
    return pd.DatetimeIndex(pd.to_datetime(pd.Series(values), utc=True)).as_unit("ns").asi8


def tape_asof(
    tape: pd.DataFrame,
    instrument: np.ndarray,
    times: object,
    *,
    strict: bool = False,
    max_age_s: float = TAPE_MAX_AGE_S,
    column: str = "mid",
) -> np.ndarray:
    """The tape's ``column`` prevailing at each ``times`` for each ``instrument``: the last sample at (or, with
    ``strict``, strictly before) that time and at most ``max_age_s`` seconds old; NaN when there is none."""
    times_ns = _ns(times)
    out = np.full(len(times_ns), np.nan)
    if tape.empty or not len(times_ns):
        return out
    keys = np.asarray(instrument, dtype=object)
    for key, group in tape.groupby("instrument", sort=False):
        mask = keys == key
        if not mask.any():
            continue
        ordered = group.sort_values("time", kind="stable")
        sample_ns = _ns(ordered["time"])
        values = ordered[column].to_numpy(dtype=float)
        probe = times_ns[mask]
        index = np.searchsorted(sample_ns, probe, side="left" if strict else "right") - 1
        found = index >= 0
        safe = np.clip(index, 0, None)
        fresh = found & (probe - sample_ns[safe] <= max_age_s * 1e9)
        out[mask] = np.where(fresh, values[safe], np.nan)
    return out


def tape_for(raw: pd.DataFrame) -> pd.DataFrame:
    """The stored tape around the raw fills of a period (from the earliest decision to
    :data:`TAPE_MARGIN_S` after the last fill), for their instruments only."""
    if raw.empty:
        return pd.DataFrame(columns=["time", "instrument", "mid", "volume", "spread", "regime", "volatility"])
    times = pd.to_datetime(raw["executed_at"], utc=True)
    decided = pd.to_datetime(raw["decision_at"], utc=True) if "decision_at" in raw.columns else times
    start = min(times.min(), decided.min()) - pd.Timedelta(seconds=TAPE_MAX_AGE_S)
    end = times.max() + pd.Timedelta(seconds=TAPE_MARGIN_S + PERMANENT_WINDOW_S)
    return market_tape_frame(
        start=start.to_pydatetime(), end=end.to_pydatetime(), instruments=sorted(set(raw["instrument"]))
    )


def fills_and_orders(
    raw: pd.DataFrame, *, end: pd.Timestamp | None = None, tape: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The metrics' ``fills`` and ``orders`` frames from the raw fills of a period.

    Parameters
    ----------
    raw : :func:`tca.selectors.tca_fills_frame`.
    end : the period's exclusive end (UTC). An order's unfilled remainder is costed in the period of its last fill
        only (so that consecutive periods do not count it twice); None: always.
    tape : :func:`tca.selectors.market_tape_frame` around the fills (:func:`tape_for`); None or empty: every order
        falls back to its own prices.

    Returns
    -------
    ``fills`` with the metrics' columns plus ``exec_id``, ``instrument``, ``currency``, ``time``,
    ``benchmark_source``, ``on_tape`` and the grouping columns (``dealer``, ``algo``, ``trader``, ``leg``,
    ``period`` = the fill's UTC date); ``orders`` one row per ``order_key`` with the metrics' columns,
    ``benchmark_source``, the grouping columns of its first fill (``period`` = the date of its last fill) and
    :data:`INTERVAL_COLUMNS`.
    """
    if raw.empty:
        fill_columns = ["order_id", "side", "quantity", "price", "fee", "mid_at_fill", "half_spread_at_fill"]
        order_columns = ["order_id", "side", "target_quantity", "decision_price", "arrival_mid", "end_mid"]
        return (
            pd.DataFrame(columns=[*fill_columns, "mid_after", "benchmark_source", "on_tape", *GROUP_COLUMNS]),
            pd.DataFrame(columns=[*order_columns, "benchmark_source", *GROUP_COLUMNS, *INTERVAL_COLUMNS]),
        )
    is_dealer = (raw["source"] == "dealer").to_numpy()
    bid = raw["quote_bid"].astype(float).to_numpy()
    offer = raw["quote_offer"].astype(float).to_numpy()
    quote_half_spread = (offer - bid) / 2.0
    mid = np.where(is_dealer, (bid + offer) / 2.0, raw["first_child_limit"].astype(float).to_numpy())
    half_spread = np.where(is_dealer, quote_half_spread, 0.0)
    mid_after = mid.copy()
    decision = mid.copy()
    arrival = mid.copy()
    source = np.where(is_dealer, QUOTE_MID, FIRST_CHILD_LIMIT)
    source = np.where(np.isfinite(mid), source, NO_BENCHMARK)
    times = pd.to_datetime(raw["executed_at"], utc=True)
    arrived = pd.to_datetime(raw["arrival_at"].fillna(raw["decision_at"]).fillna(raw["executed_at"]), utc=True)
    on_tape = np.zeros(len(raw), dtype=bool)
    end_mid_by_order: pd.Series | None = None

    if tape is not None and not tape.empty:
        instrument = raw["instrument"].to_numpy()
        window = pd.Timedelta(seconds=PERMANENT_WINDOW_S)
        tape_mid = tape_asof(tape, instrument, times, strict=True)
        tape_spread = tape_asof(tape, instrument, times, strict=True, column="spread")
        tape_after = tape_asof(tape, instrument, times + window, max_age_s=TAPE_MAX_AGE_S + PERMANENT_WINDOW_S)
        decided = pd.to_datetime(raw["decision_at"].fillna(raw["executed_at"]), utc=True)
        tape_decision = tape_asof(tape, instrument, decided)
        tape_arrival = tape_asof(tape, instrument, arrived)
        last_fill = pd.to_datetime(raw["order_last_fill_at"], utc=True)
        tape_end = tape_asof(tape, instrument, last_fill + window, max_age_s=TAPE_MAX_AGE_S + PERMANENT_WINDOW_S)
        # An order is on the tape only as a whole: mixing tape mids and quote mids would invent delay and timing.
        covered = pd.Series(np.isfinite(tape_mid) & np.isfinite(tape_decision) & np.isfinite(tape_arrival))
        on_tape = covered.groupby(raw["order_key"].to_numpy()).transform("all").to_numpy(dtype=bool)
        mid = np.where(on_tape, tape_mid, mid)
        mid_after = np.where(on_tape, np.where(np.isfinite(tape_after), tape_after, tape_mid), mid_after)
        decision = np.where(on_tape, tape_decision, decision)
        arrival = np.where(on_tape, tape_arrival, arrival)
        tape_half = np.where(np.isfinite(tape_spread), tape_spread / 2.0, 0.0)
        dealer_half = np.where(np.isfinite(quote_half_spread), quote_half_spread, tape_half)
        half_spread = np.where(on_tape, np.where(is_dealer, dealer_half, tape_half), half_spread)
        source = np.where(on_tape, TAPE, source)
        end_mid_by_order = (
            pd.Series(np.where(np.isfinite(tape_end), tape_end, mid_after))
            .groupby(raw["order_key"].to_numpy(), sort=False)
            .last()
        )

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
            "mid_after": mid_after,
            "time": times.to_numpy(),
            "benchmark_source": source,
            "on_tape": on_tape,
            "dealer": raw["dealer"].to_numpy(),
            "algo": raw["algo"].to_numpy(),
            "trader": raw["trader"].to_numpy(),
            "leg": raw["leg"].to_numpy(),
            "period": times.dt.strftime("%Y-%m-%d").to_numpy(),
            "package": raw["package"].to_numpy() if "package" in raw.columns else None,
        }
    )

    by_order = fills.assign(
        _decision=decision,
        _arrival=arrival,
        _target=raw["order_target"].astype(float).to_numpy(),
        _filled_total=raw["order_filled_total"].astype(float).to_numpy(),
        _last=pd.to_datetime(raw["order_last_fill_at"], utc=True).to_numpy(),
        _arrived=arrived.to_numpy(),
    ).groupby("order_id", sort=False)
    orders = by_order.agg(
        side=("side", "first"),
        filled_here=("quantity", "sum"),
        decision_price=("_decision", "first"),
        arrival_mid=("_arrival", "first"),
        benchmark_source=("benchmark_source", "first"),
        dealer=("dealer", "first"),
        algo=("algo", "first"),
        trader=("trader", "first"),
        leg=("leg", "first"),
        target=("_target", "first"),
        filled_total=("_filled_total", "first"),
        last_fill_at=("_last", "first"),
        instrument=("instrument", "first"),
        arrival_time=("_arrived", "first"),
    ).reset_index()
    unfilled = (orders["target"] - orders["filled_total"]).clip(lower=0.0).fillna(0.0)
    last_fill = pd.to_datetime(orders["last_fill_at"], utc=True)
    finishes_here = pd.Series(True, index=orders.index) if end is None else last_fill < end
    orders["target_quantity"] = orders["filled_here"] + np.where(finishes_here, unfilled, 0.0)
    orders["end_mid"] = orders["decision_price"]
    if end_mid_by_order is not None:
        on_tape_orders = orders["benchmark_source"] == TAPE
        orders.loc[on_tape_orders, "end_mid"] = orders.loc[on_tape_orders, "order_id"].map(end_mid_by_order)
    orders["period"] = last_fill.dt.strftime("%Y-%m-%d")
    orders["arrival_time"] = pd.to_datetime(orders["arrival_time"], utc=True)
    orders["end_time"] = last_fill
    order_columns = ["order_id", "side", "target_quantity", "decision_price", "arrival_mid", "end_mid"]
    return fills, orders.loc[:, [*order_columns, "benchmark_source", *GROUP_COLUMNS, *INTERVAL_COLUMNS]]
