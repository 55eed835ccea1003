"""The desk side of the RFQ API: desk orders."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers
from rest_framework.generics import ListAPIView

from desk.permissions import require_perm
from rfq import selectors


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
