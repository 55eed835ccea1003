"""Validated reference prices shared between processes: the market-health monitor publishes, the pre-trade check
reads.

The monitor (:mod:`risk.monitor`) runs once per desk; the pre-trade check runs wherever a child order, hedge or
acceptance is sent (web, Celery workers). So the monitor writes each underlying's validated price, its state and
the time it evaluated them to the desk's cache (Redis when ``REDIS_URL`` is set, process memory in the embedded
desk, where the monitor shares the process), and :func:`validated_price_get` reads it back.

**Fresh** means: the monitor evaluated the underlying at most ``settings.RISK_VALIDATED_PRICE_MAX_AGE_S`` seconds
ago (5 s, its own staleness threshold: it re-evaluates every half second, so an older entry means the monitor
stopped) and had a price then (state healthy or degraded: some feed trusted, hence neither stale nor an outlier).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache

from desk.fields import to_decimal

KEY_PREFIX = "risk:validated-price:"
# Long enough to outlive any pause of the monitor we would still call "fresh"; short enough to expire a dead one.
CACHE_TIMEOUT_S = 3_600


@dataclass(frozen=True)
class ValidatedPrice:
    """The monitor's latest word on an underlying: ``price`` (quote currency, None when no feed is trusted), ``state``
    (``healthy``, ``degraded`` or ``halted``; a halt on a fast move keeps the price, and the pre-trade check refuses
    on the state), the feed it came from and when the monitor evaluated it (UTC)."""

    underlying: str
    price: Decimal | None
    state: str
    source_feed: str | None
    at: datetime

    def age_s(self, now: datetime) -> float:
        """Seconds since the monitor evaluated it."""
        return (now - self.at).total_seconds()


def validated_price_publish(
    *, underlying: str, price: float | None, state: str, source_feed: str | None, at: datetime
) -> None:
    """Store the monitor's latest evaluation of ``underlying`` (``at`` UTC-aware)."""
    cache.set(
        f"{KEY_PREFIX}{underlying}",
        {
            "price": None if price is None else str(to_decimal(price)),
            "state": state,
            "source_feed": source_feed,
            "at": at.isoformat(),
        },
        CACHE_TIMEOUT_S,
    )


def validated_price_get(*, underlying: str) -> ValidatedPrice | None:
    """The latest evaluation of ``underlying`` the monitor published (None when it never did, or it expired)."""
    entry = cache.get(f"{KEY_PREFIX}{underlying}")
    if not isinstance(entry, dict):
        return None
    return ValidatedPrice(
        underlying=underlying,
        price=None if entry.get("price") is None else Decimal(entry["price"]),
        state=str(entry.get("state", "")),
        source_feed=entry.get("source_feed"),
        at=datetime.fromisoformat(entry["at"]),
    )


def validated_price_fresh(*, underlying: str, now: datetime) -> ValidatedPrice | None:
    """The monitor's price for ``underlying`` when it is fresh (see the module) and usable: evaluated at most
    ``settings.RISK_VALIDATED_PRICE_MAX_AGE_S`` seconds before ``now`` (UTC), with a price, not halted. None
    otherwise: never an older or a halted price."""
    validated = validated_price_get(underlying=underlying)
    if validated is None or validated.price is None or validated.state == "halted":
        return None
    if validated.age_s(now) > float(settings.RISK_VALIDATED_PRICE_MAX_AGE_S):
        return None
    return validated
