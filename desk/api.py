"""Desk-wide API: who am I, a diagnostics ping through the worker to the browsers, and the decision records."""

from __future__ import annotations

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from desk.audit import audit_record
from desk.decisions import decision_replay
from desk.models import DecisionKind, DecisionRecord
from desk.permissions import require_perm
from desk.roles import user_roles
from desk.tasks import desk_ping


class MeApi(APIView):
    @extend_schema_serializer(component_name="MeOutput")
    class OutputSerializer(serializers.Serializer):
        username = serializers.CharField()
        roles = serializers.ListField(child=serializers.CharField())
        dealer = serializers.CharField(allow_null=True)

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        dealer = getattr(request.user, "counterparty", None)
        data = {
            "username": request.user.get_username(),
            "roles": user_roles(request.user),
            "dealer": dealer.code if dealer else None,
        }
        return Response(self.OutputSerializer(data).data)


class PingApi(APIView):
    """Queue a diagnostics task; the worker broadcasts it to every open desk page (``/ws/desk/``)."""

    permission_classes = [require_perm("rfq.view_blotter")]

    @extend_schema_serializer(component_name="PingInput")
    class InputSerializer(serializers.Serializer):
        message = serializers.CharField(max_length=200)

    @extend_schema_serializer(component_name="PingOutput")
    class OutputSerializer(serializers.Serializer):
        queued = serializers.BooleanField()

    @extend_schema(request=InputSerializer, responses={202: OutputSerializer})
    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        username = request.user.get_username()
        with transaction.atomic():
            audit_record(actor=request.user, action="desk.ping", after=body.validated_data)
            desk_ping.delay_on_commit(message=body.validated_data["message"], requested_by=username)
        return Response({"queued": True}, status=status.HTTP_202_ACCEPTED)


class DecisionOutputSerializer(serializers.ModelSerializer):
    audit_seq = serializers.IntegerField(
        source="audit_event.seq", allow_null=True, help_text="the audit event's place in the chain; null until sealed"
    )

    class Meta:
        model = DecisionRecord
        fields = [
            "id",
            "kind",
            "decided_at",
            "actor",
            "object_type",
            "object_id",
            "inputs",
            "model_versions",
            "output",
            "explanation",
            "audit_seq",
        ]


class DecisionListApi(generics.ListAPIView):
    """Automated decisions, newest first; filter with ``?kind=``, ``?object_type=`` and ``?object_id=``."""

    permission_classes = [require_perm("desk.view_decisionrecord")]
    serializer_class = DecisionOutputSerializer

    def get_queryset(self):  # noqa: ANN201
        records = DecisionRecord.objects.select_related("audit_event")
        kind = self.request.query_params.get("kind")
        if kind:
            if kind not in DecisionKind.values:
                raise serializers.ValidationError({"kind": f"unknown kind {kind!r}; one of {DecisionKind.values}"})
            records = records.filter(kind=kind)
        for name in ("object_type", "object_id"):
            value = self.request.query_params.get(name)
            if value:
                records = records.filter(**{name: value})
        return records


class DecisionReplayApi(APIView):
    """Recompute a decision from its stored inputs with today's code, and say whether the output is the same."""

    permission_classes = [require_perm("desk.view_decisionrecord")]

    @extend_schema_serializer(component_name="DecisionReplayOutput")
    class OutputSerializer(serializers.Serializer):
        record_id = serializers.IntegerField()
        kind = serializers.CharField()
        stored_output = serializers.JSONField()
        replayed_output = serializers.JSONField(allow_null=True)
        matches = serializers.BooleanField()
        inputs_intact = serializers.BooleanField()
        reason = serializers.CharField()

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        record = get_object_or_404(DecisionRecord.objects.select_related("audit_event"), pk=pk)
        return Response(self.OutputSerializer(decision_replay(record)).data)
