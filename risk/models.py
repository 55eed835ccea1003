"""Limits and kill switches: the state risk officers set and pre-trade checks read; the market-health monitor's verdict
per underlying."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from desk.fields import ClockDateTimeField, price_field


class LimitScope(models.TextChoices):
    """The hierarchy, broadest first: firm > desk > book > strategy > trader / dealer / underlying > instrument.

    A strategy is named by a plan's ``parameters["strategy"]`` (an RFQ's is its book): without one, the strategy is
    the book. The dealer scope covers what the desk takes from one dealer (RFQ acceptances)."""

    FIRM = "firm", "Firm"
    DESK = "desk", "Desk"
    BOOK = "book", "Book"
    STRATEGY = "strategy", "Strategy"
    TRADER = "trader", "Trader"
    DEALER = "dealer", "Dealer"
    UNDERLYING = "underlying", "Underlying"
    INSTRUMENT = "instrument", "Instrument"


class LimitKind(models.TextChoices):
    MAX_ORDER_NOTIONAL = "max_order_notional", "Max order notional (quote ccy)"
    MAX_ORDER_QUANTITY = "max_order_quantity", "Max order quantity (contracts)"
    MAX_POSITION = "max_position", "Max absolute position (contracts)"
    MAX_DAILY_LOSS = "max_daily_loss", "Max daily loss (quote ccy)"
    PRICE_COLLAR_BPS = "price_collar_bps", "Price collar around mid (bps)"
    PARTICIPATION_CAP = "participation_cap", "Participation cap (fraction of volume)"
    MAX_DEALER_EXPOSURE = "max_dealer_exposure", "Max exposure to one dealer (quote ccy, open + filled today)"
    MAX_ORDER_RATE = "max_order_rate", "Max order rate (orders per second over the sliding window)"


class ScopeState(models.TextChoices):
    """The state of a scope: ACTIVE (orders pass the limits), REDUCING (only risk-reducing orders pass) or HALTED
    (nothing passes: the kill switch is engaged)."""

    ACTIVE = "active", "Active"
    REDUCING = "reducing", "Reducing only"
    HALTED = "halted", "Halted"


class Limit(models.Model):
    scope = models.CharField(max_length=16, choices=LimitScope.choices)
    scope_key = models.CharField(max_length=64, blank=True, default="", help_text="book, username, symbol...")
    kind = models.CharField(max_length=24, choices=LimitKind.choices)
    value = price_field(help_text="in the unit the kind names")
    is_active = models.BooleanField(default=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    updated_at = ClockDateTimeField(auto_now=True)

    class Meta:
        ordering = ["scope", "scope_key", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["scope", "scope_key", "kind"], name="limit_unique_per_scope"),
            models.CheckConstraint(condition=Q(value__gte=0), name="limit_value_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.scope_key or '*'} {self.kind}={self.value}"


# Who trips a circuit breaker: the market-health monitor, engaging an underlying's kill switch.
CIRCUIT_BREAKER_ACTOR = "system:circuit_breaker"


class KillSwitch(models.Model):
    """A kill switch at a scope of the hierarchy, holding the scope's state. ``engaged`` is ``state == HALTED`` (kept
    for the pages and callers that only ask whether the scope is halted)."""

    scope = models.CharField(max_length=16, choices=LimitScope.choices)
    scope_key = models.CharField(max_length=64, blank=True, default="")
    state = models.CharField(max_length=8, choices=ScopeState.choices, default=ScopeState.ACTIVE)
    engaged = models.BooleanField(default=False)
    reason = models.CharField(max_length=255, blank=True, default="")
    changed_by = models.CharField(max_length=150, blank=True, default="", help_text="user or system component")
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "kill switches"
        ordering = ["scope", "scope_key"]
        permissions = [
            ("engage_killswitch", "Can engage a kill switch"),
            ("rearm_killswitch", "Can re-arm a kill switch"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["scope", "scope_key"], name="killswitch_unique_scope"),
            models.CheckConstraint(
                condition=Q(engaged=True, state="halted") | Q(engaged=False, state__in=["active", "reducing"]),
                name="killswitch_engaged_is_halted",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.scope_key or '*'} {self.state.upper()}"


class AlertKind(models.TextChoices):
    SLIPPAGE = "slippage", "Realized slippage vs benchmark"
    IMPACT = "impact", "Market impact vs pre-trade mid"
    PARTICIPATION = "participation", "Participation (5 min)"
    FILL_VARIANCE = "fill_variance", "Fill price variance vs history"
    LEAKAGE = "leakage", "Information leakage score"


class AlertLevel(models.TextChoices):
    ALERT = "alert", "Alert"
    ACTION = "action", "Action"


class AlertAction(models.TextChoices):
    NONE = "none", "None"
    PAUSE = "pause", "Pause the plan"
    REDUCE = "reduce", "Reduce child size"
    HALT = "halt", "Halt the plan"
    REVIEW = "review", "Review by a person"
    REROUTE = "reroute", "Re-route"


class Alert(models.Model):
    """A risk alert: a telemetry metric at or above its threshold, and the action risk took (if any).

    ``value`` and ``threshold`` are in the kind's unit (a fraction, a multiple or a correlation); ``action_result``
    says what the execution service answered. One open (unacknowledged) alert per plan, kind and level.
    """

    scope = models.CharField(max_length=16, default="plan", help_text="plan, underlying, book or desk")
    scope_key = models.CharField(max_length=64, blank=True, default="")
    kind = models.CharField(max_length=24, choices=AlertKind.choices)
    level = models.CharField(max_length=8, choices=AlertLevel.choices, default=AlertLevel.ALERT)
    value = models.DecimalField(max_digits=28, decimal_places=12)
    threshold = models.DecimalField(max_digits=28, decimal_places=12)
    action = models.CharField(max_length=8, choices=AlertAction.choices, default=AlertAction.NONE)
    action_result = models.CharField(max_length=255, blank=True, default="")
    message = models.CharField(max_length=255)
    plan = models.ForeignKey(
        "execution.ExecutionPlan", null=True, blank=True, on_delete=models.PROTECT, related_name="risk_alerts"
    )
    created_at = models.DateTimeField(help_text="UTC")
    acknowledged = models.BooleanField(default=False)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["acknowledged", "created_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(threshold__gte=0), name="alert_threshold_non_negative"),
            models.CheckConstraint(
                condition=Q(acknowledged=False, acknowledged_at__isnull=True)
                | Q(acknowledged=True, acknowledged_at__isnull=False),
                name="alert_acknowledged_has_time",
            ),
            models.UniqueConstraint(
                fields=["plan", "kind", "level"], condition=Q(acknowledged=False), name="alert_one_open_per_plan_kind"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.level} {self.scope}:{self.scope_key} {self.value}"


class MarketHealthState(models.TextChoices):
    """An underlying's market-data health, as the monitor names it (:class:`risk.market_health.Health`; a test keeps
    the two equal): HEALTHY, DEGRADED (trade with care: a feed out, or the market abnormal) or HALTED (no trading:
    no trusted price, or a move beyond the breaker's band)."""

    HEALTHY = "healthy", "Healthy"
    DEGRADED = "degraded", "Degraded"
    HALTED = "halted", "Halted"


class MarketHealth(models.Model):
    """The market-health monitor's latest verdict on one underlying, stored so that every process (web, workers,
    metrics) and page reads the same one. The monitor writes it when the state or the checks behind it change
    (:func:`risk.market_health_services.market_health_record`); ``since`` and ``updated_at`` are the monitor's clock
    (UTC) at the last change of state and at the write. The validated price itself changes at every tick: it is in
    the desk's cache (:mod:`risk.reference`), not here."""

    underlying = models.CharField(max_length=16, unique=True)
    state = models.CharField(max_length=8, choices=MarketHealthState.choices)
    checks = models.JSONField(default=list, blank=True, help_text='the checks behind the state, e.g. ["stale"]')
    reason = models.TextField(blank=True, default="")
    findings = models.JSONField(default=list, blank=True, help_text="the findings behind the state, with figures")
    source_feed = models.CharField(
        max_length=8, blank=True, default="", help_text="the feed the validated price comes from; empty: none trusted"
    )
    since = models.DateTimeField(help_text="UTC: the monitor's clock at the last change of state")
    updated_at = models.DateTimeField(help_text="UTC: the monitor's clock when this verdict was written")

    class Meta:
        ordering = ["underlying"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["healthy", "degraded", "halted"]), name="market_health_state_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.underlying} {self.state}"
