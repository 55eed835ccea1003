"""Options marked from the market: the implied-volatility quotes a market data source publishes, the desk's own
surface fitted to them, and the surface every option mark reads.

The feed
--------
A market data source (the simulated market service, or a real venue's adapter) publishes, per underlying, a
volatility bid and ask for each listed expiry and strike, with the underlying price they refer to:
:func:`vol_quotes_publish` validates them and keeps the latest set (:class:`~desk.models.VolQuotes`), as the venue
books keep the latest prices (:class:`~desk.models.VenueBook`).

The fit
-------
:func:`vol_surface_refit` (beat, ``desk.tasks.vol_surfaces_refit``, every few seconds) fits the desk's surface
(:mod:`desk.surface`) to the latest quotes and stores it (:class:`~desk.models.VolSurface`: time, parameters, the
number of quotes, the fit error). A fit on too few quotes or expiries, on crossed quotes, or one that misses the
quotes is stored as ``refused`` and the previous surface stays the one options are marked with; a refusal is
audited (``vol_surface.refused``) and broadcast as a ``risk.vol_surface`` alert when it starts or its reason changes,
and the first good fit after it as ``vol_surface.fitted``. Routine refits are market data, like the venue books'
ticks: stored, not audited. Fits older than :data:`RETENTION` are pruned (the latest fitted one is always kept).

The marks
---------
:func:`mark_surface` is the surface an underlying's options are marked with: its latest fit, else (before the first
fit) its reference surface from :mod:`desk.market`, flagged ``source="reference"``. The arrival mid, the quote
board's advice, TCA's tape, the hedger, the acceptance risk check, the P&L and the pre-trade estimate all mark
options through it, at the desk's rate (:data:`desk.market.RATE`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction

from desk import clock
from desk.audit import audit_record
from desk.events import broadcast
from desk.fields import to_decimal
from desk.market import RATE, SECONDS_PER_YEAR, NoVenue, underlying_reference
from desk.models import VolQuotes, VolSurface, VolSurfaceStatus
from desk.pricing import VolSurfaceConfig
from desk.surface import FitRules, MarkSurface, SurfaceParameters, SurfaceQuotes, SurfaceRefused, surface_fit

logger = logging.getLogger(__name__)

SURFACE_ACTOR = "system:vol-surface"
SURFACE_EVENT = "risk.vol_surface"
RETENTION = timedelta(days=2)
FITTED = "fitted"
REFERENCE = "reference"
MAX_QUOTES = 2_000
"""Most quotes one publication may carry (a venue's whole listed chain of one underlying is a few hundred)."""


class VolQuotesRefused(ValueError):
    """A publication the desk cannot store: the message names what is wrong."""


@dataclass(frozen=True)
class VolQuote:
    """One quote of the feed: the volatility bid and ask of an expiry (UTC) and strike (quote currency)."""

    expiry: datetime
    strike: float
    bid_vol: float
    ask_vol: float


def _finite(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise VolQuotesRefused(f"{name}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise VolQuotesRefused(f"{name}: {value!r} is not a finite number")
    return number


def vol_quotes_publish(*, underlying: str, at: datetime, spot: float, quotes: Sequence[VolQuote]) -> VolQuotes:
    """Store the latest implied-volatility quotes of ``underlying`` (replacing the previous set).

    Parameters
    ----------
    underlying : str
        The market's code, e.g. ``"BTC"``.
    at : datetime
        The market's time of the quotes, UTC-aware.
    spot : float
        The underlying price the quotes refer to, quote currency per coin, > 0.
    quotes : sequence of VolQuote
        One per listed expiry and strike; expiries after ``at``, strikes positive, volatilities finite numbers.
        Crossed quotes are stored as published: the fit refuses them.

    Raises
    ------
    VolQuotesRefused
        Naming the first field that is wrong; nothing is stored. Quotes older than the stored set are refused too.
    """
    if not underlying or len(underlying) > 12:
        raise VolQuotesRefused(f"underlying: {underlying!r} is not a market code")
    if at.tzinfo is None:
        raise VolQuotesRefused(f"at: {at!r} is not UTC-aware")
    spot = _finite(spot, "spot")
    if spot <= 0:
        raise VolQuotesRefused(f"spot: {spot!r} must be positive")
    if len(quotes) > MAX_QUOTES:
        raise VolQuotesRefused(f"quotes: {len(quotes)} quotes, at most {MAX_QUOTES}")
    rows = []
    for number, quote in enumerate(quotes):
        if quote.expiry.tzinfo is None or quote.expiry <= at:
            raise VolQuotesRefused(f"quotes[{number}].expiry: {quote.expiry!r} is not a UTC time after the quotes'")
        strike = _finite(quote.strike, f"quotes[{number}].strike")
        if strike <= 0:
            raise VolQuotesRefused(f"quotes[{number}].strike: {strike!r} must be positive")
        rows.append(
            {
                "expiry": quote.expiry.isoformat(),
                "strike": strike,
                "bid_vol": _finite(quote.bid_vol, f"quotes[{number}].bid_vol"),
                "ask_vol": _finite(quote.ask_vol, f"quotes[{number}].ask_vol"),
            }
        )
    now = clock.now()
    with transaction.atomic():
        row = VolQuotes.objects.select_for_update().filter(underlying=underlying).first()
        if row is not None and row.published_at > at:
            raise VolQuotesRefused(f"at: {at.isoformat()} is older than the stored {row.published_at.isoformat()}")
        if row is None:
            row = VolQuotes(underlying=underlying, version=0)
        row.published_at, row.spot, row.quotes, row.received_at = at, to_decimal(spot), rows, now
        row.version += 1
        row.save()
    return row


def reference_surface(underlying: str) -> MarkSurface:
    """The underlying's reference surface (:mod:`desk.market`) with a flat term structure: what options are marked
    with before the desk has fitted a surface to the market."""
    try:
        config = underlying_reference(underlying).surface
    except NoVenue:
        config = VolSurfaceConfig()
    return MarkSurface(
        underlying=underlying,
        parameters=SurfaceParameters.of_config(config, atm_short=config.atm_long),
        base=config,
        rate=RATE,
        source=REFERENCE,
    )


def _base(underlying: str) -> VolSurfaceConfig:
    return reference_surface(underlying).base


def vol_surface_latest(*, underlying: str) -> VolSurface | None:
    """The latest fitted surface of ``underlying`` (None before the first fit)."""
    return (
        VolSurface.objects.filter(underlying=underlying, status=VolSurfaceStatus.FITTED)
        .order_by("-quotes_at", "-id")
        .first()
    )


def surface_parameters(row: VolSurface) -> SurfaceParameters:
    """The stored fit's parameters."""
    return SurfaceParameters(**{name: float(value) for name, value in row.parameters.items()})


def mark_surface(underlying: str) -> MarkSurface:
    """The surface ``underlying``'s options are marked with: the desk's latest fit, else its reference surface."""
    row = vol_surface_latest(underlying=underlying)
    if row is None:
        return reference_surface(underlying)
    return MarkSurface(
        underlying=underlying,
        parameters=surface_parameters(row),
        base=_base(underlying),
        rate=RATE,
        source=FITTED,
        surface_id=row.pk,
    )


def _surface_quotes(feed: VolQuotes) -> SurfaceQuotes:
    quotes = feed.quotes if isinstance(feed.quotes, list) else []
    try:
        expiries = [datetime.fromisoformat(q["expiry"]) for q in quotes]
        t_years = [(expiry - feed.published_at).total_seconds() / SECONDS_PER_YEAR for expiry in expiries]
        return SurfaceQuotes.of(
            spot=float(feed.spot),
            rate=RATE,
            strike=[float(q["strike"]) for q in quotes],
            t_years=t_years,
            bid_vol=[float(q["bid_vol"]) for q in quotes],
            ask_vol=[float(q["ask_vol"]) for q in quotes],
        )
    except SurfaceRefused:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise SurfaceRefused(f"unreadable quotes: {error!r}") from None


def _alert(*, underlying: str, row: VolSurface, kept: VolSurface | None) -> None:
    payload = {
        "underlying": underlying,
        "state": row.status,
        "reason": row.reason,
        "quotes": row.n_quotes,
        "quotes_at": row.quotes_at.isoformat(),
        "kept": kept.pk if kept is not None else None,
        "kept_fitted_at": kept.fitted_at.isoformat() if kept is not None else None,
    }
    audit_record(actor=SURFACE_ACTOR, action=f"vol_surface.{row.status}", obj=row, after=payload)
    broadcast(event=SURFACE_EVENT, payload=payload)


def vol_surface_refit(
    *, underlying: str, now: datetime | None = None, rules: FitRules | None = None
) -> VolSurface | None:
    """Fit ``underlying``'s surface to its latest published quotes and store the fit (or its refusal).

    Returns the stored row, or None when there are no quotes or nothing new since the last fit (safe to run twice,
    and from two workers at once: one fit per published set of quotes).
    """
    now = now or clock.now()
    feed = VolQuotes.objects.filter(underlying=underlying).first()
    if feed is None:
        return None
    last = VolSurface.objects.filter(underlying=underlying).order_by("-quotes_at", "-id").first()
    if last is not None and last.quotes_at >= feed.published_at:
        return None
    previous = vol_surface_latest(underlying=underlying)
    n_quotes = len(feed.quotes) if isinstance(feed.quotes, list) else 0
    row = VolSurface(underlying=underlying, fitted_at=now, quotes_at=feed.published_at, spot=feed.spot)
    try:
        fit = surface_fit(
            _surface_quotes(feed),
            base=_base(underlying),
            rules=rules,
            start=surface_parameters(previous) if previous is not None else None,
        )
    except SurfaceRefused as refused:
        row.status, row.n_quotes, row.reason = VolSurfaceStatus.REFUSED, n_quotes, str(refused)[:255]
    else:
        row.status = VolSurfaceStatus.FITTED
        row.parameters = fit.parameters.as_dict()
        row.n_quotes, row.n_expiries = fit.n_quotes, fit.n_expiries
        row.rms_error, row.max_error, row.inside_share = fit.rms_error_vol, fit.max_error_vol, fit.inside_share
    try:
        with transaction.atomic():
            row.save()
            if row.status == VolSurfaceStatus.REFUSED:
                # One alert when the refusals start or their reason changes, not one every few seconds.
                if last is None or last.status != VolSurfaceStatus.REFUSED or last.reason != row.reason:
                    _alert(underlying=underlying, row=row, kept=previous)
            elif last is None or last.status == VolSurfaceStatus.REFUSED:
                _alert(underlying=underlying, row=row, kept=previous)
    except IntegrityError:
        # Another worker stored the fit of these quotes first.
        return None
    if row.status == VolSurfaceStatus.REFUSED:
        logger.warning("vol surface %s refused (%s); the previous surface is kept", underlying, row.reason)
    vol_surfaces_prune(underlying=underlying, before=now - RETENTION)
    return row


def vol_surfaces_prune(*, underlying: str, before: datetime) -> int:
    """Delete ``underlying``'s fits older than ``before``, keeping its latest fitted one whatever its age."""
    keep = vol_surface_latest(underlying=underlying)
    old = VolSurface.objects.filter(underlying=underlying, quotes_at__lt=before)
    if keep is not None:
        old = old.exclude(pk=keep.pk)
    deleted, _ = old.delete()
    return deleted


def vol_surfaces_refit(*, now: datetime | None = None) -> dict[str, str]:
    """Refit every underlying with published quotes; what happened to each (``fitted``, ``refused`` or
    ``unchanged``)."""
    out = {}
    for underlying in VolQuotes.objects.order_by("underlying").values_list("underlying", flat=True):
        row = vol_surface_refit(underlying=underlying, now=now)
        out[underlying] = row.status if row is not None else "unchanged"
    return out
