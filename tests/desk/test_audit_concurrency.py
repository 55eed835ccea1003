"""Concurrent writers in separate processes (as two workers would be) never fork the audit chain."""

from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import quote

import pytest
from django.db import connection

from desk.audit import chain_verify
from desk.models import AuditEvent
from tests.conftest import REPO_ROOT

WRITER = """
import django, os, sys
django.setup()
from django.db import transaction
from desk.audit import audit_record
from desk.models import Account
name, count = sys.argv[1], int(sys.argv[2])
for i in range(count):
    with transaction.atomic():
        account = Account.objects.create(code=f"{name}-{i}", name=name)
        audit_record(actor=f"system:{name}", action="account.create", obj=account, after={"i": i})
"""


def _database_url() -> str:
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings_dict['NAME']}"
    # The test database (test_<name>) on the same server, with the same credentials.
    user = quote(settings_dict["USER"] or "")
    password = f":{quote(settings_dict['PASSWORD'])}" if settings_dict["PASSWORD"] else ""
    host, port = settings_dict["HOST"] or "localhost", settings_dict["PORT"] or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_two_writer_processes_append_one_unforked_chain() -> None:
    per_writer = 60
    env = {**os.environ, "DATABASE_URL": _database_url(), "DJANGO_SETTINGS_MODULE": "desk.settings"}
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, name, str(per_writer)], cwd=REPO_ROOT, env=env)
        for name in ("worker-a", "worker-b")
    ]
    codes = [writer.wait(timeout=120) for writer in writers]

    assert codes == [0, 0]
    events = list(AuditEvent.objects.order_by("seq"))
    assert len(events) == 2 * per_writer
    assert [e.seq for e in events] == list(range(1, 2 * per_writer + 1))
    assert len({e.prev_hash for e in events}) == len(events)  # no two rows claim the same parent: no fork
    actors = [e.actor for e in events]
    assert actors.count("system:worker-a") == actors.count("system:worker-b") == per_writer
    report = chain_verify()
    assert report.ok, report
