"""The simulated venues: pricing matches the in-memory simulator, the router's choices, and the market service keeping
the shared venue rows current without erasing the desk's own impact."""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal

import pytest

from desk.market import VENUES, NoVenue, underlying_reference
from desk.models import VenueBook
from execution.venue import VenueQuote, temporary_decayed, venue, venue_expected_price, venue_route
from sim.market import MarketSimulator
from sim.market_service import MarketService
from sim.venues import SimulatedVenue, venue_fill

IMPACT = underlying_reference("BTC").impact


def _quote(venue: str = "LIT-A", kind: str = "lit", **fields: float) -> VenueQuote:
    values = {
        "mid": 100_000.0,
        "half_spread_bps": 1.6,
        "depth": 3.0,
        "volatility": 0.65,
        "liquidity": 1.0,
        "fee_bps": 0.0,
        "temporary_impact": 0.0,
    }
    values.update(fields)
    return VenueQuote(venue=venue, kind=kind, **values)


def _books() -> list[VenueQuote]:
    return [
        _quote("LIT-A", "lit", fee_bps=2.0, depth=3.0),
        _quote("LIT-B", "lit", fee_bps=1.0, depth=2.0, half_spread_bps=2.0),
        _quote("DARK-MID", "dark", fee_bps=0.5, depth=1.0, half_spread_bps=0.0),
    ]


@pytest.mark.parametrize(("side", "coins"), [("buy", 3.0), ("sell", 0.7), ("buy", 250.0)])
def test_a_lit_fill_is_priced_as_the_simulator_prices_it(side: str, coins: float) -> None:
    simulator = MarketSimulator(11)
    book = simulator.book("BTC")
    quote = _quote(
        mid=book.mid, half_spread_bps=1e4 * (book.ask - book.bid) / (2 * book.mid), volatility=book.volatility
    )

    ours = venue_fill(quote, side=side, coins=coins, impact=IMPACT)
    theirs = simulator.execute("BTC", side, coins)

    assert ours.price == pytest.approx(theirs.average_price, rel=1e-12)
    assert ours.cost_bps == pytest.approx(theirs.cost_bps, rel=1e-9)
    assert ours.mid_after * (1 + ours.temporary_impact_after) == pytest.approx(theirs.mid_after, rel=1e-12)


def test_a_dark_fill_is_at_the_mid_plus_half_its_permanent_impact() -> None:
    quote = _quote("DARK-MID", "dark", half_spread_bps=0.0, depth=5.0)

    fill = venue_fill(quote, side="sell", coins=2.0, impact=IMPACT)

    permanent = IMPACT.permanent_coefficient * 2.0 / IMPACT.reference_volume * 0.65 / 0.60
    assert fill.price == pytest.approx(100_000.0 * (1 - 0.5 * permanent), rel=1e-12)
    assert fill.temporary_impact_after == 0.0
    assert fill.depth_after == 3.0


@pytest.mark.parametrize("kind", ["lit", "dark"])
@pytest.mark.parametrize(("side", "coins"), [("buy", 3.0), ("sell", 0.7), ("buy", 250.0)])
def test_the_router_expects_the_price_the_simulated_venue_fills_at(kind: str, side: str, coins: float) -> None:
    # given a venue with some of our temporary impact still on it
    quote = _quote("LIT-A" if kind == "lit" else "DARK-MID", kind, depth=500.0, temporary_impact=3e-4)

    # when the desk estimates the fill and the configured venue fills it
    expected = venue_expected_price(quote, side=side, coins=coins, impact=IMPACT)
    filled = venue().fill(quote, underlying="BTC", side=side, coins=coins)

    # then the two agree to the last bit, and the configured venue is the simulated one
    assert isinstance(venue(), SimulatedVenue)
    assert expected == filled.price


def test_temporary_impact_halves_every_half_life() -> None:
    assert temporary_decayed(0.002, 60.0, 60.0) == pytest.approx(0.001)
    assert temporary_decayed(0.002, 180.0, 60.0) == pytest.approx(0.00025)
    assert temporary_decayed(0.002, -5.0, 60.0) == 0.002


def test_the_router_prefers_the_dark_pool_when_it_can_take_the_whole_order() -> None:
    assert venue_route(_books(), side="buy", coins=0.5, impact=IMPACT).venue == "DARK-MID"
    # too big for the dark pool's hidden size: the cheaper lit book (lower fee beats its slightly wider spread)
    assert venue_route(_books(), side="buy", coins=1.5, impact=IMPACT).venue == "LIT-B"


def test_the_router_spreads_a_parent_across_the_lit_books_as_its_own_impact_builds_up() -> None:
    books = {q.venue: q for q in _books()}
    used = []
    for _ in range(6):
        chosen = venue_route(list(books.values()), side="buy", coins=1.5, impact=IMPACT)
        fill = venue_fill(chosen, side="buy", coins=1.5, impact=IMPACT)
        used.append(chosen.venue)
        books = {
            code: replace(
                q,
                mid=fill.mid_after,
                temporary_impact=fill.temporary_impact_after if code == chosen.venue else q.temporary_impact,
            )
            for code, q in books.items()
        }

    assert {"LIT-A", "LIT-B"} <= set(used)


def test_an_underlying_without_a_venue_is_refused() -> None:
    with pytest.raises(NoVenue, match="DOGE"):
        underlying_reference("DOGE")


@pytest.mark.django_db
def test_the_market_service_moves_the_stored_mid_by_the_simulator_return_keeping_our_impact() -> None:
    # given venue rows written by the market service, then moved by one of our fills
    service = MarketService(seed=5, publish=False)
    service.persist()
    rows = VenueBook.objects.filter(underlying="BTC")
    assert sorted(rows.values_list("venue", flat=True)) == sorted(v.code for v in VENUES)
    sim_before = service.simulator.book("BTC").mid
    assert rows.first().mid == pytest.approx(Decimal(sim_before))
    rows.update(mid=Decimal(sim_before) * Decimal("1.001"))

    # when the market moves and the service writes again
    service.simulator.step(60.0)
    service.persist()

    # then the stored mid carries both the market's return and our 10 bps
    sim_after = service.simulator.book("BTC").mid
    for row in VenueBook.objects.filter(underlying="BTC"):
        assert float(row.mid) == pytest.approx(sim_after * 1.001, rel=1e-9)
        assert float(row.volatility) == pytest.approx(service.simulator.book("BTC").volatility)
        assert row.volume_5m > 0
        assert row.ticked_at is not None
        assert row.version == 2  # created, then one update per tick
    assert not math.isclose(sim_before, sim_after)
