"""Shared fixtures: role users, factories, a real Celery worker thread, and a live ASGI server."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from django.conf import settings
from django.test import Client

from desk.celery import app as celery_app
from desk.embedded import embedded_worker
from desk.roles import Role
from tests import factories


@pytest.fixture(scope="session")
def django_db_modify_db_settings(tmp_path_factory: pytest.TempPathFactory) -> None:
    # A file, not SQLite's shared in-memory database: the worker thread, the live server and the writer
    # processes of the concurrency test all open their own connections to it.
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        path = tmp_path_factory.mktemp("db") / "test-desk.sqlite3"
        settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = str(path)
    elif suffix := os.environ.get("DESK_TEST_DB_SUFFIX"):
        # Several test runs on one PostgreSQL server (side-by-side checkouts) each get a database of their own.
        name = settings.DATABASES["default"]["NAME"]
        settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = f"test_{name}_{suffix}"


# The tests written before the FIX venues trade against the in-process simulated venue (fills booked with the send);
# the venue tests (tests/execution/test_venue_fix*.py) switch to "fix". Processes the tests start inherit it too.
IN_PROCESS_VENUE = "sim.venues.SimulatedVenue"
os.environ["DESK_VENUE"] = IN_PROCESS_VENUE
# Settings may be loaded already (pytest-django sets Django up first): module- and session-scoped fixtures, which run
# before the per-test fixture below, see the same venue.
settings.DESK_VENUE = IN_PROCESS_VENUE


@pytest.fixture(autouse=True)
def _in_process_venue(settings) -> None:  # noqa: ANN001
    settings.DESK_VENUE = IN_PROCESS_VENUE


# The PostgreSQL audit guard's one maintenance door (desk/migrations/0006_audit_anchor.py). pytest-django empties the
# tables after each transactional test with one TRUNCATE of every table, which the guard refuses on the audit tables:
# the flush, and only the flush, runs with it open, for its own transaction (SET LOCAL). Every test body runs with
# the guard closed.
AUDIT_MAINTENANCE_SQL = "SET LOCAL desk.audit_maintenance = 'on'"


@pytest.fixture(scope="session", autouse=True)
def _audit_guard_open_for_the_flush_only() -> Iterator[None]:
    from django.db.backends.postgresql.operations import DatabaseOperations

    flush = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self: DatabaseOperations, sql_list: list[str]) -> None:
        flush(self, [AUDIT_MAINTENANCE_SQL, *sql_list] if sql_list else sql_list)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "execute_sql_flush", execute_sql_flush)
        yield


@pytest.fixture(autouse=True)
def _audit_anchor_per_test(settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: ANN001
    # Each test anchors its audit checkpoints in a file of its own (never the checkout's var/ or the SQLite file's
    # neighbour); the processes a test starts inherit it through the environment.
    anchor = tmp_path / "audit-anchor.jsonl"
    settings.DESK_AUDIT_ANCHOR = str(anchor)
    monkeypatch.setenv("DESK_AUDIT_ANCHOR", str(anchor))
    return anchor


@pytest.fixture
def audit_anchor(_audit_anchor_per_test: Path) -> Path:
    """This test's audit anchor file."""
    return _audit_anchor_per_test


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:  # noqa: ANN001
    # PBKDF2's deliberate slowness costs seconds per user and dealer secret; the tests check hashing, not cost.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def trader(db):  # noqa: ANN001, ANN201
    return factories.user_create(role=Role.TRADER, username="trader-t")


@pytest.fixture
def risk_officer(db):  # noqa: ANN001, ANN201
    return factories.user_create(role=Role.RISK_OFFICER, username="risk-t")


@pytest.fixture
def compliance(db):  # noqa: ANN001, ANN201
    return factories.user_create(role=Role.COMPLIANCE, username="compliance-t")


@pytest.fixture
def dealer(db):  # noqa: ANN001, ANN201
    return factories.dealer_create(code="ALPHA", secret="alpha-secret-123")


@pytest.fixture
def other_dealer(db):  # noqa: ANN001, ANN201
    return factories.dealer_create(code="BRAVO", secret="bravo-secret-123")


@pytest.fixture
def instrument(db):  # noqa: ANN001, ANN201
    return factories.instrument_create(symbol="BTC-USD")


@pytest.fixture
def account(db):  # noqa: ANN001, ANN201
    return factories.account_create(code="ACC-SECRET-CLIENT")


@pytest.fixture
def client_for():  # noqa: ANN201
    def make(user) -> Client:  # noqa: ANN001
        client = Client()
        client.force_login(user)
        return client

    return make


def _purge_task_queue() -> None:
    with celery_app.connection_for_write() as connection:
        connection.default_channel.queue_purge(celery_app.conf.task_default_queue)


@pytest.fixture
def celery_worker() -> Iterator[object]:
    """A real Celery worker (thread pool) consuming from the configured broker: memory or Redis.

    Per test, on an emptied queue: tasks that earlier tests queued on commit (thousands, from a simulated history)
    must neither delay this test's tasks nor run later inside a test that has no database."""
    _purge_task_queue()
    with embedded_worker(celery_app, concurrency=2, hostname="pytest@desk") as worker:
        yield worker
    _purge_task_queue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def live_asgi(transactional_db) -> Iterator[str]:  # noqa: ANN001
    """The desk's ASGI app served by uvicorn on a free port, in a thread of the test process."""
    port = free_port()
    config = uvicorn.Config(
        "desk.asgi:application",
        host="127.0.0.1",
        port=port,
        lifespan="off",
        ws="websockets-sansio",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test ASGI server did not start")
        time.sleep(0.05)
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


REPO_ROOT = Path(__file__).resolve().parent.parent
