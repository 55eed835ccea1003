"""Dealer features from the desk's own RFQ history. Pure pandas: frames in, frames out, no ORM.

Two inputs: the history (one row per quote request, :func:`rfq.scoring.history.scoring_history_frame`) and the
market's mids (``time``, ``instrument``, ``mid``, ``regime``, ``volatility``; the mid prevailing from each sample
on). Prices are compared in basis points of the mid, signed so that **positive is a cost to the desk**.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from rfq.ports import market_tape

SIZE_BUCKET_EDGES_USD: tuple[float, ...] = (0.0, 250e3, 1e6, 5e6, np.inf)
"""Notional bucket edges, quote currency."""
SIZE_BUCKETS: tuple[str, ...] = ("<250k", "250k-1m", "1m-5m", ">=5m")
MARKOUT_HORIZONS_S: tuple[int, ...] = (1, 10, 60)
"""Markout horizons after the RFQ and after the fill, seconds."""
CELL: tuple[str, ...] = ("dealer", "kind", "size_bucket", "regime")
ANSWER_WINDOW_S = 8.0
"""Seconds the desk waits for answers before it gives up on a silent dealer (its own process)."""
FALLBACK_DELAY_S = 5.0
"""Seconds from a failed request (silence, decline, last-look reject) to the fill of the desk's fallback."""
"""The grain of the dealer feature table: dealer × instrument class × size bucket × volatility regime."""


def _asof(mids: pd.DataFrame, instruments: pd.Series, times: pd.Series, column: str = "mid") -> np.ndarray:
    """``column`` of ``mids`` prevailing at each (instrument, time); NaN where a time is missing or precedes data."""
    probe = pd.DataFrame(
        {"instrument": instruments.to_numpy(), "time": times.to_numpy(), "_row": np.arange(len(times))}
    )
    known = probe["time"].notna()
    out = np.full(len(probe), np.nan, dtype=object if column == "regime" else float)
    if not known.any() or mids.empty:
        return out
    series = mids.loc[:, ["time", "instrument", column]].sort_values("time", kind="stable")
    series["time"] = pd.to_datetime(series["time"], utc=True)
    left = probe.loc[known].copy()
    left["time"] = pd.to_datetime(left["time"], utc=True).astype(series["time"].dtype)
    left = left.sort_values("time", kind="stable")
    joined = pd.merge_asof(left, series, on="time", by="instrument", direction="backward")
    out[joined["_row"].to_numpy()] = joined[column].to_numpy()
    return out


def size_bucket(notional: pd.Series | np.ndarray) -> pd.Series:
    """The size bucket of each notional (quote currency)."""
    return pd.Series(
        pd.cut(
            np.asarray(notional, dtype=float), bins=list(SIZE_BUCKET_EDGES_USD), labels=list(SIZE_BUCKETS), right=False
        )
    ).astype(str)


def request_features(
    history: pd.DataFrame,
    mids: pd.DataFrame,
    *,
    answer_window_s: float = ANSWER_WINDOW_S,
    fallback_delay_s: float = FALLBACK_DELAY_S,
) -> pd.DataFrame:
    """Per quote request: the market around it and what the dealer's answer was worth.

    Returns
    -------
    ``history`` plus: ``mid_sent`` (quote ccy), ``regime``, ``volatility`` (annualized) at the RFQ; ``notional``
    (quote ccy), ``size_bucket``, ``log_notional``; ``answered`` (a price came), ``responded`` (a price or a
    decline), ``response_s`` (seconds, NaN without an answer); at the quote's arrival: ``quote_error_bps`` (quote
    mid minus market mid), ``half_spread_bps``, ``cost_bps`` (the desk's side of the quote against the mid then,
    positive is a cost); ``cost_arrival_bps`` (against the mid when the RFQ went out: leakage included);
    ``distance_to_best_bps`` (against the RFQ's best answer); ``won``, ``filled``, ``rejected`` (last look);
    ``last_look_move_bps`` (how far the mid moved against the dealer between its price and our acceptance);
    ``markout_rfq_{h}s_bps`` and ``markout_fill_{h}s_bps`` (mid move against the desk ``h`` s after the RFQ and
    after the fill, positive adverse); ``fail_at`` and ``fallback_cost_bps``: when the request failed (a silence
    at the end of the answer window ``answer_window_s``, a decline at the dealer's median answer time, a last-look
    reject at the acceptance; for a quote not taken, its arrival, as if it had been rejected at once) and what the
    desk's fallback then cost against the mid at the RFQ (the market's move until ``fallback_delay_s`` later, plus
    the venue's half-spread then where ``mids`` has a ``half_spread_bps`` column; bps, positive adverse).
    """
    frame = history.reset_index(drop=True).copy()
    side = frame["side"].to_numpy(dtype=float)
    instruments = frame["instrument"]
    sent = pd.to_datetime(frame["sent_at"], utc=True)
    frame["mid_sent"] = _asof(mids, instruments, sent)
    frame["regime"] = pd.Series(_asof(mids, instruments, sent, "regime")).fillna("unknown").astype(str)
    frame["volatility"] = _asof(mids, instruments, sent, "volatility")
    frame["notional"] = frame["quantity"] * frame["multiplier"] * frame["mid_sent"]
    frame["log_notional"] = np.log10(frame["notional"].clip(lower=1.0))
    frame["size_bucket"] = size_bucket(frame["notional"].fillna(0.0)).to_numpy()

    quoted_at = pd.to_datetime(frame["quoted_at"], utc=True)
    frame["answered"] = frame["bid"].notna() | frame["offer"].notna()
    frame["responded"] = frame["answered"] | frame["declined"].astype(bool)
    frame["response_s"] = (quoted_at - sent).dt.total_seconds()
    mid_quote = _asof(mids, instruments, quoted_at)
    price = np.where(side > 0, frame["offer"], frame["bid"])
    frame["quote_error_bps"] = ((frame["bid"] + frame["offer"]) / 2 - mid_quote) / mid_quote * 1e4
    frame["half_spread_bps"] = (frame["offer"] - frame["bid"]) / 2 / mid_quote * 1e4
    frame["cost_bps"] = side * (price - mid_quote) / mid_quote * 1e4
    frame["cost_arrival_bps"] = side * (price - frame["mid_sent"]) / frame["mid_sent"] * 1e4
    best = frame.groupby("rfq_id")["cost_arrival_bps"].transform("min")
    frame["distance_to_best_bps"] = frame["cost_arrival_bps"] - best

    accepted_at = pd.to_datetime(frame["accepted_at"], utc=True)
    frame["won"] = accepted_at.notna()
    frame["filled"] = frame["order_status"].eq("filled")
    frame["rejected"] = frame["order_status"].eq("rejected")
    mid_accept = _asof(mids, instruments, accepted_at)
    frame["last_look_move_bps"] = side * (mid_accept - price) / price * 1e4
    for horizon in MARKOUT_HORIZONS_S:
        later = _asof(mids, instruments, sent + pd.Timedelta(seconds=horizon))
        frame[f"markout_rfq_{horizon}s_bps"] = side * (later - frame["mid_sent"]) / frame["mid_sent"] * 1e4
        after_fill = _asof(mids, instruments, accepted_at.where(frame["filled"]) + pd.Timedelta(seconds=horizon))
        frame[f"markout_fill_{horizon}s_bps"] = side * (after_fill - mid_accept) / mid_accept * 1e4
    answer_s = frame.groupby("dealer")["response_s"].transform("median")
    typical_s = frame["response_s"].median()
    answer_s = answer_s.fillna(typical_s if pd.notna(typical_s) else answer_window_s)
    fail_at = quoted_at.where(frame["answered"], sent + pd.to_timedelta(answer_s, unit="s"))
    fail_at = fail_at.where(frame["responded"], sent + pd.Timedelta(seconds=answer_window_s))
    frame["fail_at"] = fail_at.where(~frame["rejected"], accepted_at)
    fallback = _asof(mids, instruments, frame["fail_at"] + pd.Timedelta(seconds=fallback_delay_s))
    frame["fallback_cost_bps"] = side * (fallback - frame["mid_sent"]) / frame["mid_sent"] * 1e4
    if "half_spread_bps" in mids.columns:
        # The fallback crosses the venue's spread: half of it at the time it fills, where the market data has it.
        venue = _asof(mids, instruments, frame["fail_at"] + pd.Timedelta(seconds=fallback_delay_s), "half_spread_bps")
        frame["fallback_cost_bps"] += np.nan_to_num(venue.astype(float))
    return frame


def _rate(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return numerator / denominator.where(denominator > 0)


def dealer_cell_features(rows: pd.DataFrame, by: Sequence[str] = CELL) -> pd.DataFrame:
    """Aggregate :func:`request_features` rows per ``by`` (default dealer × class × size bucket × regime).

    Returns
    -------
    One row per group: ``requests``; ``answer_rate``, ``respond_rate``, ``decline_rate``; ``response_p50_s``,
    ``response_p90_s``; ``cost_bps``, ``half_spread_bps``, ``quote_error_std_bps``, ``distance_to_best_bps``
    (means over answers); ``win_rate`` (wins per answer), ``fill_rate`` (fills per win), ``last_look_reject_rate``;
    ``markout_rfq_{h}s_bps`` and ``markout_fill_{h}s_bps`` (means). Rates are NaN when their denominator is 0.
    """
    keys = list(by)
    work = rows.assign(
        _answered=rows["answered"].astype(float),
        _responded=rows["responded"].astype(float),
        _declined=rows["declined"].astype(float),
        _won=rows["won"].astype(float),
        _filled=rows["filled"].astype(float),
        _rejected=rows["rejected"].astype(float),
    )
    grouped = work.groupby(keys, sort=True, observed=True)
    out = pd.DataFrame(
        {
            "requests": grouped.size(),
            "answers": grouped["_answered"].sum(),
            "responses": grouped["_responded"].sum(),
            "declines": grouped["_declined"].sum(),
            "wins": grouped["_won"].sum(),
            "fills": grouped["_filled"].sum(),
            "rejects": grouped["_rejected"].sum(),
            "response_p50_s": grouped["response_s"].median(),
            "response_p90_s": grouped["response_s"].quantile(0.9),
            "cost_bps": grouped["cost_bps"].mean(),
            "half_spread_bps": grouped["half_spread_bps"].mean(),
            "quote_error_std_bps": grouped["quote_error_bps"].std(),
            "distance_to_best_bps": grouped["distance_to_best_bps"].mean(),
        }
    )
    for horizon in MARKOUT_HORIZONS_S:
        out[f"markout_rfq_{horizon}s_bps"] = grouped[f"markout_rfq_{horizon}s_bps"].mean()
        out[f"markout_fill_{horizon}s_bps"] = grouped[f"markout_fill_{horizon}s_bps"].mean()
    out["answer_rate"] = _rate(out["answers"], out["requests"])
    out["respond_rate"] = _rate(out["responses"], out["requests"])
    out["decline_rate"] = _rate(out["declines"], out["requests"])
    out["win_rate"] = _rate(out["wins"], out["answers"])
    out["fill_rate"] = _rate(out["fills"], out["wins"])
    out["last_look_reject_rate"] = _rate(out["rejects"], out["wins"])
    return out.reset_index()


def shrunk_rate(successes: pd.Series, trials: pd.Series, prior_rate: pd.Series | float, strength: float) -> pd.Series:
    """Beta-binomial posterior mean: ``(successes + strength · prior) / (trials + strength)``.

    Sparse cells borrow from their parent (the dealer's, or the desk's) rate; ``strength`` is the prior's weight
    in pseudo-observations.
    """
    return (successes + strength * prior_rate) / (trials + strength)


def mids_from_quotes(history: pd.DataFrame) -> pd.DataFrame:
    """A stand-in market when no mid series is at hand: each RFQ's median quote mid, from its send time on.

    Regime ``unknown``, volatility NaN; markouts come out as zero. Good enough to rank prices and answers, not
    to measure leakage: pass the market's own mids whenever they exist.
    """
    quoted = history.loc[history["bid"].notna() & history["offer"].notna()]
    consensus = quoted.assign(_mid=(quoted["bid"] + quoted["offer"]) / 2).groupby("rfq_id")["_mid"].median()
    first = history.drop_duplicates("rfq_id").set_index("rfq_id")
    frame = pd.DataFrame(
        {
            "time": pd.to_datetime(first.loc[consensus.index, "sent_at"], utc=True),
            "instrument": first.loc[consensus.index, "instrument"],
            "mid": consensus,
            "regime": "unknown",
            "volatility": np.nan,
        }
    )
    return frame.reset_index(drop=True)


def mids_from_tape_or_quotes(history: pd.DataFrame) -> pd.DataFrame:
    """The market's mids around ``history``: the TCA market tape where it was recorded (markouts then measure the
    real market; read through :func:`rfq.ports.market_tape`), the quotes' own consensus (:func:`mids_from_quotes`)
    for instruments the tape does not cover."""
    consensus = mids_from_quotes(history)
    if history.empty:
        return consensus
    times = pd.to_datetime(pd.concat([history["sent_at"], history["accepted_at"]]), utc=True).dropna()
    start = (times.min() - pd.Timedelta(minutes=1)).to_pydatetime()
    end = (times.max() + pd.Timedelta(minutes=6)).to_pydatetime()
    tape = market_tape(start=start, end=end, instruments=sorted(set(history["instrument"])))
    if tape is None or tape.empty:
        return consensus
    tape = tape.loc[:, ["time", "instrument", "mid", "regime", "volatility"]]
    rest = consensus.loc[~consensus["instrument"].isin(set(tape["instrument"]))]
    return pd.concat([tape, rest], ignore_index=True).sort_values("time", kind="stable").reset_index(drop=True)
