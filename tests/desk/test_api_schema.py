"""The fuzz gate: schemathesis over every operation of ``/api/schema/``, as a dealer (``DealerKey``) and as the desk (a
browser session with CSRF enforced), with data that fits the schema and data that does not. No answer is a 5xx, and
every answer the schema documents matches it.

Driven through schemathesis' Python API with hypothesis (its pytest plugin does not load under pytest 9), against
the desk's WSGI application in this test's database. The generated cases are derandomized: the gate asks the same
questions on every run, SQLite or PostgreSQL. Path parameters are drawn both at random and from a small world of
real rows (an open RFQ, a live quote, an accepted order, a draft plan, an alert, a decision), so that the operations
run past their 404s."""

from __future__ import annotations

import logging
import os
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import Group
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from desk.decisions import decision_record
from desk.models import DecisionKind
from desk.roles import Role
from execution import services as execution_services
from execution.models import AlgoParamVersion
from rfq import services as rfq_services
from rfq.models import QuoteRequest
from risk.models import Alert, AlertKind
from tests import factories

ALPHA = "DealerKey key-alpha:alpha-secret-123"
CSRF = "f" * 32
# Examples per operation: as the role the operation serves (a dealer for /dealer/ and /me/, the desk for the rest and
# /me/), data that fits the schema and data that does not; as the other role, a few that must be refused (403).
# DESK_FUZZ_SCALE=N multiplies them for a deeper, randomized run by hand (the gate itself stays derandomized).
SCALE = int(os.environ.get("DESK_FUZZ_SCALE", "1"))
EXAMPLES = {GenerationMode.POSITIVE: 15 * SCALE, GenerationMode.NEGATIVE: 8 * SCALE}
EXAMPLES_AS_THE_OTHER_ROLE = 3 * SCALE
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.fixture
def wsgi_app():  # noqa: ANN201
    """The desk's WSGI application, with Django's per-request warnings silenced: thousands of 4xx answers are the point
    here, and would bury a failure's report. (Loading the application configures logging again: silence after.)"""
    application = get_wsgi_application()
    logger = logging.getLogger("django.request")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield application
    logger.setLevel(level)


@pytest.fixture
def wsgi_keeps_the_test_connection():  # noqa: ANN201
    # As Django's test client does: a WSGI request must not close the test's transaction-held connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _world(trader, instrument, dealer) -> dict[tuple[str, str], list[Any]]:  # noqa: ANN001
    """Real rows for the path parameters, by (operation path, parameter name); ``*`` for any path."""
    open_rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])
    quoted_rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])
    live_quote = factories.quote_create(rfq=quoted_rfq, dealer=dealer)
    taken_rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])
    order = rfq_services.quote_accept(quote=factories.quote_create(rfq=taken_rfq, dealer=dealer), actor=trader)
    plan = execution_services.plan_create(
        instrument=instrument,
        side="buy",
        quantity=Decimal("1"),
        algorithm="twap",
        parameters={"horizon_s": 60},
        actor=trader,
    )
    alert = Alert.objects.create(
        kind=AlertKind.choices[0][0],
        value=Decimal("0.01"),
        threshold=Decimal("0.001"),
        message="fuzz",
        plan=plan,
        created_at=datetime.now(UTC),
    )
    decision = decision_record(
        kind=DecisionKind.QUOTE_DECISION,
        actor=trader,
        inputs={},
        output={"action": "wait"},
        obj=quoted_rfq,
    )
    return {
        ("*", "reference"): [open_rfq.reference, quoted_rfq.reference],
        ("*", "quote_req_id"): [QuoteRequest.objects.get(rfq=open_rfq, dealer=dealer).quote_req_id],
        ("*", "quote_id"): [live_quote.quote_id],
        ("*", "cl_ord_id"): [order.cl_ord_id],
        ("*", "plan_id"): [plan.pk],
        ("*", "version_id"): list(AlgoParamVersion.objects.values_list("pk", flat=True)[:2]) or [1],
        ("/api/v1/quotes/{id}/accept/", "id"): [live_quote.pk],
        ("/api/v1/risk/alerts/{id}/acknowledge/", "id"): [alert.pk],
        ("/api/v1/decisions/{id}/replay/", "id"): [decision.pk],
    }


def _known_parameters(operation, world) -> list[dict[str, Any]]:  # noqa: ANN001
    names = [parameter.name for parameter in operation.path_parameters]
    if not names:
        return []
    choices = {name: world.get((operation.path, name)) or world.get(("*", name)) for name in names}
    if not all(choices.values()):
        return []
    return [{name: values[index % len(values)] for name, values in choices.items()} for index in range(2)]


def _strategy(operation, mode: GenerationMode, world):  # noqa: ANN001, ANN202
    random = operation.as_strategy(generation_mode=mode)
    known = [
        operation.as_strategy(generation_mode=mode, path_parameters=p) for p in _known_parameters(operation, world)
    ]
    return st.one_of(random, *known) if known else random


def _negatable(operation) -> bool:  # noqa: ANN001
    """Whether the operation takes anything data unfitting the schema can be sent in: a body, a query, a path parameter
    narrower than any string (the credentials header is not the schema's to negate)."""
    narrow = [p for p in operation.path_parameters if p.definition.get("schema", {}).get("type") != "string"]
    return bool(list(operation.body) or list(operation.query) or narrow)


def _credentials(desk_user, dealer) -> dict[str, dict[str, Any]]:  # noqa: ANN001
    browser = Client()
    browser.force_login(desk_user)
    return {
        "dealer": {"headers": {"Authorization": ALPHA}, "cookies": {}},
        "desk": {
            "headers": {"X-CSRFToken": CSRF},
            "cookies": {"sessionid": browser.cookies["sessionid"].value, "csrftoken": CSRF},
        },
    }


def _serves(operation, who: str) -> bool:  # noqa: ANN001
    dealer = "/dealer/" in operation.path
    return operation.path.endswith("/me/") or (who == "dealer") == dealer


def _fuzz(
    operation,  # noqa: ANN001
    *,
    mode: GenerationMode,
    examples: int,
    credential: dict[str, Any],
    world: dict[tuple[str, str], list[Any]],
    sent: list[int],
) -> None:
    @given(case=_strategy(operation, mode, world))
    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=SCALE == 1,
        database=None,
    )
    def check(case) -> None:  # noqa: ANN001
        headers = dict(credential["headers"])
        if mode == GenerationMode.POSITIVE and any(p.name == "Idempotency-Key" for p in operation.headers):
            headers["Idempotency-Key"] = uuid.uuid4().hex  # a fresh key: the handler runs, not a replay
        sent.append(1)
        case.call_and_validate(headers=headers, cookies=credential["cookies"], checks=CHECKS)

    check()


@pytest.mark.django_db
@pytest.mark.usefixtures("wsgi_keeps_the_test_connection")
def test_every_operation_answers_without_a_server_error_and_as_its_schema_says(
    wsgi_app, trader, instrument, dealer
) -> None:  # noqa: ANN001
    # given the desk's schema, a world to find, and the two kinds of credentials
    desk_user = factories.user_create(role=Role.TRADER, username="fuzz-desk")
    desk_user.groups.add(*Group.objects.filter(name__in=[Role.RISK_OFFICER, Role.COMPLIANCE]))
    world = _world(trader, instrument, dealer)
    credentials = _credentials(desk_user, dealer)
    schema = schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 50

    # when every operation is fuzzed as both, with fitting and unfitting data
    started, failures, sent = time.monotonic(), {}, []
    for operation in operations:
        for who, credential in credentials.items():
            for mode, examples in EXAMPLES.items():
                if not _serves(operation, who):
                    if mode == GenerationMode.NEGATIVE:
                        continue
                    examples = EXAMPLES_AS_THE_OTHER_ROLE
                elif mode == GenerationMode.NEGATIVE and not _negatable(operation):
                    continue
                try:
                    _fuzz(operation, mode=mode, examples=examples, credential=credential, world=world, sent=sent)
                except (Exception, BaseExceptionGroup) as failure:  # noqa: BLE001 - report every failing operation
                    failures[f"{operation.method.upper()} {operation.path} as {who}, {mode.value}"] = str(failure)
    elapsed = time.monotonic() - started

    # then nothing failed
    print(f"fuzz gate: {len(operations)} operations, {len(sent)} requests, {elapsed:.0f} s")  # noqa: T201
    assert not failures, "\n\n".join(f"{where}:\n{why}" for where, why in failures.items())
