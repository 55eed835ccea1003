"""An in-memory channel layer that is safe across threads and event loops.

Channels' ``InMemoryChannelLayer`` keeps one ``asyncio.Queue`` per channel. A ``send`` from another thread (the
Celery worker thread, the market thread, the FIX gateway's loop) puts into a queue whose waiting ``receive`` lives
on the web server's loop, and nothing wakes that loop: the message waits until the loop happens to wake for
something else, or forever. The embedded desk is exactly this one process of many threads, so here a waiting
receiver is woken on its own loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from copy import deepcopy
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

_Item = tuple[float, dict[str, Any]]


class ThreadSafeInMemoryChannelLayer(InMemoryChannelLayer):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lock = threading.Lock()
        self._buffers: dict[str, deque[_Item]] = {}
        self._waiters: dict[str, deque[tuple[asyncio.AbstractEventLoop, asyncio.Future]]] = {}

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        assert "__asgi_channel__" not in message
        self._deliver(channel, (time.time() + self.expiry, deepcopy(message)), raise_when_full=True)

    def _deliver(self, channel: str, item: _Item, *, raise_when_full: bool) -> None:
        with self._lock:
            waiters = self._waiters.get(channel)
            while waiters:
                loop, future = waiters.popleft()
                if future.done() or loop.is_closed():
                    continue
                loop.call_soon_threadsafe(self._hand_over, channel, future, item)
                return
            buffer = self._buffers.setdefault(channel, deque())
            now = time.time()
            while buffer and buffer[0][0] < now:
                buffer.popleft()
            if len(buffer) >= self.get_capacity(channel):
                if raise_when_full:
                    raise ChannelFull(channel)
                return
            buffer.append(item)

    def _hand_over(self, channel: str, future: asyncio.Future, item: _Item) -> None:
        # Runs on the receiver's loop. If the receiver gave up meanwhile, the message goes to the next one.
        if future.done():
            self._deliver(channel, item, raise_when_full=False)
        else:
            future.set_result(item)

    async def receive(self, channel: str) -> dict[str, Any]:
        self.require_valid_channel_name(channel)
        loop = asyncio.get_running_loop()
        with self._lock:
            buffer = self._buffers.get(channel)
            now = time.time()
            while buffer:
                expires, message = buffer.popleft()
                if expires >= now:
                    return message
            self._buffers.pop(channel, None)
            future = loop.create_future()
            self._waiters.setdefault(channel, deque()).append((loop, future))
        try:
            _, message = await future
        except asyncio.CancelledError:
            with self._lock:
                waiters = self._waiters.get(channel)
                if waiters and (loop, future) in waiters:
                    waiters.remove((loop, future))
            raise
        return message

    async def group_add(self, group: str, channel: str) -> None:
        with self._lock:
            await super().group_add(group, channel)

    async def group_discard(self, group: str, channel: str) -> None:
        with self._lock:
            await super().group_discard(group, channel)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_group_name(group)
        cutoff = time.time() - self.group_expiry
        with self._lock:
            members = [c for c, joined in self.groups.get(group, {}).items() if not joined or joined >= cutoff]
        for channel in members:
            # A full channel is a slow consumer: drop for it, as the other layers do, and carry on.
            self._deliver(channel, (time.time() + self.expiry, deepcopy(message)), raise_when_full=False)

    async def flush(self) -> None:
        with self._lock:
            self._buffers.clear()
            self.groups.clear()
