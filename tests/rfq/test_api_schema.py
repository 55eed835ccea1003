"""schemathesis against /api/schema/: generated requests, bounded, as a dealer. No 5xx, and every response matches
the schema it documents.

Driven through schemathesis' Python API with hypothesis (its pytest plugin does not load under pytest 9)."""

from __future__ import annotations

import uuid

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests import factories

ALPHA = "DealerKey key-alpha:alpha-secret-123"
EXAMPLES_PER_OPERATION = 12


@pytest.fixture
def wsgi_keeps_the_test_connection():  # noqa: ANN201
    # As Django's test client does: a WSGI request must not close the test's transaction-held connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@pytest.mark.usefixtures("wsgi_keeps_the_test_connection")
def test_api_never_errors_and_matches_its_schema(trader, instrument, dealer) -> None:  # noqa: ANN001
    # Something to find: an RFQ sent to the dealer, so list endpoints return rows, not only empty pages.
    factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])
    schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case) -> None:  # noqa: ANN001
            case.call_and_validate(
                headers={"Authorization": ALPHA, "Idempotency-Key": uuid.uuid4().hex},
                checks=[not_a_server_error, response_schema_conformance],
            )

        check()
