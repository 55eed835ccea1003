"""The risk API: limits, kill switches and the market-health verdicts for the desk's roles; setting limits and engaging
or re-arming switches for risk officers. Views parse, call one service or selector, and serialize."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from desk.fields import MAX_DIGITS, api_decimal
from desk.permissions import require_perm
from risk import selectors, services
from risk.models import Alert, KillSwitch, Limit, LimitKind, LimitScope, ScopeState
from risk.telemetry_services import alert_acknowledge


def _refused(error: services.RiskRefused) -> ValidationError:
    # A refusal about one field is reported under that field's name, like a serializer error.
    if hasattr(error, "error_dict"):
        return ValidationError(error.message_dict)
    return ValidationError({"detail": error.messages})


@extend_schema_serializer(component_name="RiskLimit")
class LimitOutSerializer(serializers.Serializer):
    scope = serializers.CharField()
    scope_key = serializers.CharField()
    kind = serializers.CharField()
    value = api_decimal(help_text="in the kind's unit: quote ccy, contracts, bps or a fraction")
    is_active = serializers.BooleanField()
    updated_by = serializers.CharField(source="updated_by.username", allow_null=True, default=None)
    updated_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="RiskKillSwitch")
class KillSwitchOutSerializer(serializers.Serializer):
    scope = serializers.CharField()
    scope_key = serializers.CharField()
    state = serializers.CharField(help_text="active, reducing (only risk-reducing orders pass) or halted")
    engaged = serializers.BooleanField(help_text="state == halted")
    reason = serializers.CharField()
    changed_by = serializers.CharField()
    changed_at = serializers.DateTimeField(allow_null=True)


class ScopeInSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=LimitScope.choices)
    scope_key = serializers.CharField(
        max_length=64, allow_blank=True, default="", help_text="empty for the desk; book, username, underlying, symbol"
    )


class LimitListApi(ListAPIView):
    """The limits in force."""

    permission_classes = [require_perm("risk.view_limit")]
    serializer_class = LimitOutSerializer

    def get_queryset(self) -> QuerySet[Limit]:
        return selectors.limits_in_force()


@extend_schema_serializer(component_name="RiskLimitIn")
class LimitInSerializer(ScopeInSerializer):
    kind = serializers.ChoiceField(choices=LimitKind.choices)
    value = api_decimal(min_value=0)


class LimitSetApi(APIView):
    """Set a limit (create or change it); risk officers."""

    permission_classes = [require_perm("risk.add_limit", "risk.change_limit")]

    @extend_schema(request=LimitInSerializer, responses=LimitOutSerializer)
    def post(self, request: Request) -> Response:
        body = LimitInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            limit = services.limit_set(**body.validated_data, actor=request.user)
        except services.RiskRefused as error:
            raise _refused(error) from None
        return Response(LimitOutSerializer(limit).data)


@extend_schema_serializer(component_name="RiskLimitUsage")
class LimitUsageOutSerializer(serializers.Serializer):
    limit = LimitOutSerializer()
    used = api_decimal(allow_null=True, help_text="in the limit's unit; null when checked per order")
    ratio = serializers.DecimalField(max_digits=MAX_DIGITS, decimal_places=6, allow_null=True)
    detail = serializers.CharField()


class LimitUsageApi(APIView):
    """How much of each standing limit is used."""

    permission_classes = [require_perm("risk.view_limit")]

    @extend_schema(responses=LimitUsageOutSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(LimitUsageOutSerializer(selectors.limit_usage(), many=True).data)


class KillSwitchListApi(ListAPIView):
    """Every kill switch that was ever set, engaged or armed (``?engaged=true`` for the engaged ones)."""

    permission_classes = [require_perm("risk.view_killswitch")]
    serializer_class = KillSwitchOutSerializer
    filterset_fields = ["engaged", "scope", "state"]

    def get_queryset(self) -> QuerySet[KillSwitch]:
        return selectors.kill_switches_list()


@extend_schema_serializer(component_name="RiskKillSwitchIn")
class KillSwitchInSerializer(ScopeInSerializer):
    reason = serializers.CharField(max_length=255)


class KillSwitchEngageApi(APIView):
    """Engage a kill switch: orders under it are refused and its running plans halted; risk officers."""

    permission_classes = [require_perm("risk.engage_killswitch")]

    @extend_schema(request=KillSwitchInSerializer, responses=KillSwitchOutSerializer)
    def post(self, request: Request) -> Response:
        body = KillSwitchInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            switch = services.kill_switch_engage(**body.validated_data, actor=request.user)
        except services.RiskRefused as error:
            raise _refused(error) from None
        return Response(KillSwitchOutSerializer(switch).data, status=status.HTTP_200_OK)


class KillSwitchRearmApi(APIView):
    """Re-arm an engaged kill switch; risk officers."""

    permission_classes = [require_perm("risk.rearm_killswitch")]

    @extend_schema(request=KillSwitchInSerializer, responses=KillSwitchOutSerializer)
    def post(self, request: Request) -> Response:
        body = KillSwitchInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            switch = services.kill_switch_rearm(**body.validated_data, actor=request.user)
        except services.RiskRefused as error:
            raise _refused(error) from None
        return Response(KillSwitchOutSerializer(switch).data)


@extend_schema_serializer(component_name="RiskScopeStateIn")
class ScopeStateInSerializer(KillSwitchInSerializer):
    state = serializers.ChoiceField(choices=ScopeState.choices)


class ScopeStateSetApi(APIView):
    """Set a scope's state: halted (engage its kill switch), reducing (only risk-reducing orders pass) or active
    (re-arm: ``risk.rearm_killswitch``, a risk officer); risk officers."""

    permission_classes = [require_perm("risk.engage_killswitch")]

    @extend_schema(request=ScopeStateInSerializer, responses=KillSwitchOutSerializer)
    def post(self, request: Request) -> Response:
        body = ScopeStateInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            switch = services.scope_state_set(**body.validated_data, actor=request.user)
        except services.RiskRefused as error:
            raise _refused(error) from None
        except services.RiskPermissionDenied as error:
            raise PermissionDenied(str(error)) from None
        return Response(KillSwitchOutSerializer(switch).data)


@extend_schema_serializer(component_name="RiskAlert")
class AlertOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    scope = serializers.CharField()
    scope_key = serializers.CharField()
    kind = serializers.CharField()
    level = serializers.CharField()
    value = api_decimal(help_text="in the kind's unit: a fraction, a multiple of the history, or a correlation")
    threshold = api_decimal()
    action = serializers.CharField()
    action_result = serializers.CharField()
    message = serializers.CharField()
    plan = serializers.IntegerField(source="plan_id", allow_null=True)
    instrument = serializers.CharField(source="plan.instrument.symbol", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    acknowledged = serializers.BooleanField()


class AlertListApi(ListAPIView):
    """The open (unacknowledged) risk alerts, newest first; ``?plan=<id>`` for one plan's."""

    permission_classes = [require_perm("risk.view_limit")]
    serializer_class = AlertOutSerializer

    def get_queryset(self) -> QuerySet[Alert]:
        plan = self.request.query_params.get("plan")
        if plan is not None and not plan.isdigit():
            raise ValidationError({"plan": "a plan id"})
        return selectors.alerts_open(plan_id=int(plan) if plan else None)


class AlertAcknowledgeApi(APIView):
    """Acknowledge an open alert (a trader or a risk officer): it leaves the open list."""

    permission_classes = [require_perm("risk.view_limit")]

    @extend_schema(request=None, responses=AlertOutSerializer)
    def post(self, request: Request, pk: int) -> Response:
        try:
            alert = alert_acknowledge(alert_id=pk, actor=request.user)
        except services.RiskRefused as error:
            raise _refused(error) from None
        return Response(AlertOutSerializer(alert).data)


@extend_schema_serializer(component_name="RiskMarketHealth")
class MarketHealthOutSerializer(serializers.Serializer):
    underlying = serializers.CharField()
    state = serializers.CharField(
        source="health.state",
        allow_null=True,
        default=None,
        help_text="healthy, degraded or halted; null before the monitor's first verdict",
    )
    checks = serializers.ListField(
        child=serializers.CharField(), source="health.checks", default=list, help_text="the checks behind the state"
    )
    reason = serializers.CharField(source="health.reason", default="")
    findings = serializers.ListField(
        child=serializers.DictField(), source="health.findings", default=list, help_text="each check's figures"
    )
    source_feed = serializers.CharField(source="health.source_feed", default="")
    since = serializers.DateTimeField(source="health.since", allow_null=True, default=None)
    updated_at = serializers.DateTimeField(source="health.updated_at", allow_null=True, default=None)
    switch_state = serializers.CharField(help_text="the underlying's kill switch: active, reducing or halted")
    circuit_breaker = serializers.BooleanField(help_text="the switch is engaged by the monitor's circuit breaker")
    switch_reason = serializers.CharField()


class MarketHealthListApi(APIView):
    """The market-health monitor's latest verdict on each underlying, beside its circuit breaker."""

    permission_classes = [require_perm("risk.view_limit")]

    @extend_schema(responses=MarketHealthOutSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(MarketHealthOutSerializer(selectors.market_health_board(), many=True).data)
