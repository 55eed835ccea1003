"""Admin base classes: trading state is read-only in the admin (services own it); reference data edits are
audited in the same transaction."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models, transaction
from django.forms.models import model_to_dict
from django.http import HttpRequest

from desk.audit import audit_record


class ReadOnlyAdmin(admin.ModelAdmin):
    actions = None

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AuditedAdmin(admin.ModelAdmin):
    actions = None

    def save_model(self, request: HttpRequest, obj: models.Model, form: Any, change: bool) -> None:
        with transaction.atomic():
            before = model_to_dict(type(obj).objects.get(pk=obj.pk)) if change else None
            super().save_model(request, obj, form, change)
            action = f"admin.{obj._meta.model_name}.{'change' if change else 'add'}"
            audit_record(actor=request.user, action=action, obj=obj, before=before, after=model_to_dict(obj))

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        with transaction.atomic():
            before, pk = model_to_dict(obj), obj.pk
            super().delete_model(request, obj)
            audit_record(
                actor=request.user,
                action=f"admin.{obj._meta.model_name}.delete",
                object_type=obj._meta.label_lower,
                object_id=pk,
                before=before,
            )
