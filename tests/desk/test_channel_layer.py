"""The embedded channel layer wakes a receiver waiting on one event loop when another thread sends."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull

from desk.channel_layer import ThreadSafeInMemoryChannelLayer


def _send_later(layer: ThreadSafeInMemoryChannelLayer, delay: float, **kwargs: object) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        if "group" in kwargs:
            async_to_sync(layer.group_send)(kwargs["group"], kwargs["message"])
        else:
            async_to_sync(layer.send)(kwargs["channel"], kwargs["message"])

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_send_from_another_thread_wakes_a_waiting_receiver_at_once() -> None:
    layer = ThreadSafeInMemoryChannelLayer()

    async def wait() -> tuple[dict, float]:
        channel = await layer.new_channel()
        await layer.group_add("desk", channel)
        sender = _send_later(layer, 0.2, group="desk", message={"type": "x", "n": 1})
        started = time.monotonic()
        # An idle loop: nothing else would wake it. The stock in-memory layer hangs here.
        message = await asyncio.wait_for(layer.receive(channel), timeout=5)
        sender.join()
        return message, time.monotonic() - started

    message, waited = asyncio.run(wait())

    assert message == {"type": "x", "n": 1}
    assert waited < 1.0


def test_messages_sent_before_receive_are_buffered_in_order() -> None:
    layer = ThreadSafeInMemoryChannelLayer()

    async def scenario() -> list[int]:
        await layer.send("c", {"type": "m", "n": 1})
        await layer.send("c", {"type": "m", "n": 2})
        return [(await layer.receive("c"))["n"], (await layer.receive("c"))["n"]]

    assert asyncio.run(scenario()) == [1, 2]


def test_a_cancelled_receiver_does_not_lose_the_message() -> None:
    layer = ThreadSafeInMemoryChannelLayer()

    async def scenario() -> dict:
        gone = asyncio.ensure_future(layer.receive("c"))
        await asyncio.sleep(0.01)
        gone.cancel()
        await layer.send("c", {"type": "m", "n": 7})
        return await asyncio.wait_for(layer.receive("c"), timeout=2)

    assert asyncio.run(scenario())["n"] == 7


def test_full_channel_refuses_a_direct_send() -> None:
    layer = ThreadSafeInMemoryChannelLayer(capacity=2)

    async def scenario() -> None:
        await layer.send("c", {"type": "m"})
        await layer.send("c", {"type": "m"})
        await layer.send("c", {"type": "m"})

    with pytest.raises(ChannelFull):
        asyncio.run(scenario())
