"""The API of algorithm parameter versions (like model versions): list, draft, validate, promote, roll back.
Mounted under ``/api/v1/execution/algo-params/``. Views parse, call one service, serialize."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from desk.permissions import require_perm
from execution import algo_params
from execution.errors import ExecutionPermissionDenied, ExecutionRefused
from execution.models import AlgoParamVersion, Algorithm


@extend_schema_serializer(component_name="AlgoParamVersion")
class VersionOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    algorithm = serializers.CharField()
    number = serializers.IntegerField()
    status = serializers.CharField()
    params = serializers.JSONField()
    notes = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username")
    created_at = serializers.DateTimeField()
    validated_at = serializers.DateTimeField(allow_null=True)
    live_from = serializers.DateTimeField(allow_null=True)
    retired_at = serializers.DateTimeField(allow_null=True)


def _call(service, **kwargs):  # noqa: ANN001, ANN202 - one error mapping for every action
    try:
        return service(**kwargs)
    except ExecutionPermissionDenied as error:
        raise PermissionDenied(str(error)) from None
    except ExecutionRefused as error:
        raise ValidationError(
            error.message_dict if hasattr(error, "error_dict") else {"detail": error.messages}
        ) from None
    except AlgoParamVersion.DoesNotExist:
        raise NotFound("no such algorithm parameter version") from None


class AlgoParamListApi(APIView):
    """Every version (GET, desk roles); a new draft (POST: algorithm, params, notes)."""

    def get_permissions(self) -> list:
        perm = "execution.add_algoparamversion" if self.request.method == "POST" else "execution.view_algoparamversion"
        return [require_perm(perm)()]

    @extend_schema_serializer(component_name="AlgoParamDraftIn")
    class InputSerializer(serializers.Serializer):
        algorithm = serializers.ChoiceField(choices=Algorithm.choices)
        params = serializers.DictField()
        notes = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(responses=VersionOutSerializer(many=True))
    def get(self, request: Request) -> Response:
        rows = AlgoParamVersion.objects.select_related("created_by")
        return Response(VersionOutSerializer(rows, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: VersionOutSerializer})
    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = _call(algo_params.algo_params_create, actor=request.user, **body.validated_data)
        return Response(VersionOutSerializer(version).data, status=status.HTTP_201_CREATED)


class AlgoParamActionApi(APIView):
    """``validate`` (a dry run of the kernel) or ``promote`` (live; the live one retires) a version."""

    permission_classes = [require_perm("execution.promote_algoparams")]

    @extend_schema(request=None, responses=VersionOutSerializer, operation_id="v1_execution_algo_params_action")
    def post(self, request: Request, version_id: int, action: str) -> Response:
        services = {"validate": algo_params.algo_params_validate, "promote": algo_params.algo_params_promote}
        if action not in services:
            raise NotFound(f"unknown action {action!r}: validate or promote")
        version = _call(services[action], version_id=version_id, actor=request.user)
        return Response(VersionOutSerializer(version).data)


class AlgoParamRollbackApi(APIView):
    """Roll an algorithm back to its previous stable version, with a reason."""

    permission_classes = [require_perm("execution.promote_algoparams")]

    @extend_schema_serializer(component_name="AlgoParamRollbackIn")
    class InputSerializer(serializers.Serializer):
        algorithm = serializers.ChoiceField(choices=Algorithm.choices)
        reason = serializers.CharField(max_length=500)

    @extend_schema(request=InputSerializer, responses=VersionOutSerializer)
    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = _call(algo_params.algo_params_rollback, actor=request.user, **body.validated_data)
        return Response(VersionOutSerializer(version).data)
