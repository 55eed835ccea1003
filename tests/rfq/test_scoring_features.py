"""Dealer features from a hand-made history: signs, rates and as-of market joins."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rfq.scoring.features import dealer_cell_features, mids_from_quotes, request_features, size_bucket
from rfq.scoring.train import frame_sha256, time_split

T0 = pd.Timestamp("2026-01-05 00:00:00", tz="UTC")


def at(seconds: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(seconds=seconds)


def history() -> pd.DataFrame:
    """One RFQ (the desk buys 10 BTC at t=0) sent to three dealers: A quotes and fills, B quotes dearer, C is silent.
    A second RFQ (the desk sells) goes to A, who quotes and rejects on last look."""
    nat, nan = pd.NaT, np.nan
    rows = [
        (1, 1, at(0), "A", 1, at(0.5), 99_990.0, 100_030.0, at(2), "filled"),
        (2, 1, at(0), "B", 1, at(1.5), 99_950.0, 100_080.0, nat, ""),
        (3, 1, at(0), "C", 1, nat, nan, nan, nat, ""),
        (4, 2, at(100), "A", -1, at(100.4), 100_180.0, 100_220.0, at(101), "rejected"),
    ]
    frame = pd.DataFrame(
        rows,
        columns=[
            "request_id",
            "rfq_id",
            "sent_at",
            "dealer",
            "side",
            "quoted_at",
            "bid",
            "offer",
            "accepted_at",
            "order_status",
        ],
    )
    return frame.assign(instrument="BTC-USD", kind="spot", multiplier=1.0, quantity=10.0, declined=False)


def mids() -> pd.DataFrame:
    samples = [(0, 100_000.0), (1, 100_010.0), (10, 100_050.0), (60, 99_990.0), (100, 100_200.0), (200, 100_300.0)]
    return pd.DataFrame(
        {
            "time": [at(s) for s, _ in samples],
            "instrument": "BTC-USD",
            "mid": [m for _, m in samples],
            "regime": "normal",
            "volatility": 0.65,
        }
    )


def test_request_features_sign_prices_and_markouts_as_costs_to_the_desk() -> None:
    rows = request_features(history(), mids()).set_index("request_id")

    # A's offer 100,030 against the 100,000 mid at its quote: a 3 bps cost to a buyer.
    assert rows.loc[1, "cost_bps"] == pytest.approx(3.0)
    assert rows.loc[1, "half_spread_bps"] == pytest.approx(2.0)
    assert rows.loc[1, "quote_error_bps"] == pytest.approx(1.0)
    assert rows.loc[1, "response_s"] == pytest.approx(0.5)
    # B quoted at t=1.5 s, when the mid was 100,010; against arrival it is 8 bps dear, 5 bps behind A.
    assert rows.loc[2, "cost_arrival_bps"] == pytest.approx(8.0)
    assert rows.loc[2, "distance_to_best_bps"] == pytest.approx(5.0)
    # The mid rose 5 bps 10 s after we asked to buy: adverse, positive.
    assert rows.loc[1, "markout_rfq_10s_bps"] == pytest.approx(5.0)
    assert not rows.loc[3, "answered"]
    assert np.isnan(rows.loc[3, "cost_bps"])
    assert rows.loc[1, "filled"]
    assert rows.loc[4, "rejected"]
    assert rows.loc[1, "size_bucket"] == ">=5m" or rows.loc[1, "notional"] == pytest.approx(1e6)


def test_cell_features_count_answers_wins_fills_and_rejects() -> None:
    rows = request_features(history(), mids())

    cells = dealer_cell_features(rows, by=["dealer"]).set_index("dealer")

    assert cells.loc["A", "answer_rate"] == 1.0
    assert cells.loc["A", "win_rate"] == 1.0
    assert cells.loc["A", "fill_rate"] == 0.5
    assert cells.loc["A", "last_look_reject_rate"] == 0.5
    assert cells.loc["C", "answer_rate"] == 0.0
    assert np.isnan(cells.loc["C", "win_rate"])
    assert cells.loc["B", "distance_to_best_bps"] == pytest.approx(5.0)


def test_size_buckets_and_the_time_ordered_split() -> None:
    assert size_bucket(np.array([1e5, 5e5, 2e6, 9e6])).tolist() == ["<250k", "250k-1m", "1m-5m", ">=5m"]
    rows = request_features(history(), mids())

    train, holdout = time_split(rows, 0.5)

    assert train["sent_at"].max() < holdout["sent_at"].min()
    assert set(train["rfq_id"]) == {1}


def test_quote_consensus_stands_in_for_a_missing_market_and_the_data_hash_is_stable() -> None:
    consensus = mids_from_quotes(history())

    assert consensus["mid"].tolist() == [pytest.approx(100_012.5), pytest.approx(100_200.0)]
    assert frame_sha256(history()) == frame_sha256(history().iloc[:, ::-1])
    assert frame_sha256(history()) != frame_sha256(history().iloc[:3])
