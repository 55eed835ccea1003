"""The market-health monitor as a running service: listens to the market feeds on the channel layer, validates them
with :class:`~risk.market_health.FeedMonitor`, trips the circuit breaker when an underlying has no trustworthy
price, and tells the desk's browsers about every change of state.

It runs apart from the algorithms, in a thread of its own with its own event loop (as the FIX gateway's outbound
listener does), so that nothing an execution plan does can stop it from seeing the market.

- Every state change is broadcast as a ``risk.market_health`` event (the risk page).
- Every change of an underlying's state, of the checks behind it or of its price's source feed is stored in the
  database
  (:func:`risk.market_health_services.market_health_record`, the ``risk.MarketHealth`` row, audited): the pages,
  the API and ``/metrics`` of every process read it there (:func:`risk.selectors.market_health_board`). If the
  database refuses, the write is retried at every tick until it goes through.
- A change to ``halted`` calls :func:`risk.services.circuit_breaker_trip` for the underlying: the kill switch is
  engaged (audited, actor ``system:circuit_breaker``) and the running plans under it are halted. If the database
  refuses, the trip is retried at every tick for as long as the underlying stays halted.
- A return to ``healthy`` re-arms nothing: only a risk officer does (``risk.services.kill_switch_rearm``).

The latest state also lives in this process's memory (:func:`market_health_snapshot`, for the process that runs
the monitor). Each underlying's validated price, state and evaluation time are published to the desk's cache at
every tick (:mod:`risk.reference`): Redis when the desk has several processes, so the pre-trade checks of every
worker read them. With several processes the service runs once (its own process, like the Celery beat); the
circuit breaker and the stored verdicts go through the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from channels.layers import DEFAULT_CHANNEL_LAYER, InMemoryChannelLayer, channel_layers, get_channel_layer
from django.db import close_old_connections, connection

from desk import clock as desk_clock
from desk.events import MARKET_GROUP, broadcast
from risk.feed import feed_key
from risk.market_health import FeedMonitor, Health, HealthThresholds, SymbolHealth, Transition
from risk.market_health_services import market_health_record
from risk.reference import validated_price_publish
from risk.services import circuit_breaker_trip

__all__ = [
    "HEALTH_EVENT",
    "MarketHealthService",
    "market_health_for",
    "market_health_snapshot",
]

logger = logging.getLogger(__name__)

HEALTH_EVENT = "risk.market_health"
# Channel layers forget a group membership after ``group_expiry`` (a day by default): join again well before.
REJOIN_PERIOD_S = 600.0
# The kill switch's reason column holds 255 characters, "circuit breaker: " included.
REASON_CHARS = 230

_running_lock = threading.Lock()
_running: MarketHealthService | None = None


class MarketHealthService:
    """Validates the ``market`` group's ticks and acts on the underlyings' health.

    Parameters
    ----------
    key : bytes, optional
        The feeds' HMAC key (default: :func:`risk.feed.feed_key`).
    thresholds : HealthThresholds, optional
        The checks' thresholds.
    tick_s : float
        Seconds: the longest the service waits for a tick before it re-evaluates (silence makes a feed stale).
    clock : callable
        Returns the monitor's clock, UTC-aware (the desk clock by default; tests may pass their own).

    Start with :meth:`start` (returns once subscribed, so no tick is missed after it), stop with :meth:`stop`.
    :meth:`handle_messages` and :meth:`handle_tick` are the same work without the thread, for replays and tests.
    """

    def __init__(
        self,
        *,
        key: bytes | None = None,
        thresholds: HealthThresholds | None = None,
        tick_s: float = 0.5,
        clock: Callable[[], datetime] = desk_clock.now,
    ) -> None:
        self.monitor = FeedMonitor(key if key is not None else feed_key(), thresholds=thresholds)
        self.tick_s = tick_s
        self.clock = clock
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.ready = threading.Event()
        self.trips: list[tuple[str, str]] = []
        self._trip_pending: dict[str, str] = {}
        # Per underlying, the (state, checks, source feed) last stored in the database.
        self._recorded: dict[str, tuple[str, tuple[str, ...], str | None]] = {}
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="market-health", daemon=True)

    # -------------------------------------------------------------------------------------------- lifecycle
    def start(self, timeout: float = 10.0) -> MarketHealthService:
        """Start listening; returns once the service has joined the ``market`` group."""
        global _running
        self.thread.start()
        if not self.ready.wait(timeout):
            self.stop()
            raise RuntimeError("the market-health monitor did not subscribe to the market feed in time")
        if self._error is not None:
            raise RuntimeError("the market-health monitor failed to start") from self._error
        with _running_lock:
            _running = self
        logger.info("market-health monitor listening on the %r group", MARKET_GROUP)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening (the latest state stays readable on this object, no longer through the selectors)."""
        global _running
        self.stop_event.set()
        if self.thread.is_alive():
            self.thread.join(timeout)
        with _running_lock:
            if _running is self:
                _running = None

    # -------------------------------------------------------------------------------------------- reading
    def snapshot(self) -> dict[str, SymbolHealth]:
        """The latest health of every underlying seen."""
        with self.lock:
            return self.monitor.snapshot()

    def health(self, underlying: str) -> SymbolHealth | None:
        """The latest health of ``underlying`` (None before it is first evaluated)."""
        with self.lock:
            return self.monitor.health(underlying)

    # -------------------------------------------------------------------------------------------- the work
    def handle_messages(
        self, messages: Iterable[Mapping[str, Any]], *, now: datetime | None = None
    ) -> list[Transition]:
        """Validate one tick's messages at ``now`` (the service's clock by default) and act on the transitions."""
        now = now or self.clock()
        with self.lock:
            observation = self.monitor.observe_many(messages, now=now)
            snapshot = self.monitor.snapshot()
        for finding in observation.findings:
            logger.log(
                logging.WARNING if finding.severity == "error" else logging.INFO,
                "market data: %s",
                finding.message,
            )
        transitions = list(observation.transitions)
        self._publish(snapshot, now)
        self._record(snapshot, now)
        self._act(transitions)
        return transitions

    def handle_tick(self, *, now: datetime | None = None) -> list[Transition]:
        """Re-evaluate without a message (silence, overdue witnesses) and act on the transitions."""
        now = now or self.clock()
        with self.lock:
            transitions = list(self.monitor.tick(now=now).transitions)
            snapshot = self.monitor.snapshot()
        self._publish(snapshot, now)
        self._record(snapshot, now)
        self._act(transitions)
        return transitions

    def _publish(self, snapshot: Mapping[str, SymbolHealth], now: datetime) -> None:
        """Share every underlying's validated price with the pre-trade checks (:mod:`risk.reference`)."""
        for symbol, health in snapshot.items():
            try:
                validated_price_publish(
                    underlying=symbol,
                    price=health.price,
                    state=str(health.state),
                    source_feed=health.source_feed,
                    at=now,
                )
            except Exception:
                # A cache outage must not blind the monitor; the checks then see the price age and refuse.
                logger.exception("could not publish the validated price of %s", symbol)

    def _record(self, snapshot: Mapping[str, SymbolHealth], now: datetime) -> None:
        """Store every underlying whose state, checks or source feed changed since the last write (what
        :func:`risk.selectors.market_health_board` reads)."""
        for symbol, health in snapshot.items():
            verdict = (str(health.state), health.checks, health.source_feed)
            if self._recorded.get(symbol) == verdict:
                continue
            try:
                market_health_record(
                    underlying=symbol,
                    state=str(health.state),
                    checks=health.checks,
                    reason=health.reason,
                    findings=[finding.as_dict() for finding in health.reasons],
                    source_feed=health.source_feed,
                    since=health.since,
                    at=now,
                )
            except Exception:
                # Database down or locked: the next tick writes it (the verdict is still the latest then).
                logger.exception("could not store the market health of %s; retrying at the next tick", symbol)
                continue
            self._recorded[symbol] = verdict

    def _act(self, transitions: list[Transition]) -> None:
        for transition in transitions:
            health = transition.current
            if health.state == Health.HALTED:
                self._trip_pending[health.symbol] = health.reason
            else:
                # Healthy or degraded again before the trip went through: nothing left to trip.
                self._trip_pending.pop(health.symbol, None)
        # Runs at every tick, so a trip the database refused is retried while the underlying stays halted.
        tripped = self._trip_pending_flush()
        for transition in transitions:
            health = transition.current
            broadcast(
                event=HEALTH_EVENT,
                payload=health.as_dict()
                | {
                    "previous": str(transition.previous) if transition.previous else None,
                    "circuit_breaker": health.state == Health.HALTED and health.symbol in tripped,
                },
            )

    def _trip_pending_flush(self) -> set[str]:
        tripped = set()
        for symbol, reason in list(self._trip_pending.items()):
            try:
                circuit_breaker_trip(underlying=symbol, reason=f"market data {reason}"[:REASON_CHARS])
            except Exception:
                # Database down or locked: the underlying is still halted, so the next tick tries again.
                logger.exception("circuit breaker trip for %s failed; retrying at the next tick", symbol)
                continue
            del self._trip_pending[symbol]
            self.trips.append((symbol, reason))
            tripped.add(symbol)
            logger.warning("circuit breaker tripped for %s: %s", symbol, reason)
        return tripped

    # -------------------------------------------------------------------------------------------- the thread
    def _layer(self) -> Any:
        layer = get_channel_layer()
        if layer is None or isinstance(layer, InMemoryChannelLayer):
            # The in-memory layer only reaches us if we share the publisher's instance (it is thread-safe).
            return layer
        # Redis: a private instance, so that our receive loop never meets another thread's event loop receiving on
        # the shared one (channels_redis allows one receiving loop per instance).
        return channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        layer: Any = None
        channel = ""
        try:
            layer = self._layer()
            if layer is None:
                raise RuntimeError("no channel layer: the market-health monitor cannot hear the market")
            channel = loop.run_until_complete(layer.new_channel("riskhealth."))
            loop.run_until_complete(layer.group_add(MARKET_GROUP, channel))
            joined_at = time.monotonic()
            self.ready.set()
            while not self.stop_event.is_set():
                if time.monotonic() - joined_at > REJOIN_PERIOD_S:
                    with contextlib.suppress(Exception):
                        loop.run_until_complete(layer.group_add(MARKET_GROUP, channel))
                        joined_at = time.monotonic()
                try:
                    event = loop.run_until_complete(self._receive(layer, channel))
                except Exception:
                    logger.exception("market-health monitor could not receive; carrying on")
                    self.stop_event.wait(self.tick_s)
                    event = None
                try:
                    # As a request would: drop a connection the database has closed or that outlived its age.
                    close_old_connections()
                    if event is not None and event.get("type") == "market.tick":
                        self.handle_messages(event.get("messages") or [])
                    else:
                        self.handle_tick()
                except Exception:
                    # A bug in one tick must not blind the monitor for the rest of the day.
                    logger.exception("market-health monitor failed on a tick")
        except BaseException as error:
            self._error = error
            logger.exception("market-health monitor stopped")
            self.ready.set()
        finally:
            if layer is not None and channel:
                with contextlib.suppress(Exception):
                    loop.run_until_complete(layer.group_discard(MARKET_GROUP, channel))
            if layer is not None and not isinstance(layer, InMemoryChannelLayer):
                with contextlib.suppress(Exception):
                    loop.run_until_complete(layer.close_pools())
            loop.close()
            connection.close()

    async def _receive(self, layer: Any, channel: str) -> dict[str, Any] | None:
        try:
            return await asyncio.wait_for(layer.receive(channel), timeout=self.tick_s)
        except TimeoutError:
            return None


def market_health_snapshot() -> dict[str, dict[str, Any]]:
    """The latest health of every underlying from this process's running monitor (empty when none runs). Other
    processes read the stored verdicts: :func:`risk.selectors.market_health_board`."""
    with _running_lock:
        service = _running
    if service is None:
        return {}
    return {symbol: health.as_dict() for symbol, health in sorted(service.snapshot().items())}


def market_health_for(*, underlying: str) -> SymbolHealth | None:
    """The latest health of ``underlying`` from this process's running monitor (None when unknown)."""
    with _running_lock:
        service = _running
    return service.health(underlying) if service is not None else None
