from django.contrib import admin

from desk.admin_base import ReadOnlyAdmin
from rfq.models import RFQ, Counterparty, DeskOrder, Quote, QuoteLeg, QuoteRequest, RFQLeg


@admin.register(Counterparty)
class CounterpartyAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "status", "connectivity", "fix_sender_comp_id", "api_key_id"]
    list_filter = ["status", "connectivity"]
    exclude = ["fix_password_hash", "api_secret_hash"]  # never shown, even hashed


@admin.register(DeskOrder)
class DeskOrderAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "account",
        "book",
        "instrument",
        "side",
        "quantity",
        "limit_price",
        "urgency",
        "status",
        "filled_quantity",
    ]
    list_filter = ["status", "side", "urgency"]


class RFQLegInline(admin.TabularInline):
    model = RFQLeg
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False


@admin.register(RFQ)
class RFQAdmin(ReadOnlyAdmin):
    list_display = ["reference", "status", "package_type", "created_at", "expires_at"]
    list_filter = ["status", "package_type"]
    inlines = [RFQLegInline]


admin.site.register(QuoteRequest, ReadOnlyAdmin)


class QuoteLegInline(admin.TabularInline):
    model = QuoteLeg
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False


@admin.register(Quote)
class QuoteAdmin(ReadOnlyAdmin):
    list_display = ["dealer", "quote_id", "rfq", "firmness", "status", "valid_until"]
    list_filter = ["status", "firmness"]
    inlines = [QuoteLegInline]
