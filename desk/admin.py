from django.contrib import admin

from desk.admin_base import AuditedAdmin, ReadOnlyAdmin
from desk.models import Account, AuditEvent, DecisionRecord, Instrument


@admin.register(Instrument)
class InstrumentAdmin(AuditedAdmin):
    list_display = ["symbol", "kind", "underlying", "strike", "expiry", "option_type", "tick_size", "lot_size"]
    list_filter = ["kind", "base_currency", "option_type", "is_active"]
    search_fields = ["symbol"]


@admin.register(Account)
class AccountAdmin(AuditedAdmin):
    list_display = ["code", "name", "is_active"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read-only: the audit trail is append-only, even for superusers."""

    list_display = ["seq", "occurred_at", "actor", "action", "object_type", "object_id", "request_id"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor", "object_id", "request_id"]
    date_hierarchy = "occurred_at"


@admin.register(DecisionRecord)
class DecisionRecordAdmin(ReadOnlyAdmin):
    """Read-only: decision records are append-only."""

    list_display = ["decided_at", "kind", "actor", "object_type", "object_id"]
    list_filter = ["kind"]
    search_fields = ["object_id", "explanation"]
