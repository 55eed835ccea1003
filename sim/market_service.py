"""The running simulated world of the desk: steps the market simulator in real time in a thread, publishes its two
signed feeds on the channel layer, writes its venue books and its options' implied-volatility quotes where the desk
reads market data, and answers what an instrument is worth now (for the simulated dealers).

One per process. In the embedded desk it lives in ``rundesk`` beside the web app, the worker and the dealers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import close_old_connections, connection

from desk.events import MARKET_GROUP
from desk.market import SECONDS_PER_DAY, VOLUME_WINDOW_S
from desk.marks import VolQuote, vol_quotes_publish
from desk.models import Instrument, InstrumentKind
from risk.feed import feed_key
from sim.dealers.rest_bot import FairValue
from sim.market import MarketFeed, MarketSimulator
from sim.market.chain import vol_quotes
from sim.venues import venue_books_sync
from tca.tape import MarketTop, TapeSource

logger = logging.getLogger(__name__)

TERMS_REFRESH_TICKS = 60
VOL_QUOTES_EVERY_S = 5.0
"""Seconds between two publications of the options' implied-volatility quotes (the desk refits on the same beat)."""


@dataclass(frozen=True)
class _InstrumentTerms:
    kind: str
    underlying: str
    strike: float | None
    expiry: datetime | None
    option_type: str
    multiplier: float
    tick: float


class MarketService:
    """Steps a :class:`MarketSimulator` every ``tick_s`` seconds of wall time and publishes both feeds."""

    def __init__(
        self, *, seed: int = 20261125, tick_s: float = 0.5, publish: bool = True, persist_every_s: float | None = 0.5
    ) -> None:
        self.simulator = MarketSimulator(seed, start=datetime.now(UTC))
        self.feed = MarketFeed(self.simulator, feed_key())
        self.tick_s = tick_s
        self.publish = publish
        # The venue books every process trades against live in the database (desk.models.VenueBook): written
        # at most every persist_every_s seconds (every tick by default: the desk marks options on the book's mid,
        # and a second-old mid moved an option's mark out of the dealers' quotes); None keeps this service's world
        # in memory only.
        self.persist_every_s = persist_every_s
        self._persisted_at = -float("inf")
        self._vol_quotes_at = -float("inf")
        self._persisted_mids: dict[str, float] = {}
        self._volumes: dict[str, deque[tuple[datetime, float]]] = {}
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="market", daemon=True)
        self.terms: dict[str, _InstrumentTerms] = {}
        self.ticks = 0

    def start(self) -> MarketService:
        self.terms_load()
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(5)

    def _run(self) -> None:
        layer = get_channel_layer() if self.publish else None
        try:
            while not self.stop_event.wait(self.tick_s):
                with self.lock:
                    self.simulator.step(self.tick_s)
                    messages = self.feed.publish()
                    self.ticks += 1
                if layer is not None:
                    try:
                        async_to_sync(layer.group_send)(MARKET_GROUP, {"type": "market.tick", "messages": messages})
                    except Exception:
                        # The market keeps time even when nobody can hear it (channel layer down).
                        logger.exception("market feed publish failed")
                if self.persist_every_s is not None and time.monotonic() - self._persisted_at >= self.persist_every_s:
                    self._persisted_at = time.monotonic()
                    try:
                        close_old_connections()
                        self.persist()
                    except Exception:
                        # A database hiccup must not stop the market's clock: the next tick writes again.
                        logger.exception("venue book persistence failed")
        finally:
            connection.close()

    def persist(self) -> None:
        """Write the simulated books to the shared venue rows (one ``UPDATE`` per venue, see
        :func:`sim.venues.venue_books_sync`), with each underlying's volume of the last five minutes."""
        with self.lock:
            books = [self.simulator.book(underlying) for underlying in self.simulator.underlyings]
        volumes: dict[str, float] = {}
        for book in books:
            window = self._volumes.setdefault(book.underlying, deque())
            window.append((book.timestamp, book.volume))
            while len(window) > 1 and (book.timestamp - window[0][0]).total_seconds() > VOLUME_WINDOW_S:
                window.popleft()
            elapsed = (book.timestamp - window[0][0]).total_seconds()
            traded = book.volume - window[0][1]
            # Until the service has watched a whole window, scale what it saw (or the average day) to one.
            if elapsed >= VOLUME_WINDOW_S:
                volumes[book.underlying] = traded
            elif elapsed > 0:
                volumes[book.underlying] = traded * VOLUME_WINDOW_S / elapsed
            else:
                daily = self.simulator.config.underlying(book.underlying).daily_volume
                volumes[book.underlying] = daily * VOLUME_WINDOW_S / SECONDS_PER_DAY
        venue_books_sync(books=books, previous_mids=self._persisted_mids, volumes_5m=volumes)
        if time.monotonic() - self._vol_quotes_at >= VOL_QUOTES_EVERY_S:
            self._vol_quotes_at = time.monotonic()
            self.vol_quotes_publish()

    def vol_quotes_publish(self) -> None:
        """Publish every underlying's listed options' volatility bid and ask (:mod:`sim.market.chain`) on the desk's
        market-data port (:func:`desk.marks.vol_quotes_publish`), as a venue's feed would."""
        with self.lock:
            chains = [
                (
                    underlying,
                    self.simulator.now,
                    self.simulator.book(underlying).mid,
                    vol_quotes(self.simulator, underlying),
                )
                for underlying in self.simulator.underlyings
            ]
        for underlying, at, spot, quotes in chains:
            vol_quotes_publish(
                underlying=underlying,
                at=at,
                spot=spot,
                quotes=[
                    VolQuote(expiry=q.expiry, strike=q.strike, bid_vol=q.bid_vol, ask_vol=q.ask_vol) for q in quotes
                ],
            )

    def terms_load(self) -> None:
        """Read the simulated instruments' terms (at start and now and then from the market thread): fair values
        are asked from any thread or event loop, where the ORM must not be called."""
        terms = {}
        for instrument in Instrument.objects.filter(is_active=True, base_currency__in=self.simulator.underlyings):
            terms[instrument.symbol] = _InstrumentTerms(
                kind=instrument.kind,
                underlying=instrument.base_currency,
                strike=float(instrument.strike) if instrument.strike is not None else None,
                expiry=instrument.expiry,
                option_type=instrument.option_type,
                multiplier=float(instrument.multiplier),
                tick=float(instrument.tick_size),
            )
        self.terms = terms

    def fair_value(self, symbol: str) -> FairValue | None:
        """Fair price of one contract of ``symbol`` now (quote currency), from the simulated world."""
        terms = self.terms.get(symbol)
        if terms is None:
            return None
        with self.lock:
            spot = self.simulator.book(terms.underlying).mid
            if terms.kind == InstrumentKind.SPOT:
                price = spot
            elif terms.kind == InstrumentKind.PERPETUAL:
                price = self.simulator.perpetual(terms.underlying).mark
            else:
                if terms.expiry is None or terms.expiry <= self.simulator.now:
                    return None
                price = self.simulator.option(terms.underlying, terms.strike, terms.expiry, terms.option_type).price
        return FairValue(
            price=price * terms.multiplier,
            kind=terms.kind,
            contract_notional=spot * terms.multiplier,
            tick=terms.tick,
        )

    def tape_source(self) -> TapeSource:
        """The market as TCA's tape recorder reads it (:class:`tca.tape.TapeSource`)."""
        return TapeSource(
            underlyings=tuple(self.simulator.underlyings),
            tops=self._tops,
            stopped=self.stop_event,
        )

    def _tops(self) -> dict[str, MarketTop]:
        with self.lock:
            return {code: self.simulator.book(code) for code in self.simulator.underlyings}
