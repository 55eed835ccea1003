from django.contrib import admin

from desk.admin_base import ReadOnlyAdmin
from desk.models import VenueBook
from execution.models import AlgoParamVersion, ChildOrder, ExecutionPlan, Fill, FillException, Position


@admin.register(ExecutionPlan)
class ExecutionPlanAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "instrument",
        "side",
        "quantity",
        "filled_quantity",
        "algorithm",
        "algo_params",
        "status",
        "replans",
        "fallbacks",
    ]
    list_filter = ["status", "algorithm", "protocol"]


@admin.register(ChildOrder)
class ChildOrderAdmin(ReadOnlyAdmin):
    list_display = ["client_order_id", "plan", "seq", "quantity", "status", "scheduled_at"]
    list_filter = ["status"]


@admin.register(Fill)
class FillAdmin(ReadOnlyAdmin):
    list_display = ["exec_id", "instrument", "side", "quantity", "price", "executed_at"]


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    list_display = ["book", "instrument", "quantity", "average_price", "realized_pnl"]


@admin.register(VenueBook)
class VenueBookAdmin(ReadOnlyAdmin):
    list_display = ["venue", "underlying", "mid", "half_spread_bps", "ticked_at"]


@admin.register(AlgoParamVersion)
class AlgoParamVersionAdmin(ReadOnlyAdmin):
    list_display = ["algorithm", "number", "status", "created_by", "created_at", "live_from", "retired_at"]
    list_filter = ["algorithm", "status"]


@admin.register(FillException)
class FillExceptionAdmin(ReadOnlyAdmin):
    list_display = ["exec_id", "client_order_id", "reason", "deliveries", "status", "received_at"]
    list_filter = ["reason", "status"]
