"""The order-rate counter: orders per scope over a sliding window, counted atomically in the cache.

The window of ``RISK_ORDER_RATE_WINDOW_S`` seconds is made of one-second buckets, each a cache key incremented with
``cache.incr`` (an atomic ``INCR`` on Redis when ``REDIS_URL`` is set, a locked increment in the local-memory cache
otherwise). DRF's throttling reads, compares and writes in three steps, so two concurrent requests can both pass
(DESIGN, "Pitfalls"); here every order takes its own slot from the counter, and an order that the slot puts over the
limit gives it back, so that no more than the limit ever passes, whatever the concurrency.

Only the current bucket is written; the past buckets of the window are frozen and read in one ``get_many``.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache

from risk.checks import CheckResult, order_rate

KEY_PREFIX = "risk:rate"
DEFAULT_WINDOW_S = 5


def window_s() -> int:
    """The sliding window, whole seconds (at least 1)."""
    return max(int(getattr(settings, "RISK_ORDER_RATE_WINDOW_S", DEFAULT_WINDOW_S)), 1)


def _key(scope: str, scope_key: str, second: int) -> str:
    return f"{KEY_PREFIX}:{scope}:{scope_key}:{second}"


def _incr(key: str, ttl: int) -> int:
    # add() creates the bucket only when missing (atomic SET NX on Redis); incr() then counts atomically.
    cache.add(key, 0, timeout=ttl)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr: start it again
        cache.add(key, 0, timeout=ttl)
        return cache.incr(key)


def rate_take(
    *, scope: str, scope_key: str, limit: float, clock: Callable[[], float] = time.time
) -> tuple[CheckResult, Callable[[], None]]:
    """Take one slot of the scope's counter and check the rate with it.

    Returns the check and a function that gives the slot back (call it when the order does not leave after all,
    refused by this check or by another scope's counter). ``limit`` is in orders per second.
    """
    window = window_s()
    now = int(math.floor(clock()))
    key = _key(scope, scope_key, now)
    count = _incr(key, ttl=window + 2)
    past = cache.get_many([_key(scope, scope_key, second) for second in range(now - window + 1, now)])
    total = count + sum(int(value) for value in past.values())

    def give_back() -> None:
        with contextlib.suppress(ValueError):  # the bucket already expired: nothing to give back
            cache.decr(key)

    return order_rate(float(total), float(window), limit), give_back


def rate_reset(*, scope: str, scope_key: str, clock: Callable[[], float] = time.time) -> None:
    """Forget the scope's recent orders (tests and a risk officer's reset)."""
    now = int(math.floor(clock()))
    cache.delete_many([_key(scope, scope_key, second) for second in range(now - window_s() - 1, now + 2)])
