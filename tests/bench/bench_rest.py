"""REST throughput: dealer quotes per second through the API, against a bare DRF endpoint with the same
authentication, middleware and database. In-process (Django's test client), on a temporary SQLite file."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from django.urls import include, path

from tests.bench.django_env import django_ready

QUOTES = 300


def _bare_view() -> Any:
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from desk.permissions import require_perm
    from rfq.models import Counterparty

    class BareApi(APIView):
        permission_classes = [require_perm("rfq.respond_rfq")]

        def post(self, request: Any) -> Response:
            exists = Counterparty.objects.filter(pk=request.auth.pk).exists()
            return Response({"ok": exists, "echo": len(request.data)}, status=201)

    return BareApi.as_view()


urlpatterns: list = []


def _setup() -> None:
    django_ready()
    urlpatterns[:] = [path("bench/bare/", _bare_view()), path("", include("desk.urls"))]


def _rate(post: Any, count: int) -> float:
    started = time.perf_counter()
    for i in range(count):
        post(i)
    return count / (time.perf_counter() - started)


def benchmarks() -> Iterator[dict[str, Any]]:
    _setup()
    from django.test import Client, override_settings

    from tests import factories

    with override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"], DEBUG=False):
        trader = factories.user_create(role="trader", username="bench-trader")
        instrument = factories.instrument_create(symbol="BTC-USD")
        dealer = factories.dealer_create(code="RESTBENCH", secret="bench-secret-123")
        rfq = factories.rfq_create(
            trader=trader, instrument=instrument, dealers=[dealer], expires_in=timedelta(hours=1)
        )
        quote_req_id = rfq.quote_requests.get().quote_req_id
        client = Client(HTTP_AUTHORIZATION="DealerKey key-restbench:bench-secret-123")
        valid_until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()

        def quote(i: int) -> None:
            body = {
                "quote_req_id": quote_req_id,
                "quote_id": f"B-{i}",
                "valid_until": valid_until,
                "legs": [
                    {"leg_no": 1, "bid_price": "99.5", "bid_size": "5", "offer_price": "100.5", "offer_size": "5"}
                ],
            }
            response = client.post(
                "/api/v1/dealer/quotes/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=f"k-{i}"
            )
            assert response.status_code == 201, response.content

        def bare(i: int) -> None:
            response = client.post("/bench/bare/", {"i": i}, content_type="application/json")
            assert response.status_code == 201, response.content

        bare(-1)  # warm-up: the one slow PBKDF2 check, imports, URL resolver
        quote(-1)
        baseline = _rate(bare, QUOTES)
        value = _rate(lambda i: quote(i), QUOTES)
    yield {
        "bench": "rest.quotes_per_second",
        "value": round(value, 1),
        "baseline": round(baseline, 1),
        "ratio": round(value / baseline, 3),
        "unit": "requests/s (ratio: share of a bare authenticated DRF POST's throughput)",
    }
