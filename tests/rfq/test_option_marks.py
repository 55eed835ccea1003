"""Option RFQs are marked with the desk's fitted surface: the arrival mid, each leg of a package at its own
volatility, and the advice that prices against the mark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from desk.market import RATE, SECONDS_PER_YEAR
from desk.marks import mark_surface
from desk.models import InstrumentKind
from desk.pricing import black_scholes
from rfq.engine.market import rfq_market, underlying_state
from rfq.engine.recommend import recommendation_inputs
from rfq.models import RFQLeg
from rfq.services import LegInput, rfq_create, rfq_send
from tests import factories
from tests.rfq.quoting import btc_mark

pytestmark = pytest.mark.django_db


@pytest.fixture
def spot(db) -> float:  # noqa: ANN001
    return btc_mark()


def _option(instrument, strike: int, kind: str, days: float = 54):  # noqa: ANN001, ANN202
    return factories.instrument_create(
        symbol=f"BTC-{days:g}D-{strike}-{kind[0].upper()}",
        kind=InstrumentKind.OPTION,
        underlying=instrument,
        strike=Decimal(strike),
        expiry=datetime.now(UTC) + timedelta(days=days),
        option_type=kind,
        lot_size=Decimal("0.1"),
    )


def _leg(option, side: str = "buy", leg_no: int = 1) -> RFQLeg:  # noqa: ANN001
    return RFQLeg(leg_no=leg_no, instrument=option, side=side, quantity=1)


def _years(option) -> float:  # noqa: ANN001
    return (option.expiry - datetime.now(UTC)).total_seconds() / SECONDS_PER_YEAR


def test_an_option_rfq_arrives_at_its_mark_on_the_fitted_surface(trader, instrument, dealer, spot) -> None:  # noqa: ANN001
    # given the desk's surface fitted to the market's quotes, and a 54-day at-the-money call
    surface = factories.vol_surface_fitted(spot=spot)
    call = _option(instrument, int(spot), "call")

    # when the trader sends an RFQ for it
    rfq = rfq_create(legs=[LegInput(call, "buy", Decimal(5))], actor=trader)
    rfq_send(rfq=rfq, dealers=[dealer], actor=trader)
    rfq.refresh_from_db()

    # then its arrival mid is Black–Scholes at the surface's volatility for the strike and expiry, at the desk's rate
    vol = float(mark_surface("BTC").vol(spot=spot, strike=spot, t_years=_years(call)))
    expected = black_scholes(spot, spot, _years(call), RATE, vol, "call").price
    assert float(rfq.arrival_mid) == pytest.approx(expected, rel=1e-5)
    assert vol == pytest.approx(
        float(factories.SURFACE.vol(-RATE * _years(call), _years(call), base=mark_surface("BTC").base)), 1e-4
    )
    # not the flat volatility of the venue book the desk marked with before
    flat = black_scholes(spot, spot, _years(call), 0.0, underlying_state("BTC").volatility, "call").price
    assert abs(float(rfq.arrival_mid) / flat - 1) > 0.05
    assert underlying_state("BTC").surface.surface_id == surface.pk


def test_each_leg_of_a_package_is_marked_at_its_own_volatility(instrument, spot) -> None:  # noqa: ANN001
    # given a fitted surface with a put skew, and a 25-delta-ish risk reversal's strikes
    factories.vol_surface_fitted(spot=spot)
    put, call = _option(instrument, int(spot * 0.85), "put"), _option(instrument, int(spot * 1.15), "call")
    legs = [_leg(put, "sell"), _leg(call, "buy", leg_no=2)]

    market = rfq_market(rfq=None, legs=legs)

    # then the put is marked at the richer volatility of the skew, each leg at its own
    surface = mark_surface("BTC")
    put_vol = float(surface.vol(spot=spot, strike=float(put.strike), t_years=_years(put)))
    call_vol = float(surface.vol(spot=spot, strike=float(call.strike), t_years=_years(call)))
    assert put_vol > call_vol + 0.03
    assert market.leg_mids[1] == pytest.approx(
        black_scholes(spot, float(put.strike), _years(put), RATE, put_vol, "put").price, rel=1e-5
    )
    assert market.leg_mids[2] == pytest.approx(
        black_scholes(spot, float(call.strike), _years(call), RATE, call_vol, "call").price, rel=1e-5
    )


def test_the_advice_prices_quotes_against_the_mark(trader, instrument, dealer, spot) -> None:  # noqa: ANN001
    factories.vol_surface_fitted(spot=spot)
    call = _option(instrument, int(spot), "call")
    rfq = rfq_create(legs=[LegInput(call, "buy", Decimal(5))], actor=trader)
    rfq_send(rfq=rfq, dealers=[dealer], actor=trader)
    rfq.refresh_from_db()

    inputs = recommendation_inputs(rfq=rfq)

    assert inputs["market"]["mid"] == pytest.approx(float(rfq.arrival_mid), rel=1e-4)


def test_before_any_fit_options_are_marked_with_the_reference_surface(trader, instrument, dealer, spot) -> None:  # noqa: ANN001
    call = _option(instrument, int(spot), "call")

    state = underlying_state("BTC")
    market = rfq_market(rfq=None, legs=[_leg(call)])

    assert state.surface.source == "reference"
    vol = float(state.surface.vol(spot=spot, strike=spot, t_years=_years(call)))
    assert vol == pytest.approx(state.surface.base.atm_long, abs=0.01)
    assert market.mid == pytest.approx(black_scholes(spot, spot, _years(call), RATE, vol, "call").price, rel=1e-5)
