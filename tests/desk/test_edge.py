"""The desk's edge: JSON nested too deep, a NUL byte or a lone surrogate anywhere in a request, and a page size past
the database's range are each a 400 (or a clamped page) naming where, never a 500, and nothing is stored."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from rest_framework.exceptions import ValidationError
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from desk.edge import MAX_JSON_DEPTH, data_problem, json_too_deep, storable
from desk.models import AuditEvent
from desk.pagination import MAX_LIMIT
from desk.roles import Role
from execution.models import ExecutionPlan
from rfq.api.idempotency import idempotent
from rfq.models import RFQ, AutoTradingLimit, IdempotencyRecord, Quote, QuoteRequest
from tests import factories

pytestmark = pytest.mark.django_db

ALPHA = "DealerKey key-alpha:alpha-secret-123"
CSRF = "c" * 32
DEEP = "[" * 50_000 + "]" * 50_000


@pytest.fixture
def desk_user(db):  # noqa: ANN001, ANN201
    """A trader who is also a risk officer: every desk endpoint lets them in."""
    user = factories.user_create(role=Role.TRADER, username="desk-edge")
    user.groups.add(*Group.objects.filter(name__in=[Role.RISK_OFFICER, Role.COMPLIANCE]))
    return user


@pytest.fixture
def desk(desk_user) -> Client:  # noqa: ANN001
    """A browser session with CSRF enforced, as a page's script posts: DRF parses the body inside the CSRF check."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(desk_user)
    client.cookies["csrftoken"] = CSRF
    return client


def _desk_post(client: Client, path: str, body: str | dict) -> object:
    text = body if isinstance(body, str) else json.dumps(body)
    return client.post(path, text, content_type="application/json", HTTP_X_CSRFTOKEN=CSRF)


def _dealer_post(path: str, body: str | dict, key: str | None = None) -> object:
    text = body if isinstance(body, str) else json.dumps(body)
    return Client().post(
        path,
        text,
        content_type="application/json",
        HTTP_AUTHORIZATION=ALPHA,
        HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex,
    )


def _post_paths(client: Client) -> list[str]:
    """Every POST operation of the API's schema, its path parameters filled in."""
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    return [
        re.sub(r"\{(\w+)\}", lambda m: "1" if m.group(1).endswith("id") and m.group(1) != "quote_req_id" else "x", p)
        for p, operations in schema["paths"].items()
        if "post" in operations
    ]


# ----------------------------------------------------------------------------- JSON depth


def test_json_depth_is_measured_without_recursion() -> None:
    assert not json_too_deep('{"a": [1, {"b": "[[[[[[[["}]}', limit=3)
    assert json_too_deep("[[[[1]]]]", limit=3)
    assert not json_too_deep("[[[1]]]", limit=3)
    assert not json_too_deep("[" + "[], " * 10_000 + "[]]", limit=3)
    assert json_too_deep(DEEP)
    assert not json_too_deep("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)


def test_a_json_body_nested_50000_deep_is_a_400_on_every_post_endpoint(desk, dealer) -> None:  # noqa: ANN001
    # given every POST of the schema: the dealer's with its key, the desk's in a session with CSRF enforced
    paths = _post_paths(desk)
    assert len(paths) >= 20
    audit_before = AuditEvent.objects.count()

    # when each is posted a body nested 50,000 deep
    answers = {
        path: (_dealer_post(path, DEEP) if "/dealer/" in path else _desk_post(desk, path, DEEP)) for path in paths
    }

    # then each answers 400 saying so, and nothing is written
    assert {path: answer.status_code for path, answer in answers.items()} == dict.fromkeys(paths, 400)
    for answer in answers.values():
        assert f"nested deeper than {MAX_JSON_DEPTH} levels" in answer.json()["detail"]
    assert AuditEvent.objects.count() == audit_before
    assert not IdempotencyRecord.objects.exists()


# ----------------------------------------------------------------------------- NUL bytes and lone surrogates


def test_the_first_unstorable_text_is_found_with_its_path() -> None:
    assert data_problem({"legs": [{"instrument": "BTC"}, {"instrument": "B\x00"}]})[0] == "legs[1].instrument"
    assert data_problem({"a": {"b\x00": 1}})[0] == "a"
    assert data_problem(["ok", "\ud800"])[0] == "[1]"
    assert data_problem({"fine": ["text", 1, None, {"deep": "é€"}]}) is None


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/api/v1/rfqs/",
            {"legs": [{"instrument": "BTC-USD\x00", "side": "buy", "quantity": "1"}]},
            "legs[0].instrument",
        ),
        (
            "/api/v1/rfqs/preview/",
            {"legs": [{"instrument": "\x00", "side": "buy", "quantity": "1"}]},
            "legs[0].instrument",
        ),
        (
            "/api/v1/execution/plans/create/",
            {"instrument": "\x00", "side": "buy", "quantity": "1", "algorithm": "twap", "parameters": {}},
            "instrument",
        ),
        (
            "/api/v1/auto-limits/",
            {"trader": "trader\x00", "enabled": True, "max_notional": "1", "max_cost_bps": 1},
            "trader",
        ),
        ("/api/v1/ping/", {"message": "hello \ud83d"}, "message"),
    ],
)
def test_a_nul_in_a_looked_up_name_is_a_400_naming_the_field(desk, instrument, path, body, field) -> None:  # noqa: ANN001
    audit_before = AuditEvent.objects.count()

    answer = _desk_post(desk, path, body)

    assert answer.status_code == 400
    assert field in answer.json()
    assert AuditEvent.objects.count() == audit_before
    assert not RFQ.objects.exists()
    assert not ExecutionPlan.objects.exists()
    assert not AutoTradingLimit.objects.exists()


def test_a_nul_in_the_query_path_header_or_cookie_is_a_400_naming_where(desk, instrument) -> None:  # noqa: ANN001
    pretrade = desk.get("/api/v1/tca/pretrade/", {"instrument": "BTC-USD\x00", "side": "buy", "quantity": "1"})
    listed = desk.get("/api/v1/rfqs/", {"status": "\x00"})
    detail = desk.get("/api/v1/rfqs/RFQ%00/")
    header = Client().post(
        "/api/v1/dealer/quotes/",
        {},
        content_type="application/json",
        HTTP_AUTHORIZATION=ALPHA,
        HTTP_IDEMPOTENCY_KEY="k\x00",
    )
    cookie = Client()
    cookie.cookies["sessionid"] = "abcdefgh\x00"
    page = cookie.get("/desk/")

    assert (pretrade.status_code, list(pretrade.json())) == (400, ["instrument"])
    assert (listed.status_code, list(listed.json())) == (400, ["status"])
    assert (detail.status_code, list(detail.json())) == (400, ["path"])
    assert (header.status_code, list(header.json())) == (400, ["Idempotency-Key"])
    assert (page.status_code, list(page.json())) == (400, ["Cookie"])


def test_a_nul_in_a_form_field_is_a_400_naming_it_on_the_pages_and_the_api(trader, instrument, dealer) -> None:  # noqa: ANN001
    # given the RFQ ticket page (a Django form, its dealers looked up by code) and the API taking a form body
    browser = Client()
    browser.force_login(trader)
    ticket = {"leg1_instrument": instrument.symbol, "leg1_side": "buy", "leg1_quantity": "1", "dealers": ["ALPHA\x00"]}

    # when either is posted a field holding a NUL
    page = browser.post("/desk/rfq/new/", ticket)
    api = browser.post("/api/v1/rfqs/preview/", {"legs": "x\x00"})

    # then both are a 400 naming the field, and no RFQ is made
    assert (page.status_code, page.json()) == (400, {"dealers": ["NUL (\\u0000) is not allowed in text"]})
    assert (api.status_code, list(api.json())) == (400, ["legs"])
    assert not RFQ.objects.exists()


def test_a_refused_nul_is_not_stored_and_a_retry_gets_the_same_400(rfq_for_alpha, dealer) -> None:  # noqa: ANN001
    # given a quote whose id holds a NUL, posted with an idempotency key
    body = {
        "quote_req_id": QuoteRequest.objects.get(rfq=rfq_for_alpha, dealer=dealer).quote_req_id,
        "quote_id": "Q\x00-1",
        "valid_until": "2999-01-01T00:00:00Z",
        "legs": [{"leg_no": 1, "bid_price": "99", "offer_price": "101"}],
    }

    # when it is posted twice with the same key
    first = _dealer_post("/api/v1/dealer/quotes/", body, key="nul-1")
    retry = _dealer_post("/api/v1/dealer/quotes/", body, key="nul-1")

    # then both are the same 400 naming the field; no quote, no half-stored answer
    assert (first.status_code, retry.status_code) == (400, 400)
    assert first.json() == retry.json() == {"quote_id": ["NUL (\\u0000) is not allowed in text"]}
    assert not Quote.objects.exists()
    assert not IdempotencyRecord.objects.exists()


def test_an_answer_holding_a_nul_is_stored_and_replayed_as_sent(dealer) -> None:  # noqa: ANN001
    # given a dealer POST whose handler answers a 400 echoing a NUL (text the edge did not see: a value of its own)
    runs = []

    class Echo(APIView):
        @idempotent
        def post(self, request):  # noqa: ANN001, ANN202
            runs.append(1)
            raise ValidationError({"detail": ["no such thing: x\x00y"]})

    def call():  # noqa: ANN202
        request = APIRequestFactory().post("/echo/", {"a": 1}, format="json", HTTP_IDEMPOTENCY_KEY="echo-1")
        force_authenticate(request, user=dealer.user, token=dealer)
        response = Echo.as_view()(request)
        response.render()
        return response

    # when it is called twice with one key
    first, retry = call(), call()

    # then the handler ran once; the stored answer (jsonb holds no NUL) is the one sent, and the retry replays it
    assert len(runs) == 1
    assert (first.status_code, retry.status_code) == (400, 400)
    assert json.loads(first.content) == json.loads(retry.content) == {"detail": ["no such thing: x\ufffdy"]}
    assert retry["Idempotent-Replayed"] == "true"
    assert IdempotencyRecord.objects.get().response_body == {"detail": ["no such thing: x\ufffdy"]}


def test_storable_replaces_what_jsonb_refuses() -> None:
    assert storable({"a\x00": ["b\x00", 1, {"c": "\udc00"}]}) == {"a\ufffd": ["b\ufffd", 1, {"c": "\ufffd"}]}


# ----------------------------------------------------------------------------- page size


@pytest.fixture
def rfq_for_alpha(trader, instrument, dealer):  # noqa: ANN001, ANN201
    return factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])


@pytest.mark.parametrize("limit", [str(2**63), str(2**64 + 5), "9" * 40])
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/dealer/quotes/",
        "/api/v1/dealer/rfqs/",
        "/api/v1/rfqs/",
        "/api/v1/execution/plans/",
        "/api/v1/decisions/",
    ],
)
def test_a_limit_past_the_database_range_is_clamped(desk, rfq_for_alpha, path, limit) -> None:  # noqa: ANN001
    client = Client(HTTP_AUTHORIZATION=ALPHA) if "/dealer/" in path else desk

    page = client.get(path, {"limit": limit})
    far = client.get(path, {"limit": limit, "offset": str(2**63)})

    assert page.status_code == 200
    assert page.json()["count"] == len(page.json()["results"]) <= MAX_LIMIT
    assert far.status_code == 200
    assert far.json()["results"] == []
