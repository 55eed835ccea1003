"""RFQ-domain API: the desk's orders (traders and desk roles) and a dealer's own RFQs (dealers)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import ListAPIView
from rest_framework.request import Request

from desk.permissions import require_perm
from rfq import selectors
from rfq.models import Counterparty


class DeskOrderListApi(ListAPIView):
    permission_classes = [require_perm("rfq.view_deskorder")]

    @extend_schema_serializer(component_name="DeskOrderOutput")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        account = serializers.CharField(source="account.code")
        instrument = serializers.CharField(source="instrument.symbol")
        side = serializers.CharField()
        quantity = serializers.DecimalField(max_digits=28, decimal_places=12)
        limit_price = serializers.DecimalField(max_digits=28, decimal_places=12, allow_null=True)
        urgency = serializers.CharField()
        status = serializers.CharField()
        filled_quantity = serializers.DecimalField(max_digits=28, decimal_places=12)
        created_at = serializers.DateTimeField()

    serializer_class = OutputSerializer

    def get_queryset(self):  # noqa: ANN201 - DRF hook
        return selectors.desk_orders_list()


class DealerRFQListApi(ListAPIView):
    """The RFQs sent to the calling dealer. Carries no client, no desk order and no other dealer."""

    permission_classes = [require_perm("rfq.respond_rfq")]

    @extend_schema_serializer(component_name="DealerRFQLeg")
    class LegSerializer(serializers.Serializer):
        leg_no = serializers.IntegerField()
        instrument = serializers.CharField(source="instrument.symbol")
        side = serializers.CharField()
        ratio = serializers.IntegerField()
        quantity = serializers.DecimalField(max_digits=28, decimal_places=12)

    @extend_schema_serializer(component_name="DealerRFQOutput")
    class OutputSerializer(serializers.Serializer):
        reference = serializers.CharField()
        status = serializers.CharField()
        package_type = serializers.CharField()
        expires_at = serializers.DateTimeField(allow_null=True)
        legs = serializers.SerializerMethodField()

        def get_legs(self, rfq) -> list[dict]:  # noqa: ANN001
            return DealerRFQListApi.LegSerializer(rfq.legs.all(), many=True).data

    serializer_class = OutputSerializer

    def _dealer(self, request: Request) -> Counterparty:
        dealer = getattr(request.user, "counterparty", None)
        if dealer is None:
            raise PermissionDenied("this login is not linked to a dealer")
        return dealer

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request: Request, *args: object, **kwargs: object):  # noqa: ANN201 - DRF hook
        return super().get(request, *args, **kwargs)

    def get_queryset(self):  # noqa: ANN201 - DRF hook
        return selectors.dealer_rfqs_list(dealer=self._dealer(self.request))
