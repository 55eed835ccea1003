"""Concurrent writers in separate processes (as workers would be) and a sealer running beside them never fork the
audit chain, skip an event or seal one twice; an id that commits after a later one is chained by the next seal."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from urllib.parse import quote

import pytest
from django.db import connection, connections, transaction

from desk.audit import audit_record, audit_seal, chain_verify
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
    audit_seal()

    assert codes == [0, 0]
    events = list(AuditEvent.objects.order_by("seq"))
    assert len(events) == 2 * per_writer
    assert [e.seq for e in events] == list(range(1, 2 * per_writer + 1))
    assert len({e.prev_hash for e in events}) == len(events)  # no two rows claim the same parent: no fork
    actors = [e.actor for e in events]
    assert actors.count("system:worker-a") == actors.count("system:worker-b") == per_writer
    report = chain_verify()
    assert report.ok, report


SEALER = """
import django, sys, time
django.setup()
from django.conf import settings
from desk.audit import audit_seal
from desk.models import AuditEvent
settings.AUDIT_CHECKPOINT_EVENTS = int(sys.argv[2])
deadline, target = time.monotonic() + 120, int(sys.argv[1])
while time.monotonic() < deadline:
    audit_seal()
    if AuditEvent.objects.filter(seq__isnull=False).count() >= target:
        break
    time.sleep(0.05)
"""


@pytest.mark.django_db(transaction=True)
def test_writers_and_a_sealer_side_by_side_seal_every_event_once(settings) -> None:  # noqa: ANN001
    # given four writer processes and a sealer process that chains (and checkpoints every 25 events) while they write
    per_writer, names = 40, ("w1", "w2", "w3", "w4")
    env = {**os.environ, "DATABASE_URL": _database_url(), "DJANGO_SETTINGS_MODULE": "desk.settings"}
    settings.AUDIT_CHECKPOINT_EVENTS = 25
    total = per_writer * len(names)
    sealer = subprocess.Popen([sys.executable, "-c", SEALER, str(total), "25"], cwd=REPO_ROOT, env=env)
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, name, str(per_writer)], cwd=REPO_ROOT, env=env)
        for name in names
    ]
    codes = [process.wait(timeout=150) for process in [*writers, sealer]]

    # then the sealer chained every event as the writers went (nothing left for a last seal), each exactly once in
    # one chain, 1..n, and the whole walk and the anchor agree
    assert codes == [0] * 5
    assert audit_seal().sealed == 0
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, total + 1))
    report = chain_verify(full=True)
    assert report.ok, report
    assert report.checked == total
    assert report.anchor_checked >= total // 25


def _write_and_wait(written: threading.Event, release: threading.Event, ids: list[int]) -> None:
    try:
        with transaction.atomic():
            ids.append(audit_record(actor="system:slow", action="test.slow").pk)
            written.set()
            release.wait(30)
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_an_id_that_commits_after_a_later_one_is_sealed_by_the_next_run() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serializes writers (BEGIN IMMEDIATE): ids commit in order there")
    # given a writer holding id n uncommitted while id n + 1 commits
    written, release, slow_ids = threading.Event(), threading.Event(), []
    slow = threading.Thread(target=_write_and_wait, args=(written, release, slow_ids))
    slow.start()
    assert written.wait(30)
    fast = audit_record(actor="system:fast", action="test.fast")
    assert fast.pk > slow_ids[0]

    # when the sealer runs before and after the slow writer commits
    first = audit_seal()
    release.set()
    slow.join(30)
    second = audit_seal()

    # then the later id was chained first and the earlier one next: nothing skipped, nothing forked
    assert (first.sealed, second.sealed) == (1, 1)
    order = list(AuditEvent.objects.order_by("seq").values_list("seq", "id"))
    assert order == [(1, fast.pk), (2, slow_ids[0])]
    assert chain_verify(full=True).ok
