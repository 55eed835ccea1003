"""Broadcast events to websocket clients through the channel layer, only after the transaction commits."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from desk.audit import json_normalize

logger = logging.getLogger(__name__)

DESK_GROUP = "desk"
MARKET_GROUP = "market"


def event_send_now(*, group: str, event: str, payload: dict[str, Any]) -> None:
    """Send one event to a channel-layer group (synchronous callers: services, Celery tasks)."""
    layer = get_channel_layer()
    message = {"type": "desk.event", "event": event, "payload": json_normalize(payload)}
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:
        # A websocket notification must never undo or fail a committed trade: log and carry on.
        logger.exception("broadcast of %s to %s failed", event, group)


def broadcast(*, event: str, payload: dict[str, Any], group: str = DESK_GROUP) -> None:
    """Queue an event for the desk's browsers, sent when the surrounding transaction commits."""
    transaction.on_commit(lambda: event_send_now(group=group, event=event, payload=payload))
