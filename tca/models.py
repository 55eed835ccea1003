"""What TCA stores: the market tape it costs fills against, and the calibration fits the pre-trade estimate uses.

TCA never changes a trade; it reads fills, plans and quotes from the other apps and keeps only these two tables.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from desk.fields import price_field, quantity_field


class MarketSample(models.Model):
    """One sample of the market tape: an instrument's mid, spread and traded volume at one instant (UTC).

    Written in batches by :func:`tca.services.market_samples_write` (the recorder samples about once a second beside
    the simulated market) and pruned by :func:`tca.services.market_tape_prune`; read as a frame by
    :func:`tca.selectors.market_tape_frame`.
    """

    instrument = models.ForeignKey("desk.Instrument", on_delete=models.CASCADE, related_name="market_samples")
    sampled_at = models.DateTimeField(help_text="UTC")
    mid = price_field(help_text="quote currency per contract")
    spread = price_field(null=True, blank=True, help_text="full bid-ask spread, quote currency per contract; unknown")
    volume = quantity_field(
        default=0, help_text="contracts the market traded since the previous sample of this instrument"
    )
    regime = models.CharField(max_length=16, blank=True, default="", help_text="volatility regime; '' unknown")
    volatility = price_field(null=True, blank=True, help_text="annualized, 0.65 is 65 %; null unknown")

    class Meta:
        ordering = ["sampled_at", "instrument_id"]
        indexes = [models.Index(fields=["instrument", "sampled_at"], name="tca_sample_instr_time")]
        constraints = [
            models.UniqueConstraint(fields=["instrument", "sampled_at"], name="tca_sample_unique"),
            models.CheckConstraint(condition=Q(mid__gt=0), name="tca_sample_mid_positive"),
            models.CheckConstraint(
                condition=Q(volume__gte=0) & (Q(spread__isnull=True) | Q(spread__gte=0)),
                name="tca_sample_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.instrument_id} {self.sampled_at.isoformat()} {self.mid}"


class FitKind(models.TextChoices):
    SQRT_IMPACT = "sqrt_impact", "Square-root impact coefficient"
    PERMANENT_IMPACT = "permanent_impact", "Permanent impact coefficient"
    DEALER_TERMS = "dealer_terms", "Dealer half spread against notional"


class CalibrationFit(models.Model):
    """One stored fit of a pre-trade model on the desk's fills: its data window, parameters, error and size.

    ``underlying`` is ``""`` for a fit over every underlying (the desk-wide fit), else the market code (``BTC``).
    The latest row of a kind and underlying is the one the pre-trade estimate uses
    (:func:`tca.selectors.calibration_fit_latest`). Written by :func:`tca.services.calibration_refit`.
    """

    kind = models.CharField(max_length=20, choices=FitKind.choices)
    underlying = models.CharField(max_length=12, blank=True, default="", help_text="'' for every underlying")
    data_start = models.DateTimeField(null=True, blank=True, help_text="UTC, first observation used")
    data_end = models.DateTimeField(null=True, blank=True, help_text="UTC, last observation used")
    window_start = models.DateTimeField(help_text="UTC, start of the period searched for observations")
    window_end = models.DateTimeField(help_text="UTC, end of the period searched for observations")
    parameters = models.JSONField(help_text="the fitted parameters (floats), e.g. coefficient, eta, gamma")
    std_error = models.FloatField(null=True, blank=True, help_text="standard error of the main parameter")
    residual_bps = models.FloatField(null=True, blank=True, help_text="residuals' standard deviation, bps")
    r_squared = models.FloatField(null=True, blank=True)
    n = models.PositiveIntegerField(help_text="usable observations")
    unusable = models.PositiveIntegerField(default=0, help_text="observations left out (missing data)")
    is_default = models.BooleanField(default=False, help_text="too few observations: the literature default")
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(help_text="UTC")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["kind", "underlying", "-created_at"], name="tca_fit_latest")]
        constraints = [
            models.CheckConstraint(condition=Q(window_end__gte=models.F("window_start")), name="tca_fit_window"),
            models.CheckConstraint(
                condition=Q(kind__in=[FitKind.SQRT_IMPACT, FitKind.PERMANENT_IMPACT, FitKind.DEALER_TERMS]),
                name="tca_fit_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.underlying or 'all'} {self.created_at.isoformat()}"


class PnlSnapshot(models.Model):
    """A book's position in an instrument at the start of a UTC day, with its mark and the greeks per contract then:
    what the day's P&L is explained from (:mod:`tca.pnl`). Taken once per day (beat, or the first look of the day);
    a position opened later has no row (it started the day flat)."""

    day = models.DateField(help_text="UTC day")
    book = models.CharField(max_length=32)
    instrument = models.ForeignKey("desk.Instrument", on_delete=models.PROTECT, related_name="pnl_snapshots")
    quantity = quantity_field(help_text="signed contracts")
    mark = price_field(help_text="quote currency per contract")
    spot = price_field(help_text="the underlying's mid, quote currency per coin")
    volatility = models.FloatField(help_text="annualized, the option's implied volatility (0 for delta-one)")
    delta = models.FloatField(help_text="per contract, coins of the underlying")
    gamma = models.FloatField(help_text="per contract, per coin of the underlying")
    vega = models.FloatField(help_text="per contract, quote currency per 1.00 of volatility")
    theta = models.FloatField(help_text="per contract, quote currency per year")
    taken_at = models.DateTimeField(help_text="UTC")

    class Meta:
        ordering = ["-day", "book", "instrument"]
        constraints = [models.UniqueConstraint(fields=["day", "book", "instrument"], name="pnl_snapshot_unique")]

    def __str__(self) -> str:
        return f"{self.day} {self.book} {self.instrument_id} {self.quantity}"
