"""The audit trail: write an event in the caller's transaction, and verify the chain.

Every writer locks the single :class:`~desk.models.AuditHead` row, so concurrent writers (threads, worker
processes, PostgreSQL sessions) append one after the other and the chain never forks; SQLite serializes
writers with ``BEGIN IMMEDIATE`` (see settings).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction

from desk.context import request_id_var
from desk.models import AuditEvent, AuditHead

GENESIS_HASH = "0" * 64

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
    """SHA-256 (hex) of an event's canonical JSON content, chained through ``prev_hash``."""
    content = {
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
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _stored_hash(event: AuditEvent) -> str:
    return event_hash(
        seq=event.seq,
        prev_hash=event.prev_hash,
        occurred_at=event.occurred_at,
        actor=event.actor,
        action=event.action,
        object_type=event.object_type,
        object_id=event.object_id,
        before=event.before,
        after=event.after,
        request_id=event.request_id,
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
    """Append one event to the audit trail, inside the caller's transaction.

    Call it from the service that makes the change, within the same ``transaction.atomic`` block: the event
    and the change commit or roll back together.
    """
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    with transaction.atomic():
        head, _ = AuditHead.objects.select_for_update().get_or_create(pk=1, defaults={"hash": GENESIS_HASH})
        fields = {
            "seq": head.seq + 1,
            "prev_hash": head.hash,
            # The audit trail records when the desk wrote the event: wall time, even while a simulated history
            # runs the services at simulated times (desk.clock).
            "occurred_at": datetime.now(UTC),
            "actor": actor_label(actor)[:150],
            "action": action,
            "object_type": object_type,
            "object_id": str(object_id),
            "before": json_normalize(before) if before is not None else None,
            "after": json_normalize(after) if after is not None else None,
            "request_id": request_id or request_id_var.get() or "",
        }
        event = AuditEvent(**fields, hash=event_hash(**fields))
        event.save(force_insert=True)
        head.seq, head.hash = event.seq, event.hash
        head.save(update_fields=["seq", "hash"])
    return event


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events: int
    head_seq: int
    head_hash: str
    broken_seq: int | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "broken_seq": self.broken_seq,
            "reason": self.reason,
        }


def chain_verify(events: Iterable[AuditEvent] | None = None, *, head: AuditHead | None = None) -> ChainReport:
    """Walk the chain in order and report the first broken row.

    A row is broken when its sequence number skips, its ``prev_hash`` is not the previous row's hash, or its
    stored hash does not match its content. The last row must match the head anchor: otherwise the newest rows
    were deleted (or the anchor was tampered with).
    """
    if events is None:
        events = AuditEvent.objects.order_by("seq").iterator(chunk_size=2000)
    if head is None:
        head = AuditHead.objects.filter(pk=1).first()
    expected_seq, expected_prev, count = 1, GENESIS_HASH, 0
    for event in events:
        if event.seq != expected_seq:
            return ChainReport(
                False, count, event.seq, expected_prev, event.seq, f"expected seq {expected_seq}, found {event.seq}"
            )
        if event.prev_hash != expected_prev:
            return ChainReport(False, count, event.seq, expected_prev, event.seq, "prev_hash does not link")
        if _stored_hash(event) != event.hash:
            return ChainReport(False, count, event.seq, expected_prev, event.seq, "content does not match its hash")
        expected_seq, expected_prev, count = event.seq + 1, event.hash, count + 1
    last_seq = expected_seq - 1
    anchor_seq, anchor_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    if (anchor_seq, anchor_hash) != (last_seq, expected_prev):
        return ChainReport(
            False,
            count,
            last_seq,
            expected_prev,
            last_seq + 1,
            f"head anchor is seq {anchor_seq}, the chain ends at seq {last_seq}: rows missing or anchor altered",
        )
    return ChainReport(True, count, last_seq, expected_prev)
