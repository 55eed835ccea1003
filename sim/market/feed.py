"""The simulated market-data feed: every book published twice, as redundant feeds "A" and "B", each message
signed as risk's feed protocol (:mod:`risk.feed`) says. The key is passed in; this module never reads settings.

Every message carries the protocol's order-book fields too: the depth on each side and the order flow since the
feed's previous message for the symbol (orders added and cancelled on each side, volume traded). The flow is read
from the book's changes: a side's depth moves by what was added, less what was cancelled and what traded on it
(the step's volume, split evenly between the sides).

Faults come from the simulator's episodes: a stale feed repeats its last prices and book (with advancing or frozen
timestamps, and no flow), a corrupt feed publishes outliers and crossed books, a phantom feed shows orders the
market does not have. All are faults of the source, so the messages are still correctly signed: integrity (HMAC)
and plausibility (cross-feed divergence) are separate checks for risk to make.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from risk.feed import BOOK_FIELDS, FEED_IDS, FLOW_FIELDS, PRICE_FIELDS, feed_key_bytes, feed_sign
from sim.market.episodes import Effects
from sim.market.quotes import BookTop
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
        # Per (feed, symbol): the depths and the market's cumulative volume the feed last published from.
        self._book: dict[tuple[str, str], tuple[float, float, float]] = {}

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
                body.update(self._book_fields(feed_id, book, effects))
                previous = self._last.get((feed_id, symbol))
                if feed_id in effects.stale_feeds and previous is not None:
                    body.update({name: previous[name] for name in (*PRICE_FIELDS, *BOOK_FIELDS)})
                    body.update(dict.fromkeys(FLOW_FIELDS, 0.0))
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
                    self._book[(feed_id, symbol)] = (body["bid_depth"], body["ask_depth"], book.volume)
                messages.append(feed_sign(message, self._key))
        return messages

    def _book_fields(self, feed_id: str, book: BookTop, effects: Effects) -> dict[str, float]:
        """The feed's view of the book: sizes and depths (with its phantom orders, if it shows any), and the flow
        since its previous message for the underlying."""
        bid_size, ask_size, bid_depth, ask_depth = book.bid_size, book.ask_size, book.bid_depth, book.ask_depth
        if feed_id in effects.phantom_feeds:
            bid_size += effects.phantom_bid_size
            ask_size += effects.phantom_ask_size
            bid_depth += effects.phantom_bid_size
            ask_depth += effects.phantom_ask_size
        fields = {"bid_size": bid_size, "ask_size": ask_size, "bid_depth": bid_depth, "ask_depth": ask_depth}
        previous = self._book.get((feed_id, book.underlying))
        if previous is None:
            return fields | dict.fromkeys(FLOW_FIELDS, 0.0)
        traded = max(0.0, book.volume - previous[2])
        fields["traded"] = traded
        for side, depth, before in (("bid", bid_depth, previous[0]), ("ask", ask_depth, previous[1])):
            # depth = before + added - cancelled - traded on this side (half the volume)
            net = depth - before + traded / 2.0
            fields[f"{side}_added"] = max(net, 0.0)
            fields[f"{side}_cancelled"] = max(-net, 0.0)
        return fields


def _corrupt(body: Mapping[str, Any], *, outlier_size: float, crossed: bool, up: bool) -> dict[str, Any]:
    bid, ask = float(body["bid"]), float(body["ask"])
    if crossed:
        # Bid above ask by a full spread or more: a book no venue can show.
        gap = max(ask - bid, 1e-9 * ask)
        return {"bid": ask + gap, "ask": bid}
    factor = 1.0 + outlier_size if up else 1.0 - outlier_size
    return {"bid": bid * factor, "ask": ask * factor, "mid": float(body["mid"]) * factor, "last": body["last"]}
