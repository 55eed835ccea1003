"""The trader's hands on an open RFQ: cancel it, or ask more dealers now."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from desk.permissions import require_perm
from rfq.engine.lifecycle import rfq_cancel
from rfq.engine.selection import rfq_ask_more
from rfq.models import RFQ
from rfq.services import QuoteRefused


def _rfq_or_404(reference: str) -> RFQ:
    rfq = RFQ.objects.filter(reference=reference).first()
    if rfq is None:
        raise Http404
    return rfq


@extend_schema_serializer(component_name="RFQActionOut")
class RFQActionOutSerializer(serializers.Serializer):
    rfq = serializers.CharField()
    status = serializers.CharField()
    dealers = serializers.ListField(child=serializers.CharField(), required=False)
    reason = serializers.CharField(required=False)


class RFQCancelApi(APIView):
    """Cancel an open RFQ: its live quotes can no longer be taken, the dealers still to answer are released, its
    desk orders go back to be aggregated again. Dealer orders already sent stay with their dealers. A filled,
    expired or cancelled RFQ is refused with its status."""

    permission_classes = [require_perm("rfq.change_rfq")]

    @extend_schema_serializer(component_name="RFQCancelIn")
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=200, required=False, default="by the trader")

    @extend_schema(request=InputSerializer, responses={200: RFQActionOutSerializer})
    def post(self, request: Request, reference: str) -> Response:
        rfq = _rfq_or_404(reference)
        body = self.InputSerializer(data=request.data or {})
        body.is_valid(raise_exception=True)
        if not rfq_cancel(rfq_id=rfq.pk, actor=request.user, reason=body.validated_data["reason"]):
            rfq.refresh_from_db(fields=["status"])
            raise ValidationError({"detail": f"RFQ {rfq.reference} is {rfq.status}: it cannot be cancelled"})
        rfq.refresh_from_db(fields=["status", "close_reason"])
        return Response({"rfq": rfq.reference, "status": rfq.status, "reason": rfq.close_reason})


class RFQAskMoreApi(APIView):
    """Ask more dealers now: the next wave the desk kept back, else the best-scored dealers not asked yet."""

    permission_classes = [require_perm("rfq.change_rfq")]

    @extend_schema_serializer(component_name="RFQAskMoreIn")
    class InputSerializer(serializers.Serializer):
        count = serializers.IntegerField(min_value=1, max_value=20, required=False)

    @extend_schema(request=InputSerializer, responses={200: RFQActionOutSerializer})
    def post(self, request: Request, reference: str) -> Response:
        rfq = _rfq_or_404(reference)
        body = self.InputSerializer(data=request.data or {})
        body.is_valid(raise_exception=True)
        try:
            dealers = rfq_ask_more(rfq_id=rfq.pk, actor=request.user, count=body.validated_data.get("count"))
        except QuoteRefused as error:
            raise ValidationError({"detail": error.messages}) from None
        rfq.refresh_from_db(fields=["status"])
        return Response({"rfq": rfq.reference, "status": rfq.status, "dealers": dealers})
