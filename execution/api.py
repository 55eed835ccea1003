"""The execution API: plans (create, list, detail with child orders and fills; start, pause, resume, cancel) and
positions. Views parse, call one service or selector, and serialize."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from desk.fields import api_decimal
from desk.models import Instrument, Side
from desk.permissions import require_perm
from execution import fills, selectors, services
from execution.models import Algorithm, ExecutionPlan, FillException, Position


def _refused(error: services.ExecutionRefused) -> ValidationError:
    if hasattr(error, "error_dict"):
        return ValidationError(error.message_dict)
    return ValidationError({"detail": error.messages})


class CanSteerPlans(BasePermission):
    """Traders and risk officers may start, pause, resume and cancel plans."""

    message = f"your role does not allow this (needs {' or '.join(services.STEER_PERMS)})"

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and any(user.has_perm(p) for p in services.STEER_PERMS))


@extend_schema_serializer(component_name="ExecutionFill")
class FillOutSerializer(serializers.Serializer):
    exec_id = serializers.CharField()
    quantity = api_decimal()
    price = api_decimal(help_text="quote currency per unit of the underlying")
    fee = api_decimal(help_text="quote currency")
    executed_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="ExecutionChildOrder")
class ChildOrderOutSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    client_order_id = serializers.CharField()
    quantity = api_decimal()
    filled_quantity = api_decimal()
    limit_price = api_decimal(allow_null=True)
    status = serializers.CharField()
    venue = serializers.CharField()
    scheduled_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)
    reject_reason = serializers.CharField()
    fills = FillOutSerializer(many=True)


@extend_schema_serializer(component_name="ExecutionPlan")
class PlanOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    instrument = serializers.CharField(source="instrument.symbol")
    side = serializers.CharField()
    quantity = api_decimal()
    filled_quantity = api_decimal()
    algorithm = serializers.CharField()
    parameters = serializers.JSONField()
    status = serializers.CharField()
    rfq_leg = serializers.IntegerField(source="rfq_leg_id", allow_null=True)
    created_by = serializers.CharField(source="created_by.username")
    created_at = serializers.DateTimeField()
    start_at = serializers.DateTimeField(allow_null=True)
    end_at = serializers.DateTimeField(allow_null=True)
    version = serializers.IntegerField()
    algo_params = serializers.IntegerField(source="algo_params_id", allow_null=True, help_text="parameter version")
    protocol = serializers.CharField(help_text="'conservative' after a fallback to the safe protocol")
    replans = serializers.IntegerField()
    fallbacks = serializers.IntegerField()
    fallback_rfq = serializers.IntegerField(source="fallback_rfq_id", allow_null=True, help_text="RFQ of the residual")


@extend_schema_serializer(component_name="ExecutionPlanDetail")
class PlanDetailOutSerializer(PlanOutSerializer):
    child_orders = ChildOrderOutSerializer(many=True)


@extend_schema_serializer(component_name="ExecutionPlanIn")
class PlanInSerializer(serializers.Serializer):
    instrument = serializers.SlugRelatedField(slug_field="symbol", queryset=Instrument.objects.filter(is_active=True))
    side = serializers.ChoiceField(choices=Side.choices)
    quantity = api_decimal(help_text="contracts, a whole number of lots")
    algorithm = serializers.ChoiceField(choices=Algorithm.choices)
    parameters = serializers.DictField(
        help_text="horizon_s (required), slices, min_child, max_child, book, max_slippage_bps, size_jitter, "
        "time_jitter, seed; POV: participation, cap; Almgren-Chriss: risk_aversion, sigma, eta, gamma"
    )
    rfq_leg = serializers.PrimaryKeyRelatedField(
        queryset=ExecutionPlan.rfq_leg.field.related_model.objects.all(), required=False, allow_null=True
    )


class PlanListApi(ListAPIView):
    """Execution plans, newest first (``?status=running``)."""

    permission_classes = [require_perm("execution.view_executionplan")]
    serializer_class = PlanOutSerializer
    filterset_fields = ["status"]

    def get_queryset(self) -> QuerySet[ExecutionPlan]:
        return selectors.plans_list()


class PlanCreateApi(APIView):
    """Create a draft plan and its child schedule; traders."""

    permission_classes = [require_perm("execution.add_executionplan")]

    @extend_schema(request=PlanInSerializer, responses={201: PlanDetailOutSerializer})
    def post(self, request: Request) -> Response:
        body = PlanInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            plan = services.plan_create(**body.validated_data, actor=request.user)
        except services.ExecutionRefused as error:
            raise _refused(error) from None
        return Response(
            PlanDetailOutSerializer(selectors.plan_detail(plan_id=plan.pk)).data, status=status.HTTP_201_CREATED
        )


class PlanDetailApi(APIView):
    """One plan with its child orders and their fills."""

    permission_classes = [require_perm("execution.view_executionplan")]

    @extend_schema(responses=PlanDetailOutSerializer)
    def get(self, request: Request, plan_id: int) -> Response:
        try:
            plan = selectors.plan_detail(plan_id=plan_id)
        except ExecutionPlan.DoesNotExist:
            raise NotFound(f"no execution plan {plan_id}") from None
        return Response(PlanDetailOutSerializer(plan).data)


@extend_schema_serializer(component_name="ExecutionPlanActionIn")
class PlanActionInSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    version = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="refuse if the plan changed since this version"
    )


class _PlanActionApi(APIView):
    permission_classes = [CanSteerPlans]

    def act(self, *, plan_id: int, actor: Any, reason: str, version: int | None) -> ExecutionPlan:
        raise NotImplementedError

    @extend_schema(request=PlanActionInSerializer, responses=PlanOutSerializer)
    def post(self, request: Request, plan_id: int) -> Response:
        body = PlanActionInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            plan = self.act(plan_id=plan_id, actor=request.user, **body.validated_data)
        except ExecutionPlan.DoesNotExist:
            raise NotFound(f"no execution plan {plan_id}") from None
        except services.ExecutionRefused as error:
            raise _refused(error) from None
        return Response(PlanOutSerializer(plan).data)


class PlanStartApi(_PlanActionApi):
    """Start a draft plan; traders and risk officers."""

    def act(self, *, plan_id: int, actor: Any, reason: str, version: int | None) -> ExecutionPlan:
        return services.plan_start(plan_id=plan_id, actor=actor, version=version)


class PlanPauseApi(_PlanActionApi):
    """Pause a running plan; traders and risk officers."""

    def act(self, *, plan_id: int, actor: Any, reason: str, version: int | None) -> ExecutionPlan:
        return services.plan_pause(plan_id=plan_id, actor=actor, reason=reason, version=version)


class PlanResumeApi(_PlanActionApi):
    """Resume a paused or halted plan; traders and risk officers."""

    def act(self, *, plan_id: int, actor: Any, reason: str, version: int | None) -> ExecutionPlan:
        return services.plan_resume(plan_id=plan_id, actor=actor, reason=reason, version=version)


class PlanCancelApi(_PlanActionApi):
    """Cancel an open plan and its children not yet sent; traders and risk officers."""

    def act(self, *, plan_id: int, actor: Any, reason: str, version: int | None) -> ExecutionPlan:
        return services.plan_cancel(plan_id=plan_id, actor=actor, reason=reason, version=version)


@extend_schema_serializer(component_name="ExecutionPlanFallbackRfqIn")
class PlanFallbackRfqInSerializer(PlanActionInSerializer):
    dealers = serializers.ListField(
        child=serializers.CharField(max_length=32),
        required=False,
        allow_empty=False,
        default=None,
        help_text="dealer codes; default: up to three trusted dealers quoting the instrument",
    )


class PlanFallbackRfqApi(APIView):
    """Switch what is left of a plan to an RFQ to trusted dealers; traders and risk officers."""

    permission_classes = [CanSteerPlans]

    @extend_schema(request=PlanFallbackRfqInSerializer, responses=PlanOutSerializer)
    def post(self, request: Request, plan_id: int) -> Response:
        body = PlanFallbackRfqInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            plan = services.plan_fallback_to_rfq(plan_id=plan_id, actor=request.user, **body.validated_data)
        except ExecutionPlan.DoesNotExist:
            raise NotFound(f"no execution plan {plan_id}") from None
        except services.ExecutionRefused as error:
            raise _refused(error) from None
        return Response(PlanOutSerializer(plan).data)


@extend_schema_serializer(component_name="ExecutionPosition")
class PositionOutSerializer(serializers.Serializer):
    book = serializers.CharField()
    instrument = serializers.CharField(source="instrument.symbol")
    quantity = api_decimal(help_text="signed contracts: + long, - short")
    average_price = api_decimal()
    realized_pnl = api_decimal(help_text="quote currency, fees deducted")
    updated_at = serializers.DateTimeField()


class PositionListApi(ListAPIView):
    """Positions per book and instrument (``?book=desk``)."""

    permission_classes = [require_perm("execution.view_position")]
    serializer_class = PositionOutSerializer
    filterset_fields = ["book"]

    def get_queryset(self) -> QuerySet[Position]:
        return selectors.positions_list()


@extend_schema_serializer(component_name="ExecutionFillException")
class FillExceptionOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    exec_id = serializers.CharField()
    client_order_id = serializers.CharField()
    reason = serializers.CharField()
    detail = serializers.CharField()
    report = serializers.JSONField(help_text="the execution report as received")
    deliveries = serializers.IntegerField()
    status = serializers.CharField()
    received_at = serializers.DateTimeField()
    reviewed_by = serializers.CharField(source="reviewed_by.username", allow_null=True, default=None)
    reviewed_at = serializers.DateTimeField(allow_null=True)
    review_note = serializers.CharField()


class FillExceptionListApi(ListAPIView):
    """Venue execution reports not booked (unknown or finished child order, overfill, changed report), newest
    first (``?status=open``)."""

    permission_classes = [require_perm("execution.view_fill")]
    serializer_class = FillExceptionOutSerializer
    filterset_fields = ["status", "reason"]

    def get_queryset(self) -> QuerySet[FillException]:
        return selectors.fill_exceptions_list()


@extend_schema_serializer(component_name="ExecutionFillExceptionReviewIn")
class FillExceptionReviewInSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=255, help_text="what the review found and did")


class CanReviewFillExceptions(BasePermission):
    message = f"your role does not allow this (needs {' or '.join(fills.REVIEW_PERMS)})"

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and any(user.has_perm(p) for p in fills.REVIEW_PERMS))


class FillExceptionReviewApi(APIView):
    """Close a fill exception after review; risk officers."""

    permission_classes = [CanReviewFillExceptions]

    @extend_schema(request=FillExceptionReviewInSerializer, responses=FillExceptionOutSerializer)
    def post(self, request: Request, exception_id: int) -> Response:
        body = FillExceptionReviewInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            exception = fills.fill_exception_review(
                exception_id=exception_id, actor=request.user, **body.validated_data
            )
        except FillException.DoesNotExist:
            raise NotFound(f"no fill exception {exception_id}") from None
        except services.ExecutionRefused as error:
            raise _refused(error) from None
        return Response(FillExceptionOutSerializer(exception).data)
