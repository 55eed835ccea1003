"""The delta hedger on the simulator: a hedged options book's P&L varies far less than the unhedged one's; and the
beat task that hedges every options book."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from desk.models import InstrumentKind
from execution import hedging_tasks
from execution.models import Position
from sim.hedging_backtest import hedge_backtest
from tests import factories


def test_hedging_cuts_the_pnl_variance_of_a_short_call_book() -> None:
    # given 60 seeded worlds, a book short 10 at-the-money 30-day calls, a day of 15-minute hedges
    result = hedge_backtest(seed=11, paths=60)

    # then hedging removes almost all of the P&L variance, at a cost
    assert result.unhedged_variance > 0
    assert result.variance_ratio < 0.02
    assert result.hedges_per_path > 1
    assert result.cost_per_path > 0


def test_a_band_too_wide_to_trade_leaves_the_book_unhedged() -> None:
    # an independent check of the accounting: no hedge, no cost, hedged == unhedged path by path
    result = hedge_backtest(seed=3, paths=5, steps=12, band_coins=1e9)

    assert result.hedges_per_path == 0
    assert result.cost_per_path == 0
    np.testing.assert_array_equal(result.hedged_pnl, result.unhedged_pnl)


def test_a_tighter_band_hedges_more_often_and_leaves_less_variance() -> None:
    tight = hedge_backtest(seed=5, paths=30, band_coins=0.1)
    loose = hedge_backtest(seed=5, paths=30, band_coins=2.0)

    np.testing.assert_array_equal(tight.unhedged_pnl, loose.unhedged_pnl)  # the same worlds
    assert tight.hedges_per_path > loose.hedges_per_path
    assert tight.hedged_variance < loose.hedged_variance


@pytest.mark.django_db
def test_the_beat_task_queues_one_hedge_per_options_book_for_the_configured_user(settings, monkeypatch) -> None:  # noqa: ANN001
    settings.EXECUTION_HEDGE_USERNAME = "hedger"
    perp = factories.instrument_create(symbol="BTC-PERP-B", kind=InstrumentKind.PERPETUAL, lot_size=Decimal("0.001"))
    call = factories.instrument_create(
        symbol="BTC-C-B",
        kind=InstrumentKind.OPTION,
        underlying=perp,
        strike=Decimal(100000),
        expiry=datetime.now(UTC) + timedelta(days=30),
        option_type="call",
        lot_size=Decimal("0.1"),
    )
    for book, quantity in (("a", "5"), ("b", "-2"), ("flat", "0")):
        Position.objects.create(book=book, instrument=call, quantity=Decimal(quantity))
    Position.objects.create(book="spot-only", instrument=perp, quantity=Decimal(3))
    queued: list[tuple[str, ...]] = []
    monkeypatch.setattr(hedging_tasks.delta_hedge, "delay", lambda *args: queued.append(args))

    pairs = hedging_tasks.delta_hedge_all()

    assert pairs == [["a", "BTC"], ["b", "BTC"]]
    assert queued == [("a", "BTC", "hedger"), ("b", "BTC", "hedger")]
    assert settings.CELERY_BEAT_SCHEDULE["execution-delta-hedge"]["task"] == hedging_tasks.delta_hedge_all.name
