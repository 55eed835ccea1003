"""The two redundant, HMAC-signed market-data feeds, and the stale and corrupt faults they can carry."""

from __future__ import annotations

import json
from typing import Any

import pytest

from risk.feed import BOOK_FIELDS, FLOW_FIELDS
from sim.market import (
    FEED_IDS,
    MarketFeed,
    MarketSimulator,
    canonical_json,
    feed_sign,
    feed_verify,
    scenario_run,
    scenario_start,
)

KEY = b"derived-from-secret-key-for-tests"
PRICE_FIELDS = ("bid", "ask", "bid_size", "ask_size", "mid", "last")
MARKET_FIELDS = (*PRICE_FIELDS, *BOOK_FIELDS, *FLOW_FIELDS)


def _by_feed(messages: list[dict[str, Any]], feed: str, symbol: str = "BTC") -> list[dict[str, Any]]:
    return [m for m in messages if m["feed"] == feed and m["symbol"] == symbol]


def test_each_book_is_published_on_both_feeds_signed_and_sequenced() -> None:
    simulator = MarketSimulator(1)
    feed = MarketFeed(simulator, KEY)
    messages = []

    for _ in range(5):
        simulator.step(1)
        messages.extend(feed.publish())

    assert len(messages) == 5 * 2 * 2
    assert all(feed_verify(m, KEY) for m in messages)
    for feed_id in FEED_IDS:
        seqs = [m["seq"] for m in messages if m["feed"] == feed_id]
        assert seqs == list(range(1, 11))
    for a, b in zip(_by_feed(messages, "A"), _by_feed(messages, "B"), strict=True):
        assert {k: a[k] for k in (*MARKET_FIELDS, "ts", "symbol")} == {
            k: b[k] for k in (*MARKET_FIELDS, "ts", "symbol")
        }
    last = _by_feed(messages, "A")[-1]
    book = simulator.book("BTC")
    assert last["mid"] == book.mid
    assert (last["bid_depth"], last["ask_depth"]) == (book.bid_depth, book.ask_depth)
    assert last["ts"] == book.timestamp.isoformat()
    assert set(last) == {"feed", "seq", "symbol", "ts", "hmac", *MARKET_FIELDS}


def test_the_flow_accounts_for_every_change_of_depth() -> None:
    # given a market published every second for a minute
    simulator = MarketSimulator(3)
    feed = MarketFeed(simulator, KEY)
    messages = []
    for _ in range(60):
        simulator.step(1)
        messages.extend(feed.publish())
    btc = _by_feed(messages, "A")

    # then each side's depth is the last one plus what was added, less what was cancelled and half the volume traded
    assert all(btc[0][name] == 0.0 for name in FLOW_FIELDS)
    for before, after in zip(btc, btc[1:], strict=False):
        for side in ("bid", "ask"):
            moved = after[f"{side}_added"] - after[f"{side}_cancelled"] - after["traded"] / 2
            assert after[f"{side}_depth"] == pytest.approx(before[f"{side}_depth"] + moved)
        assert after["traded"] > 0
        assert all(after[name] >= 0 for name in (*BOOK_FIELDS, *FLOW_FIELDS))
    # and the depth behind the best level is four times its genuine size
    assert all(m["bid_depth"] == pytest.approx(4 * m["bid_size"]) for m in btc)


def test_spoofing_in_the_market_shows_on_both_feeds_and_a_phantom_on_one() -> None:
    # given the spoofing scenario in the market, and a twin world where only feed A shows the orders (a feed fault)
    market, phantom = MarketSimulator(8), MarketSimulator(8)
    feeds = MarketFeed(market, KEY), MarketFeed(phantom, KEY)
    for world, feed in zip((market, phantom), feeds, strict=True):
        world.step(1)
        feed.publish()
    scenario_start(market, "spoofing", underlying="BTC")
    scenario_start(phantom, "spoofing", underlying="BTC", feeds=("A",))
    published: tuple[list, list] = ([], [])
    for _ in range(8):
        for world, feed, out in zip((market, phantom), feeds, published, strict=True):
            world.step(1)
            out.extend(feed.publish())

    # then in the market both feeds show 200 more coins on the bid (the seconds 1 to 4 of the episode), added then
    # cancelled
    in_market, one_feed = (_by_feed(out, "A") for out in published)
    in_market_b, one_feed_b = (_by_feed(out, "B") for out in published)
    assert [round(m["bid_depth"] - b["bid_depth"]) for m, b in zip(in_market, in_market_b, strict=True)] == [0] * 8
    assert in_market[0]["bid_depth"] > 200.0
    assert in_market[0]["bid_added"] > 190.0
    assert in_market[4]["bid_cancelled"] > 190.0
    # and the phantom is on feed A only: B publishes the venue's true book, the same as the market's without spoof
    shown = [round(a["bid_depth"] - b["bid_depth"]) for a, b in zip(one_feed, one_feed_b, strict=True)]
    assert shown == [200] * 4 + [0] * 4
    assert one_feed[4]["bid_cancelled"] > 190.0
    assert max(b["bid_depth"] for b in one_feed_b) < 100.0
    assert phantom.book("BTC").bid_depth < 100.0


def test_hmac_survives_a_json_round_trip_and_catches_tampering() -> None:
    message = MarketFeed(MarketSimulator(2), KEY).publish()[0]
    received = json.loads(json.dumps(message))

    assert feed_verify(received, KEY)
    tampered = dict(received, bid=received["bid"] + 0.01)
    assert not feed_verify(tampered, KEY)
    assert not feed_verify(dict(received, seq=received["seq"] + 1), KEY)
    assert not feed_verify(received, b"another-key")
    assert not feed_verify({k: v for k, v in received.items() if k != "hmac"}, KEY)
    assert not feed_verify(dict(received, hmac=None), KEY)
    assert not feed_verify(dict(received, extra=float("nan")), KEY)


def test_canonical_json_ignores_key_order_and_the_signature() -> None:
    message = {"seq": 1, "bid": 1.5, "feed": "A"}

    reordered = {"feed": "A", "bid": 1.5, "seq": 1, "hmac": "whatever"}

    assert canonical_json(message) == canonical_json(reordered) == b'{"bid":1.5,"feed":"A","seq":1}'
    assert feed_sign(message, KEY)["hmac"] == feed_sign(reordered, KEY)["hmac"]
    with pytest.raises(ValueError, match="empty"):
        feed_sign(message, b"")


def test_corrupt_feed_breaks_one_feed_only() -> None:
    # Given the corrupt-feed scenario on feed B
    run = scenario_run("corrupt-feed", seed=13, warmup_s=60, dt_s=5, duration_s=600, feed_key=KEY)
    feed_a = _by_feed(run.messages, "A")
    feed_b = _by_feed(run.messages, "B")

    # Then both feeds stay correctly signed (the source is faulty, not the channel)
    assert all(feed_verify(m, KEY) for m in run.messages)
    # feed A is always sane and equal to the truth the simulator recorded
    assert all(m["bid"] < m["ask"] for m in feed_a)
    history = run.simulator.history("BTC").iloc[1:]
    assert [m["mid"] for m in feed_a] == history["mid"].tolist()
    # while feed B carries crossed books and outliers that diverge from A
    crossed = [b for b in feed_b if b["bid"] >= b["ask"]]
    outliers = [b for a, b in zip(feed_a, feed_b, strict=True) if abs(b["mid"] / a["mid"] - 1) >= 0.1]
    assert len(crossed) >= 10
    assert len(outliers) >= 10
    # and only while the episode lasts (12 warm-up messages come first)
    assert all(a["mid"] == b["mid"] and b["bid"] < b["ask"] for a, b in zip(feed_a[:12], feed_b[:12], strict=True))


@pytest.mark.parametrize("clock", ["advance", "freeze"])
def test_stale_feed_stops_prices_and_optionally_the_clock(clock: str) -> None:
    run = scenario_run("stale-feed", seed=4, warmup_s=60, dt_s=10, duration_s=900, feed_key=KEY, clock=clock)
    history = run.simulator.history("BTC").iloc[1:].reset_index(drop=True)
    feed_a = _by_feed(run.messages, "A")
    # Message i is published after the step to 10 (i + 1) s; the episode starts after message 5 (60 s) and
    # is active for the steps to 70 s ... 650 s, messages 6 to 64.
    stale = feed_a[6:65]

    # Prices and the book repeat, nothing flows, while the market itself keeps moving
    assert all(m[f] == stale[0][f] for m in stale for f in (*PRICE_FIELDS, *BOOK_FIELDS))
    assert all(m[f] == 0.0 for m in stale for f in FLOW_FIELDS)
    assert history["mid"].iloc[6:65].nunique() > 50
    assert stale[0]["mid"] == feed_a[5]["mid"]
    assert feed_a[65]["mid"] != feed_a[5]["mid"]
    timestamps = [m["ts"] for m in stale]
    if clock == "advance":
        assert len(set(timestamps)) == len(timestamps)
    else:
        assert set(timestamps) == {feed_a[5]["ts"]}
    # sequence numbers keep counting, every message is signed, and prices come back afterwards
    all_a = [m["seq"] for m in run.messages if m["feed"] == "A"]  # one sequence per feed, all symbols
    assert all_a == list(range(1, len(all_a) + 1))
    assert all(feed_verify(m, KEY) for m in run.messages)
    assert feed_a[-1]["mid"] == history["mid"].iloc[-1]
    assert feed_a[-1]["ts"] == history["time"].iloc[-1].isoformat()


def test_feed_replays_from_the_seed() -> None:
    first = scenario_run("corrupt-feed", seed=9, warmup_s=60, duration_s=300, feed_key=KEY)
    second = scenario_run("corrupt-feed", seed=9, warmup_s=60, duration_s=300, feed_key=KEY)

    assert first.messages == second.messages
