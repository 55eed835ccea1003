"""The audit trail: events written without a global lock, chained by a sealer, anchored outside the database.

Writers
    :func:`audit_record` inserts the event *unsealed* in the caller's transaction: its content and a database id,
    nothing else. No shared row is locked, so concurrent writers (threads, worker processes, web processes) never
    wait for each other.

Sealer
    :func:`audit_seal`, one at a time (it locks the :class:`~desk.models.AuditHead` row, which only the sealer
    touches), chains every *committed* unsealed event, oldest id first: ``seq`` = head + 1, ``prev_hash`` = the
    head's hash, ``hash`` = HMAC-SHA256 under ``DESK_AUDIT_KEY`` of the event's canonical content with both
    (:func:`event_hash`). Ids come from a sequence and can commit out of order (id 7 before id 6): the sealer never
    keeps a cursor on ids, it reads the rows still unsealed, so an id that commits late is simply sealed by the next
    run, with the next ``seq``. Nothing is skipped, the chain never forks, and ``seq`` is the order in which the
    sealer saw the events committed. It runs every 2 s (the ``audit-seal`` beat task: the embedded ``rundesk`` runs
    beat too) and on demand before an export, ``verify_audit`` and the compliance page.

Checkpoints
    At least every ``AUDIT_CHECKPOINT_EVENTS`` events, or ``AUDIT_CHECKPOINT_SECONDS`` after the last one when any
    event was sealed since, the sealer signs a checkpoint (seq, hash, time, signature), stores it
    (:class:`~desk.models.AuditCheckpoint`) and, once committed, appends it to the anchor file outside the database
    (``DESK_AUDIT_ANCHOR``, :mod:`desk.audit_anchor`).

Verification
    :func:`chain_verify` walks from the last verified position (kept on the head, under its own MAC) to the head;
    ``full=True`` walks from the genesis. It compares the database's checkpoints met on the way and the anchor's
    checkpoints with the events: an edited or re-hashed row, deleted newest rows with the head moved back, or an
    emptied table each leave a checkpoint of the anchor that the database no longer matches.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction

from desk.audit_anchor import AnchorError, Checkpoint, anchor_read, anchor_sync, checkpoint_of, checkpoint_sign
from desk.audit_keys import EVENT, VERIFIED, audit_mac, audit_mac_matches
from desk.context import request_id_var
from desk.models import AuditCheckpoint, AuditEvent, AuditHead

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
# Events chained per sealer transaction: the head's lock is held for one batch at a time.
SEAL_BATCH = 1000

Actor = AbstractBaseUser | AnonymousUser | str | None


def actor_label(actor: Actor) -> str:
    """``user:<username>`` for a user, the string itself for a system or dealer actor."""
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    if not actor.is_authenticated:
        return "anonymous"
    return f"user:{actor.get_username()}"


def json_normalize(value: Any) -> Any:
    """The JSON form a value is stored and hashed in (Decimals and datetimes become strings)."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def event_hash(
    *,
    event_id: int,
    seq: int,
    prev_hash: str,
    occurred_at: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    before: Any,
    after: Any,
    request_id: str,
) -> str:
    """HMAC-SHA256 (hex, key derived from ``DESK_AUDIT_KEY``) of an event's canonical JSON content, chained
    through ``prev_hash``. Without the key nobody can compute it, so nobody can re-hash a rewritten history."""
    return audit_mac(
        EVENT,
        {
            "id": event_id,
            "seq": seq,
            "prev_hash": prev_hash,
            "occurred_at": occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "before": before,
            "after": after,
            "request_id": request_id,
        },
    )


HASHED_FIELDS = ("id", "occurred_at", "actor", "action", "object_type", "object_id", "before", "after", "request_id")


def _hash_of(event: AuditEvent | Mapping[str, Any], *, seq: int, prev_hash: str) -> str:
    """The keyed hash of a stored event (a model instance, or a row of :data:`HASHED_FIELDS`) at ``seq``."""
    row = event if isinstance(event, Mapping) else {name: getattr(event, name) for name in HASHED_FIELDS}
    return event_hash(
        event_id=row["id"],
        seq=seq,
        prev_hash=prev_hash,
        occurred_at=row["occurred_at"],
        actor=row["actor"],
        action=row["action"],
        object_type=row["object_type"],
        object_id=row["object_id"],
        before=row["before"],
        after=row["after"],
        request_id=row["request_id"],
    )


def audit_record(
    *,
    actor: Actor,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str | int = "",
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    request_id: str | None = None,
) -> AuditEvent:
    """Append one event to the audit trail, inside the caller's transaction; the sealer chains it once committed.

    Call it from the service that makes the change, within the same ``transaction.atomic`` block: the event
    and the change commit or roll back together. The event returned has no ``seq`` yet.
    """
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    event = AuditEvent(
        # The audit trail records when the desk wrote the event: wall time, even while a simulated history
        # runs the services at simulated times (desk.clock).
        occurred_at=datetime.now(UTC),
        actor=actor_label(actor)[:150],
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=json_normalize(before) if before is not None else None,
        after=json_normalize(after) if after is not None else None,
        request_id=request_id or request_id_var.get() or "",
    )
    event.save(force_insert=True)
    return event


# --- the sealer ---------------------------------------------------------------------------------------------


class AuditSealRefused(Exception):
    """The head does not match the newest sealed event (events deleted, or the head moved): the sealer chains
    nothing onto it; :func:`chain_verify` names the row."""


@dataclass(frozen=True)
class SealResult:
    sealed: int
    head_seq: int
    head_hash: str
    checkpoints: int
    anchored: int
    anchor_error: str = ""


def _head_locked() -> AuditHead:
    head, _ = AuditHead.objects.select_for_update().get_or_create(pk=1, defaults={"hash": GENESIS_HASH})
    newest = AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").values_list("seq", "hash").first()
    if (newest or (0, GENESIS_HASH)) != (head.seq, head.hash):
        found = f"#{newest[0]}" if newest else "no sealed event"
        raise AuditSealRefused(f"the audit head is #{head.seq} but the newest sealed event is {found}: not sealing")
    return head


def _transaction_floor() -> int:
    """PostgreSQL: the oldest transaction still running (every older one has committed or rolled back); 0 elsewhere.

    Taken before the sealer reads the unsealed events: an event it does not see then belongs to a transaction
    running at that moment or started later, so at least as new as this. The next run reads only from there on."""
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        return int(cursor.fetchone()[0])


def _seals_write(seals: list[tuple[int, str, str, int]]) -> None:
    # The one UPDATE an event ever sees (the PostgreSQL trigger lets exactly this through): unsealed to sealed. One
    # statement per 500 events (UPDATE ... FROM: PostgreSQL, and SQLite since 3.33).
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    with connection.cursor() as cursor:
        for start in range(0, len(seals), 500):
            chunk = seals[start : start + 500]
            values = ", ".join(["(CAST(%s AS bigint), %s, %s, CAST(%s AS bigint))"] * len(chunk))
            cursor.execute(
                f"WITH v(seq, prev_hash, hash, id) AS (VALUES {values}) "  # noqa: S608
                f"UPDATE {table} SET seq = v.seq, prev_hash = v.prev_hash, hash = v.hash "
                f"FROM v WHERE {table}.id = v.id AND {table}.seq IS NULL",
                [value for seal in chunk for value in seal],
            )
            # (Python's sqlite3 reports -1 for a statement opening with WITH; SQLite serializes sealers anyway.)
            if cursor.rowcount not in (-1, len(chunk)):
                raise RuntimeError(f"the sealer sealed {cursor.rowcount} of {len(chunk)} events: another sealer ran")


def _checkpoint_write(*, seq: int, hash: str, now: datetime) -> None:
    signed = checkpoint_sign(seq=seq, hash=hash, time=now)
    AuditCheckpoint(seq=seq, hash=hash, signed_at=now, signature=signed.signature).save(force_insert=True)


def _seal_round(*, batch: int, force_checkpoint: bool) -> tuple[int, int, AuditHead]:
    """One transaction: chain up to ``batch`` committed events and write the checkpoints due; (sealed, made, head)."""
    every, seconds = settings.AUDIT_CHECKPOINT_EVENTS, settings.AUDIT_CHECKPOINT_SECONDS
    with transaction.atomic(durable=True):
        head = _head_locked()
        now = datetime.now(UTC)  # under the lock: the anchor's times follow its seqs
        last = AuditCheckpoint.objects.order_by("-seq").only("seq", "signed_at").first()
        checkpointed = last.seq if last else 0
        floor = _transaction_floor()
        unsealed = AuditEvent.objects.filter(seq__isnull=True, txid__gte=head.unsealed_floor)
        rows = list(unsealed.order_by("id").values(*HASHED_FIELDS)[:batch])  # rows, not models: the sealer's hot loop
        seals, due = [], []
        seq, prev = head.seq, head.hash
        for event in rows:
            seq, digest = seq + 1, _hash_of(event, seq=seq + 1, prev_hash=prev)
            seals.append((seq, prev, digest, event["id"]))
            prev = digest
            if seq - checkpointed >= every:
                due.append((seq, digest))
                checkpointed = seq
        if seals:
            _seals_write(seals)
        # Every event seen unsealed is sealed now (unless the batch was full): none left is older than the floor.
        new_floor = floor if len(rows) < batch else head.unsealed_floor
        if seals or new_floor != head.unsealed_floor:
            head.seq, head.hash, head.unsealed_floor = seq, prev, new_floor
            head.save(update_fields=["seq", "hash", "unsealed_floor"])
        late = last is None or now - last.signed_at >= timedelta(seconds=seconds)
        if len(rows) < batch and head.seq > checkpointed and (force_checkpoint or late):
            due.append((head.seq, head.hash))
        for due_seq, due_hash in due:
            _checkpoint_write(seq=due_seq, hash=due_hash, now=now)
    return len(rows), len(due), head


def audit_seal(*, checkpoint: bool = False, batch: int = SEAL_BATCH) -> SealResult:
    """Chain every committed unsealed event and anchor the checkpoints due; ``checkpoint`` forces one at the head.

    Runs in transactions of its own (refused inside another: a checkpoint must never reach the anchor for rows
    that then roll back). Raises :class:`AuditSealRefused` when the head does not match the chain. A failure to
    write the anchor is logged and returned: the checkpoints stay in the database and the next run appends them.
    """
    sealed = made = 0
    while True:
        count, checkpoints, head = _seal_round(batch=batch, force_checkpoint=checkpoint)
        sealed, made = sealed + count, made + checkpoints
        if count < batch:
            break
    try:
        anchored, error = anchor_sync(), ""
    except (OSError, AnchorError) as exc:
        anchored, error = 0, f"anchor {settings.DESK_AUDIT_ANCHOR} not written: {exc}"
        logger.error("audit: %s", error)
    return SealResult(sealed, head.seq, head.hash, made, anchored, error)


# --- verification -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    """What :func:`chain_verify` found. ``events`` is the number of chained events found intact (the head's
    ``seq`` when ``ok``); ``checked`` how many it walked this time, after ``from_seq``."""

    ok: bool
    events: int
    head_seq: int
    head_hash: str
    broken_seq: int | None = None
    reason: str = ""
    full: bool = False
    from_seq: int = 0
    checked: int = 0
    pending: int = 0
    checkpoint: dict[str, Any] | None = None
    since_checkpoint: int = 0
    anchor: str = ""
    anchor_checked: int = 0
    anchor_last_seq: int = 0
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Walk:
    head_seq: int
    head_hash: str
    seq: int = 0
    hash: str = GENESIS_HASH
    checked: int = 0
    broken_seq: int | None = None
    reason: str = ""

    def fail(self, seq: int, reason: str) -> None:
        # The report names the first event the chain can no longer vouch for, whichever check found it.
        if self.broken_seq is None or seq < self.broken_seq:
            self.broken_seq, self.reason = seq, reason


def _verified_start(head: AuditHead | None, walk: _Walk) -> None:
    """Start after the last verified position, if its MAC holds and its event still has the hash it had."""
    if head is None or not head.verified_seq:
        return
    content = {"seq": head.verified_seq, "hash": head.verified_hash}
    if not audit_mac_matches(VERIFIED, content, head.verified_mac):
        logger.warning(
            "audit: verified position #%s not signed with this key: walking from the genesis", head.verified_seq
        )
        return
    stored = AuditEvent.objects.filter(seq=head.verified_seq).values_list("hash", flat=True).first()
    if stored != head.verified_hash:
        what = "is missing" if stored is None else "has changed"
        walk.fail(head.verified_seq, f"event #{head.verified_seq} {what} since it was verified")
        return
    walk.seq, walk.hash = head.verified_seq, head.verified_hash


def _walk_events(walk: _Walk, checkpoints: dict[int, Checkpoint]) -> None:
    for event in AuditEvent.objects.filter(seq__gt=walk.seq).order_by("seq").iterator(chunk_size=2000):
        expected = walk.seq + 1
        if event.seq != expected:
            walk.fail(event.seq, f"expected seq {expected}, found {event.seq}")
        elif event.prev_hash != walk.hash:
            walk.fail(event.seq, "prev_hash does not link")
        elif _hash_of(event, seq=event.seq, prev_hash=walk.hash) != event.hash:
            walk.fail(event.seq, "content does not match its hash")
        elif event.seq in checkpoints and checkpoints[event.seq].hash != event.hash:
            walk.fail(event.seq, "the database's signed checkpoint of this event does not match it")
        if walk.broken_seq is not None:
            return
        walk.seq, walk.hash, walk.checked = event.seq, event.hash, walk.checked + 1
    if (walk.seq, walk.hash) != (walk.head_seq, walk.head_hash):
        walk.fail(
            walk.seq + 1,
            f"head anchor is seq {walk.head_seq}, the chain ends at seq {walk.seq}: rows missing or anchor altered",
        )


def _anchor_compare(walk: _Walk, anchored: list[Checkpoint]) -> int:
    """Every anchored checkpoint must be in the chain with the same hash; how many were compared."""
    previous = 0
    for checkpoint in anchored:
        if not checkpoint.signature_ok():
            walk.fail(checkpoint.seq, f"anchor checkpoint #{checkpoint.seq} is not signed with this desk's key")
        elif checkpoint.seq <= previous:
            walk.fail(checkpoint.seq, f"anchor checkpoint #{checkpoint.seq} follows #{previous}: the anchor forks")
        elif checkpoint.seq > walk.head_seq:
            walk.fail(
                walk.head_seq + 1,
                f"the anchor's checkpoint #{checkpoint.seq} ({checkpoint.time}) is past the chain's head "
                f"#{walk.head_seq}: events #{walk.head_seq + 1} to #{checkpoint.seq} were deleted",
            )
        previous = max(previous, checkpoint.seq)
    stored: dict[int, str] = {}
    seqs = [checkpoint.seq for checkpoint in anchored]
    for start in range(0, len(seqs), 500):
        rows = AuditEvent.objects.filter(seq__in=seqs[start : start + 500]).values_list("seq", "hash")
        stored.update(rows)
    for checkpoint in anchored:
        if checkpoint.seq <= walk.head_seq and stored.get(checkpoint.seq) != checkpoint.hash:
            what = "is missing" if checkpoint.seq not in stored else "does not match"
            walk.fail(
                checkpoint.seq,
                f"event #{checkpoint.seq} {what} the anchor's signed checkpoint ({checkpoint.time}): "
                "the chain was rewritten",
            )
    return len(anchored)


def _verified_save(walk: _Walk) -> None:
    content = {"seq": walk.seq, "hash": walk.hash}
    AuditHead.objects.filter(pk=1, seq__gte=walk.seq, verified_seq__lte=walk.seq).update(
        verified_seq=walk.seq,
        verified_hash=walk.hash,
        verified_at=datetime.now(UTC),
        verified_mac=audit_mac(VERIFIED, content),
    )


def _unsealed_count(head: AuditHead | None, *, full: bool) -> int:
    """Committed events not chained yet: from the sealer's transaction floor on, or (``full``) all of them (an
    event inserted by hand under the floor would never be sealed: the full check counts it)."""
    unsealed = AuditEvent.objects.filter(seq__isnull=True)
    if head is not None and not full:
        unsealed = unsealed.filter(txid__gte=head.unsealed_floor)
    return unsealed.count()


def chain_verify(
    *, full: bool = False, anchor: str | Path | None = None, seal: bool = True, checkpoint: bool = False
) -> ChainReport:
    """Seal what is committed (unless ``seal`` is False), then verify the chain and compare it with the anchor.

    Parameters
    ----------
    full : walk every event from the genesis and compare every anchored checkpoint; otherwise walk from the last
        verified position and compare the anchor's checkpoints from there on (its last one always).
    anchor : an anchor file to compare, every checkpoint of it (default: ``settings.DESK_AUDIT_ANCHOR``).
    seal : run the sealer first; a refused seal (head and chain disagree) is reported by the walk itself.
    checkpoint : have the sealer anchor a checkpoint at the head now (an export, ``verify_audit``).
    """
    warnings, anchor_error = [], ""
    if seal:
        try:
            anchor_error = audit_seal(checkpoint=checkpoint).anchor_error
        except AuditSealRefused as exc:
            warnings.append(str(exc))
    head = AuditHead.objects.filter(pk=1).first()
    walk = _Walk(head.seq, head.hash) if head else _Walk(0, GENESIS_HASH)
    if anchor_error:
        # Not a sign of tampering, but the trail is not anchored: said as loudly.
        walk.fail(walk.head_seq + 1, anchor_error)
    if not full:
        _verified_start(head, walk)
    start = walk.seq
    checkpoints = {row.seq: checkpoint_of(row) for row in AuditCheckpoint.objects.filter(seq__gt=start).order_by("seq")}
    for seq, stored in checkpoints.items():
        if not stored.signature_ok():
            walk.fail(seq, f"the database's checkpoint #{seq} is not signed with this desk's key")
        elif seq > walk.head_seq:
            walk.fail(walk.head_seq + 1, f"the database's checkpoint #{seq} is past the chain's head #{walk.head_seq}")
    _walk_events(walk, checkpoints)
    path = Path(anchor or settings.DESK_AUDIT_ANCHOR)
    whole_anchor = full or anchor is not None
    try:
        anchored = anchor_read(path, since_seq=None if whole_anchor else start)
    except (OSError, AnchorError) as exc:
        anchored = []
        walk.fail(walk.head_seq + 1, f"anchor {path} cannot be read: {exc}")
    compared = _anchor_compare(walk, anchored)
    ok = walk.broken_seq is None
    if ok and walk.seq > start:
        _verified_save(walk)
    newest = AuditCheckpoint.objects.order_by("-seq").first()
    return ChainReport(
        ok=ok,
        events=walk.head_seq if ok else max((walk.broken_seq or 1) - 1, 0),
        head_seq=walk.head_seq,
        head_hash=walk.head_hash,
        broken_seq=None if ok else walk.broken_seq,
        reason="" if ok else walk.reason,
        full=full,
        from_seq=start,
        checked=walk.checked,
        pending=_unsealed_count(head, full=full),
        checkpoint=checkpoint_of(newest).signed_content if newest else None,
        since_checkpoint=walk.head_seq - newest.seq if newest else walk.head_seq,
        anchor=str(path),
        anchor_checked=compared,
        anchor_last_seq=anchored[-1].seq if anchored else 0,
        warnings=warnings,
    )
