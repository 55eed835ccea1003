"""The persistent FIX session store: sequence numbers and every message, in a pair of models the app owning the
sessions provides (``rfq``: dealers' sessions; ``execution``: the venues' sessions).

Everything here is synchronous ORM code; the session calls it through ``asgiref.sync.sync_to_async``. The one
rule that makes a restart lose or repeat nothing: an inbound message is stored, and ``next_target_seq`` advanced,
in the same transaction as its effects (the service call it triggered and the replies it produced); an outbound
message is stored, and ``next_sender_seq`` advanced, before a byte of it is written to the socket. A crash before
the commit leaves the peer to resend its message; a crash after it leaves us to resend ours from the store.

The session model needs ``sender_comp_id``, ``target_comp_id``, ``next_sender_seq``, ``next_target_seq``,
``status``, ``heartbeat_interval`` and ``updated_at``; the message model ``session`` (a foreign key with
``related_name`` irrelevant), ``direction`` (:data:`INBOUND` / :data:`OUTBOUND`), ``seq``, ``msg_type`` and ``raw``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from desk.fix import codec

logger = logging.getLogger(__name__)

INBOUND, OUTBOUND = "in", "out"
DISCONNECTED, LOGGED_ON, LOGGING_OUT = "disconnected", "logged_on", "logging_out"


@dataclass(frozen=True)
class Outgoing:
    """A message to send: its type and body; the header (CompIDs, MsgSeqNum, SendingTime) is added on storing.

    ``header``: further header fields (PossResend, the routing fields of an answer).
    """

    msg_type: str
    body: Sequence[tuple[int, str]] = ()
    header: Sequence[tuple[int, str]] = ()


@dataclass(frozen=True)
class Inbound:
    """An inbound message to record: its MsgSeqNum, its type and raw bytes, and the next expected MsgSeqNum."""

    seq: int
    msg_type: str
    raw: bytes
    next_target_seq: int


@dataclass
class Exchange:
    """The outcome of one stored step: bytes to write now and the sequence numbers after the commit."""

    to_send: list[bytes] = field(default_factory=list)
    next_sender_seq: int = 1
    next_target_seq: int = 1


@dataclass(frozen=True)
class SessionRecord:
    pk: int
    sender_comp_id: str
    target_comp_id: str
    counterparty_id: int | None
    next_sender_seq: int
    next_target_seq: int


class FixStore:
    """The store over one pair of models (see the module)."""

    def __init__(self, session_model: Any, message_model: Any) -> None:
        self.session_model = session_model
        self.message_model = message_model

    def record(self, row: Any) -> SessionRecord:
        return SessionRecord(
            pk=row.pk,
            sender_comp_id=row.sender_comp_id,
            target_comp_id=row.target_comp_id,
            counterparty_id=getattr(row, "counterparty_id", None),
            next_sender_seq=row.next_sender_seq,
            next_target_seq=row.next_target_seq,
        )

    def session_open(self, *, sender_comp_id: str, target_comp_id: str, **defaults: Any) -> SessionRecord:
        """The stored session for this CompID pair, created on first use with both sequence numbers at 1."""
        with transaction.atomic():
            row, _ = self.session_model.objects.select_for_update().get_or_create(
                sender_comp_id=sender_comp_id, target_comp_id=target_comp_id, defaults=defaults
            )
        return self.record(row)

    def session_status_set(self, *, session_pk: int, status: str, heartbeat_interval: int | None = None) -> None:
        fields: dict[str, object] = {"status": status}
        if heartbeat_interval is not None:
            fields["heartbeat_interval"] = heartbeat_interval
        self.session_model.objects.filter(pk=session_pk).update(**fields)

    def session_reset(self, *, session_pk: int) -> SessionRecord:
        """Start both sequences again at 1 (a Logon with ResetSeqNumFlag, or a conformance Logon with MsgSeqNum 1).

        The stored messages of the old sequence go: a ResendRequest can only ever ask for the new one.
        """
        with transaction.atomic():
            row = self.session_model.objects.select_for_update().get(pk=session_pk)
            self.message_model.objects.filter(session=row).delete()
            row.next_sender_seq = row.next_target_seq = 1
            row.save(update_fields=["next_sender_seq", "next_target_seq", "updated_at"])
        return self.record(row)

    def exchange(
        self,
        *,
        session_pk: int,
        inbound: Inbound | None = None,
        effect: Callable[[], Sequence[Outgoing]] | None = None,
        outgoing: Sequence[Outgoing] = (),
    ) -> Exchange:
        """Apply one step of the session in a single transaction and return the bytes to write after it commits.

        ``effect`` runs first (the application's service calls) and may add messages to send; then every outgoing
        message gets the next MsgSeqNum and is stored; then the inbound message (if any) is stored and
        ``next_target_seq`` advanced. If anything raises, nothing is stored and nothing is sent.
        """
        with transaction.atomic():
            row = self.session_model.objects.select_for_update().get(pk=session_pk)
            messages = list(outgoing)
            if effect is not None:
                messages = list(effect()) + messages
            result = Exchange()
            for message in messages:
                raw = codec.encode(
                    msg_type=message.msg_type,
                    sender=row.sender_comp_id,
                    target=row.target_comp_id,
                    seq=row.next_sender_seq,
                    body=message.body,
                    header=message.header,
                )
                self.message_model.objects.create(
                    session=row,
                    direction=OUTBOUND,
                    seq=row.next_sender_seq,
                    msg_type=message.msg_type,
                    raw=raw.decode("latin-1"),
                )
                row.next_sender_seq += 1
                result.to_send.append(raw)
            if inbound is not None:
                self.message_model.objects.update_or_create(
                    session=row,
                    direction=INBOUND,
                    seq=inbound.seq,
                    # The record of what came in: a NUL (refused with a Reject) is kept as U+FFFD, which text can hold.
                    defaults={
                        "msg_type": inbound.msg_type,
                        "raw": inbound.raw.decode("latin-1").replace("\x00", "\ufffd"),
                    },
                )
                row.next_target_seq = inbound.next_target_seq
            row.save(update_fields=["next_sender_seq", "next_target_seq", "updated_at"])
            result.next_sender_seq, result.next_target_seq = row.next_sender_seq, row.next_target_seq
        return result

    def target_seq_set(self, *, session_pk: int, next_target_seq: int) -> None:
        """Move the expected inbound MsgSeqNum (SequenceReset in reset mode)."""
        self.session_model.objects.filter(pk=session_pk).update(next_target_seq=next_target_seq)

    def outbound_range(self, *, session_pk: int, begin: int, end: int) -> list[tuple[int, str, bytes]]:
        """Stored outbound messages with ``begin <= seq <= end`` (``end`` 0: to the last), as (seq, type, raw)."""
        rows = self.message_model.objects.filter(session_id=session_pk, direction=OUTBOUND, seq__gte=begin)
        if end:
            rows = rows.filter(seq__lte=end)
        return [(row.seq, row.msg_type, row.raw.encode("latin-1")) for row in rows.order_by("seq")]

    def outbound_exists(self, *, session_pk: int, msg_type: str, tag: int, value: str) -> bool:
        """Whether an outbound message of this type carrying ``tag=value`` was ever stored (hence sent or to resend)."""
        return self.message_model.objects.filter(
            session_id=session_pk, direction=OUTBOUND, msg_type=msg_type, raw__contains=f"\x01{tag}={value}\x01"
        ).exists()

    def inbound_exists(self, *, session_pk: int, msg_type: str, tag: int, value: str) -> bool:
        """Whether an inbound message of this type carrying ``tag=value`` was processed already on this session."""
        return self.message_model.objects.filter(
            session_id=session_pk, direction=INBOUND, msg_type=msg_type, raw__contains=f"\x01{tag}={value}\x01"
        ).exists()

    def inbound_seen(self, *, session_pk: int, seq: int) -> bool:
        return self.message_model.objects.filter(session_id=session_pk, direction=INBOUND, seq=seq).exists()

    def sessions_mark_disconnected(self, *, sender_comp_id: str) -> int:
        """At start-up: no session of ours can be logged on yet, whatever the last run left behind."""
        return self.session_model.objects.filter(sender_comp_id=sender_comp_id).update(status=DISCONNECTED)
