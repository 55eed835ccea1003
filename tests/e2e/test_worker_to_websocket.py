"""Worker task -> channel layer -> websocket client, over a real socket, with a real Celery worker.

Embedded: memory broker and in-memory channel layer. With REDIS_URL: Celery over Redis, channels_redis."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.test import Client
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from desk.celery import app as celery_app
from desk.roles import Role
from desk.tasks import desk_ping
from tests import factories

pytestmark = [pytest.mark.e2e]


def _ws(address: str, cookie: str | None = None):  # noqa: ANN202
    headers = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"} if cookie else {}
    return connect(f"ws://{address}/ws/desk/", additional_headers=headers, origin=f"http://{address}", open_timeout=10)


def _session_cookie(user) -> str:  # noqa: ANN001
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _next_event(ws, name: str) -> dict:  # noqa: ANN001
    while True:
        message = json.loads(ws.recv(timeout=15))
        if message["event"] == name:
            return message["payload"]


def test_task_on_the_worker_reaches_the_browser_socket(live_asgi: str, celery_worker) -> None:  # noqa: ANN001
    trader = factories.user_create(role=Role.TRADER, username="ws-trader")
    broker = celery_app.conf.broker_url.split("://")[0]

    with _ws(live_asgi, _session_cookie(trader)) as ws:
        assert _next_event(ws, "hello") == {"user": "ws-trader"}
        desk_ping.delay(message=f"over {broker}", requested_by="ws-trader")
        payload = _next_event(ws, "ping")

    assert payload["message"] == f"over {broker}"
    assert payload["requested_by"] == "ws-trader"


def test_anonymous_socket_is_refused(live_asgi: str) -> None:
    with pytest.raises(InvalidStatus) as refused, _ws(live_asgi):
        pass

    assert refused.value.response.status_code == 403


def test_dealer_socket_is_refused(live_asgi: str) -> None:
    dealer = factories.dealer_create(code="WSDEALER")

    with pytest.raises(InvalidStatus) as refused, _ws(live_asgi, _session_cookie(dealer.user)):
        pass

    assert refused.value.response.status_code == 403
