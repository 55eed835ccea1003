"""The day's P&L explained: the identity holds exactly, delta-one moves are all delta, an option's greeks explain a
small move of its Black–Scholes repricing (the closed form as the independent reference), the execution part is
what the fills paid over the mid; end to end on the desk's own fills and positions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from desk.market import SECONDS_PER_YEAR, venue_books_ensure
from desk.marks import reference_surface
from desk.models import InstrumentKind, VenueBook
from execution.models import Position
from rfq.engine.market import UnderlyingState, underlying_state
from tca.models import PnlSnapshot
from tca.pnl import Mark, explain, instrument_mark, pnl_explain, positions_marked
from tca.services import pnl_snapshot_take
from tests import factories
from tests.tca.factories import dealer_fill_create

PARTS = ("delta", "gamma", "vega", "theta", "residual", "new_trades", "execution")


def _state(spot: float, vol: float) -> UnderlyingState:
    return UnderlyingState("BTC", spot, vol, 1.0, 1e4, reference_surface("BTC"))


def test_the_parts_add_up_to_the_total_exactly() -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        m0 = Mark(*rng.uniform(1, 100, 7))
        m1 = Mark(*rng.uniform(1, 100, 7))
        fills = [
            (float(rng.choice([-1, 1])), rng.uniform(0.1, 5), rng.uniform(50, 150), rng.uniform(0, 1), mu)
            for mu in (rng.uniform(50, 150), None)
        ]
        q0 = rng.uniform(-10, 10)
        q1 = q0 + sum(s * q for s, q, *_ in fills)
        parts = explain(q0=q0, start=m0, q1=q1, now=m1, fills=fills, multiplier=1.0, years=0.01)
        assert parts["total"] == pytest.approx(sum(parts[name] for name in PARTS), rel=1e-9, abs=1e-9)


def test_a_delta_one_move_is_all_delta() -> None:
    k = 0.5

    def mark(s: float) -> Mark:
        return Mark(s * k, s, 0.0, k, 0.0, 0.0, 0.0)

    parts = explain(q0=3.0, start=mark(100.0), q1=3.0, now=mark(104.0), fills=[], multiplier=k, years=0.001)
    assert parts["delta"] == pytest.approx(3.0 * 4.0 * k)
    assert parts["total"] == pytest.approx(parts["delta"])
    assert parts["residual"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.django_db
def test_an_option_s_greeks_explain_a_small_move_of_its_black_scholes_repricing() -> None:
    now = datetime(2026, 12, 6, 8, tzinfo=UTC)
    spot = factories.instrument_create(symbol="BTC-SPOT-TEST")
    option = factories.instrument_create(
        symbol="BTC-TEST-C",
        underlying=spot,
        kind=InstrumentKind.OPTION,
        strike=Decimal(100_000),
        expiry=now + timedelta(days=30),
        option_type="call",
    )
    surface = reference_surface("BTC")
    later = now + timedelta(hours=2)
    start = instrument_mark(option, _state(100_000.0, 0.60), now=now, surface=surface)
    end = instrument_mark(option, _state(100_400.0, 0.60), now=later, surface=surface)
    years = (later - now).total_seconds() / SECONDS_PER_YEAR

    parts = explain(q0=10.0, start=start, q1=10.0, now=end, fills=[], multiplier=1.0, years=years)

    # the reference: the closed form (Black-Scholes at the surface's volatility) repriced at both states
    t0 = 30 * 86_400 / SECONDS_PER_YEAR
    t1 = t0 - years
    repriced = surface.price(spot=100_400.0, strike=100_000.0, t_years=t1, kind="call").price
    original = surface.price(spot=100_000.0, strike=100_000.0, t_years=t0, kind="call").price
    assert parts["total"] == pytest.approx(10.0 * (repriced - original), rel=1e-9)
    explained = parts["delta"] + parts["gamma"] + parts["vega"] + parts["theta"]
    assert abs(parts["residual"]) < 0.03 * abs(parts["total"])
    assert explained == pytest.approx(parts["total"], rel=0.03)
    assert parts["delta"] > 0
    assert parts["theta"] < 0 < parts["gamma"]


def test_the_execution_part_is_what_the_fills_paid_over_the_mid_with_fees() -> None:
    m = Mark(100.0, 100.0, 0.0, 1.0, 0.0, 0.0, 0.0)
    parts = explain(q0=0.0, start=None, q1=2.0, now=m, fills=[(1.0, 2.0, 101.0, 0.5, 100.0)], multiplier=1.0, years=0.0)
    assert parts["execution"] == pytest.approx(-(2 * 1.0 + 0.5))
    assert parts["new_trades"] == pytest.approx(0.0)
    assert parts["total"] == pytest.approx(-2.5)


@pytest.mark.django_db
def test_the_desk_s_day_is_explained_from_its_snapshot_and_its_fills(trader, dealer) -> None:  # noqa: ANN001
    # given a BTC-USD position of 5 at the start of the day, snapshotted
    instrument = factories.instrument_create(symbol="BTC-USD")
    venue_books_ensure(underlying="BTC", now=datetime.now(UTC))
    mid = underlying_state("BTC").spot
    Position.objects.create(book="desk", instrument=instrument, quantity=Decimal(5), average_price=Decimal(mid))
    assert pnl_snapshot_take() == 1
    assert pnl_snapshot_take() == 0  # once a day

    # when the market moves up 1 % and the desk buys 5 more from a dealer at the offer
    VenueBook.objects.filter(underlying="BTC").update(mid=Decimal(str(round(mid * 1.01, 2))))
    offer = round(mid * 1.0105, 2)
    dealer_fill_create(
        trader=trader, instrument=instrument, dealer=dealer, bid=str(round(mid * 1.0095, 2)), offer=str(offer)
    )
    report = pnl_explain(now=datetime.now(UTC))

    # then the day's P&L is the start position's move plus what the new fill made since (no tape: at its price)
    (row,) = report["instruments"]
    new_mid = underlying_state("BTC").spot
    assert row["delta"] == pytest.approx(5 * (new_mid - mid), rel=1e-6)
    assert row["total"] == pytest.approx(10 * new_mid - 5 * mid - 5 * offer, rel=1e-6)
    assert row["total"] == pytest.approx(sum(row[name] for name in PARTS), rel=1e-9)
    assert report["unpriced_fills"] == 1
    assert PnlSnapshot.objects.get().quantity == 5
    # and the position is marked at the new mid
    (marked,) = positions_marked(now=datetime.now(UTC))
    assert marked["quantity"] == 10
    assert marked["mark"] == pytest.approx(new_mid)
