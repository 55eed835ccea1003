"""The running simulated world of the desk: steps the market simulator in real time in a thread, publishes its two
signed feeds on the channel layer, and answers what an instrument is worth now (for the simulated dealers).

One per process. In the embedded desk it lives in ``rundesk`` beside the web app, the worker and the dealers.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from desk.events import MARKET_GROUP
from desk.models import Instrument, InstrumentKind
from execution.market import MarketFeed, MarketSimulator
from rfq.sim.rest_bot import FairValue

logger = logging.getLogger(__name__)


def feed_key() -> bytes:
    """The feeds' HMAC key, derived from the secret key so that no second secret has to be managed."""
    return hmac.new(settings.SECRET_KEY.encode(), b"desk-market-feed-v1", hashlib.sha256).digest()


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

    def __init__(self, *, seed: int = 20261125, tick_s: float = 0.5, publish: bool = True) -> None:
        self.simulator = MarketSimulator(seed, start=datetime.now(UTC))
        self.feed = MarketFeed(self.simulator, feed_key())
        self.tick_s = tick_s
        self.publish = publish
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="market", daemon=True)
        self.terms: dict[str, _InstrumentTerms] = {}
        self.ticks = 0

    def start(self) -> MarketService:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(5)

    def _run(self) -> None:
        layer = get_channel_layer() if self.publish else None
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

    def _terms(self, symbol: str) -> _InstrumentTerms | None:
        terms = self.terms.get(symbol)
        if terms is None:
            instrument = Instrument.objects.select_related("underlying").filter(symbol=symbol).first()
            if instrument is None or instrument.base_currency not in self.simulator.underlyings:
                return None
            terms = _InstrumentTerms(
                kind=instrument.kind,
                underlying=instrument.base_currency,
                strike=float(instrument.strike) if instrument.strike is not None else None,
                expiry=instrument.expiry,
                option_type=instrument.option_type,
                multiplier=float(instrument.multiplier),
                tick=float(instrument.tick_size),
            )
            self.terms[symbol] = terms
        return terms

    def fair_value(self, symbol: str) -> FairValue | None:
        """Fair price of one contract of ``symbol`` now (quote currency), from the simulated world."""
        terms = self._terms(symbol)
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
