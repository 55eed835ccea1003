"""The simulated venue's listed options and the volatility quotes it publishes on the desk's market-data port, from
which the desk fits its surface."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from desk.market import SECONDS_PER_YEAR
from desk.marks import mark_surface, vol_surface_refit
from desk.models import VolQuotes
from sim.market import MarketSimulator
from sim.market.chain import listed_expiries, listed_strikes, strike_step, vol_quotes
from sim.market_service import MarketService


def test_the_venue_lists_weeklies_monthlies_and_quarterlies() -> None:
    # given Sunday 6 December 2026, 09:00 UTC
    now = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)

    expiries = listed_expiries(now)

    # then four Fridays, the last Fridays of December, January and February, and of the next three quarter months
    assert [e.strftime("%d%b%y").upper() for e in expiries] == [
        "11DEC26",
        "18DEC26",
        "25DEC26",
        "01JAN27",
        "29JAN27",
        "26FEB27",
        "26MAR27",
        "25JUN27",
        "24SEP27",
    ]
    assert all(e.hour == 8 and e.weekday() == 4 for e in expiries)


def test_an_expiry_less_than_a_day_away_is_no_longer_quoted() -> None:
    friday_morning = datetime(2026, 12, 11, 7, 0, tzinfo=UTC)

    assert min(listed_expiries(friday_morning)) == datetime(2026, 12, 18, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("spot", "step"), [(100_000.0, 5_000.0), (3_500.0, 200.0), (87.0, 5.0)])
def test_strikes_are_round_multiples_around_the_price(spot: float, step: float) -> None:
    strikes = listed_strikes(spot)

    assert strike_step(spot) == step
    assert min(strikes) >= 0.7 * spot
    assert max(strikes) <= 1.4 * spot
    assert np.allclose(np.diff(strikes), step)


def test_each_quote_is_the_simulators_surface_plus_or_minus_its_half_spread() -> None:
    simulator = MarketSimulator(7, start=datetime(2026, 12, 6, 9, 0, tzinfo=UTC))

    quotes = vol_quotes(simulator, "BTC")

    half = simulator.config.underlying("BTC").surface.half_spread_vol
    assert len(quotes) == len(listed_expiries(simulator.now)) * len(listed_strikes(simulator.book("BTC").mid))
    for quote in quotes[::17]:
        t = (quote.expiry - simulator.now).total_seconds() / SECONDS_PER_YEAR
        vol = simulator.implied_vol("BTC", quote.strike, t)
        assert (quote.bid_vol, quote.ask_vol) == pytest.approx((vol - half, vol + half))


@pytest.mark.django_db
def test_the_market_service_publishes_its_quotes_and_the_desk_marks_with_the_fit() -> None:
    # given the market service writing its market data (stepped by hand)
    service = MarketService(seed=5, publish=False, persist_every_s=None)

    # when it persists (books and volatility quotes) and the desk refits
    service.persist()
    row = vol_surface_refit(underlying="BTC")

    # then the quotes are stored as published, and the desk's marks are the simulator's surface
    stored = VolQuotes.objects.get(underlying="BTC")
    assert stored.published_at == service.simulator.now
    assert len(stored.quotes) == len(vol_quotes(service.simulator, "BTC"))
    assert row is not None
    assert row.status == "fitted"
    assert row.rms_error < 1e-4
    simulator, surface = service.simulator, mark_surface("BTC")
    spot = simulator.book("BTC").mid
    for days, strike in ((19.0, 100_000.0), (54.0, 90_000.0), (54.0, 110_000.0), (120.0, 95_000.0)):
        t = days / 365.0
        assert float(surface.vol(spot=spot, strike=strike, t_years=t)) == pytest.approx(
            simulator.implied_vol("BTC", strike, t), abs=1e-4
        )
