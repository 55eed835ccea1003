"""TCA's writes: the market tape (batched samples, pruned to a bounded window) and the stored calibration fits.

TCA never changes a trade. The tape is market data written about once a second by the recorder
(:mod:`tca.tape`): its batches are not audit events (they would drown the trail); its pruning and every stored fit
are.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from django.db import transaction

from desk import clock
from desk.audit import Actor, audit_record
from desk.events import broadcast
from desk.fields import to_decimal
from desk.models import Instrument
from execution.models import Position
from tca import calibration, pretrade, sources
from tca.models import CalibrationFit, FitKind, MarketSample, PnlSnapshot
from tca.pnl import Marks
from tca.selectors import NoMarket, market_inputs, tca_fills_frame

logger = logging.getLogger(__name__)

TAPE_BATCH_SIZE = 500
"""Rows per ``INSERT`` of the tape."""
TAPE_RETENTION = timedelta(days=7)
"""How long the tape keeps its samples (older ones are pruned): the TCA window of the page's default period."""
CALIBRATION_WINDOW = timedelta(days=30)
"""How far back a refit looks for the desk's fills."""


class TapeError(ValueError):
    """A tape sample that cannot be stored (named field)."""


@dataclass(frozen=True)
class TapeSample:
    """One instrument's market at one instant, as the recorder saw it (floats: converted here, at the boundary).

    ``mid`` and ``spread`` in quote currency per contract (``spread`` None when unknown), ``volume`` contracts
    traded since the previous sample, ``regime`` its name ("" unknown), ``volatility`` annualized (None unknown).
    """

    instrument_id: int
    sampled_at: datetime
    mid: float
    volume: float = 0.0
    spread: float | None = None
    regime: str = ""
    volatility: float | None = None


def _sample_check(sample: TapeSample) -> None:
    if sample.sampled_at.tzinfo is None:
        raise TapeError(f"sampled_at: {sample.sampled_at!r} is not UTC-aware")
    if not (math.isfinite(sample.mid) and sample.mid > 0):
        raise TapeError(f"mid: {sample.mid!r} must be a positive number")
    if not (math.isfinite(sample.volume) and sample.volume >= 0):
        raise TapeError(f"volume: {sample.volume!r} must be a number >= 0")
    if sample.spread is not None and not (math.isfinite(sample.spread) and sample.spread >= 0):
        raise TapeError(f"spread: {sample.spread!r} must be a number >= 0 or None")
    if sample.volatility is not None and not math.isfinite(sample.volatility):
        raise TapeError(f"volatility: {sample.volatility!r} must be a number or None")


def market_samples_write(*, samples: Sequence[TapeSample], batch_size: int = TAPE_BATCH_SIZE) -> int:
    """Store a batch of tape samples in one transaction (``INSERT``s of ``batch_size`` rows).

    Every sample is checked first: one bad sample refuses the whole batch (:class:`TapeError` naming the field) and
    nothing is stored. A sample whose instrument and time are already on the tape is skipped (the recorder may
    resend a batch after a database error). Returns the number of samples given.
    """
    for sample in samples:
        _sample_check(sample)
    if not samples:
        return 0
    rows = [
        MarketSample(
            instrument_id=sample.instrument_id,
            sampled_at=sample.sampled_at.astimezone(UTC),
            mid=to_decimal(sample.mid),
            volume=to_decimal(sample.volume),
            spread=None if sample.spread is None else to_decimal(sample.spread),
            regime=sample.regime[:16],
            volatility=None if sample.volatility is None else to_decimal(sample.volatility),
        )
        for sample in samples
    ]
    with transaction.atomic():
        MarketSample.objects.bulk_create(rows, batch_size=batch_size, ignore_conflicts=True)
    return len(rows)


def market_tape_prune(*, before: datetime, actor: Actor = "system:tca.tape") -> int:
    """Delete the tape's samples older than ``before`` (UTC); audited. Returns the number deleted."""
    if before.tzinfo is None:
        raise TapeError(f"before: {before!r} is not UTC-aware")
    with transaction.atomic():
        deleted, _ = MarketSample.objects.filter(sampled_at__lt=before).delete()
        if deleted:
            audit_record(
                actor=actor,
                action="tca.tape.prune",
                object_type="tca.marketsample",
                after={"before": before.isoformat(), "deleted": deleted},
            )
    return deleted


# --- calibration ------------------------------------------------------------------------------------------------


def _parse(value: str) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _impact_row(
    fit: calibration.ImpactFit,
    *,
    underlying: str,
    window: tuple[datetime, datetime],
    now: datetime,
    kind: str = FitKind.SQRT_IMPACT,
) -> CalibrationFit:
    return CalibrationFit(
        kind=kind,
        underlying=underlying,
        data_start=_parse(fit.window_start),
        data_end=_parse(fit.window_end),
        window_start=window[0],
        window_end=window[1],
        parameters={"coefficient": fit.coefficient},
        std_error=_finite(fit.std_error),
        residual_bps=_finite(fit.residual_bps),
        r_squared=_finite(fit.r_squared),
        n=fit.n,
        unusable=fit.unusable,
        is_default=fit.is_default,
        note=fit.note,
        created_at=now,
    )


def _dealer_row(fit: calibration.DealerFit, *, window: tuple[datetime, datetime], now: datetime) -> CalibrationFit:
    terms = fit.terms
    return CalibrationFit(
        kind=FitKind.DEALER_TERMS,
        underlying="",
        data_start=_parse(fit.window_start),
        data_end=_parse(fit.window_end),
        window_start=window[0],
        window_end=window[1],
        parameters={
            "half_spread_bps": terms.half_spread_bps,
            "size_spread_bps_per_million": terms.size_spread_bps_per_million,
            "leakage_bps": terms.leakage_bps,
            "std_bps": terms.std_bps,
        },
        std_error=None,
        residual_bps=_finite(fit.residual_bps),
        r_squared=_finite(fit.r_squared),
        n=fit.n,
        unusable=fit.unusable,
        is_default=fit.is_default,
        note=fit.note,
        created_at=now,
    )


def _market_rows(symbols: Iterable[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    rows, underlyings = [], {}
    for instrument in Instrument.objects.filter(symbol__in=set(symbols)):
        underlyings[instrument.symbol] = instrument.base_currency
        try:
            market = market_inputs(instrument.base_currency)
        except NoMarket:
            continue
        rows.append(
            {
                "instrument": instrument.symbol,
                "multiplier": float(instrument.multiplier),
                "adv": market.adv,
                "sigma_daily": pretrade.daily_volatility(market.volatility_annual),
            }
        )
    return pd.DataFrame(rows, columns=["instrument", "multiplier", "adv", "sigma_daily"]), underlyings


@dataclass(frozen=True)
class CalibrationFits:
    """The fits of one refit: square-root and permanent coefficients by underlying (``""`` desk-wide), dealer terms."""

    impact: dict[str, calibration.ImpactFit]
    permanent: dict[str, calibration.ImpactFit]
    dealer: calibration.DealerFit


def calibration_fits_compute(*, now: datetime, window: timedelta = CALIBRATION_WINDOW) -> CalibrationFits:
    """The fits on the desk's fills of ``[now - window, now)``, without storing them: the square-root and the
    permanent-impact coefficients desk-wide (key ``""``) and per underlying, and the dealer terms. Fills are priced on
    the market tape where it covers them (:func:`tca.sources.fills_and_orders`); the permanent fit uses only those."""
    start = now - window
    raw = tca_fills_frame(start=start, end=now)
    fills, orders = sources.fills_and_orders(raw, end=pd.Timestamp(now), tape=sources.tape_for(raw))
    observed = calibration.order_observations(fills, orders)
    market, underlyings = _market_rows(observed["instrument"])
    observations = calibration.impact_observations(observed, market)
    impact = {"": calibration.sqrt_coefficient_fit(observations)}
    permanent = {"": calibration.permanent_coefficient_fit(observations)}
    algo = observed.loc[observed["source"] != "rfq"].reset_index(drop=True)
    by_underlying = algo["instrument"].map(underlyings)
    for underlying in sorted({str(code) for code in by_underlying.dropna()}):
        mine = observations.loc[(by_underlying == underlying).to_numpy()]
        impact[underlying] = calibration.sqrt_coefficient_fit(mine)
        permanent[underlying] = calibration.permanent_coefficient_fit(mine)
    dealer = calibration.dealer_terms_fit(calibration.dealer_observations(observed))
    return CalibrationFits(impact=impact, permanent=permanent, dealer=dealer)


def calibration_refit(
    *, now: datetime | None = None, window: timedelta = CALIBRATION_WINDOW, actor: Actor = "system:tca.calibration"
) -> list[CalibrationFit]:
    """Fit the pre-trade models on the desk's recent fills and store the fits (one transaction, audited, broadcast
    after commit). Safe to run twice: each run appends fits; the newest is the one used."""
    now = now or clock.now()
    if now.tzinfo is None:
        raise ValueError(f"now: {now!r} is not UTC-aware")
    if window <= timedelta(0):
        raise ValueError(f"window: {window} must be positive")
    fits = calibration_fits_compute(now=now, window=window)
    span = (now - window, now)
    rows = [_impact_row(fit, underlying=code, window=span, now=now) for code, fit in fits.impact.items()]
    rows += [
        _impact_row(fit, underlying=code, window=span, now=now, kind=FitKind.PERMANENT_IMPACT)
        for code, fit in fits.permanent.items()
    ]
    rows.append(_dealer_row(fits.dealer, window=span, now=now))
    with transaction.atomic():
        for row in rows:
            row.full_clean(exclude=["parameters"])
            row.save()
        summary: dict[str, Any] = {
            f"{row.kind}:{row.underlying or 'all'}": {"id": row.pk, "n": row.n, "is_default": row.is_default}
            for row in rows
        }
        audit_record(
            actor=actor,
            action="tca.calibration.refit",
            object_type="tca.calibrationfit",
            object_id=str(rows[0].pk),
            after={"window_start": span[0].isoformat(), "window_end": span[1].isoformat(), "fits": summary},
        )
        broadcast(event="tca.calibration", payload={"at": now.isoformat(), "fits": summary})
    logger.info("tca calibration: %d fits stored", len(rows))
    return rows


def pnl_snapshot_take(*, now: datetime | None = None) -> int:
    """Store today's start-of-day positions with their marks and greeks (:class:`~tca.models.PnlSnapshot`), once per
    UTC day: the beat's first run of the day (every minute: within a minute of midnight or of the desk's start), or
    the first look at the day's P&L. Every position row is kept, flat ones too, so that a day whose book was flat
    still has its snapshot. Nothing is stored while a position has no mark (no market yet): the next run tries
    again. Returns the rows written (0 when the day already has its snapshot)."""

    now = now or clock.now()
    day = now.date()
    with transaction.atomic():
        if PnlSnapshot.objects.filter(day=day).exists():
            return 0
        marks = Marks(now)
        rows = []
        for position in Position.objects.select_related("instrument__underlying"):
            mark = marks.of(position.instrument)
            if mark is None:
                return 0
            rows.append(
                PnlSnapshot(
                    day=day,
                    book=position.book,
                    instrument=position.instrument,
                    quantity=position.quantity,
                    mark=to_decimal(mark.per_contract),
                    spot=to_decimal(mark.spot),
                    volatility=mark.volatility,
                    delta=mark.delta,
                    gamma=mark.gamma,
                    vega=mark.vega,
                    theta=mark.theta,
                    taken_at=now,
                )
            )
        PnlSnapshot.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)
