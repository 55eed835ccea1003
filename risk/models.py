"""Limits and kill switches: the state risk officers set and pre-trade checks read."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from desk.fields import price_field


class LimitScope(models.TextChoices):
    DESK = "desk", "Desk"
    BOOK = "book", "Book"
    TRADER = "trader", "Trader"
    UNDERLYING = "underlying", "Underlying"
    INSTRUMENT = "instrument", "Instrument"


class LimitKind(models.TextChoices):
    MAX_ORDER_NOTIONAL = "max_order_notional", "Max order notional (quote ccy)"
    MAX_POSITION = "max_position", "Max absolute position (contracts)"
    MAX_DAILY_LOSS = "max_daily_loss", "Max daily loss (quote ccy)"
    PRICE_COLLAR_BPS = "price_collar_bps", "Price collar around mid (bps)"
    PARTICIPATION_CAP = "participation_cap", "Participation cap (fraction of volume)"


class Limit(models.Model):
    scope = models.CharField(max_length=16, choices=LimitScope.choices)
    scope_key = models.CharField(max_length=64, blank=True, default="", help_text="book, username, symbol...")
    kind = models.CharField(max_length=24, choices=LimitKind.choices)
    value = price_field(help_text="in the unit the kind names")
    is_active = models.BooleanField(default=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scope", "scope_key", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["scope", "scope_key", "kind"], name="limit_unique_per_scope"),
            models.CheckConstraint(condition=Q(value__gte=0), name="limit_value_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.scope_key or '*'} {self.kind}={self.value}"


class KillSwitch(models.Model):
    """A kill switch at a scope of the hierarchy (desk > book > trader/underlying > plan)."""

    scope = models.CharField(max_length=16, choices=LimitScope.choices)
    scope_key = models.CharField(max_length=64, blank=True, default="")
    engaged = models.BooleanField(default=False)
    reason = models.CharField(max_length=255, blank=True, default="")
    changed_by = models.CharField(max_length=150, blank=True, default="", help_text="user or system component")
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["scope", "scope_key"]
        permissions = [
            ("engage_killswitch", "Can engage a kill switch"),
            ("rearm_killswitch", "Can re-arm a kill switch"),
        ]
        constraints = [models.UniqueConstraint(fields=["scope", "scope_key"], name="killswitch_unique_scope")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.scope_key or '*'} {'ENGAGED' if self.engaged else 'armed'}"
