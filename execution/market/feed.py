"""The market-data feed: every book published twice, as redundant feeds "A" and "B", each message signed.

Each message is a flat dict ``{"feed", "seq", "symbol", "ts", "bid", "ask", "bid_size", "ask_size", "mid",
"last", "hmac"}``; ``hmac`` is HMAC-SHA256 (hex) over the canonical JSON of every other field. The key is
passed in (the desk derives it from Django's ``SECRET_KEY``); this module never reads settings.

Faults come from the simulator's episodes: a stale feed repeats its last prices (with advancing or frozen
timestamps), a corrupt feed publishes outliers and crossed books. Both are faults of the source, so the
messages are still correctly signed: integrity (HMAC) and plausibility (cross-feed divergence) are separate
checks for risk to make.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from execution.market.simulator import MarketSimulator

FEED_IDS: tuple[str, ...] = ("A", "B")
HMAC_FIELD = "hmac"
_PRICE_FIELDS = ("bid", "ask", "bid_size", "ask_size", "mid", "last")
# A stream id no underlying uses, so that publishing never perturbs a price path.
_FEED_STREAM = 1_000_003


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


def _as_key(key: bytes | str) -> bytes:
    raw = key.encode() if isinstance(key, str) else bytes(key)
    if not raw:
        raise ValueError("the feed HMAC key must not be empty")
    return raw


def feed_sign(message: Mapping[str, Any], key: bytes | str) -> dict[str, Any]:
    """A copy of ``message`` with its ``hmac`` field (hex HMAC-SHA256 of :func:`canonical_json`)."""
    signed = {k: v for k, v in message.items() if k != HMAC_FIELD}
    signed[HMAC_FIELD] = hmac.new(_as_key(key), canonical_json(signed), hashlib.sha256).hexdigest()
    return signed


def feed_verify(message: Mapping[str, Any], key: bytes | str) -> bool:
    """Whether ``message`` carries a valid ``hmac`` under ``key``; any malformed message is simply False."""
    try:
        claimed = message[HMAC_FIELD]
        if not isinstance(claimed, str):
            return False
        expected = hmac.new(_as_key(key), canonical_json(message), hashlib.sha256).hexdigest()
    except (KeyError, TypeError, ValueError):
        return False
    return hmac.compare_digest(claimed, expected)


class MarketFeed:
    """Publishes the simulator's books on redundant feeds, one sequence number per feed.

    Parameters
    ----------
    simulator : MarketSimulator
        The world to publish.
    key : bytes or str
        HMAC key, non-empty.
    feed_ids : tuple of str
        The redundant feeds, "A" and "B" by default.
    """

    def __init__(self, simulator: MarketSimulator, key: bytes | str, *, feed_ids: tuple[str, ...] = FEED_IDS) -> None:
        if not feed_ids or len(set(feed_ids)) != len(feed_ids):
            raise ValueError("feed_ids must be non-empty and unique")
        self._simulator = simulator
        self._key = _as_key(key)
        self._feed_ids = feed_ids
        self._rng = np.random.default_rng([simulator.seed, _FEED_STREAM])
        self._seq = dict.fromkeys(feed_ids, 0)
        self._last: dict[tuple[str, str], dict[str, Any]] = {}

    @property
    def feed_ids(self) -> tuple[str, ...]:
        """The feeds published."""
        return self._feed_ids

    def publish(self) -> list[dict[str, Any]]:
        """One signed message per underlying per feed for the simulator's current state.

        Returns
        -------
        list of dict
            Messages ordered by underlying, then feed.
        """
        messages = []
        for symbol in self._simulator.underlyings:
            book = self._simulator.book(symbol)
            effects = self._simulator.effects(symbol)
            truth: dict[str, Any] = {
                "symbol": symbol,
                "ts": book.timestamp.isoformat(),
                "bid": book.bid,
                "ask": book.ask,
                "bid_size": book.bid_size,
                "ask_size": book.ask_size,
                "mid": book.mid,
                "last": book.last,
            }
            for feed_id in self._feed_ids:
                # Draw for every message, faulty or not, so the corruption pattern depends only on the seed
                # and the message count, never on when an episode happens to start.
                u_corrupt, u_kind, u_sign = self._rng.random(3)
                body = dict(truth)
                previous = self._last.get((feed_id, symbol))
                if feed_id in effects.stale_feeds and previous is not None:
                    body.update({name: previous[name] for name in _PRICE_FIELDS})
                    if effects.stale_clock == "freeze":
                        body["ts"] = previous["ts"]
                elif feed_id in effects.corrupt_feeds and u_corrupt < effects.corrupt_probability:
                    body.update(
                        _corrupt(body, outlier_size=effects.corrupt_outlier_size, crossed=u_kind < 0.5, up=u_sign < 0.5)
                    )
                self._seq[feed_id] += 1
                message = {"feed": feed_id, "seq": self._seq[feed_id], **body}
                if feed_id not in effects.stale_feeds or previous is None:
                    self._last[(feed_id, symbol)] = body
                messages.append(feed_sign(message, self._key))
        return messages


def _corrupt(body: Mapping[str, Any], *, outlier_size: float, crossed: bool, up: bool) -> dict[str, Any]:
    bid, ask = float(body["bid"]), float(body["ask"])
    if crossed:
        # Bid above ask by a full spread or more: a book no venue can show.
        gap = max(ask - bid, 1e-9 * ask)
        return {"bid": ask + gap, "ask": bid}
    factor = 1.0 + outlier_size if up else 1.0 - outlier_size
    return {"bid": bid * factor, "ask": ask * factor, "mid": float(body["mid"]) * factor, "last": body["last"]}
