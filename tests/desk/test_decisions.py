"""Decision records: stored with their audit event, append-only, replayable, readable by desk roles only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from django.test import Client

from desk.audit import audit_seal, chain_verify
from desk.decisions import decision_record, decision_replay, decision_replayer_for, decision_replayer_register
from desk.models import AuditImmutableError, DecisionKind, DecisionRecord

pytestmark = pytest.mark.django_db


def _double(inputs: dict) -> dict:
    return {"value": inputs["x"] * 2}


@pytest.fixture(autouse=True)
def _toy_hedge_replayer() -> Iterator[None]:
    # A toy replayer stands in for the hedger's (execution.hedging_services.hedge_compute), and is put back after, so
    # that the hedge records of later tests replay with the real one.
    real = decision_replayer_for(DecisionKind.HEDGE)
    decision_replayer_register(DecisionKind.HEDGE, _double)
    yield
    if real is not None:
        decision_replayer_register(DecisionKind.HEDGE, real)


def _record(x: int = 21, output: int | None = None) -> DecisionRecord:
    return decision_record(
        kind=DecisionKind.HEDGE,
        actor="system:test",
        inputs={"x": x},
        output={"value": output if output is not None else x * 2},
        explanation="doubles x",
        model_versions={"toy": 3},
        object_type="test.thing",
        object_id=7,
    )


def test_a_decision_is_stored_with_its_audit_event_in_the_chain() -> None:
    record = _record()

    assert record.audit_event.action == "decision.hedge"
    assert record.audit_event.object_id == "7"
    assert record.audit_event.after["output"] == {"value": 42}
    assert record.audit_event.after["model_versions"] == {"toy": 3}
    assert chain_verify().ok


def test_replay_recomputes_the_stored_output() -> None:
    replay = decision_replay(_record())

    assert replay.matches
    assert replay.inputs_intact
    assert replay.replayed_output == {"value": 42}


def test_replay_shows_an_output_the_inputs_do_not_give() -> None:
    replay = decision_replay(_record(x=21, output=40))

    assert not replay.matches
    assert replay.replayed_output == {"value": 42}


def test_replay_catches_inputs_edited_behind_the_desk() -> None:
    record = _record()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE desk_decisionrecord SET inputs = %s WHERE id = %s", ['{"x": 20}', record.pk])
    record.refresh_from_db()

    replay = decision_replay(record)

    assert not replay.inputs_intact
    assert not replay.matches


def test_records_are_append_only() -> None:
    record = _record()
    record.explanation = "changed"
    with pytest.raises(AuditImmutableError):
        record.save()


def test_unknown_kind_is_refused_and_nothing_stored() -> None:
    with pytest.raises(ValueError, match="unknown decision kind"):
        decision_record(kind="guess", actor="system:test", inputs={}, output={})
    assert not DecisionRecord.objects.exists()


def test_api_lists_and_replays_for_desk_roles_not_dealers(client: Client, risk_officer, dealer) -> None:  # noqa: ANN001
    record = _record()
    audit_seal()
    record.audit_event.refresh_from_db()
    assert record.audit_event.seq is not None
    client.force_login(risk_officer)

    listed = client.get("/api/v1/decisions/?kind=hedge")
    replay = client.get(f"/api/v1/decisions/{record.pk}/replay/")
    bad = client.get("/api/v1/decisions/?kind=guess")

    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()["results"]] == [record.pk]
    assert listed.json()["results"][0]["audit_seq"] == record.audit_event.seq
    assert replay.json()["matches"] is True
    assert bad.status_code == 400
    assert "kind" in bad.json()
    client.force_login(dealer.user)
    assert client.get("/api/v1/decisions/").status_code == 403


def test_inputs_the_replayer_cannot_read_are_reported_not_raised() -> None:
    record = decision_record(kind=DecisionKind.HEDGE, actor="system:test", inputs={"y": 1}, output={"value": 2})

    replay = decision_replay(record)

    assert not replay.matches
    assert replay.replayed_output is None
    assert "'x'" in replay.reason
