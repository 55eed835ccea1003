"""The audit trail: written in the caller's transaction, chained by the sealer, append-only, verified."""

from __future__ import annotations

import json

import pytest
from django.contrib.admin.sites import site
from django.core.management import call_command
from django.db import transaction
from django.test import RequestFactory

from desk.audit import GENESIS_HASH, audit_record, audit_seal, chain_verify
from desk.models import AuditCheckpoint, AuditEvent, AuditHead, AuditImmutableError
from tests.audit_tamper import intruder_cursor

pytestmark = pytest.mark.django_db


def _write(n: int) -> list[AuditEvent]:
    return [audit_record(actor="system:test", action="test.event", object_id=i, after={"i": i}) for i in range(n)]


def _write_sealed(n: int) -> list[AuditEvent]:
    written = _write(n)
    audit_seal()
    return [AuditEvent.objects.get(pk=event.pk) for event in written]


def test_events_are_written_unsealed_and_chained_by_the_sealer() -> None:
    written = _write(2)

    assert [event.seq for event in written] == [None, None]
    assert AuditEvent.objects.filter(seq__isnull=True).count() == 2
    assert audit_seal().sealed == 2
    assert not AuditEvent.objects.filter(seq__isnull=True).exists()
    assert audit_seal().sealed == 0


def test_events_chain_each_hash_to_the_previous_one() -> None:
    first, second, third = _write_sealed(3)

    assert (first.seq, second.seq, third.seq) == (1, 2, 3)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    assert AuditHead.objects.get().hash == third.hash
    assert chain_verify().ok


def test_event_carries_actor_object_and_microsecond_utc_time(trader, instrument) -> None:  # noqa: ANN001
    event = audit_record(actor=trader, action="instrument.view", obj=instrument, before=None, after={"a": 1})

    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.actor == "user:trader-t"
    assert (stored.object_type, stored.object_id) == ("desk.instrument", str(instrument.pk))
    assert stored.occurred_at.utcoffset().total_seconds() == 0
    assert stored.occurred_at == event.occurred_at  # microseconds survive the database round trip


def _failing_change() -> None:
    with transaction.atomic():
        audit_record(actor="system:test", action="doomed")
        raise RuntimeError("the change failed")


def test_event_rolls_back_with_the_change_it_records() -> None:
    with pytest.raises(RuntimeError, match="the change failed"):
        _failing_change()

    assert not AuditEvent.objects.exists()
    assert chain_verify().ok


def test_model_refuses_update_and_delete() -> None:
    (event,) = _write(1)

    event.action = "rewritten"
    with pytest.raises(AuditImmutableError):
        event.save()
    with pytest.raises(AuditImmutableError):
        event.delete()


def test_queryset_refuses_update_and_delete() -> None:
    _write(2)

    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.filter(seq=1).update(action="rewritten")
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.count() == 2


def test_admin_refuses_add_change_delete_even_for_superuser(django_user_model) -> None:  # noqa: ANN001
    admin_user = django_user_model.objects.create_superuser("root", password="pw-for-tests-123")
    request = RequestFactory().get("/admin/")
    request.user = admin_user
    model_admin = site._registry[AuditEvent]

    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    assert model_admin.has_view_permission(request)


def test_raw_sql_tampering_is_caught_naming_the_row(capsys) -> None:  # noqa: ANN001
    _write_sealed(5)
    table = AuditEvent._meta.db_table
    with intruder_cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET after = %s WHERE seq = 3", [json.dumps({"i": 999})])  # noqa: S608

    report = chain_verify()
    with pytest.raises(SystemExit) as exit_info:
        call_command("verify_audit")

    assert not report.ok
    assert report.broken_seq == 3
    assert exit_info.value.code == 1
    assert "#3" in capsys.readouterr().err


def test_deleting_the_newest_rows_is_caught_by_the_head_anchor() -> None:
    _write_sealed(4)
    with intruder_cursor() as cursor:
        cursor.execute(f"DELETE FROM {AuditEvent._meta.db_table} WHERE seq = 4")  # noqa: S608

    report = chain_verify()

    assert not report.ok
    assert report.broken_seq == 4
    assert "head anchor" in report.reason


def test_verify_audit_json_reports_the_intact_chain(capsys, audit_anchor) -> None:  # noqa: ANN001
    _write(3)

    call_command("verify_audit", "--json")

    out = json.loads(capsys.readouterr().out)
    last = AuditEvent.objects.get(seq=3)
    checkpoint = AuditCheckpoint.objects.get()
    assert out == {
        "ok": True,
        "events": 3,
        "head_seq": 3,
        "head_hash": last.hash,
        "broken_seq": None,
        "reason": "",
        "full": False,
        "from_seq": 0,
        "checked": 3,
        "pending": 0,
        "checkpoint": {"seq": 3, "hash": last.hash, "time": checkpoint.signed_at.isoformat(timespec="microseconds")},
        "since_checkpoint": 0,
        "anchor": str(audit_anchor),
        "anchor_checked": 1,
        "anchor_last_seq": 3,
        "warnings": [],
    }
