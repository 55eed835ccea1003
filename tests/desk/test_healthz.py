"""/healthz reports database, broker and channel layer reachability; 503 when one is down."""

from __future__ import annotations

import pytest
from django.test import Client

from desk.celery import app as celery_app

pytestmark = pytest.mark.django_db


def test_all_parts_reachable_is_200(client: Client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert set(body["checks"]) == {"database", "broker", "channel_layer"}
    assert all(check["ok"] for check in body["checks"].values())


def test_unreachable_broker_is_503_naming_it(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")

    response = client.get("/healthz")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["broker"]["ok"] is False
    assert "error" in checks["broker"]
    assert checks["database"]["ok"] is True
