"""The simulated market-data feed: every book published twice, as redundant feeds "A" and "B", each message
signed as risk's feed protocol (:mod:`risk.feed`) says. The key is passed in; this module never reads settings.

Faults come from the simulator's episodes: a stale feed repeats its last prices (with advancing or frozen
timestamps), a corrupt feed publishes outliers and crossed books. Both are faults of the source, so the
messages are still correctly signed: integrity (HMAC) and plausibility (cross-feed divergence) are separate
checks for risk to make.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from risk.feed import FEED_IDS, PRICE_FIELDS, feed_key_bytes, feed_sign
from sim.market.simulator import MarketSimulator

# A stream id no underlying uses, so that publishing never perturbs a price path.
_FEED_STREAM = 1_000_003


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
        self._key = feed_key_bytes(key)
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
                    body.update({name: previous[name] for name in PRICE_FIELDS})
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
