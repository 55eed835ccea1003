"""Reachability of the parts the desk needs: database, Celery broker, channel layer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection

from desk.celery import app as celery_app

TIMEOUT_S = 3.0


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_broker(url: str | None = None) -> None:
    with celery_app.connection_for_write(url) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=TIMEOUT_S)
        conn.default_channel  # noqa: B018 - opening a channel is what talks to the broker


async def check_channel_layer() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel("healthz.")
    await layer.send(channel, {"type": "healthz.ping"})
    message = await layer.receive(channel)
    if message.get("type") != "healthz.ping":
        raise RuntimeError(f"unexpected message {message!r}")


async def _timed(check: Callable[[], Any]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), timeout=TIMEOUT_S + 1)
    except Exception as error:  # health reports every failure, whatever its type
        return {"ok": False, "error": f"{type(error).__name__}: {error}"[:300]}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


async def health_report() -> dict[str, Any]:
    checks = {
        "database": await _timed(sync_to_async(check_database)),
        "broker": await _timed(sync_to_async(check_broker, thread_sensitive=False)),
        "channel_layer": await _timed(check_channel_layer),
    }
    return {"ok": all(c["ok"] for c in checks.values()), "checks": checks}
