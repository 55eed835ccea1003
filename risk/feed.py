"""The market-data feed protocol: what a signed feed message is, how it is signed and verified, and the key.

Each message is a flat dict ``{"feed", "seq", "symbol", "ts", "bid", "ask", "bid_size", "ask_size", "mid",
"last", "hmac"}``, published twice, as redundant feeds "A" and "B"; ``hmac`` is HMAC-SHA256 (hex) over the
canonical JSON of every other field. Any source of market data (the simulated market's
:class:`~sim.market.feed.MarketFeed`, a real venue's adapter) signs with :func:`feed_sign`; risk's market-health
monitor checks with :func:`feed_verify` under :func:`feed_key`.

A feed that can see the order book beyond its best level adds, in the same message (all in coins, never negative):

- :data:`BOOK_FIELDS`: ``bid_depth`` and ``ask_depth``, the size resting on each side within the venue's book band
  (the best level and the levels behind it);
- :data:`FLOW_FIELDS`: since the feed's previous message for the symbol, ``bid_added`` / ``ask_added`` (orders
  placed on each side), ``bid_cancelled`` / ``ask_cancelled`` (orders withdrawn without trading) and ``traded``
  (the volume that traded).

They are optional: a message without them is complete, and the monitor then cannot judge that feed for spoofing
(order-book imbalance and bursts of cancelled size). A message that carries them carries all of them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings

FEED_IDS: tuple[str, ...] = ("A", "B")
HMAC_FIELD = "hmac"
# The fields of a message that carry the market (the rest say which feed, message, symbol and time).
PRICE_FIELDS = ("bid", "ask", "bid_size", "ask_size", "mid", "last")
# The optional order-book fields (see the module): depth on each side, and the order flow since the last message.
BOOK_FIELDS = ("bid_depth", "ask_depth")
FLOW_FIELDS = ("bid_added", "bid_cancelled", "ask_added", "ask_cancelled", "traded")


def canonical_json(message: Mapping[str, Any]) -> bytes:
    """The bytes that are signed: sorted keys, no whitespace, ASCII, ``hmac`` left out, NaN refused.

    Parameters
    ----------
    message : mapping
        A feed message (with or without its ``hmac`` field).

    Returns
    -------
    bytes
        UTF-8 JSON.
    """
    body = {key: value for key, value in message.items() if key != HMAC_FIELD}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def feed_key_bytes(key: bytes | str) -> bytes:
    """``key`` as the bytes HMAC takes (a string is UTF-8 encoded); ``ValueError`` when it is empty."""
    raw = key.encode() if isinstance(key, str) else bytes(key)
    if not raw:
        raise ValueError("the feed HMAC key must not be empty")
    return raw


def feed_sign(message: Mapping[str, Any], key: bytes | str) -> dict[str, Any]:
    """A copy of ``message`` with its ``hmac`` field (hex HMAC-SHA256 of :func:`canonical_json`)."""
    signed = {k: v for k, v in message.items() if k != HMAC_FIELD}
    signed[HMAC_FIELD] = hmac.new(feed_key_bytes(key), canonical_json(signed), hashlib.sha256).hexdigest()
    return signed


def feed_verify(message: Mapping[str, Any], key: bytes | str) -> bool:
    """Whether ``message`` carries a valid ``hmac`` under ``key``; any malformed message is simply False."""
    try:
        claimed = message[HMAC_FIELD]
        if not isinstance(claimed, str):
            return False
        expected = hmac.new(feed_key_bytes(key), canonical_json(message), hashlib.sha256).hexdigest()
    except (KeyError, TypeError, ValueError):
        return False
    return hmac.compare_digest(claimed, expected)


def feed_key() -> bytes:
    """The feeds' HMAC key, derived from Django's ``SECRET_KEY`` (every process of one desk derives the same)."""
    return hmac.new(settings.SECRET_KEY.encode(), b"desk-market-feed-v1", hashlib.sha256).digest()
