"""What an intruder who can write to the database does to the audit trail, as real SQL.

On PostgreSQL the audit tables' guard triggers refuse it, so the intruder first switches them off, as the tables'
owner can (``ALTER TABLE ... DISABLE TRIGGER USER``), and back on after: the tests then show what the anchor still
catches. On SQLite there is no trigger to switch off.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from typing import Any

from django.db import connection

from desk.audit import GENESIS_HASH, event_hash
from desk.models import AuditCheckpoint, AuditEvent, AuditHead

EVENTS = AuditEvent._meta.db_table
HEAD = AuditHead._meta.db_table
CHECKPOINTS = AuditCheckpoint._meta.db_table
GUARDED = (EVENTS, HEAD, CHECKPOINTS)


@contextmanager
def intruder_cursor() -> Iterator[Any]:
    """A cursor on the desk's database with the audit guard switched off (PostgreSQL), on again afterwards."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in GUARDED:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        try:
            yield cursor
        finally:
            if connection.vendor == "postgresql":
                # A deleted event leaves its deferred foreign-key check pending, which ALTER TABLE refuses: run it now.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
                for table in GUARDED:
                    cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def _sha256(row: dict[str, Any]) -> str:
    # The unkeyed chain the desk used before: what an intruder without the key can compute.
    content = {key: row[key] for key in ("seq", "prev_hash", "actor", "action", "object_type", "object_id")}
    content |= {"before": row["before"], "after": row["after"], "request_id": row["request_id"]}
    content["occurred_at"] = row["occurred_at"].astimezone(UTC).isoformat(timespec="microseconds")
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _keyed(row: dict[str, Any]) -> str:
    # An insider who also holds DESK_AUDIT_KEY.
    return event_hash(
        event_id=row["id"],
        **{key: row[key] for key in ("seq", "prev_hash", "occurred_at", "actor", "action", "object_type", "object_id")},
        before=row["before"],
        after=row["after"],
        request_id=row["request_id"],
    )


def rewrite_from(seq: int, *, action: str, with_key: bool = False) -> None:
    """Edit event ``seq``'s action, re-hash it and every later event, and move the head to the new last hash."""
    rows = list(AuditEvent.objects.filter(seq__gte=seq).order_by("seq").values())
    previous = AuditEvent.objects.filter(seq=seq - 1).values_list("hash", flat=True).first() or GENESIS_HASH
    # Unique hashes: the new values go in after every old one is cleared.
    with intruder_cursor() as cursor:
        cursor.execute(f"UPDATE {EVENTS} SET hash = NULL, prev_hash = NULL, seq = NULL WHERE seq >= %s", [seq])
        for row in rows:
            row["action"] = action if row["seq"] == seq else row["action"]
            row["prev_hash"] = previous
            row["hash"] = previous = (_keyed if with_key else _sha256)(row)
            cursor.execute(
                f"UPDATE {EVENTS} SET seq = %s, prev_hash = %s, hash = %s, action = %s WHERE id = %s",
                [row["seq"], row["prev_hash"], row["hash"], row["action"], row["id"]],
            )
        cursor.execute(f"UPDATE {HEAD} SET hash = %s", [previous])


def delete_newest(count: int) -> None:
    """Delete the newest ``count`` events and move the head back to the event before them."""
    with intruder_cursor() as cursor:
        cursor.execute(f"SELECT MAX(seq) FROM {EVENTS}")
        (newest,) = cursor.fetchone()
        keep = newest - count
        cursor.execute(f"DELETE FROM {EVENTS} WHERE seq > %s", [keep])
        cursor.execute(f"DELETE FROM {CHECKPOINTS} WHERE seq > %s", [keep])
        cursor.execute(f"SELECT hash FROM {EVENTS} WHERE seq = %s", [keep])
        (kept_hash,) = cursor.fetchone() or (GENESIS_HASH,)
        cursor.execute(
            f"UPDATE {HEAD} SET seq = %s, hash = %s, verified_seq = 0, verified_hash = ''", [keep, kept_hash]
        )


def delete_everything() -> None:
    """Delete every event, checkpoint and the head."""
    with intruder_cursor() as cursor:
        for table in (CHECKPOINTS, HEAD, EVENTS):
            cursor.execute(f"DELETE FROM {table}")
