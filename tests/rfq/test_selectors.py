"""Who is connected: FIX dealers by session state, REST dealers by their last request."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.test import Client

from rfq.models import Connectivity, FixSession, FixSessionStatus
from rfq.presence import PRESENCE_PREFIX
from rfq.selectors import dealer_connections
from tests import factories

pytestmark = pytest.mark.django_db


def test_rest_dealer_is_connected_after_a_request_and_fix_dealer_by_its_session(dealer, other_dealer) -> None:  # noqa: ANN001
    fix_dealer = factories.dealer_create(code="FIXY", connectivity=Connectivity.FIX)
    cache.delete_many([f"{PRESENCE_PREFIX}{code}" for code in ("ALPHA", "BRAVO", "FIXY")])
    FixSession.objects.create(
        sender_comp_id="DESK", target_comp_id="FIXY", counterparty=fix_dealer, status=FixSessionStatus.LOGGED_ON
    )

    Client().get("/api/v1/dealer/rfqs/", HTTP_AUTHORIZATION="DealerKey key-alpha:alpha-secret-123")
    rows = {row.code: row for row in dealer_connections()}
    later = {row.code: row for row in dealer_connections(now=time.time() + 60)}

    assert rows["ALPHA"].connected
    assert not rows["BRAVO"].connected
    assert rows["FIXY"].connected
    assert not later["ALPHA"].connected  # a REST dealer silent for a minute is offline
