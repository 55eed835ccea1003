"""The audit anchor: the chain's signed checkpoints, appended to a file outside the database.

One JSON object per line, ``{"seq": 1000, "hash": "<hex>", "time": "<ISO 8601 UTC>", "signature": "<hex>"}``: the
hash of audit event ``seq`` when the sealer checkpointed it, and HMAC-SHA256 of the other three fields under the
checkpoint key derived from ``DESK_AUDIT_KEY``. Whoever can write to the database cannot take a line back out of the
anchor: that is what shows the newest events deleted, a rewritten history or an emptied table
(:func:`desk.audit.chain_verify`).

The file is opened with ``O_APPEND`` (every write lands at its end), written under an exclusive ``flock`` (the
sealers of one host append in turn, never twice the same checkpoint) and ``fsync``-ed. The lines come from the
database's :class:`~desk.models.AuditCheckpoint` rows, committed first: :func:`anchor_sync` appends the ones the file
lacks, so a crash between the commit and the append only delays a line, and every host whose sealer runs keeps a
full copy. For an object store with a write-once lock (S3 Object Lock in compliance mode, GCS bucket lock, Azure
immutable blobs), see the README's audit section.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings

from desk.audit_keys import CHECKPOINT, audit_mac, audit_mac_matches
from desk.models import AuditCheckpoint

logger = logging.getLogger(__name__)

_BLOCK = 64 * 1024


class AnchorError(Exception):
    """An anchor file that cannot be read as signed checkpoints (a damaged or foreign line)."""


@dataclass(frozen=True)
class Checkpoint:
    """One signed checkpoint: event ``seq`` had hash ``hash`` at ``time`` (ISO 8601, UTC, microseconds)."""

    seq: int
    hash: str
    time: str
    signature: str

    @property
    def signed_content(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "time": self.time}

    def signature_ok(self) -> bool:
        return audit_mac_matches(CHECKPOINT, self.signed_content, self.signature)

    def line(self) -> bytes:
        return (json.dumps(self.signed_content | {"signature": self.signature}, sort_keys=True) + "\n").encode()

    def as_dict(self) -> dict[str, Any]:
        return self.signed_content | {"signature": self.signature}


def checkpoint_time(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def checkpoint_sign(*, seq: int, hash: str, time: datetime) -> Checkpoint:
    """A checkpoint of event ``seq`` (hash ``hash``) signed with the audit key at ``time``."""
    content = {"seq": seq, "hash": hash, "time": checkpoint_time(time)}
    return Checkpoint(seq=seq, hash=hash, time=content["time"], signature=audit_mac(CHECKPOINT, content))


def checkpoint_of(row: AuditCheckpoint) -> Checkpoint:
    return Checkpoint(seq=row.seq, hash=row.hash, time=checkpoint_time(row.signed_at), signature=row.signature)


def checkpoint_parse(raw: bytes) -> Checkpoint:
    """One anchor line; :class:`AnchorError` naming what is wrong with it."""
    try:
        data = json.loads(raw)
        checkpoint = Checkpoint(
            seq=int(data["seq"]), hash=str(data["hash"]), time=str(data["time"]), signature=str(data["signature"])
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise AnchorError(f"anchor line {raw[:80]!r} is not a signed checkpoint ({exc})") from None
    if checkpoint.seq < 1:
        raise AnchorError(f"anchor line {raw[:80]!r} names seq {checkpoint.seq}")
    return checkpoint


def _lines_backwards(handle: Any, stop: Callable[[Checkpoint], bool]) -> list[Checkpoint]:
    """The file's checkpoints from its end back to the first one for which ``stop`` holds (included), in file
    order. Reads blocks from the end: a tail costs what it holds, not what the file holds."""
    handle.seek(0, os.SEEK_END)
    position = handle.tell()
    found: list[Checkpoint] = []
    rest = b""
    while position > 0:
        step = min(_BLOCK, position)
        position -= step
        handle.seek(position)
        parts = (handle.read(step) + rest).split(b"\n")
        rest = parts[0]
        for raw in reversed(parts[1:]):
            if raw.strip():
                found.append(checkpoint_parse(raw))
                if stop(found[-1]):
                    return found[::-1]
    if rest.strip():
        found.append(checkpoint_parse(rest))
    return found[::-1]


def anchor_read(path: str | Path, *, since_seq: int | None = None) -> list[Checkpoint]:
    """The anchor's checkpoints in file order: all of them, or (``since_seq``) the tail from the last one below
    ``since_seq`` on, which always holds the last line. An absent file holds none."""
    try:
        with open(path, "rb") as handle:
            if since_seq is None:
                return [checkpoint_parse(raw) for raw in handle if raw.strip()]
            return _lines_backwards(handle, lambda checkpoint: checkpoint.seq < since_seq)
    except FileNotFoundError:
        return []


def anchor_last(path: str | Path) -> Checkpoint | None:
    tail = anchor_read(path, since_seq=2**63)
    return tail[-1] if tail else None


def _append(fd: int, checkpoints: Iterable[Checkpoint]) -> int:
    payload = b"".join(checkpoint.line() for checkpoint in checkpoints)
    if payload:
        # O_APPEND: each write lands at the end of the file, whatever else has the file open.
        written = 0
        while written < len(payload):
            written += os.write(fd, payload[written:])
        os.fsync(fd)
    return payload.count(b"\n")


def anchor_sync(path: str | Path | None = None) -> int:
    """Append to the anchor the database's checkpoints newer than its last line, oldest first; how many.

    A checkpoint whose signature does not verify is never anchored (it was not made with this desk's key): the
    sync stops there and logs it, and :func:`desk.audit.chain_verify` reports it."""
    target = Path(path or settings.DESK_AUDIT_ANCHOR)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with os.fdopen(os.dup(fd), "rb") as reader:
            tail = _lines_backwards(reader, lambda checkpoint: True)
        last_seq = tail[-1].seq if tail else 0
        pending = []
        for row in AuditCheckpoint.objects.filter(seq__gt=last_seq).order_by("seq"):
            checkpoint = checkpoint_of(row)
            if not checkpoint.signature_ok():
                logger.error("audit checkpoint #%s in the database is not signed with this key: not anchored", row.seq)
                break
            pending.append(checkpoint)
        return _append(fd, pending)
    finally:
        os.close(fd)  # closing releases the flock
