"""Dealer presence: REST dealers have no session, so a dealer is connected while its last request is recent."""

from __future__ import annotations

import time

from django.core.cache import cache

from rfq.models import Counterparty

PRESENCE_PREFIX = "dealer-seen:"
PRESENCE_TTL_S = 120


def dealer_seen(dealer: Counterparty) -> None:
    """Note that the dealer is connected (its last request, kept in the cache for PRESENCE_TTL_S)."""
    cache.set(f"{PRESENCE_PREFIX}{dealer.code}", time.time(), timeout=PRESENCE_TTL_S)


def dealer_last_seen(codes: list[str]) -> dict[str, float]:
    found = cache.get_many([f"{PRESENCE_PREFIX}{code}" for code in codes])
    return {key.removeprefix(PRESENCE_PREFIX): value for key, value in found.items()}
