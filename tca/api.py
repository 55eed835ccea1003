"""The TCA API, mounted under ``/api/v1/tca/``: the pre-trade estimate of an order.

The view parses, calls :func:`pretrade_for` and returns its dict. ``pretrade_for`` reads the venues' books and the
latest stored calibration fits (through the TCA selectors), and hands them to the pure :mod:`tca.pretrade`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from desk import clock
from desk.fields import DECIMAL_PLACES, MAX_DIGITS
from desk.models import Instrument, InstrumentKind
from desk.permissions import require_perm
from rfq.models import RFQ, Side
from tca import calibration, pnl, pretrade, selectors, trades
from tca.models import FitKind


def _latest(kind: str, underlying: str) -> calibration.ImpactFit:
    _, row = selectors.latest_fit_for(kind, underlying)
    if row is None:
        # no real fit: the latest stored default says why (how few orders), else the plain default
        row = selectors.calibration_fit_latest(kind=kind)
    if row is None and kind == FitKind.PERMANENT_IMPACT:
        return calibration.default_permanent_fit()
    return selectors.impact_fit_from_row(row)


def _fits(underlying: str) -> tuple[calibration.ImpactFit, calibration.ImpactFit, calibration.DealerFit]:
    """The latest stored fits: the underlying's square-root and permanent coefficients, else the desk-wide ones, and
    the dealers' terms."""
    return (
        _latest(FitKind.SQRT_IMPACT, underlying),
        _latest(FitKind.PERMANENT_IMPACT, underlying),
        selectors.dealer_fit_from_row(selectors.calibration_fit_latest(kind=FitKind.DEALER_TERMS)),
    )


def pretrade_for(*, instrument: Instrument, side: str, quantity: Decimal, now: datetime) -> dict[str, Any]:
    """The pre-trade estimate of ``quantity`` contracts of ``instrument`` against the venues' books now, with the
    latest stored fits (:mod:`tca.services` refits them hourly): the underlying's own square-root coefficient, else
    the desk-wide one, else the default (flagged), and the dealer terms. Raises :class:`NoMarket` when the
    underlying has no book."""
    market = selectors.market_inputs(instrument.base_currency)
    impact, permanent, dealer = _fits(instrument.base_currency)
    coins = float(quantity) * float(instrument.multiplier)
    estimate = pretrade.pretrade_estimate(
        quantity=coins,
        market=market,
        y=impact.coefficient,
        y_std_error=impact.std_error,
        residual_bps=impact.residual_bps,
        dealer=dealer.terms,
        permanent_coefficient=permanent.coefficient,
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
        "calibration": {"impact": impact.as_dict(), "permanent": permanent.as_dict(), "dealer": dealer.as_dict()},
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
                instrument=data["instrument"], side=data["side"], quantity=data["quantity"], now=clock.now()
            )
        except selectors.NoMarket as error:
            raise ValidationError({"instrument": [str(error)]}) from None
        return Response(estimate)


class PnlApi(APIView):
    """Positions by book and instrument marked now (mark, unrealized and realized P&L, greeks, implied volatility),
    and today's P&L explained per instrument and underlying: delta, gamma, vega, theta on the start-of-day position,
    the day's trades' move since their fills, execution cost (over the mid, fees included), and the residual."""

    permission_classes = [require_perm("execution.view_position")]

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        now = clock.now()
        return Response({"positions": pnl.positions_marked(now=now), "explain": pnl.pnl_explain(now=now)})


class TradeConfirmationApi(APIView):
    """An RFQ's trade confirmation: per leg the quantity filled, average price, notional, fees and slippage against
    the arrival mid (bps, + paid), the trade's total, and the desk's estimate when it sent the RFQ."""

    permission_classes = [require_perm("rfq.view_rfq")]

    @extend_schema(responses={200: dict})
    def get(self, request: Request, reference: str) -> Response:
        rfq = RFQ.objects.filter(reference=reference).first()
        if rfq is None:
            raise Http404
        return Response(trades.rfq_confirmation(rfq=rfq))
