"""Reference data (instruments, client accounts) and the tamper-evident audit trail."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q

from desk.fields import price_field, quantity_field


class InstrumentKind(models.TextChoices):
    SPOT = "spot", "Spot"
    PERPETUAL = "perpetual", "Perpetual"
    OPTION = "option", "Option"


class Side(models.TextChoices):
    """The side of an order or a fill, shared by rfq, execution and risk."""

    BUY = "buy", "Buy"
    SELL = "sell", "Sell"


class OptionType(models.TextChoices):
    CALL = "call", "Call"
    PUT = "put", "Put"


class Instrument(models.Model):
    """A tradable instrument. Prices are in ``quote_currency`` per contract; one contract is ``multiplier`` units
    of ``base_currency``; quantities are in contracts, a multiple of ``lot_size``."""

    symbol = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=InstrumentKind.choices)
    base_currency = models.CharField(max_length=12, help_text="e.g. BTC")
    quote_currency = models.CharField(max_length=12, help_text="e.g. USD")
    underlying = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="derivatives",
        help_text="the spot or perpetual an option or perpetual refers to",
    )
    strike = price_field(null=True, blank=True, help_text="quote currency per unit of base currency")
    expiry = models.DateTimeField(null=True, blank=True, help_text="UTC")
    option_type = models.CharField(max_length=4, choices=OptionType.choices, blank=True, default="")
    multiplier = quantity_field(default=1, help_text="units of base currency per contract")
    tick_size = price_field(help_text="smallest price increment, quote currency")
    lot_size = quantity_field(help_text="smallest quantity increment, contracts")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["symbol"]
        constraints = [
            models.CheckConstraint(condition=Q(tick_size__gt=0), name="instrument_tick_positive"),
            models.CheckConstraint(condition=Q(lot_size__gt=0), name="instrument_lot_positive"),
            models.CheckConstraint(condition=Q(multiplier__gt=0), name="instrument_multiplier_positive"),
            models.CheckConstraint(
                condition=(
                    Q(
                        kind=InstrumentKind.OPTION,
                        strike__gt=0,
                        expiry__isnull=False,
                        underlying__isnull=False,
                        option_type__in=[OptionType.CALL, OptionType.PUT],
                    )
                    | (~Q(kind=InstrumentKind.OPTION) & Q(strike__isnull=True, expiry__isnull=True, option_type=""))
                ),
                name="instrument_option_terms",
            ),
        ]

    def __str__(self) -> str:
        return self.symbol


class Account(models.Model):
    """A client account of the desk. Never disclosed to dealers."""

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=128)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class AuditImmutableError(Exception):
    """Raised on any attempt to change or remove an audit event or checkpoint."""


class AppendOnlyQuerySet(models.QuerySet):
    """The audit tables' queryset: rows are inserted one by one, never updated or deleted through the ORM."""

    def update(self, **kwargs: object) -> int:
        raise AuditImmutableError(f"{self.model._meta.verbose_name_plural} are append-only: update refused")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AuditImmutableError(f"{self.model._meta.verbose_name_plural} are append-only: delete refused")

    def bulk_update(self, *args: object, **kwargs: object) -> int:
        raise AuditImmutableError(f"{self.model._meta.verbose_name_plural} are append-only: bulk_update refused")

    def bulk_create(self, *args: object, **kwargs: object) -> list:
        raise AuditImmutableError(f"{self.model._meta.verbose_name_plural} are written one by one (desk.audit)")


class CurrentTransactionId(models.Func):
    """The inserting transaction's id on PostgreSQL (``pg_current_xact_id()``), 0 elsewhere (SQLite serializes
    writers). The audit sealer reads only the unsealed events of transactions at least as new as the oldest one
    running at its previous run: the rows it sealed before (dead index entries until a vacuum) are never walked."""

    output_field = models.BigIntegerField()

    def as_sql(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, list]:
        return "0", []

    def as_postgresql(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, list]:
        return "(pg_current_xact_id()::text::bigint)", []


class AuditEvent(models.Model):
    """One append-only entry of the audit trail.

    :func:`desk.audit.audit_record` inserts it *unsealed* (content only, in the caller's transaction, no shared row
    locked). The sealer (:func:`desk.audit.audit_seal`, one at a time) then gives it its place in the chain:
    ``seq``, ``prev_hash`` and ``hash`` = HMAC-SHA256 (``DESK_AUDIT_KEY``) of its canonical content with ``seq``
    and ``prev_hash`` (:func:`desk.audit.event_hash`). That transition, unsealed to sealed with the content
    unchanged, is the only change a row ever sees: on PostgreSQL a trigger refuses any other UPDATE, every DELETE
    and TRUNCATE (migration 0006).
    """

    seq = models.PositiveBigIntegerField(unique=True, null=True, blank=True, help_text="empty until sealed")
    occurred_at = models.DateTimeField(help_text="UTC, microseconds")
    actor = models.CharField(max_length=150, help_text="user:<name>, dealer:<comp id>, system:<component>")
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64, blank=True, default="")
    object_id = models.CharField(max_length=64, blank=True, default="")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=80, blank=True, default="")
    prev_hash = models.CharField(max_length=64, null=True, blank=True)
    hash = models.CharField(max_length=64, null=True, blank=True)
    txid = models.BigIntegerField(
        db_default=CurrentTransactionId(), editable=False, help_text="the inserting transaction (PostgreSQL)"
    )

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        # The chain's order; events not sealed yet (no seq) after it, in the order they were written.
        ordering = [models.F("seq").asc(nulls_last=True), "id"]
        permissions = [("export_audit", "Can export and verify the audit trail")]
        indexes = [
            models.Index(fields=["occurred_at"]),
            models.Index(fields=["actor"]),
            models.Index(fields=["object_type", "object_id"]),
            models.Index(fields=["action"]),
            # What the sealer reads: the events not chained yet, a handful at any time, from its transaction floor on.
            models.Index(fields=["txid", "id"], condition=Q(seq__isnull=True), name="auditevent_unsealed"),
        ]
        constraints = [
            # No two events claim the same parent or hash: the chain cannot fork. Partial: an unsealed event costs
            # its writer no entry in them.
            models.UniqueConstraint(
                fields=["prev_hash"], condition=Q(prev_hash__isnull=False), name="auditevent_prev_hash_unique"
            ),
            models.UniqueConstraint(fields=["hash"], condition=Q(hash__isnull=False), name="auditevent_hash_unique"),
            models.CheckConstraint(
                condition=Q(seq__isnull=True, prev_hash__isnull=True, hash__isnull=True)
                | Q(seq__isnull=False, prev_hash__isnull=False, hash__isnull=False),
                name="auditevent_sealed_whole",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq or 'unsealed'} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise AuditImmutableError(f"audit event {self} is append-only: update refused")
        if self.seq is not None or self.prev_hash is not None or self.hash is not None:
            raise AuditImmutableError("audit events are written unsealed (desk.audit.audit_record); the sealer chains")
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise AuditImmutableError(f"audit event {self} is append-only: delete refused")


class AuditCheckpoint(models.Model):
    """A signed checkpoint of the audit chain: the hash of event ``seq``, signed (HMAC-SHA256, ``DESK_AUDIT_KEY``)
    at ``signed_at``. The sealer appends one at least every ``AUDIT_CHECKPOINT_EVENTS`` events or
    ``AUDIT_CHECKPOINT_SECONDS`` seconds, here and, after commit, to the anchor outside the database
    (``DESK_AUDIT_ANCHOR``), which is what shows a truncated, rewritten or emptied table."""

    seq = models.PositiveBigIntegerField(unique=True)
    hash = models.CharField(max_length=64)
    signed_at = models.DateTimeField(help_text="UTC, microseconds")
    signature = models.CharField(max_length=64)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"audit checkpoint #{self.seq} {self.hash[:12]}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise AuditImmutableError(f"{self} is append-only: update refused")
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise AuditImmutableError(f"{self} is append-only: delete refused")


class AuditHead(models.Model):
    """The sealed chain's head (last sequence number and hash), and the last position a verification walked to.

    One row, locked only by the sealer, one at a time: writers never touch it. ``verified_*`` lets the pages and
    ``verify_audit`` walk only what was sealed since; ``verified_mac`` (HMAC, ``DESK_AUDIT_KEY``) keeps anyone
    without the key from moving it forward past rows they changed."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64)
    verified_seq = models.PositiveBigIntegerField(default=0)
    verified_hash = models.CharField(max_length=64, blank=True, default="")
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_mac = models.CharField(max_length=64, blank=True, default="")
    unsealed_floor = models.BigIntegerField(
        default=0, help_text="no event left unsealed belongs to a transaction older than this one (PostgreSQL)"
    )

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="audithead_singleton")]

    def __str__(self) -> str:
        return f"audit head #{self.seq} {self.hash[:12]}"


class DecisionKind(models.TextChoices):
    DEALER_SELECTION = "dealer_selection", "Dealer selection"
    QUOTE_DECISION = "quote_decision", "Accept / wait / split"
    REASK = "reask", "Re-ask"
    AUTO_ACCEPT = "auto_accept", "Automatic acceptance"
    REPLAN = "replan", "Re-plan"
    FALLBACK = "fallback", "Fallback"
    RISK_ACTION = "risk_action", "Risk action"
    HEDGE = "hedge", "Hedge"


class DecisionRecord(models.Model):
    """One automated decision of the desk: what it saw (``inputs``), the model versions it used, what it decided
    (``output``) and why (``explanation``), linked to the audit event written with it. Written only by
    :func:`desk.decisions.decision_record`; append-only like the audit trail, so that a risk officer can replay it
    (:func:`desk.decisions.decision_replay`)."""

    kind = models.CharField(max_length=32, choices=DecisionKind.choices)
    decided_at = models.DateTimeField(help_text="UTC")
    actor = models.CharField(max_length=150, help_text="system:<component> or user:<name> in manual mode")
    object_type = models.CharField(max_length=64, blank=True, default="")
    object_id = models.CharField(max_length=64, blank=True, default="")
    inputs = models.JSONField(help_text="everything the decision function read, replayable")
    model_versions = models.JSONField(default=dict, blank=True, help_text="model name -> version used")
    output = models.JSONField()
    explanation = models.TextField(blank=True, default="")
    audit_event = models.OneToOneField(AuditEvent, on_delete=models.PROTECT, related_name="decision")

    class Meta:
        ordering = ["-decided_at", "-id"]
        indexes = [
            models.Index(fields=["kind", "decided_at"]),
            models.Index(fields=["object_type", "object_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_type}:{self.object_id} @ {self.decided_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise AuditImmutableError(f"decision record #{self.pk} is append-only: update refused")
        super().save(*args, **kwargs)


class VenueKind(models.TextChoices):
    LIT = "lit", "Lit order book"
    DARK = "dark", "Dark midpoint pool"


class VenueBook(models.Model):
    """A venue's book for one underlying, shared by every process through the database.

    The market service moves ``mid``, the spread, depth and volatility every tick; a child order moves ``mid`` by
    its permanent impact and adds its temporary impact, which decays with the configured half-life from
    ``temporary_impact_at``. A fill locks the underlying's rows (``select_for_update``) so that no two fills price
    against the same state.
    """

    venue = models.CharField(max_length=16)
    kind = models.CharField(max_length=8, choices=VenueKind.choices)
    underlying = models.CharField(max_length=12, help_text="the market's code, e.g. BTC")
    mid = price_field(help_text="quote currency per unit of the underlying")
    half_spread_bps = price_field(help_text="basis points of the mid; 0 in a midpoint pool")
    depth = quantity_field(help_text="coins resting at the top of book on each side (hidden size in a dark pool)")
    volatility = price_field(help_text="annualized, 0.65 is 65 %")
    liquidity = price_field(default=1, help_text="1 normal, toward 0 when depth has vanished")
    volume_5m = quantity_field(default=0, help_text="coins traded in the market over the last 5 minutes")
    fee_bps = price_field(default=0, help_text="fee, basis points of the notional")
    temporary_impact = price_field(default=0, help_text="signed fraction of the mid displaced by our orders")
    temporary_impact_at = models.DateTimeField(help_text="UTC; when temporary_impact was last set")
    updated_at = models.DateTimeField(help_text="UTC; last market tick or fill")
    ticked_at = models.DateTimeField(
        null=True, blank=True, help_text="UTC; last tick of the market service (null: it never wrote this book)"
    )
    version = models.PositiveIntegerField(default=0)

    class Meta:
        # Moved from execution without touching the table: the name stays the one execution created.
        db_table = "execution_venuebook"
        ordering = ["underlying", "venue"]
        constraints = [
            models.UniqueConstraint(fields=["venue", "underlying"], name="venuebook_unique"),
            models.CheckConstraint(condition=Q(mid__gt=0), name="venuebook_mid_positive"),
            models.CheckConstraint(
                condition=Q(half_spread_bps__gte=0, depth__gte=0, fee_bps__gte=0), name="venuebook_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.venue} {self.underlying} {self.mid}"


class VolQuotes(models.Model):
    """The implied-volatility quotes a market data source (the simulated market, a real venue's adapter) last published
    for one underlying: one volatility bid and ask per expiry and strike, against the underlying price ``spot``.

    Written by :func:`desk.marks.vol_quotes_publish`, read by the desk's surface fit
    (:func:`desk.marks.vol_surface_refit`). ``quotes`` holds
    ``[{"expiry": ISO UTC, "strike": float, "bid_vol": float, "ask_vol": float}, ...]`` as published (crossed quotes
    included: the fit refuses them).
    """

    underlying = models.CharField(max_length=12, unique=True, help_text="the market's code, e.g. BTC")
    published_at = models.DateTimeField(help_text="UTC; the market's time of the quotes")
    spot = price_field(help_text="the underlying price the quotes refer to, quote currency per coin")
    quotes = models.JSONField(help_text="one volatility bid and ask per expiry and strike (annualized fractions)")
    received_at = models.DateTimeField(help_text="UTC; when the desk stored them")
    version = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(spot__gt=0), name="volquotes_spot_positive")]

    def __str__(self) -> str:
        return f"vol quotes {self.underlying} @ {self.published_at.isoformat()}"


class VolSurfaceStatus(models.TextChoices):
    FITTED = "fitted", "Fitted: options are marked with it"
    REFUSED = "refused", "Refused: the previous surface is kept"


class VolSurface(models.Model):
    """One fit of the desk's implied-volatility surface of an underlying to the market's quotes
    (:class:`VolQuotes`), or its refusal. The latest ``fitted`` row of an underlying is the surface every option on
    it is marked with (:func:`desk.marks.mark_surface`); a refused fit keeps the previous one.

    ``parameters`` are :class:`desk.surface.SurfaceParameters` (``atm_short``, ``atm_long``, ``term_decay_days``,
    ``skew_30d``, ``curvature_30d``); the errors are in annualized volatility (0.01 is one vol point).
    """

    underlying = models.CharField(max_length=12)
    status = models.CharField(max_length=8, choices=VolSurfaceStatus.choices)
    fitted_at = models.DateTimeField(help_text="UTC; when the desk fitted it")
    quotes_at = models.DateTimeField(help_text="UTC; the market's time of the quotes it was fitted to")
    spot = price_field(help_text="the underlying price the quotes refer to")
    parameters = models.JSONField(default=dict, blank=True, help_text="the fitted parameters; empty when refused")
    n_quotes = models.PositiveIntegerField(help_text="quotes published (used, when fitted)")
    n_expiries = models.PositiveIntegerField(default=0)
    rms_error = models.FloatField(null=True, blank=True, help_text="root-mean-square (fit − mid) volatility")
    max_error = models.FloatField(null=True, blank=True, help_text="largest |fit − mid| volatility")
    inside_share = models.FloatField(null=True, blank=True, help_text="share of quotes with the fit inside bid-ask")
    reason = models.CharField(max_length=255, blank=True, default="", help_text="why it was refused")

    class Meta:
        ordering = ["-quotes_at", "-id"]
        indexes = [models.Index(fields=["underlying", "status", "-quotes_at"], name="volsurface_latest")]
        constraints = [
            # One fit per published set of quotes: a second worker fitting the same quotes adds nothing.
            models.UniqueConstraint(fields=["underlying", "quotes_at"], name="volsurface_one_per_quotes"),
            models.CheckConstraint(
                condition=Q(status__in=["fitted", "refused"]),
                name="volsurface_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(status="refused") | Q(rms_error__isnull=False, n_quotes__gt=0),
                name="volsurface_fitted_has_error",
            ),
        ]

    def __str__(self) -> str:
        return f"vol surface {self.underlying} {self.status} @ {self.quotes_at.isoformat()}"
