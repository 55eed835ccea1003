"""The RFQ engine's API: the dealers the desk would ask (with scores and why), its accept / wait / split
recommendation for an RFQ, acting on it, the automatic-mode limits, and the scoring models with their governance
metrics."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import transaction
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from desk.fields import api_decimal
from desk.models import DecisionKind, DecisionRecord
from desk.permissions import require_perm
from rfq import services
from rfq.api.desk import RFQLegInSerializer
from rfq.engine.auto import auto_limit_for, auto_trading_limit_set, rfq_act
from rfq.engine.market import NoMarket
from rfq.engine.recommend import rfq_recommendation
from rfq.engine.selection import selection_compute, selection_inputs, selection_seed
from rfq.models import RFQ, AutoTradingLimit, PackageType, RFQLeg, ScoringModelVersion


def _rfq_or_404(reference: str) -> RFQ:
    rfq = RFQ.objects.filter(reference=reference).first()
    if rfq is None:
        raise Http404
    return rfq


class SelectionPreviewApi(APIView):
    """The dealers the desk would ask for these legs now, each with its score, probabilities and largest
    contributions (nothing is stored or sent)."""

    permission_classes = [require_perm("rfq.view_rfq")]

    @extend_schema_serializer(component_name="SelectionPreviewIn")
    class InputSerializer(serializers.Serializer):
        package_type = serializers.ChoiceField(choices=PackageType.choices, default=PackageType.SINGLE)
        legs = RFQLegInSerializer(many=True, allow_empty=False)

    @extend_schema(request=InputSerializer, responses={200: dict})
    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        legs = [
            RFQLeg(
                leg_no=n, instrument=leg["instrument"], side=leg["side"], ratio=leg["ratio"], quantity=leg["quantity"]
            )
            for n, leg in enumerate(body.validated_data["legs"], start=1)
        ]
        inputs = selection_inputs(legs=legs, seed=selection_seed(legs=legs))
        output = selection_compute(inputs)
        return Response(output | {"model_version": inputs["live"]["version"], "context": inputs["context"]})


class RecommendationApi(APIView):
    """The desk's accept / wait / split recommendation for an RFQ now, its cost parts and why (stored as a
    decision record, whose id ``act`` takes)."""

    permission_classes = [require_perm("rfq.view_rfq")]

    @extend_schema(responses={200: dict})
    def get(self, request: Request, reference: str) -> Response:
        rfq = _rfq_or_404(reference)
        try:
            return Response(rfq_recommendation(rfq=rfq, actor=request.user))
        except NoMarket as error:
            raise ValidationError({"detail": str(error)}) from None


class RecommendationActApi(APIView):
    """Manual mode: the trader carries out a recommendation (accept or split) the desk made for this RFQ."""

    permission_classes = [require_perm("rfq.change_rfq")]

    @extend_schema_serializer(component_name="RecommendationActIn")
    class InputSerializer(serializers.Serializer):
        decision_id = serializers.IntegerField()

    @extend_schema(request=InputSerializer, responses={201: dict})
    def post(self, request: Request, reference: str) -> Response:
        rfq = _rfq_or_404(reference)
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        record = DecisionRecord.objects.filter(
            pk=body.validated_data["decision_id"],
            kind=DecisionKind.QUOTE_DECISION,
            object_type="rfq.rfq",
            object_id=str(rfq.pk),
        ).first()
        if record is None:
            raise ValidationError({"decision_id": "no recommendation with this id for this RFQ"})
        try:
            with transaction.atomic():
                done = rfq_act(rfq=rfq, output=record.output, actor=request.user)
        except services.QuoteRefused as error:
            raise ValidationError({"detail": error.messages}) from None
        return Response(done, status=201)


@extend_schema_serializer(component_name="AutoTradingLimit")
class AutoLimitSerializer(serializers.Serializer):
    trader = serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.all(), allow_null=True, required=False
    )
    enabled = serializers.BooleanField()
    max_notional = api_decimal(min_value=0)
    max_cost_bps = serializers.FloatField(min_value=-10_000, max_value=10_000)
    max_dealers = serializers.IntegerField(min_value=1, max_value=20, default=5)


class AutoLimitApi(APIView):
    """Automatic-mode limits: everyone on the desk reads them (GET); risk officers set them (POST)."""

    def get_permissions(self) -> list:
        perm = "rfq.change_autotradinglimit" if self.request.method == "POST" else "rfq.view_autotradinglimit"
        return [require_perm(perm)()]

    @extend_schema(responses={200: AutoLimitSerializer(many=True)})
    def get(self, request: Request) -> Response:
        rows = AutoTradingLimit.objects.select_related("trader").order_by("trader__username")
        return Response(AutoLimitSerializer(rows, many=True).data)

    @extend_schema(request=AutoLimitSerializer, responses={201: AutoLimitSerializer})
    def post(self, request: Request) -> Response:
        body = AutoLimitSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            limit = auto_trading_limit_set(actor=request.user, **body.validated_data)
        except DjangoPermissionDenied as error:
            raise PermissionDenied(str(error)) from None
        except services.QuoteRefused as error:
            raise ValidationError(error.message_dict if hasattr(error, "message_dict") else error.messages) from None
        return Response(AutoLimitSerializer(limit).data, status=201)


@extend_schema_serializer(component_name="ScoringModelVersion")
class ScoringModelOutSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    status = serializers.CharField()
    data_start = serializers.DateTimeField()
    data_end = serializers.DateTimeField()
    owner = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    trained_by = serializers.CharField(
        help_text="who trained it: a desk user, system:beat, or train_scoring and its OS account"
    )
    created_at = serializers.DateTimeField()
    promoted_at = serializers.DateTimeField(allow_null=True)
    training_data_sha256 = serializers.CharField()
    hyperparameters = serializers.JSONField()
    metrics = serializers.JSONField(help_text="hold-out metrics (AUC, Brier, baselines) and thresholds")
    shadow_metrics = serializers.JSONField(help_text="metrics on RFQs scored after training, in shadow")
    drift = serializers.JSONField(help_text="last drift check of inputs and calibration")


class ScoringModelListApi(APIView):
    """The dealer-scoring model versions with their hold-out, shadow and drift metrics (no artifacts), newest first."""

    permission_classes = [require_perm("rfq.view_scoringmodelversion")]

    @extend_schema(responses={200: ScoringModelOutSerializer(many=True)})
    def get(self, request: Request) -> Response:
        rows = ScoringModelVersion.objects.select_related("created_by").defer("artifact")
        return Response(ScoringModelOutSerializer(rows, many=True).data)


class MyAutoLimitApi(APIView):
    """The automatic-mode limit that applies to the signed-in trader (their own or the desk's); 204 when none does."""

    permission_classes = [require_perm("rfq.view_autotradinglimit")]

    @extend_schema(responses={200: AutoLimitSerializer, 204: OpenApiResponse(description="no limit applies")})
    def get(self, request: Request) -> Response:
        limit = auto_limit_for(request.user)
        if limit is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(AutoLimitSerializer(limit).data)
