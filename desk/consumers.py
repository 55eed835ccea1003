"""Websocket consumers: authenticate, join groups, forward. Nothing else."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from desk.events import DESK_GROUP, MARKET_GROUP

CLOSE_FORBIDDEN = 4403


class DeskConsumer(AsyncJsonWebsocketConsumer):
    """``/ws/desk/``: the desk's live events for users who may see the desk's pages."""

    groups_joined: list[str]

    async def connect(self) -> None:
        user = self.scope.get("user")
        if (
            user is None
            or not user.is_authenticated
            or not await database_sync_to_async(user.has_perm)("rfq.view_blotter")
        ):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.groups_joined = [DESK_GROUP, MARKET_GROUP]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json({"event": "hello", "payload": {"user": user.get_username()}})

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def desk_event(self, message: dict[str, Any]) -> None:
        await self.send_json({"event": message["event"], "payload": message["payload"]})

    async def market_tick(self, message: dict[str, Any]) -> None:
        # Feed A only: the page shows prices; comparing the feeds is the market-health monitor's job.
        ticks = {m["symbol"]: {"mid": m["mid"], "ts": m["ts"]} for m in message["messages"] if m["feed"] == "A"}
        await self.send_json({"event": "market", "payload": ticks})
