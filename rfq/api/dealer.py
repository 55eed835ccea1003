"""The dealer REST API: a dealer sees only the RFQs sent to it, quotes them per leg, withdraws, and confirms or
rejects fills on last look. Every POST is idempotent (``Idempotency-Key``). Nothing here names the desk's client
or the other dealers; another dealer's RFQ, quote or order is a 404."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import django_filters
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from desk.fields import api_decimal
from desk.permissions import require_perm
from rfq import selectors, services
from rfq.api.idempotency import HEADER, idempotent
from rfq.models import RFQ, Counterparty, DealerOrder, Firmness, Quote, RFQLeg, RFQStatus, shown_quantity

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER,
    str,
    OpenApiParameter.HEADER,
    required=True,
    description="A unique key per operation (e.g. a UUID). A retry with the same key and body returns the first "
    "answer and changes nothing; the same key with another body is a 409.",
)


class DealerThrottle(SimpleRateThrottle):
    """Requests per dealer. DRF's cache counter is not atomic: a soft limit against runaway clients, not a hard
    message-rate control (the FIX gateway enforces those)."""

    scope = "dealer"
    rate = "1200/min"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        dealer = request.auth if isinstance(request.auth, Counterparty) else None
        return f"throttle_dealer_{dealer.pk}" if dealer else None


class DealerApi(APIView):
    """Base of the dealer endpoints: dealer role, DealerKey credentials, per-dealer throttle."""

    permission_classes = [require_perm("rfq.respond_rfq")]
    throttle_classes = [DealerThrottle]

    def dealer(self) -> Counterparty:
        dealer = self.request.auth
        if not isinstance(dealer, Counterparty):
            raise PermissionDenied("dealer endpoints take DealerKey credentials")
        return dealer


def _refused(error: services.QuoteRefused) -> ValidationError:
    # A refusal about one field is reported under that field's name, like a serializer error.
    if hasattr(error, "error_dict"):
        return ValidationError(error.message_dict)
    return ValidationError({"detail": error.messages})


class FillIdConflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "this ExecID was already used for a fill of another order"
    default_code = "fill_id_reused"


class UTCIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """ISO 8601 with any offset Python accepts; PostgreSQL refuses offsets beyond ±15:59, so compare in UTC."""

    def filter(self, qs: QuerySet, value: datetime | None) -> QuerySet:
        return super().filter(qs, value.astimezone(UTC) if value is not None else value)


class RFQFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=RFQStatus.choices)
    created_after = UTCIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")

    class Meta:
        model = RFQ
        fields = ["status", "package_type"]


@extend_schema_serializer(component_name="DealerRFQLeg")
class DealerRFQLegSerializer(serializers.Serializer):
    leg_no = serializers.IntegerField()
    instrument = serializers.CharField(source="instrument.symbol")
    side = serializers.CharField(help_text="the desk's side: buy means the dealer is asked for an offer")
    ratio = serializers.IntegerField()
    quantity = serializers.SerializerMethodField(help_text="contracts asked of this dealer (the desk may show part)")

    @extend_schema_field(api_decimal())
    def get_quantity(self, leg: RFQLeg) -> str:
        shown = self.context.get("shown_fraction") or Decimal(1)
        return api_decimal().to_representation(shown_quantity(leg.quantity, shown, leg.instrument.lot_size))


@extend_schema_serializer(component_name="DealerRFQ")
class DealerRFQSerializer(serializers.Serializer):
    reference = serializers.CharField()
    quote_req_id = serializers.SerializerMethodField()
    status = serializers.CharField()
    package_type = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)
    legs = serializers.SerializerMethodField()

    def get_quote_req_id(self, rfq: RFQ) -> str:
        return rfq.dealer_quote_req_id

    @extend_schema_field(DealerRFQLegSerializer(many=True))
    def get_legs(self, rfq: RFQ) -> list[dict]:
        shown = getattr(rfq, "dealer_shown_fraction", None)
        return DealerRFQLegSerializer(rfq.legs.all(), many=True, context={"shown_fraction": shown}).data


class DealerRFQListApi(ListAPIView, DealerApi):
    """The RFQs sent to the calling dealer, newest first."""

    serializer_class = DealerRFQSerializer
    filterset_class = RFQFilter

    def get_queryset(self) -> QuerySet[RFQ]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no dealer
            return RFQ.objects.none()
        return selectors.dealer_rfqs_list(dealer=self.dealer())


class DealerRFQDetailApi(DealerApi):
    @extend_schema(responses=DealerRFQSerializer)
    def get(self, request: Request, reference: str) -> Response:
        rfq = selectors.dealer_rfqs_list(dealer=self.dealer()).filter(reference=reference).first()
        if rfq is None:
            raise Http404
        return Response(DealerRFQSerializer(rfq).data)


@extend_schema_serializer(component_name="DealerQuoteLegIn")
class QuoteLegInSerializer(serializers.Serializer):
    leg_no = serializers.IntegerField(min_value=1)
    bid_price = api_decimal(required=False, allow_null=True, min_value=0)
    bid_size = api_decimal(required=False, allow_null=True, min_value=0)
    offer_price = api_decimal(required=False, allow_null=True, min_value=0)
    offer_size = api_decimal(required=False, allow_null=True, min_value=0)


@extend_schema_serializer(component_name="DealerQuoteIn")
class QuoteInSerializer(serializers.Serializer):
    quote_req_id = serializers.CharField(max_length=64)
    quote_id = serializers.CharField(max_length=64, help_text="the dealer's own id, unique per dealer")
    valid_until = serializers.DateTimeField(help_text="UTC, ISO 8601 with offset")
    firmness = serializers.ChoiceField(choices=Firmness.choices, default=Firmness.FIRM)
    package_price = api_decimal(required=False, allow_null=True, help_text="net package price (multi-leg RFQs)")
    legs = QuoteLegInSerializer(many=True, allow_empty=False)

    def validate_valid_until(self, value: datetime) -> datetime:
        return value.astimezone(UTC)


@extend_schema_serializer(component_name="DealerQuote")
class QuoteOutSerializer(serializers.Serializer):
    quote_id = serializers.CharField()
    rfq = serializers.CharField(source="rfq.reference")
    quote_req_id = serializers.CharField(source="quote_request.quote_req_id")
    firmness = serializers.CharField()
    status = serializers.CharField()
    package_price = api_decimal(allow_null=True)
    valid_until = serializers.DateTimeField()
    received_at = serializers.DateTimeField()


class DealerQuoteListApi(ListAPIView, DealerApi):
    """The calling dealer's quotes (GET) and a new quote (POST)."""

    serializer_class = QuoteOutSerializer

    def get_queryset(self) -> QuerySet[Quote]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no dealer
            return Quote.objects.none()
        return selectors.dealer_quotes_list(dealer=self.dealer())

    @extend_schema(request=QuoteInSerializer, responses={201: QuoteOutSerializer}, parameters=[IDEMPOTENCY_PARAMETER])
    @idempotent
    def post(self, request: Request) -> Response:
        body = QuoteInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            quote = services.quote_receive(
                dealer=self.dealer(),
                quote_req_id=data["quote_req_id"],
                quote_id=data["quote_id"],
                legs=[services.QuoteLegInput(**leg) for leg in data["legs"]],
                valid_until=data["valid_until"],
                firmness=data["firmness"],
                package_price=data.get("package_price"),
            )
        except services.QuoteRefused as error:
            raise _refused(error) from None
        return Response(QuoteOutSerializer(quote).data, status=status.HTTP_201_CREATED)


class DealerQuoteWithdrawApi(DealerApi):
    @extend_schema(request=None, responses=QuoteOutSerializer, parameters=[IDEMPOTENCY_PARAMETER])
    @idempotent
    def post(self, request: Request, quote_id: str) -> Response:
        if not selectors.dealer_quotes_list(dealer=self.dealer()).filter(quote_id=quote_id).exists():
            raise Http404
        try:
            quote = services.quote_withdraw(dealer=self.dealer(), quote_id=quote_id)
        except services.QuoteRefused as error:
            raise _refused(error) from None
        return Response(QuoteOutSerializer(quote).data)


@extend_schema_serializer(component_name="DealerDecline")
class DeclineInSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200)


@extend_schema_serializer(component_name="DealerQuoteRequest")
class QuoteRequestOutSerializer(serializers.Serializer):
    quote_req_id = serializers.CharField()
    rfq = serializers.CharField(source="rfq.reference")
    status = serializers.CharField()


class DealerQuoteRequestDeclineApi(DealerApi):
    @extend_schema(request=DeclineInSerializer, responses=QuoteRequestOutSerializer, parameters=[IDEMPOTENCY_PARAMETER])
    @idempotent
    def post(self, request: Request, quote_req_id: str) -> Response:
        body = DeclineInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            quote_request = services.quote_request_decline(
                dealer=self.dealer(), quote_req_id=quote_req_id, reason=body.validated_data["reason"]
            )
        except services.QuoteRefused as error:
            raise _refused(error) from None
        return Response(QuoteRequestOutSerializer(quote_request).data)


@extend_schema_serializer(component_name="DealerOrder")
class DealerOrderOutSerializer(serializers.Serializer):
    cl_ord_id = serializers.CharField()
    quote_id = serializers.CharField(source="quote.quote_id")
    instrument = serializers.CharField(source="leg.instrument.symbol", allow_null=True, default=None)
    side = serializers.CharField(help_text="the desk's side")
    quantity = api_decimal()
    price = api_decimal()
    filled_quantity = api_decimal()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()


class DealerOrderListApi(ListAPIView, DealerApi):
    """Accepted quotes of the calling dealer: fill or reject (last look) the ones still ``sent``."""

    serializer_class = DealerOrderOutSerializer
    filterset_fields = ["status"]

    def get_queryset(self) -> QuerySet[DealerOrder]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no dealer
            return DealerOrder.objects.none()
        return selectors.dealer_orders_list(dealer=self.dealer())


@extend_schema_serializer(component_name="DealerFillIn")
class FillInSerializer(serializers.Serializer):
    exec_id = serializers.CharField(max_length=48)
    quantity = api_decimal(min_value=0)
    price = api_decimal(min_value=0)


@extend_schema_serializer(component_name="DealerFill")
class FillOutSerializer(serializers.Serializer):
    exec_id = serializers.CharField()
    instrument = serializers.CharField(source="instrument.symbol")
    side = serializers.CharField()
    quantity = api_decimal()
    price = api_decimal()
    executed_at = serializers.DateTimeField()


class DealerOrderFillApi(DealerApi):
    @extend_schema(
        request=FillInSerializer,
        responses={201: FillOutSerializer, 409: OpenApiTypes.OBJECT},
        parameters=[IDEMPOTENCY_PARAMETER],
        description="Report a fill of an order still open. The ExecID is unique per dealer: repeated on the same order "
        "it answers the fill already booked; reused on another order it is a 409 and nothing is booked.",
    )
    @idempotent
    def post(self, request: Request, cl_ord_id: str) -> Response:
        if not selectors.dealer_orders_list(dealer=self.dealer()).filter(cl_ord_id=cl_ord_id).exists():
            raise Http404
        body = FillInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            fill = services.dealer_order_fill(dealer=self.dealer(), cl_ord_id=cl_ord_id, **body.validated_data)
        except services.FillIdReused as error:
            raise FillIdConflict(error.message_dict) from None
        except services.QuoteRefused as error:
            raise _refused(error) from None
        return Response(FillOutSerializer(fill).data, status=status.HTTP_201_CREATED)


class DealerOrderRejectApi(DealerApi):
    @extend_schema(request=DeclineInSerializer, responses=DealerOrderOutSerializer, parameters=[IDEMPOTENCY_PARAMETER])
    @idempotent
    def post(self, request: Request, cl_ord_id: str) -> Response:
        if not selectors.dealer_orders_list(dealer=self.dealer()).filter(cl_ord_id=cl_ord_id).exists():
            raise Http404
        body = DeclineInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            order = services.dealer_order_reject(
                dealer=self.dealer(), cl_ord_id=cl_ord_id, reason=body.validated_data["reason"]
            )
        except services.QuoteRefused as error:
            raise _refused(error) from None
        return Response(DealerOrderOutSerializer(order).data)
