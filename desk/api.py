"""Desk-wide API: who am I, and a diagnostics ping through the worker to the browsers."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from desk.audit import audit_record
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
