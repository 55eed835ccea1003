"""Dealer scoring reads the market tape that TCA records: markouts then measure the real market; instruments the
tape does not cover fall back to the quotes' consensus."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from rfq.scoring.features import mids_from_tape_or_quotes, request_features
from tca.models import MarketSample

pytestmark = pytest.mark.django_db


def test_markouts_come_from_the_tape_where_it_exists(instrument) -> None:  # noqa: ANN001
    t0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    for second in range(0, 400):
        MarketSample.objects.create(
            instrument=instrument,
            sampled_at=t0 + timedelta(seconds=second),
            mid=Decimal(100 + second * 0.01),
            volume=Decimal(1),
            regime="normal",
            volatility=Decimal("0.6"),
        )
    history = pd.DataFrame(
        {
            "rfq_id": [1, 2],
            "dealer": ["A", "A"],
            "kind": ["spot", "spot"],
            "multiplier": [1.0, 1.0],
            "side": [1.0, 1.0],
            "quantity": [1.0, 1.0],
            "instrument": ["BTC-USD", "ETH-USD"],
            "sent_at": [t0 + timedelta(seconds=10), t0 + timedelta(seconds=10)],
            "quoted_at": [t0 + timedelta(seconds=11), t0 + timedelta(seconds=11)],
            "bid": [99.9, 50.0],
            "offer": [100.3, 50.2],
            "declined": [False, False],
            "accepted_at": [t0 + timedelta(seconds=12), t0 + timedelta(seconds=12)],
            "order_status": ["filled", "filled"],
        }
    )

    mids = mids_from_tape_or_quotes(history)
    rows = request_features(history, mids)

    btc = rows.loc[rows["instrument"] == "BTC-USD"].iloc[0]
    eth = rows.loc[rows["instrument"] == "ETH-USD"].iloc[0]
    # The tape's mid rises 0.01 a second: 10 s after the fill (t0 + 12 s) it is 0.10 higher, against the desk's buy.
    assert btc["markout_fill_10s_bps"] == pytest.approx(0.10 / (100 + 0.12) * 1e4, rel=1e-6)
    assert btc["regime"] == "normal"
    assert eth["markout_fill_10s_bps"] == pytest.approx(0.0) or np.isnan(eth["markout_fill_10s_bps"])
    assert set(mids.loc[mids["instrument"] == "ETH-USD", "regime"]) == {"unknown"}
