"""The market tape recorder: samples the market about once a second and stores it in batches.

It runs in a thread beside the market that the world which starts it describes as a :class:`TapeSource` (the
simulated world, :mod:`sim.world`, passes its market service's), started by :func:`tape_recorder_start`, and stops
with the market (it watches the market's stop event).
Per instrument it records:

- spot and perpetual: the lit venue's stored mid (``desk.VenueBook``, the price both trade against: it keeps
  the permanent impact of the desk's own fills) times the contract multiplier, the venue's full spread, the coins the
  simulated market traded since the previous sample (over the multiplier), the regime and the volatility;
- options: the desk's mark per contract every :data:`OPTION_EVERY` samples (spread and volume unknown), Black–Scholes
  at the volatility of the desk's surface fitted to the market's quotes (:func:`desk.marks.mark_surface`) with the lit
  venue's stored mid as the underlying, the same mark as the RFQ's arrival mid, so that dealer markouts on options and
  TCA measure against what the desk knew.

The samples are kept in memory and written every :data:`FLUSH_EVERY_S` seconds in one transaction
(:func:`tca.services.market_samples_write`); samples older than the retention are pruned every
:data:`PRUNE_EVERY_S`. The recorder never stops the market: a database error is logged and the batch retried.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from django.db import close_old_connections, connection

from desk import clock as desk_clock
from desk.market import SECONDS_PER_YEAR, VENUES
from desk.marks import mark_surface
from desk.models import Instrument, InstrumentKind, VenueBook
from desk.surface import MarkSurface
from tca import services
from tca.services import TapeSample

logger = logging.getLogger(__name__)

SAMPLE_EVERY_S = 1.0
FLUSH_EVERY_S = 5.0
PRUNE_EVERY_S = 600.0
OPTION_EVERY = 10
"""Options are sampled every tenth sample (their chain is large; markouts at 1 s on options are then coarse)."""
MAX_PENDING = 50_000
"""Samples kept in memory while the database refuses them; older ones are dropped beyond (logged)."""
LIT_VENUE = next(spec.code for spec in VENUES if spec.kind == "lit")


class MarketTop(Protocol):
    """One underlying's market at an instant: its mid (quote currency per coin), the coins it has traded so far,
    its volatility regime and annualized volatility."""

    @property
    def mid(self) -> float: ...
    @property
    def volume(self) -> float: ...
    @property
    def regime_name(self) -> str: ...
    @property
    def volatility(self) -> float: ...


@dataclass(frozen=True)
class TapeSource:
    """What the recorder reads from the market it runs beside.

    Attributes
    ----------
    underlyings : tuple of str
        The underlyings the market prices.
    tops : callable
        One consistent snapshot of every underlying's :class:`MarketTop`, by underlying.
    stopped : threading.Event
        Set when the market stops; the recorder stops with it.
    """

    underlyings: tuple[str, ...]
    tops: Callable[[], Mapping[str, MarketTop]]
    stopped: threading.Event


@dataclass(frozen=True)
class _Terms:
    instrument_id: int
    symbol: str
    kind: str
    underlying: str
    multiplier: float
    strike: float | None = None
    expiry: datetime | None = None
    option_type: str = ""


@dataclass
class TapeRecorder:
    """Samples ``source`` every ``sample_every_s`` seconds of wall time (see the module docstring)."""

    source: TapeSource
    sample_every_s: float = SAMPLE_EVERY_S
    flush_every_s: float = FLUSH_EVERY_S
    retention: timedelta = services.TAPE_RETENTION
    option_every: int = OPTION_EVERY
    clock: Callable[[], datetime] = field(default=desk_clock.now)
    pending: list[TapeSample] = field(default_factory=list)
    samples_taken: int = 0
    rows_written: int = 0
    stop_event: threading.Event = field(default_factory=threading.Event)
    _terms: list[_Terms] = field(default_factory=list)
    _volumes: dict[str, float] = field(default_factory=dict)
    _thread: threading.Thread | None = None

    def terms_load(self) -> None:
        underlyings = list(self.source.underlyings)
        self._terms = [
            _Terms(
                instrument_id=row.pk,
                symbol=row.symbol,
                kind=row.kind,
                underlying=row.base_currency,
                multiplier=float(row.multiplier),
                strike=float(row.strike) if row.strike is not None else None,
                expiry=row.expiry,
                option_type=row.option_type,
            )
            for row in Instrument.objects.filter(is_active=True, base_currency__in=underlyings).order_by("symbol")
        ]

    def sample(self) -> list[TapeSample]:
        """Take one sample of every instrument now (queued in ``pending``, not yet written); returns it."""
        if not self._terms:
            self.terms_load()
        now = self.clock()
        books = {
            row.underlying: row
            for row in VenueBook.objects.filter(venue=LIT_VENUE, underlying__in=self.source.underlyings)
        }
        tops = self.source.tops()
        traded: dict[str, float] = {}
        for code, top in tops.items():
            previous = self._volumes.get(code)
            traded[code] = max(top.volume - previous, 0.0) if previous is not None else 0.0
            self._volumes[code] = top.volume
        with_options = self.samples_taken % max(self.option_every, 1) == 0
        surfaces: dict[str, MarkSurface] = {}
        taken: list[TapeSample] = []
        for terms in self._terms:
            top = tops.get(terms.underlying)
            if top is None:
                continue
            if terms.kind in (InstrumentKind.SPOT, InstrumentKind.PERPETUAL):
                book = books.get(terms.underlying)
                coin_mid = float(book.mid) if book is not None else top.mid
                half_spread_bps = float(book.half_spread_bps) if book is not None else 0.0
                # the venue prices spot and perpetual children alike, on the underlying's stored mid
                mid = coin_mid * terms.multiplier
                taken.append(
                    TapeSample(
                        instrument_id=terms.instrument_id,
                        sampled_at=now,
                        mid=mid,
                        volume=traded[terms.underlying] / terms.multiplier,
                        spread=2.0 * mid * half_spread_bps / 1e4,
                        regime=top.regime_name,
                        volatility=top.volatility,
                    )
                )
            elif with_options:
                book = books.get(terms.underlying)
                if book is None or terms.expiry is None or terms.expiry <= now or not terms.strike:
                    continue
                if terms.underlying not in surfaces:
                    surfaces[terms.underlying] = mark_surface(terms.underlying)
                t_years = (terms.expiry - now).total_seconds() / SECONDS_PER_YEAR
                priced = surfaces[terms.underlying].price(
                    spot=float(book.mid), strike=terms.strike, t_years=t_years, kind=terms.option_type
                )
                mark = float(priced.price) * terms.multiplier
                if not mark > 0:
                    continue
                taken.append(
                    TapeSample(
                        instrument_id=terms.instrument_id,
                        sampled_at=now,
                        mid=mark,
                        regime=top.regime_name,
                        volatility=top.volatility,
                    )
                )
        self.samples_taken += 1
        self.pending.extend(taken)
        if len(self.pending) > MAX_PENDING:
            dropped = len(self.pending) - MAX_PENDING
            del self.pending[:dropped]
            logger.warning("market tape: %d unwritten samples dropped (database unavailable)", dropped)
        return taken

    def flush(self) -> int:
        """Write the pending samples in one batch; they stay pending when the write fails."""
        if not self.pending:
            return 0
        batch = list(self.pending)
        written = services.market_samples_write(samples=batch)
        del self.pending[: len(batch)]
        self.rows_written += written
        return written

    def prune(self) -> int:
        return services.market_tape_prune(before=self.clock() - self.retention)

    def start(self) -> TapeRecorder:
        self._thread = threading.Thread(target=self._run, name="tca-tape", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(5)

    def _stopped(self) -> bool:
        return self.stop_event.is_set() or self.source.stopped.is_set()

    def _run(self) -> None:
        last_flush = last_prune = 0.0
        elapsed = 0.0
        try:
            # waiting on the market's own stop event: the recorder ends the moment the market does
            while not self.source.stopped.wait(self.sample_every_s):
                if self._stopped():
                    break
                elapsed += self.sample_every_s
                try:
                    close_old_connections()
                    self.sample()
                    if elapsed - last_flush >= self.flush_every_s:
                        last_flush = elapsed
                        self.flush()
                    if elapsed - last_prune >= PRUNE_EVERY_S:
                        last_prune = elapsed
                        self.prune()
                except Exception:
                    # The tape must never take the market down: log it, try again at the next sample.
                    logger.exception("market tape sampling failed")
            try:
                self.flush()
            except Exception:
                logger.exception("market tape: last flush failed")
        finally:
            connection.close()


def tape_recorder_start(*, source: TapeSource, sample_every_s: float = SAMPLE_EVERY_S) -> TapeRecorder:
    """Start recording the tape of ``source``'s market in a daemon thread; it stops when the market stops."""
    return TapeRecorder(source=source, sample_every_s=sample_every_s).start()
