from django.contrib import admin

from desk.admin_base import ReadOnlyAdmin
from risk.models import Alert, KillSwitch, Limit, MarketHealth


@admin.register(Limit)
class LimitAdmin(ReadOnlyAdmin):
    list_display = ["scope", "scope_key", "kind", "value", "is_active", "updated_by", "updated_at"]
    list_filter = ["scope", "kind", "is_active"]


@admin.register(KillSwitch)
class KillSwitchAdmin(ReadOnlyAdmin):
    list_display = ["scope", "scope_key", "engaged", "reason", "changed_by", "changed_at"]


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "level", "value", "threshold", "action", "plan", "acknowledged"]
    list_filter = ["kind", "level", "action", "acknowledged"]


@admin.register(MarketHealth)
class MarketHealthAdmin(ReadOnlyAdmin):
    list_display = ["underlying", "state", "checks", "source_feed", "since", "updated_at"]
    list_filter = ["state"]
