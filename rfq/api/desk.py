"""The desk side of the RFQ API: desk orders (enter, list, aggregate now), RFQs (create and send, list, detail) and
accepting a quote."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from desk import clock
from desk.fields import api_decimal
from desk.models import Instrument
from desk.permissions import require_perm
from rfq import selectors, services
from rfq.api.dealer import IDEMPOTENCY_PARAMETER
from rfq.api.idempotency import idempotent
from rfq.engine.desk_orders import desk_orders_work_all
from rfq.engine.selection import rfq_send_selected
from rfq.models import RFQ, Counterparty, DeskOrder, PackageType, Quote, Side, TradingMode, Urgency


@extend_schema_serializer(component_name="DeskOrderFill")
class DeskOrderFillSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="cross (internal, at the validated price), dealer or algo (allocated)")
    quantity = api_decimal()
    price = api_decimal()
    from_book = serializers.CharField(help_text="the desk's book the position came from; empty for a cross")
    to_book = serializers.CharField(help_text="the account or book it went to")
    rfq = serializers.CharField(source="rfq.reference", allow_null=True)
    created_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="DeskOrderOutput")
class DeskOrderOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.CharField(source="account.code", allow_null=True)
    book = serializers.CharField(source="position_book", help_text="the position book its fills go to")
    instrument = serializers.CharField(source="instrument.symbol")
    side = serializers.CharField()
    quantity = api_decimal()
    limit_price = api_decimal(allow_null=True)
    urgency = serializers.CharField()
    status = serializers.CharField(
        help_text="new (waiting for the next aggregation), aggregated (in an RFQ asking dealers), working (dealer "
        "fills or a plan still to come), filled, cancelled or rejected"
    )
    filled_quantity = api_decimal()
    average_price = api_decimal(allow_null=True, help_text="quantity-weighted price of its fills; null before one")
    fills = DeskOrderFillSerializer(many=True)
    rfq = serializers.SerializerMethodField(help_text="the newest RFQ that aggregated it, if any")
    created_at = serializers.DateTimeField()

    def get_rfq(self, order: DeskOrder) -> str | None:
        rfq = order.current_rfq
        return rfq.reference if rfq is not None else None


@extend_schema_serializer(component_name="DeskOrderInput")
class DeskOrderInputSerializer(serializers.Serializer):
    """What an order is entered with. Only the format is checked here; the service checks the rest (and audits
    every refusal): a positive whole number of lots, a known instrument, account or book, a limit on the right side
    of the validated price, the fat-finger limits."""

    instrument = serializers.CharField(max_length=64, help_text="the instrument's symbol, e.g. ETH-USD")
    side = serializers.ChoiceField(choices=Side.choices)
    quantity = api_decimal(help_text="contracts, a positive whole number of the instrument's lots")
    account = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default="", help_text="a client account's code"
    )
    book = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default="", help_text="or one of the desk's books"
    )
    limit_price = api_decimal(required=False, allow_null=True, default=None)
    urgency = serializers.ChoiceField(choices=Urgency.choices, default=Urgency.NORMAL)


def _submitted(data: object) -> dict[str, object]:
    """What a refusal's audit keeps of a request body: the input's fields as sent."""
    if not isinstance(data, dict):
        return {"body": type(data).__name__}
    return {name: data.get(name) for name in DeskOrderInputSerializer().fields if name in data}


class DeskOrderListApi(ListAPIView):
    """Desk orders, newest first, each with its state, fills and average price (GET); a new order (POST: a trader
    or an upstream order system, ``rfq.add_deskorder``; idempotent with ``Idempotency-Key``). A refused order is a
    400 naming each field at fault; nothing is stored, and the refusal is audited."""

    serializer_class = DeskOrderOutputSerializer
    filterset_fields = ["status", "side", "urgency"]

    def get_permissions(self) -> list:
        perm = "rfq.add_deskorder" if self.request.method == "POST" else "rfq.view_deskorder"
        return [require_perm(perm)()]

    def get_queryset(self) -> QuerySet[DeskOrder]:
        return selectors.desk_orders_list()

    @extend_schema(
        request=DeskOrderInputSerializer,
        responses={201: DeskOrderOutputSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        body = DeskOrderInputSerializer(data=request.data)
        if not body.is_valid():
            services.desk_order_refusal_record(
                errors={name: " ".join(str(m) for m in messages) for name, messages in body.errors.items()},
                submitted=_submitted(request.data),
                actor=request.user,
                channel="api",
            )
            raise ValidationError(body.errors)
        try:
            order = services.desk_order_enter(trader=request.user, channel="api", **body.validated_data)
        except services.DeskOrderRefused as error:
            raise ValidationError(error.message_dict) from None
        order = selectors.desk_orders_list().get(pk=order.pk)
        return Response(DeskOrderOutputSerializer(order).data, status=201)


@extend_schema_serializer(component_name="DeskOrdersAggregated")
class DeskOrdersAggregatedSerializer(serializers.Serializer):
    instrument = serializers.CharField()
    price = api_decimal(allow_null=True, source="result.price", help_text="the validated price crossed at")
    orders = serializers.SerializerMethodField(help_text="the orders taken (crossed, sent to an RFQ, or both)")
    crossed_quantity = serializers.SerializerMethodField()
    left_new = serializers.SerializerMethodField(help_text="orders whose limit does not trade at the price")
    sent = serializers.ListField(child=serializers.CharField(), help_text="the RFQs made and sent")
    cancelled = serializers.DictField(child=serializers.CharField(), help_text="RFQs that could not be sent: why")
    refused = serializers.CharField(help_text="why nothing was aggregated (empty otherwise)")

    def get_orders(self, run: Any) -> list[int]:
        return [order.pk for order in run.result.orders] if run.result else []

    def get_crossed_quantity(self, run: Any) -> str:
        crossed = sum((cross.quantity for cross in run.result.crosses), Decimal(0)) if run.result else Decimal(0)
        return str(crossed)

    def get_left_new(self, run: Any) -> list[int]:
        return [order.pk for order in run.result.left_new] if run.result else []


class DeskOrdersAggregateApi(APIView):
    """Aggregate now (as the beat does every window): the orders waiting, on every instrument or on ``instrument``,
    crossed at the validated price, the rest to RFQs sent to the dealers the desk chooses, for the calling trader."""

    permission_classes = [require_perm("rfq.add_deskorder", "rfq.add_rfq")]

    @extend_schema_serializer(component_name="DeskOrdersAggregateIn")
    class InputSerializer(serializers.Serializer):
        instrument = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")

    @extend_schema(request=InputSerializer, responses={200: DeskOrdersAggregatedSerializer(many=True)})
    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data or {})
        body.is_valid(raise_exception=True)
        symbol = body.validated_data["instrument"].strip()
        instrument = None
        if symbol:
            instrument = Instrument.objects.filter(symbol=symbol).first()
            if instrument is None:
                raise ValidationError({"instrument": [f"unknown instrument {symbol!r}"]})
        runs = desk_orders_work_all(owner=request.user, actor=request.user, instrument=instrument)
        return Response(DeskOrdersAggregatedSerializer(runs, many=True).data)


@extend_schema_serializer(component_name="DeskQuoteLeg")
class DeskQuoteLegSerializer(serializers.Serializer):
    leg_no = serializers.IntegerField(source="leg.leg_no")
    bid_price = api_decimal(allow_null=True)
    bid_size = api_decimal(allow_null=True)
    offer_price = api_decimal(allow_null=True)
    offer_size = api_decimal(allow_null=True)


@extend_schema_serializer(component_name="DeskQuote")
class DeskQuoteSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    dealer = serializers.CharField(source="dealer.code")
    quote_id = serializers.CharField()
    firmness = serializers.CharField()
    status = serializers.CharField()
    package_price = api_decimal(allow_null=True)
    valid_until = serializers.DateTimeField()
    received_at = serializers.DateTimeField()
    legs = DeskQuoteLegSerializer(many=True)
    state = serializers.SerializerMethodField(
        help_text="live, expired (its time is up), not_taken (live when the RFQ was accepted elsewhere) or its status"
    )
    acceptable = serializers.SerializerMethodField(help_text="whether the desk may accept it now")
    best = serializers.SerializerMethodField(help_text="the best acceptable quote of its RFQ (never an expired one)")

    def _on_board(self, quote: Quote) -> selectors.QuoteOnBoard:
        return self.context["board"][quote.pk]

    def get_state(self, quote: Quote) -> str:
        return self._on_board(quote).state

    def get_acceptable(self, quote: Quote) -> bool:
        return self._on_board(quote).acceptable

    def get_best(self, quote: Quote) -> bool:
        return self._on_board(quote).best


@extend_schema_serializer(component_name="DeskRFQLeg")
class DeskRFQLegSerializer(serializers.Serializer):
    leg_no = serializers.IntegerField()
    instrument = serializers.CharField(source="instrument.symbol")
    side = serializers.CharField()
    ratio = serializers.IntegerField()
    quantity = api_decimal()


@extend_schema_serializer(component_name="DeskRFQ")
class DeskRFQSerializer(serializers.Serializer):
    reference = serializers.CharField()
    status = serializers.CharField()
    package_type = serializers.CharField()
    mode = serializers.CharField()
    arrival_mid = api_decimal(allow_null=True)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    close_reason = serializers.CharField(help_text="how the RFQ ended (empty while open or when filled)")
    legs = DeskRFQLegSerializer(many=True)
    dealers = serializers.SerializerMethodField()
    quotes = serializers.SerializerMethodField()

    def get_dealers(self, rfq: RFQ) -> list[str]:
        return [request.dealer.code for request in rfq.quote_requests.all()]

    @extend_schema_field(DeskQuoteSerializer(many=True))
    def get_quotes(self, rfq: RFQ) -> list:
        board = selectors.rfq_quote_board(rfq=rfq, now=clock.now())
        return DeskQuoteSerializer(rfq.quotes.all(), many=True, context={"board": board}).data


@extend_schema_serializer(component_name="DeskRFQLegIn")
class RFQLegInSerializer(serializers.Serializer):
    instrument = serializers.SlugRelatedField(slug_field="symbol", queryset=Instrument.objects.filter(is_active=True))
    side = serializers.ChoiceField(choices=Side.choices)
    ratio = serializers.IntegerField(min_value=1, max_value=100, default=1)
    quantity = api_decimal(min_value=Decimal("0"))


@extend_schema_serializer(component_name="DeskRFQIn")
class RFQInSerializer(serializers.Serializer):
    package_type = serializers.ChoiceField(choices=PackageType.choices, default=PackageType.SINGLE)
    legs = RFQLegInSerializer(many=True, allow_empty=False)
    dealers = serializers.SlugRelatedField(
        slug_field="code",
        many=True,
        queryset=Counterparty.objects.all(),
        required=False,
        help_text="the dealers to ask; omitted, the desk chooses them by score and asks them in waves",
    )
    expires_in_s = serializers.IntegerField(min_value=5, max_value=3600, default=60)
    mode = serializers.ChoiceField(choices=TradingMode.choices, default=TradingMode.MANUAL)
    risk_aversion = serializers.FloatField(min_value=0.0, max_value=100.0, default=0.05)
    allow_legging = serializers.BooleanField(default=False)


class RFQListApi(ListAPIView):
    """RFQs of the desk (GET), and a new RFQ sent at once to the chosen dealers (POST, traders)."""

    serializer_class = DeskRFQSerializer
    filterset_fields = ["status", "package_type"]

    def get_permissions(self) -> list:
        perm = "rfq.add_rfq" if self.request.method == "POST" else "rfq.view_rfq"
        return [require_perm(perm)()]

    def get_queryset(self) -> QuerySet[RFQ]:
        return selectors.desk_rfqs_list()

    @extend_schema(request=RFQInSerializer, responses={201: DeskRFQSerializer})
    def post(self, request: Request) -> Response:
        body = RFQInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        legs = [services.LegInput(**leg) for leg in data["legs"]]
        # The fat-finger guards first, outside the transaction: a refusal's audit outlives it.
        refused = services.rfq_legs_guard(legs=legs, actor=request.user)
        if refused:
            errors: list[dict[str, list[str]]] = [{} for _ in legs]
            for number, report in refused:
                errors[number - 1] = {"quantity": [refusal.message for refusal in report.refusals]}
            raise ValidationError({"legs": errors})
        try:
            with transaction.atomic():
                rfq = services.rfq_create(
                    legs=legs,
                    actor=request.user,
                    package_type=data["package_type"],
                    expires_in=timedelta(seconds=data["expires_in_s"]),
                    mode=data["mode"],
                    risk_aversion=data["risk_aversion"],
                    allow_legging=data["allow_legging"],
                )
                if data.get("dealers"):
                    services.rfq_send(rfq=rfq, dealers=data["dealers"], actor=request.user)
                else:
                    rfq_send_selected(rfq=rfq, actor=request.user)
        except services.QuoteRefused as error:
            raise ValidationError({"detail": error.messages}) from None
        return Response(DeskRFQSerializer(selectors.desk_rfqs_list().get(pk=rfq.pk)).data, status=201)


class RFQDetailApi(APIView):
    permission_classes = [require_perm("rfq.view_rfq")]

    @extend_schema(responses=DeskRFQSerializer)
    def get(self, request: Request, reference: str) -> Response:
        rfq = selectors.desk_rfqs_list().filter(reference=reference).first()
        if rfq is None:
            raise Http404
        return Response(DeskRFQSerializer(rfq).data)


@extend_schema_serializer(component_name="DeskDealerOrder")
class DeskDealerOrderSerializer(serializers.Serializer):
    cl_ord_id = serializers.CharField()
    dealer = serializers.CharField(source="dealer.code")
    side = serializers.CharField()
    quantity = api_decimal()
    price = api_decimal()
    status = serializers.CharField()


class QuoteAcceptApi(APIView):
    """Take a live firm quote: in full by default; ``quantity`` takes part of a single-instrument quote, ``leg_no``
    one leg of a package quote when the RFQ allows legging. The dealer gets the order and fills it or rejects it on
    last look."""

    permission_classes = [require_perm("rfq.change_rfq")]

    @extend_schema_serializer(component_name="QuoteAcceptIn")
    class InputSerializer(serializers.Serializer):
        quantity = api_decimal(required=False, min_value=Decimal("0"))
        leg_no = serializers.IntegerField(required=False, min_value=1)

    @extend_schema(request=InputSerializer, responses={201: DeskDealerOrderSerializer})
    def post(self, request: Request, pk: int) -> Response:
        quote = Quote.objects.filter(pk=pk).first()
        if quote is None:
            raise Http404
        body = self.InputSerializer(data=request.data or {})
        body.is_valid(raise_exception=True)
        try:
            order = services.quote_accept(quote=quote, actor=request.user, **body.validated_data)
        except services.QuoteRefused as error:
            raise ValidationError({"detail": error.messages}) from None
        return Response(DeskDealerOrderSerializer(order).data, status=201)
