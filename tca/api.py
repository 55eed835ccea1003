"""The TCA API, mounted under ``/api/v1/tca/``: the pre-trade estimate of an order.

The view parses, calls :func:`pretrade_for` and returns its dict. ``pretrade_for`` reads the venues' books and the
desk's recent fills (through the execution and TCA selectors), converts them to floats at this boundary, and hands
them to the pure :mod:`tca.calibration` and :mod:`tca.pretrade`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from desk.fields import DECIMAL_PLACES, MAX_DIGITS
from desk.models import Instrument, InstrumentKind
from desk.permissions import require_perm
from execution import selectors as execution_selectors
from execution.models import VenueKind
from execution.venue import VOLUME_WINDOW_S, NoVenue, underlying_config
from rfq.models import Side
from tca import calibration, pretrade, sources
from tca.selectors import tca_fills_frame

CALIBRATION_WINDOW = timedelta(days=30)
"""How far back the fits look for the desk's fills."""


class NoMarket(Exception):
    """The instrument's underlying has no venue book to price the estimate against."""


def _market_inputs(underlying: str) -> pretrade.MarketInputs:
    books = [row for row in execution_selectors.venue_books(underlying=underlying) if row.kind == VenueKind.LIT]
    if not books:
        raise NoMarket(f"no venue book for {underlying}: the simulated market has not priced it yet")
    volume_5m = float(books[0].volume_5m)
    if volume_5m > 0:
        adv, adv_source = volume_5m * 86_400.0 / VOLUME_WINDOW_S, "the last 5 minutes' market volume, scaled to a day"
    else:
        try:
            adv, adv_source = underlying_config(underlying).daily_volume, "the simulated market's average daily volume"
        except NoVenue as error:
            raise NoMarket(str(error)) from None
    return pretrade.MarketInputs(
        mid=float(books[0].mid),
        half_spread_bps=min(float(row.half_spread_bps) for row in books),
        volatility_annual=float(books[0].volatility),
        adv=adv,
        adv_source=adv_source,
    )


def _fits(*, now: datetime) -> tuple[calibration.ImpactFit, calibration.DealerFit]:
    end = pd.Timestamp(now)
    raw = tca_fills_frame(start=now - CALIBRATION_WINDOW, end=now)
    fills, orders = sources.fills_and_orders(raw, end=end)
    observed = calibration.order_observations(fills, orders)
    market_rows = []
    for instrument in Instrument.objects.filter(symbol__in=set(observed["instrument"])):
        try:
            market = _market_inputs(instrument.base_currency)
        except NoMarket:
            continue
        market_rows.append(
            {
                "instrument": instrument.symbol,
                "multiplier": float(instrument.multiplier),
                "adv": market.adv,
                "sigma_daily": pretrade.daily_volatility(market.volatility_annual),
            }
        )
    impact = calibration.sqrt_coefficient_fit(calibration.impact_observations(observed, pd.DataFrame(market_rows)))
    dealer = calibration.dealer_terms_fit(calibration.dealer_observations(observed))
    return impact, dealer


def pretrade_for(*, instrument: Instrument, side: str, quantity: Decimal, now: datetime) -> dict[str, Any]:
    """The pre-trade estimate of ``quantity`` contracts of ``instrument`` against the venues' books now, with the
    square-root coefficient and the dealer terms fitted on the desk's fills of the last 30 days (or the defaults,
    flagged). Raises :class:`NoMarket` when the underlying has no book."""
    market = _market_inputs(instrument.base_currency)
    impact, dealer = _fits(now=now)
    coins = float(quantity) * float(instrument.multiplier)
    estimate = pretrade.pretrade_estimate(
        quantity=coins,
        market=market,
        y=impact.coefficient,
        y_std_error=impact.std_error,
        residual_bps=impact.residual_bps,
        dealer=dealer.terms,
    )
    return {
        "instrument": instrument.symbol,
        "side": side,
        "quantity": float(quantity),
        "coins": coins,
        "currency": instrument.quote_currency,
        "as_of": now.isoformat(),
        "market": {
            "mid": market.mid,
            "half_spread_bps": market.half_spread_bps,
            "volatility_annual": market.volatility_annual,
            "adv": market.adv,
            "adv_source": market.adv_source,
        },
        **estimate,
        "calibration": {"impact": impact.as_dict(), "dealer": dealer.as_dict()},
    }


class PretradeInSerializer(serializers.Serializer):
    instrument = serializers.SlugRelatedField(
        slug_field="symbol",
        queryset=Instrument.objects.filter(is_active=True, kind__in=[InstrumentKind.SPOT, InstrumentKind.PERPETUAL]),
        help_text="an active spot or perpetual symbol",
    )
    side = serializers.ChoiceField(choices=Side.choices)
    quantity = serializers.DecimalField(
        max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, min_value=Decimal("0.00000001"), help_text="contracts"
    )


class PretradeApi(APIView):
    """``GET ?instrument=SYMBOL&side=buy|sell&quantity=Q``: expected cost of an RFQ now, of the algorithm over the
    recommended horizon and of a split, with the square-root law and Almgren–Chriss estimates and their bands."""

    permission_classes = [require_perm("rfq.view_blotter")]

    @extend_schema(parameters=[PretradeInSerializer], responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        form = PretradeInSerializer(data=request.query_params)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            estimate = pretrade_for(
                instrument=data["instrument"], side=data["side"], quantity=data["quantity"], now=datetime.now(UTC)
            )
        except NoMarket as error:
            raise ValidationError({"instrument": [str(error)]}) from None
        return Response(estimate)
