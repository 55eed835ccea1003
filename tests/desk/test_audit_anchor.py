"""The audit trail anchored outside the database: keyed hashes, signed checkpoints in an append-only file, and the
rewrites that whoever can write to the database could make, each caught by ``verify_audit --anchor``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction

from desk.audit import AuditSealRefused, audit_record, audit_seal, chain_verify
from desk.audit_anchor import anchor_read, checkpoint_parse
from desk.models import AuditCheckpoint, AuditEvent, AuditHead
from desk.tasks import audit_seal as audit_seal_task
from tests.audit_tamper import EVENTS, HEAD, delete_everything, delete_newest, intruder_cursor, rewrite_from

pytestmark = pytest.mark.django_db


def _write(n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        audit_record(actor="system:test", action="test.event", object_id=i, after={"i": i})


def _verify_json(capsys, *args: str) -> tuple[int, dict]:  # noqa: ANN001
    try:
        call_command("verify_audit", "--json", *args)
        code = 0
    except SystemExit as exit_info:
        code = int(exit_info.code)
    return code, json.loads(capsys.readouterr().out)


def test_sealer_anchors_a_signed_checkpoint_every_n_events_and_after_s_seconds(settings, audit_anchor) -> None:  # noqa: ANN001
    settings.AUDIT_CHECKPOINT_EVENTS, settings.AUDIT_CHECKPOINT_SECONDS = 10, 3600.0
    # given 25 events, the first seal ever: a checkpoint every 10 events, and one at the head (none was made before)
    _write(25)
    first = audit_seal()
    # when 3 more are sealed within the S seconds: no checkpoint is due; forced, there is one
    _write(3, start=25)
    quiet = audit_seal()
    forced = audit_seal(checkpoint=True)
    # and with S elapsed (S = 0), the next event sealed brings one
    settings.AUDIT_CHECKPOINT_SECONDS = 0.0
    _write(1, start=28)
    late = audit_seal()

    assert (first.sealed, first.checkpoints, first.anchored) == (25, 3, 3)
    assert (quiet.sealed, quiet.checkpoints, forced.checkpoints, late.checkpoints) == (3, 0, 1, 1)
    anchored = anchor_read(audit_anchor)
    assert [c.seq for c in anchored] == [10, 20, 25, 28, 29]
    assert [(c.seq, c.hash) for c in anchored] == list(AuditCheckpoint.objects.values_list("seq", "hash"))
    assert all(c.signature_ok() for c in anchored)
    assert all(AuditEvent.objects.get(seq=c.seq).hash == c.hash for c in anchored)
    line = json.loads(audit_anchor.read_text().splitlines()[0])
    assert set(line) == {"seq", "hash", "time", "signature"}
    forged = checkpoint_parse(json.dumps(line | {"hash": "f" * 64}).encode())
    assert not forged.signature_ok()


def test_event_hashes_are_keyed(settings) -> None:  # noqa: ANN001
    _write(3)
    audit_seal()
    assert chain_verify(full=True).ok

    settings.DESK_AUDIT_KEY = "another-key-" + "x" * 40

    report = chain_verify(full=True, seal=False)
    assert not report.ok
    assert report.broken_seq == 1
    assert report.reason == "content does not match its hash"


def _rewrite_with_sha256() -> None:
    rewrite_from(4, action="forged", with_key=False)


def _rewrite_with_the_key() -> None:
    # An insider who also holds DESK_AUDIT_KEY, and wipes what the database knew of its checkpoints and verification.
    rewrite_from(4, action="forged", with_key=True)
    with intruder_cursor() as cursor:
        cursor.execute("DELETE FROM desk_auditcheckpoint")
        cursor.execute(f"UPDATE {HEAD} SET verified_seq = 0, verified_hash = '', verified_mac = ''")


def _delete_newest() -> None:
    delete_newest(3)


REWRITES: dict[str, tuple[Callable[[], None], int]] = {
    "newest rows deleted, head moved back": (_delete_newest, 8),
    "middle row edited, later rows and head re-hashed (SHA-256)": (_rewrite_with_sha256, 4),
    "middle row edited, later rows and head re-hashed with the key": (_rewrite_with_the_key, 10),
    "every row and the head deleted": (delete_everything, 1),
}


@pytest.mark.parametrize("rewrite", list(REWRITES))
def test_verify_audit_with_the_anchor_catches_the_rewrite(rewrite: str, capsys, audit_anchor, tmp_path) -> None:  # noqa: ANN001
    # given 10 events verified (sealed, and anchored at #10)
    _write(10)
    code, before = _verify_json(capsys)
    assert (code, before["ok"], before["anchor_last_seq"]) == (0, True, 10)
    attack, broken_seq = REWRITES[rewrite]

    # when someone who can write to the database rewrites the trail
    attack()
    code, report = _verify_json(capsys, "--full", "--anchor", str(audit_anchor))
    with pytest.raises(SystemExit) as export_exit:
        call_command("export_audit", "--format", "jsonl", "--output", str(tmp_path / "export.jsonl"))

    # then verify_audit --anchor says so, naming the first event it can no longer vouch for, and the export fails
    assert code == 1
    assert report["ok"] is False
    assert report["broken_seq"] == broken_seq, report["reason"]
    assert export_exit.value.code == 1
    assert json.loads((tmp_path / "export.jsonl").read_text().splitlines()[0])["audit_chain"]["ok"] is False


@pytest.mark.parametrize(
    "rewrite", ["middle row edited, later rows and head re-hashed with the key", "every row and the head deleted"]
)
def test_only_the_anchor_shows_the_rewrites_that_leave_a_consistent_database(rewrite: str, capsys, tmp_path) -> None:  # noqa: ANN001
    # Shows what the anchor adds: compared with an anchor that never saw the trail, these databases look intact.
    _write(10)
    _verify_json(capsys)
    REWRITES[rewrite][0]()
    blank = tmp_path / "blank-anchor.jsonl"
    blank.touch()

    code, report = _verify_json(capsys, "--full", "--no-seal", "--anchor", str(blank))

    assert (code, report["ok"]) == (0, True)


def test_incremental_verification_walks_only_what_was_sealed_since(capsys) -> None:  # noqa: ANN001
    _write(50)
    first = chain_verify()
    _write(5, start=50)

    second = chain_verify()
    full = chain_verify(full=True)

    assert (first.ok, first.from_seq, first.checked) == (True, 0, 50)
    assert (second.ok, second.from_seq, second.checked, second.head_seq) == (True, 50, 5, 55)
    assert (full.ok, full.full, full.from_seq, full.checked) == (True, True, 0, 55)


def test_a_row_edited_below_the_verified_position_is_left_to_the_full_walk() -> None:
    # The incremental check trusts what an earlier check verified (it only re-reads that event's hash); the full walk
    # (verify_audit --full, the daily audit-verify-full task) reads every row again.
    _write(10)
    assert chain_verify().ok
    with intruder_cursor() as cursor:
        cursor.execute(f"UPDATE {EVENTS} SET action = 'forged' WHERE seq = 3")  # noqa: S608

    incremental = chain_verify()
    full = chain_verify(full=True)

    assert (incremental.ok, incremental.from_seq, incremental.checked) == (True, 10, 0)
    assert (full.ok, full.broken_seq, full.reason) == (False, 3, "content does not match its hash")


def test_a_verified_position_moved_without_the_key_is_ignored() -> None:
    _write(10)
    audit_seal()
    tenth = AuditEvent.objects.get(seq=10)
    with intruder_cursor() as cursor:
        cursor.execute(f"UPDATE {EVENTS} SET action = 'forged' WHERE seq = 3")  # noqa: S608
        cursor.execute(
            f"UPDATE {HEAD} SET verified_seq = 10, verified_hash = %s, verified_mac = %s", [tenth.hash, "0" * 64]
        )

    report = chain_verify()

    assert (report.ok, report.from_seq, report.broken_seq) == (False, 0, 3)


def test_a_forged_anchor_line_is_reported(capsys, audit_anchor) -> None:  # noqa: ANN001
    _write(3)
    _verify_json(capsys)
    line = json.loads(audit_anchor.read_text().splitlines()[-1])
    with open(audit_anchor, "a") as anchor:
        anchor.write(json.dumps(line | {"seq": 4, "signature": "0" * 64}) + "\n")

    code, report = _verify_json(capsys, "--anchor", str(audit_anchor))

    assert (code, report["ok"], report["broken_seq"]) == (1, False, 4)
    assert "not signed" in report["reason"]


def test_the_sealer_refuses_to_chain_onto_a_head_moved_back() -> None:
    _write(3)
    audit_seal()
    first = AuditEvent.objects.get(seq=1)
    with intruder_cursor() as cursor:
        cursor.execute(f"UPDATE {HEAD} SET seq = 1, hash = %s", [first.hash])
    _write(1, start=3)

    with pytest.raises(AuditSealRefused, match="newest sealed event is #3"):
        audit_seal()
    report = chain_verify()

    assert not report.ok
    assert AuditEvent.objects.filter(seq__isnull=True).count() == 1
    assert len(report.warnings) == 1
    assert "not sealing" in report.warnings[0]


def test_a_checkpoint_the_anchor_missed_is_appended_by_the_next_seal(settings, tmp_path: Path) -> None:  # noqa: ANN001
    # given an anchor that cannot be written (its path is a folder)
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    settings.DESK_AUDIT_ANCHOR = str(blocked)
    _write(3)
    failed = audit_seal()
    unanchored = chain_verify()
    # when the anchor is writable again
    settings.DESK_AUDIT_ANCHOR = str(tmp_path / "anchor.jsonl")
    _write(1, start=3)
    caught_up = audit_seal()

    # then the checkpoint stayed in the database, the trail was reported as not anchored, and the next seal
    # appended it
    assert (failed.sealed, failed.checkpoints, failed.anchored) == (3, 1, 0)
    assert "not written" in failed.anchor_error
    assert not unanchored.ok
    assert "not written" in unanchored.reason
    assert caught_up.anchored == 1
    assert [c.seq for c in anchor_read(settings.DESK_AUDIT_ANCHOR)] == [3]
    assert chain_verify().ok


def test_the_beat_task_seals_and_verifies_every_two_seconds(settings) -> None:  # noqa: ANN001
    _write(3)

    result = audit_seal_task()

    assert settings.CELERY_BEAT_SCHEDULE["audit-seal"] == {"task": audit_seal_task.name, "schedule": 2.0}
    assert result == {"ok": True, "head_seq": 3, "checked": 3}
    assert AuditHead.objects.get().verified_seq == 3


def test_compliance_page_states_the_verification(client_for, compliance, settings) -> None:  # noqa: ANN001
    settings.AUDIT_CHECKPOINT_SECONDS = 3600.0  # no checkpoint falls due between the two loads, however slow
    _write(4)
    client = client_for(compliance)
    client.get("/desk/compliance/")
    _write(2, start=4)

    page = client.get("/desk/compliance/").content.decode()

    assert "Hash chain verified: OK — 6 events, head #6" in page
    assert "Last signed checkpoint #4" in page
    assert "2 events since" in page
    assert "verified from #4 (2 events walked" in page


def test_verify_audit_names_a_missing_anchor_file(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="--anchor: no anchor file at"):
        call_command("verify_audit", "--anchor", str(tmp_path / "absent.jsonl"))


def test_audit_seal_is_refused_inside_another_transaction() -> None:
    # A checkpoint must never reach the anchor for rows that then roll back: the sealer commits on its own.
    with transaction.atomic(), pytest.raises(RuntimeError, match="durable"):
        audit_seal()


# --- the PostgreSQL guard -----------------------------------------------------------------------------------


@pytest.fixture
def postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the guard triggers are PostgreSQL's; SQLite (the embedded desk) relies on the anchor")


def _refused(sql: str, params: list | None = None) -> str:
    with pytest.raises(IntegrityError) as refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(refused.value)


@pytest.mark.usefixtures("postgresql")
def test_trigger_refuses_update_delete_and_truncate_of_events() -> None:
    _write(3)
    audit_seal()
    unsealed = audit_record(actor="system:test", action="test.unsealed")

    assert "append-only: UPDATE on desk_auditevent refused" in _refused(
        f"UPDATE {EVENTS} SET action = 'forged' WHERE seq = 2"  # noqa: S608
    )
    assert "DELETE on desk_auditevent" in _refused(f"DELETE FROM {EVENTS} WHERE seq = 3")  # noqa: S608
    assert "TRUNCATE on desk_auditevent" in _refused(f"TRUNCATE {EVENTS} CASCADE")
    assert "UPDATE on desk_auditevent" in _refused(  # re-sealing a sealed event
        f"UPDATE {EVENTS} SET seq = 99, prev_hash = %s, hash = %s WHERE seq = 3",
        ["a" * 64, "b" * 64],  # noqa: S608
    )
    assert "UPDATE on desk_auditevent" in _refused(  # sealing an event while changing it
        f"UPDATE {EVENTS} SET seq = 4, prev_hash = %s, hash = %s, action = 'forged' WHERE id = %s",  # noqa: S608
        ["a" * 64, "b" * 64, unsealed.pk],
    )
    assert AuditEvent.objects.count() == 4
    assert audit_seal().sealed == 1  # the one change the guard lets through: sealing, content unchanged
    assert chain_verify(full=True).ok


@pytest.mark.usefixtures("postgresql")
def test_trigger_refuses_rewriting_checkpoints_and_moving_the_head_back() -> None:
    _write(3)
    audit_seal(checkpoint=True)

    assert "UPDATE on desk_auditcheckpoint" in _refused("UPDATE desk_auditcheckpoint SET hash = 'x'")
    assert "DELETE on desk_auditcheckpoint" in _refused("DELETE FROM desk_auditcheckpoint")
    assert "TRUNCATE on desk_auditcheckpoint" in _refused("TRUNCATE desk_auditcheckpoint")
    assert "UPDATE on desk_audithead" in _refused(f"UPDATE {HEAD} SET seq = 1")
    assert "DELETE on desk_audithead" in _refused(f"DELETE FROM {HEAD}")
    assert AuditHead.objects.get().seq == 3
    assert AuditCheckpoint.objects.count() == 1
