"""The FIX 4.4 session layer: logon, sequence numbers, heartbeats, resends, rejects, logout.

One :class:`Session` per TCP connection, acceptor side (the dealers' gateway, ``rfq.fix``, which authenticates the
peer in a subclass) or initiator side (:meth:`Session.initiate`: the desk logs on to a venue, ``execution.fix``).
It owns no socket: bytes come in through :meth:`Session.on_bytes`, go out through a :class:`Transport`, and time
moves through :meth:`Session.on_timer`, so tests can drive it directly. Persistence goes through a
:class:`desk.fix.store.FixStore` (each step one transaction, see there), application messages through an
:class:`Application`.

Rules followed (FIX 4.4 Volume 2, "Session protocol"; where it leaves a choice, as QuickFIX does, whose acceptance
scripts ``tests/rfq/test_fix_acceptance.py`` plays):

- the first message must be a Logon, else the connection is dropped without a word (a garbled one too);
- a garbled message (bad BodyLength, bad CheckSum, MsgType not third) is ignored: no reply, no sequence advance
  (see :class:`rfq.fix.codec.FrameReader` for where a message with a wrong BodyLength ends);
- a MsgSeqNum above the expected one is held back, a ResendRequest asks for the gap, and the held messages are
  processed in order once it is filled; a gap still open after ``resend_timeout`` is asked for again, and after
  ``max_resend_requests`` unanswered ResendRequests the session ends (Logout with the reason); a MsgSeqNum below
  the expected one without PossDupFlag(43)=Y ends the session (Logout, then disconnect), with PossDupFlag=Y it is
  ignored (already processed) unless its OrigSendingTime is missing (Reject) or later than its SendingTime
  (Reject, then Logout). A ResendRequest or a Logout is acted on whatever its MsgSeqNum;
- a message with a bad field gets a Reject(3) with RefSeqNum, RefTagID, RefMsgType and SessionRejectReason (its
  Text starts with the reason's standard wording), routed back (OnBehalfOf/DeliverTo swapped), and still counts
  (the sequence advances); a CompID other than the session's, or a SendingTime more than two minutes off, gets
  the Reject, then a Logout; a CompID missing or empty is a malformed header (reason 1 or 4), nothing more;
- a ResendRequest is answered from the store: application messages again with PossDupFlag=Y and
  OrigSendingTime(122), administrative ones replaced by SequenceReset-GapFill; a Logon carrying
  NextExpectedMsgSeqNum(789) is answered the same way from that number (our Logon reply then carries ours), and
  one above our next MsgSeqNum ends the session: we cannot resend what we never sent; a Logon with
  ResetSeqNumFlag(141)=Y on a live session starts both sequences again at 1;
- no message received for HeartBtInt (plus 20 % for transmission) → TestRequest; no answer for as long again
  → disconnect (after a Logout naming the reason, unless ``logout_before_drop`` is off). A Heartbeat goes out
  whenever we have been silent for HeartBtInt, except while a TestRequest waits for its answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import simplefix
from asgiref.sync import sync_to_async

from desk.fix import codec
from desk.fix.messages import (
    ADMIN_TYPES,
    FIX44_MSG_TYPES,
    BusinessProblem,
    BusinessRejectReason,
    Problem,
    RejectReason,
    business_id,
    business_reject,
    logout,
    reject,
)
from desk.fix.store import DISCONNECTED, LOGGED_ON, Exchange, FixStore, Inbound, Outgoing, SessionRecord

logger = logging.getLogger(__name__)

SENDING_TIME_TOLERANCE = timedelta(minutes=2)
TRANSMISSION_ALLOWANCE = 0.2
LOGON_TIMEOUT_S = 10.0
LOGOUT_TIMEOUT_S = 2.0
# Messages held back while a gap is being filled; a peer that never fills it must not exhaust our memory.
MAX_HELD_MESSAGES = 10_000
# A gap with no HeartBtInt to scale from (HeartBtInt 0) is asked for again after this long.
DEFAULT_RESEND_TIMEOUT_S = 30.0
MAX_RESEND_REQUESTS = 3


class Transport(Protocol):
    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...


class Application(Protocol):
    """What the session needs from the application layer (normal dealer flow or the conformance echo)."""

    #: Inbound application MsgTypes handled; any other valid FIX 4.4 type gets BusinessMessageReject reason 3.
    supported: frozenset[str]

    def check(self, message: simplefix.FixMessage) -> Problem | None:
        """A session-level problem with an application message's fields, or None. Pure: no database."""

    def handle(self, *, session: Session, message: simplefix.FixMessage, seq: int) -> Sequence[Outgoing]:
        """Apply an inbound application message (sync, inside the store's transaction); return the replies."""

    async def on_logon(self, session: Session) -> None:
        """The session is up: deliver what waited while the peer was away."""

    async def on_disconnect(self, session: Session) -> None:
        """The session is down (logout, error, dropped socket)."""


class State(enum.Enum):
    AWAITING_LOGON = "awaiting_logon"
    LOGGED_ON = "logged_on"
    LOGGING_OUT = "logging_out"
    CLOSED = "closed"


@dataclass
class SessionConfig:
    """How a session accepts its peer.

    ``conformance_peer`` set: the conformance mode of ``fixgateway`` (one fixed peer CompID, no credentials, a
    Logon with MsgSeqNum 1 resets both sequences). ``reset_on_logon``: every Logon resets both sequences (QuickFIX's
    ``ResetOnLogon=Y``, which its acceptance scripts assume). ``resend_timeout`` (seconds, None: HeartBtInt plus
    the transmission allowance) is how long a ResendRequest may go unanswered before it is sent again, at most
    ``max_resend_requests`` times in a row without progress; then the session is logged out.
    ``logout_before_drop``: a Logon refused for its SendingTime, or a TestRequest left unanswered, is told with a
    Logout naming the reason before the connection is dropped (dealers); False drops it at once, as the reference
    engines do (conformance mode).
    """

    sender_comp_id: str = "DESK"
    conformance_peer: str | None = None
    sending_time_tolerance: timedelta = SENDING_TIME_TOLERANCE
    resend_timeout: float | None = None
    max_resend_requests: int = MAX_RESEND_REQUESTS
    reset_on_logon: bool = False
    logout_before_drop: bool = True


class SessionRegistry:
    """The live sessions of a gateway by peer CompID: one session per CompID."""

    def __init__(self) -> None:
        self._by_comp_id: dict[str, Session] = {}

    def claim(self, comp_id: str, session: Session) -> bool:
        current = self._by_comp_id.get(comp_id)
        if current is not None and current is not session and current.state is not State.CLOSED:
            return False
        self._by_comp_id[comp_id] = session
        return True

    def release(self, comp_id: str, session: Session) -> None:
        if self._by_comp_id.get(comp_id) is session:
            del self._by_comp_id[comp_id]

    def get(self, comp_id: str) -> Session | None:
        session = self._by_comp_id.get(comp_id)
        return session if session is not None and session.state is State.LOGGED_ON else None

    def all(self) -> list[Session]:
        return list(self._by_comp_id.values())


TEST_REQ_ID = "TEST"


class Session:
    """One FIX session over one connection. See the module docstring for the rules.

    An acceptor authenticates its peer in :meth:`_authenticate` (here only the conformance peer is known: a
    subclass checks credentials) and opens its stored record in :meth:`_open_record`.
    """

    def __init__(
        self,
        *,
        transport: Transport,
        application: Application,
        registry: SessionRegistry,
        store: FixStore,
        config: SessionConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.transport = transport
        self.store = store
        self.initiator = False
        self.application = application
        self.registry = registry
        self.config = config or SessionConfig()
        self.clock = clock
        self.state = State.AWAITING_LOGON
        self.record: SessionRecord | None = None
        # Who the peer is to the application (the dealer's Counterparty row on the gateway), set on logon.
        self.counterparty: Any = None
        self.peer_comp_id = ""
        self.heartbeat_interval = 30
        self.next_sender_seq = 1
        self.next_target_seq = 1
        self._framer = codec.FrameReader()
        self._lock = asyncio.Lock()
        self._opened_at = clock()
        self._last_received = clock()
        self._last_sent = clock()
        self._test_request: tuple[str, float] | None = None
        self._logout_sent_at: float | None = None
        self._resend_until: int | None = None
        # The last ResendRequest of the open gap: when, from which MsgSeqNum, how many in a row without progress.
        self._resend_sent_at: float | None = None
        self._resend_from = 0
        self._resend_attempts = 0
        self._held: dict[int, tuple[bytes, simplefix.FixMessage]] = {}
        self._answered_early: set[int] = set()
        self.garbled_count = 0
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ public entry points

    async def on_bytes(self, data: bytes) -> None:
        """Feed bytes read from the socket; process every whole message they complete."""
        self._framer.feed(data)
        for item in self._framer.frames():
            if self.state is State.CLOSED:
                return
            if isinstance(item, codec.Garbled):
                self._garbled(item.reason, item.data)
                if self.state is State.AWAITING_LOGON and not item.junk:
                    # Nothing to resynchronise with yet: a first message that fails its checks ends the connection.
                    await self.close(f"garbled first message ({item.reason})")
                continue
            try:
                message = codec.decode(item)
            except codec.GarbledMessage as exc:
                self._garbled(str(exc), item)
                if self.state is State.AWAITING_LOGON:
                    await self.close(f"garbled first message ({exc})")
                continue
            self._last_received = self.clock()
            async with self._lock:
                await self._process(item, message)

    async def on_timer(self) -> None:
        """Called a few times per HeartBtInt: heartbeats, TestRequests, and the timeouts."""
        now = self.clock()
        if self.state is State.AWAITING_LOGON:
            if now - self._opened_at > LOGON_TIMEOUT_S:
                await self.close("no Logon")
            return
        if self.state is State.LOGGING_OUT:
            if self._logout_sent_at is not None and now - self._logout_sent_at > LOGOUT_TIMEOUT_S:
                await self.close("no Logout answer")
            return
        if self.state is not State.LOGGED_ON:
            return
        interval = float(self.heartbeat_interval)
        patience = interval * (1 + TRANSMISSION_ALLOWANCE)
        async with self._lock:
            if (
                self._resend_until is not None
                and self._resend_sent_at is not None
                and now - self._resend_sent_at > self._resend_timeout()
            ):
                await self._resend_again()
                return
            if self.heartbeat_interval <= 0 or self.state is not State.LOGGED_ON:
                return
            if self._test_request is not None and now - self._test_request[1] > patience:
                # The peer is presumed gone; a Logout naming why still goes first when it may only be slow (dealers).
                if self.config.logout_before_drop:
                    await self._logout_and_close("no answer to TestRequest")
                else:
                    await self.close("no answer to TestRequest")
                return
            if self._test_request is None and now - self._last_sent >= interval:
                # Before the TestRequest when a late tick finds both due: the Heartbeat is owed in any case. None
                # while a TestRequest waits for its answer: the TestRequest was our traffic, and the peer is silent.
                await self._send([Outgoing("0")])
            if self._test_request is None and now - self._last_received > patience:
                # One TestRequest at a time, so one id serves (the reference engines use "TEST" too).
                self._test_request = (TEST_REQ_ID, now)
                await self._send([Outgoing("1", [(112, TEST_REQ_ID)])])

    async def send_application(
        self, effect: Callable[[], Sequence[Outgoing]], *, guard: Callable[[], bool] | None = None
    ) -> bool:
        """Store and send application messages produced by ``effect`` (run in the store's transaction).

        ``guard`` (sync, run first in the same thread) returns False to skip: the idempotence check of the
        deliveries. Returns whether anything was sent.
        """
        async with self._lock:
            if self.state is not State.LOGGED_ON or self.record is None:
                return False
            if guard is not None and not await sync_to_async(guard)():
                return False
            result = await sync_to_async(self.store.exchange)(session_pk=self.record.pk, effect=effect)
            await self._write_all(result)
            return bool(result.to_send)

    async def close(self, reason: str) -> None:
        """Drop the connection (no message sent) and let the application know."""
        if self.state is State.CLOSED:
            return
        was_logged_on = self.state in (State.LOGGED_ON, State.LOGGING_OUT)
        self.state = State.CLOSED
        logger.info("FIX session %s closed: %s", self.peer_comp_id or "?", reason)
        if self.peer_comp_id:
            self.registry.release(self.peer_comp_id, self)
        try:
            await self.transport.close()
        finally:
            if was_logged_on and self.record is not None:
                await sync_to_async(self.store.session_status_set)(session_pk=self.record.pk, status=DISCONNECTED)
                await self.application.on_disconnect(self)

    async def logout(self, text: str = "") -> None:
        """Start an orderly logout (gateway shutdown): send Logout, wait for the peer's, then close."""
        async with self._lock:
            if self.state is State.LOGGED_ON:
                # The state changes before the await: a concurrent close() must not be overwritten.
                self.state = State.LOGGING_OUT
                self._logout_sent_at = self.clock()
                await self._send([logout(text)])

    # ------------------------------------------------------------------ plumbing

    def _garbled(self, reason: str, data: bytes) -> None:
        self.garbled_count += 1
        logger.warning("FIX %s: garbled message ignored (%s): %s", self.peer_comp_id or "?", reason, data[:200])
        hook = getattr(self.application, "on_garbled", None)
        if hook is not None and self.state is State.LOGGED_ON:
            # The application may record it (an audit row): off the loop's thread, in the store's context.
            task = asyncio.get_running_loop().create_task(sync_to_async(hook)(self, reason, data))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _write_all(self, result: Exchange) -> None:
        self.next_sender_seq, self.next_target_seq = result.next_sender_seq, result.next_target_seq
        for raw in result.to_send:
            await self._write(raw)

    async def _write(self, raw: bytes) -> None:
        self._last_sent = self.clock()
        try:
            await self.transport.write(raw)
        except (ConnectionError, OSError) as exc:
            # Stored already: the peer gets it again by ResendRequest when it comes back.
            logger.info("FIX %s: write failed (%s)", self.peer_comp_id, exc)

    async def _send(self, messages: Sequence[Outgoing], *, inbound: Inbound | None = None) -> None:
        assert self.record is not None
        result = await sync_to_async(self.store.exchange)(session_pk=self.record.pk, inbound=inbound, outgoing=messages)
        await self._write_all(result)

    async def _advance(self, frame: bytes, message: simplefix.FixMessage, seq: int, *replies: Outgoing) -> None:
        """Record an inbound message as processed (the sequence advances) and send the replies with it."""
        inbound = Inbound(seq=seq, msg_type=codec.msg_type(message), raw=frame, next_target_seq=seq + 1)
        await self._send(replies, inbound=inbound)

    def _resend_timeout(self) -> float:
        if self.config.resend_timeout is not None:
            return self.config.resend_timeout
        if self.heartbeat_interval <= 0:
            return DEFAULT_RESEND_TIMEOUT_S
        return self.heartbeat_interval * (1 + TRANSMISSION_ALLOWANCE)

    async def _request_resend(self) -> None:
        """Ask for everything from the expected MsgSeqNum on (EndSeqNo 0: to infinity) and start the clock."""
        self._resend_sent_at, self._resend_from = self.clock(), self.next_target_seq
        self._resend_attempts += 1
        await self._send([Outgoing("2", [(7, str(self.next_target_seq)), (16, "0")])])

    async def _resend_again(self) -> None:
        """The gap is still open a resend timeout after our last ResendRequest: ask again, or give up."""
        if self.next_target_seq > self._resend_from:
            # Part of the gap came in: the peer is resending, only slowly. Count afresh.
            self._resend_attempts = 0
        if self._resend_attempts >= self.config.max_resend_requests:
            await self._logout_and_close(
                f"gap from MsgSeqNum {self.next_target_seq} not filled after {self._resend_attempts} ResendRequests"
            )
            return
        logger.info("FIX %s: gap from %d still open, ResendRequest again", self.peer_comp_id, self.next_target_seq)
        await self._request_resend()

    def _gap_closed(self) -> None:
        self._resend_until, self._resend_sent_at, self._resend_attempts = None, None, 0

    async def _logout_and_close(self, text: str, *, tell: bool = True) -> None:
        """Send a Logout (carrying ``text`` unless ``tell`` is False: a Reject just said why) and disconnect."""
        logger.warning("FIX %s: logout: %s", self.peer_comp_id, text)
        if self.record is not None:
            await self._send([logout(text if tell else "")])
        await self.close(text)

    # ------------------------------------------------------------------ inbound processing

    async def _process(self, frame: bytes, message: simplefix.FixMessage) -> None:
        if self.state is State.AWAITING_LOGON:
            if self.initiator:
                await self._on_logon_reply(frame, message)
            else:
                await self._on_first_message(frame, message)
            return
        if self.state is State.CLOSED:
            return
        kind = codec.msg_type(message)
        begin_string = codec.field(message, 8)
        if begin_string != codec.BEGIN_STRING:
            await self._logout_and_close(f"Incorrect BeginString: {begin_string} (expected {codec.BEGIN_STRING})")
            return
        seq = self._seq_of(message)
        if seq is None:
            await self._logout_and_close("MsgSeqNum(34) missing or not a number")
            return
        sender, target = codec.field(message, 49), codec.field(message, 56)
        # A CompID missing or empty is a malformed header (Reject reason 1 or 4, see _header_problem), not a stranger.
        if sender and target and (sender != self.peer_comp_id or target != self.config.sender_comp_id):
            bad_tag, bad_value = (49, sender) if sender != self.peer_comp_id else (56, target)
            problem = Problem(RejectReason.COMPID_PROBLEM, bad_tag, f"{bad_tag}={bad_value}")
            await self._advance(frame, message, seq, self._reject(message, seq, problem))
            await self._logout_and_close(problem.text, tell=False)
            return
        if kind == "A" and codec.field(message, 141) == "Y":
            await self._on_reset_logon(frame, message, seq)
            return
        if kind == "4" and codec.field(message, 123) != "Y":
            await self._on_sequence_reset(frame, message, seq)
            return
        expected = self.next_target_seq
        if seq > expected:
            await self._on_too_high(frame, message, seq, expected)
            return
        if seq < expected:
            await self._on_too_low(message, seq, expected)
            return
        await self._on_expected(frame, message, seq)
        await self._drain_held()

    def _reject(self, message: simplefix.FixMessage, seq: int, problem: Problem) -> Outgoing:
        """A Reject of ``message``, routed back the way it came."""
        return reject(ref_seq=seq, ref_msg_type=codec.msg_type(message), problem=problem, to=message)

    def _seq_of(self, message: simplefix.FixMessage) -> int | None:
        text = codec.field(message, 34)
        return int(text) if text is not None and text.isdigit() else None

    async def _drain_held(self) -> None:
        while self.state is State.LOGGED_ON and self.next_target_seq in self._held:
            seq = self.next_target_seq
            frame, message = self._held.pop(seq)
            await self._on_expected(frame, message, seq)
        for seq in [seq for seq in self._held if seq < self.next_target_seq]:
            del self._held[seq]
        if self._resend_until is not None and self.next_target_seq > self._resend_until:
            self._gap_closed()

    async def _on_too_high(self, frame: bytes, message: simplefix.FixMessage, seq: int, expected: int) -> None:
        kind = codec.msg_type(message)
        if kind == "5":
            await self._logout_and_close("")
            return
        if kind == "2":
            # Their ResendRequest is answered now: they may be waiting for it before filling our gap.
            await self._answer_resend(message)
            self._answered_early.add(seq)
        if kind == "0" and self._test_request is not None and codec.field(message, 112) == self._test_request[0]:
            # The answer to our TestRequest, held behind the gap: the peer is alive, whatever its sequence.
            self._test_request = None
        if len(self._held) >= MAX_HELD_MESSAGES:
            await self._logout_and_close(f"more than {MAX_HELD_MESSAGES} messages beyond a gap that is not filled")
            return
        self._held[seq] = (frame, message)
        if self._resend_until is None or seq > self._resend_until:
            first_request = self._resend_until is None
            self._resend_until = seq
            if first_request:
                logger.info("FIX %s: gap %d..%d, ResendRequest", self.peer_comp_id, expected, seq - 1)
                await self._request_resend()

    async def _on_too_low(self, message: simplefix.FixMessage, seq: int, expected: int) -> None:
        kind = codec.msg_type(message)
        if kind == "2":
            # Answered whatever its MsgSeqNum, as the reference engines do: a peer that lost our messages gets them
            # back. Not stored and the sequence does not move: the number was used already.
            await self._answer_resend(message)
            return
        if kind == "5":
            # The session ends either way: the peer's Logout is answered, not argued with.
            if self.state is not State.LOGGING_OUT:
                await self._send([logout()])
            await self.close("logout")
            return
        if codec.field(message, 43) != "Y":
            await self._logout_and_close(f"MsgSeqNum too low, expecting {expected} but received {seq}")
            return
        problem = self._poss_dup_problem(message)
        if problem is not None:
            # Not stored: the sequence stays where it is, the message was a duplicate anyway.
            await self._send([self._reject(message, seq, problem)])
            if problem.reason is RejectReason.SENDING_TIME_ACCURACY:
                # A resend that claims to have been sent after it was sent: nothing it says can be trusted.
                await self._logout_and_close(problem.text, tell=False)
        # Otherwise a duplicate of something processed already: ignore it.

    def _poss_dup_problem(self, message: simplefix.FixMessage) -> Problem | None:
        if codec.field(message, 43) != "Y":
            return None
        orig = codec.field(message, 122)
        if orig is None:
            if codec.msg_type(message) == "4":
                return None
            return Problem(RejectReason.REQUIRED_TAG_MISSING, 122)
        try:
            orig_time = codec.parse_utc_timestamp(orig)
            sending_time = codec.parse_utc_timestamp(codec.field(message, 52) or "")
        except ValueError:
            return Problem(RejectReason.INCORRECT_DATA_FORMAT, 122)
        if orig_time > sending_time:
            return Problem(RejectReason.SENDING_TIME_ACCURACY, 122, "OrigSendingTime(122) later than SendingTime(52)")
        return None

    def _header_problem(self, message: simplefix.FixMessage) -> Problem | None:
        for tag, value in message.pairs:
            if not value:
                return Problem(RejectReason.TAG_WITHOUT_VALUE, int(tag))
            if b"\x00" in value:
                # No text of the desk may hold a NUL (PostgreSQL refuses it): refused here, before any lookup or echo.
                return Problem(
                    RejectReason.INCORRECT_DATA_FORMAT, int(tag), f"NUL (0x00) in the value of tag {int(tag)}"
                )
        for tag in (49, 56, 52):
            if message.get(tag) is None:
                return Problem(RejectReason.REQUIRED_TAG_MISSING, tag)
        out_of_order = codec.header_order_problem(message)
        if out_of_order is not None:
            return Problem(RejectReason.TAG_OUT_OF_ORDER, out_of_order)
        return None

    def _sending_time_problem(self, message: simplefix.FixMessage) -> Problem | None:
        try:
            sent = codec.parse_utc_timestamp(codec.field(message, 52) or "")
        except ValueError:
            return Problem(RejectReason.INCORRECT_DATA_FORMAT, 52)
        if abs(datetime.now(UTC) - sent) > self.config.sending_time_tolerance:
            return Problem(RejectReason.SENDING_TIME_ACCURACY, 52)
        return None

    async def _on_expected(self, frame: bytes, message: simplefix.FixMessage, seq: int) -> None:
        kind = codec.msg_type(message)
        problem = self._header_problem(message)
        if problem is None:
            problem = self._sending_time_problem(message)
            if problem is not None:
                await self._advance(frame, message, seq, self._reject(message, seq, problem))
                await self._logout_and_close(problem.text, tell=False)
                return
        if problem is None:
            problem = self._poss_dup_problem(message)
        if problem is None:
            problem = self._body_problem(kind, message)
        if problem is not None:
            await self._advance(frame, message, seq, self._reject(message, seq, problem))
            return
        handler = {
            "0": self._on_heartbeat,
            "1": self._on_test_request,
            "2": self._on_resend_request,
            "3": self._on_reject,
            "4": self._on_gap_fill,
            "5": self._on_logout,
            "A": self._on_second_logon,
        }.get(kind)
        if handler is not None:
            await handler(frame, message, seq)
            return
        await self._on_application(frame, message, seq)

    def _body_problem(self, kind: str, message: simplefix.FixMessage) -> Problem | None:
        required = {"1": (112,), "2": (7, 16), "4": (36,)}.get(kind, ())
        for tag in required:
            value = codec.field(message, tag)
            if value is None:
                return Problem(RejectReason.REQUIRED_TAG_MISSING, tag)
            if tag in (7, 16, 36) and not value.isdigit():
                return Problem(RejectReason.INCORRECT_DATA_FORMAT, tag)
        if kind in ADMIN_TYPES:
            check_admin = getattr(self.application, "check_admin", None)
            return None if check_admin is None else check_admin(message)
        if kind not in FIX44_MSG_TYPES:
            return Problem(RejectReason.INVALID_MSG_TYPE, 35, kind)
        if kind not in self.application.supported:
            return None
        return self.application.check(message)

    async def _on_heartbeat(self, frame: bytes, message: simplefix.FixMessage, seq: int) -> None:
        if self._test_request is not None and codec.field(message, 112) == self._test_request[0]:
            self._test_request = None
        await self._advance(frame, message, seq)

    async def _on_test_request(self, frame: bytes, message: simplefix.FixMessage, seq: int) -> None:
        await self._advance(frame, message, seq, Outgoing("0", [(112, codec.field(message, 112) or "")]))

    async def _on_reject(self, frame: bytes, message: simplefix.FixMessage, seq: int) -> None:
        logger.warning("FIX %s: our message was rejected: %s", self.peer_comp_id, codec.readable(frame))
        await self._advance(frame, message, seq)
        hook = getattr(self.application, "on_session_reject", None)
        if hook is not None:
            await sync_to_async(hook)(self, message)

    async def _on_resend_request(self, frame: bytes, message: simplefix.FixMessage, seq: int) -> None:
        await self._advance(frame, message, seq)
        if seq in self._answered_early:
            # Held back behind a gap and answered on arrival: processing it now must not resend everything twice.
            self._answered_early.discard(seq)
            return
        await self._answer_resend(message)

    async def _answer_resend(self, message: simplefix.FixMessage) -> None:
        """Resend ``BeginSeqNo..EndSeqNo`` (0: to the last sent) from the store; admin messages become gap fills."""
        await self._resend_range(int(codec.field(message, 7) or "0"), int(codec.field(message, 16) or "0"))

    async def _resend_range(self, begin: int, end: int) -> None:
        """Resend our ``begin..end`` (``end`` 0 or past the last sent: to the last sent)."""
        assert self.record is not None
        last = self.next_sender_seq - 1
        end = last if end == 0 or end > last else end
        if begin < 1 or begin > end:
            return
        stored = await sync_to_async(self.store.outbound_range)(session_pk=self.record.pk, begin=begin, end=end)
        by_seq = {seq: (kind, raw) for seq, kind, raw in stored}
        gap_start: int | None = None
        for seq in range(begin, end + 1):
            kind, raw = by_seq.get(seq, ("", b""))
            if not raw or kind in ADMIN_TYPES:
                gap_start = seq if gap_start is None else gap_start
                continue
            if gap_start is not None:
                await self._write(self._gap_fill(gap_start, seq))
                gap_start = None
            await self._write(self._poss_dup_copy(seq, raw))
        if gap_start is not None:
            await self._write(self._gap_fill(gap_start, end + 1))

    def _gap_fill(self, seq: int, new_seq: int) -> bytes:
        now = codec.format_utc_timestamp(datetime.now(UTC))
        return codec.encode(
            msg_type="4",
            sender=self.config.sender_comp_id,
            target=self.peer_comp_id,
            seq=seq,
            poss_dup=True,
            orig_sending_time=now,
            body=[(123, "Y"), (36, str(new_seq))],
        )

    def _poss_dup_copy(self, seq: int, raw: bytes) -> bytes:
        original = codec.decode(raw)
        return codec.encode(
            msg_type=codec.msg_type(original),
            sender=self.config.sender_comp_id,
            target=self.peer_comp_id,
            seq=seq,
            poss_dup=True,
            orig_sending_time=codec.field(original, 52),
            poss_resend=codec.field(original, 97) == "Y",
            header=codec.extra_header_fields(original),
            body=codec.body_fields(original),
        )

    async def _on_gap_fill(self, frame: bytes, message: simplefix.FixMessage, seq: int) -> None:
        new_seq = int(codec.field(message, 36) or "0")
        if new_seq <= seq:
            problem = Problem(RejectReason.VALUE_INCORRECT, 36, f"NewSeqNo {new_seq} not above MsgSeqNum {seq}")
            await self._advance(frame, message, seq, self._reject(message, seq, problem))
            return
        inbound = Inbound(seq=seq, msg_type="4", raw=frame, next_target_seq=new_seq)
        await self._send([], inbound=inbound)

    async def _on_sequence_reset(self, frame: bytes, message: simplefix.FixMessage, seq: int) -> None:
        """SequenceReset in reset mode: MsgSeqNum is ignored, NewSeqNo becomes the expected number."""
        assert self.record is not None
        text = codec.field(message, 36)
        if text is None or not text.isdigit():
            reason = RejectReason.REQUIRED_TAG_MISSING if text is None else RejectReason.INCORRECT_DATA_FORMAT
            await self._send([self._reject(message, seq, Problem(reason, 36))])
            return
        new_seq = int(text)
        if new_seq < self.next_target_seq:
            detail = f"NewSeqNo {new_seq} below the expected {self.next_target_seq}"
            await self._send([self._reject(message, seq, Problem(RejectReason.VALUE_INCORRECT, 36, detail))])
            return
        await sync_to_async(self.store.target_seq_set)(session_pk=self.record.pk, next_target_seq=new_seq)
        self.next_target_seq = new_seq
        await self._drain_held()

    async def _on_logout(self, frame: bytes, message: simplefix.FixMessage, seq: int) -> None:
        if self.state is State.LOGGING_OUT:
            await self._advance(frame, message, seq)
        else:
            await self._advance(frame, message, seq, logout())
        await self.close("logout")

    async def _on_reset_logon(self, frame: bytes, message: simplefix.FixMessage, seq: int) -> None:
        """A Logon with ResetSeqNumFlag(141)=Y on a live session: both sequences start again at 1 (FIX 4.4 Vol 2,
        "Sequence reset via Logon"), whatever was outstanding; the Logon itself must be MsgSeqNum 1."""
        assert self.record is not None
        interval_text = codec.field(message, 108) or ""
        if seq != 1 or not interval_text.isdigit():
            await self._logout_and_close("a Logon with ResetSeqNumFlag(141)=Y needs MsgSeqNum 1 and HeartBtInt(108)")
            return
        self.record = await sync_to_async(self.store.session_reset)(session_pk=self.record.pk)
        self._held.clear()
        self._answered_early.clear()
        self._gap_closed()
        self._test_request = None
        self.heartbeat_interval = int(interval_text)
        logger.info("FIX %s: sequences reset by Logon", self.peer_comp_id)
        reply = Outgoing("A", [(98, "0"), (108, interval_text), (141, "Y")])
        await self._send([reply], inbound=Inbound(seq=1, msg_type="A", raw=frame, next_target_seq=2))

    async def _on_second_logon(self, frame: bytes, message: simplefix.FixMessage, seq: int) -> None:
        problem = Problem(RejectReason.OTHER, None, "Logon received on a session already logged on")
        await self._advance(frame, message, seq, self._reject(message, seq, problem))

    async def _on_application(self, frame: bytes, message: simplefix.FixMessage, seq: int) -> None:
        kind = codec.msg_type(message)
        if kind not in self.application.supported:
            reason = BusinessRejectReason.UNSUPPORTED_MESSAGE_TYPE
            problem = BusinessProblem(int(reason), business_id(message), f"Unsupported Message Type: {kind}")
            reply = business_reject(ref_seq=seq, ref_msg_type=kind, problem=problem, to=message)
            await self._advance(frame, message, seq, reply)
            return
        assert self.record is not None
        inbound = Inbound(seq=seq, msg_type=kind, raw=frame, next_target_seq=seq + 1)

        def effect() -> Sequence[Outgoing]:
            return self.application.handle(session=self, message=message, seq=seq)

        try:
            result = await sync_to_async(self.store.exchange)(session_pk=self.record.pk, inbound=inbound, effect=effect)
        except Exception:
            # A bug or an outage in the desk must not wedge the session on one message: refuse it and move on.
            logger.exception("FIX %s: handling %s #%d failed", self.peer_comp_id, kind, seq)
            problem = BusinessProblem(0, "", "the desk could not process this message")
            reply = business_reject(ref_seq=seq, ref_msg_type=kind, problem=problem, to=message)
            await self._advance(frame, message, seq, reply)
            return
        await self._write_all(result)

    # ------------------------------------------------------------------ logon, initiator side

    async def initiate(self, *, peer_comp_id: str, heartbeat_interval: int = 30, reset: bool = False) -> None:
        """Log on to ``peer_comp_id`` as the initiator, from the stored sequence numbers (``reset``: both from 1,
        ResetSeqNumFlag=Y). The session is up once the peer's Logon comes back (:meth:`_on_logon_reply`)."""
        self.initiator = True
        self.peer_comp_id = peer_comp_id
        self.heartbeat_interval = heartbeat_interval
        if not self.registry.claim(peer_comp_id, self):
            await self.close(f"a session with {peer_comp_id} is already open")
            return
        self.record = await self._open_record(peer_comp_id, None)
        if reset:
            self.record = await sync_to_async(self.store.session_reset)(session_pk=self.record.pk)
        self.next_sender_seq, self.next_target_seq = self.record.next_sender_seq, self.record.next_target_seq
        body = [(98, "0"), (108, str(heartbeat_interval))] + ([(141, "Y")] if reset else [])
        self._opened_at = self.clock()
        await self._send([Outgoing("A", body)])

    async def _on_logon_reply(self, frame: bytes, message: simplefix.FixMessage) -> None:
        """The acceptor's answer to our Logon: a Logon (we are up; a gap in its sequence is asked for) or a Logout
        (refused, with its reason)."""
        assert self.record is not None
        kind = codec.msg_type(message)
        if kind == "5":
            await self.close(f"Logon refused: {codec.field(message, 58) or 'no reason given'}")
            return
        if kind != "A" or codec.field(message, 49) != self.peer_comp_id:
            await self.close(f"expected a Logon from {self.peer_comp_id}, got {kind} from {codec.field(message, 49)}")
            return
        seq = self._seq_of(message)
        expected = self.next_target_seq
        if seq is None or seq < expected:
            await self._logout_and_close(f"MsgSeqNum too low, expecting {expected} but received {seq}")
            return
        advance_to = seq + 1 if seq == expected else expected
        await self._send([], inbound=Inbound(seq=seq, msg_type="A", raw=frame, next_target_seq=advance_to))
        interval = codec.field(message, 108)
        if interval is not None and interval.isdigit():
            self.heartbeat_interval = int(interval)
        self.state = State.LOGGED_ON
        await sync_to_async(self.store.session_status_set)(
            session_pk=self.record.pk, status=LOGGED_ON, heartbeat_interval=self.heartbeat_interval
        )
        logger.info("FIX %s logged on as initiator (in %d, out %d)", self.peer_comp_id, seq, self.next_sender_seq - 1)
        if seq > expected:
            self._resend_until = seq
            await self._request_resend()
        task = asyncio.get_running_loop().create_task(self.application.on_logon(self))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ logon, acceptor side

    async def _on_first_message(self, frame: bytes, message: simplefix.FixMessage) -> None:
        if codec.msg_type(message) != "A":
            await self.close("first message is not a Logon")
            return
        if codec.field(message, 8) != codec.BEGIN_STRING:
            await self.close("Logon with a wrong BeginString")
            return
        if codec.field(message, 56) != self.config.sender_comp_id:
            await self.close(f"Logon for TargetCompID {codec.field(message, 56)!r}")
            return
        if any(b"\x00" in value for _, value in message.pairs):
            await self.close("Logon with a NUL (0x00) in a field")
            return
        peer = codec.field(message, 49) or ""
        counterparty, refusal = await self._authenticate(peer, message)
        if refusal is not None:
            await self._refuse_logon(peer, counterparty, refusal)
            return
        if not self.registry.claim(peer, self):
            # The live session keeps running; the newcomer is turned away without touching its sequences.
            await self.close(f"second connection for {peer}")
            return
        self.peer_comp_id, self.counterparty = peer, counterparty
        self.record = await self._open_record(peer, counterparty)
        await self._logon(frame, message)

    async def _open_record(self, peer: str, owner: Any) -> SessionRecord:
        """The stored session with ``peer`` (created on first use)."""
        return await sync_to_async(self.store.session_open)(
            sender_comp_id=self.config.sender_comp_id, target_comp_id=peer
        )

    async def _authenticate(self, peer: str, message: simplefix.FixMessage) -> tuple[Any, str | None]:
        """Who ``peer`` is to the application and None, or a refusal. Here only the conformance peer is known."""
        if self.config.conformance_peer is not None and peer == self.config.conformance_peer:
            return None, None
        return None, f"unknown CompID {peer!r}"

    async def _refuse_logon(self, peer: str, owner: Any, refusal: str) -> None:
        logger.warning("FIX Logon refused from %r: %s", peer, refusal)
        if owner is not None and self.registry.claim(peer, self):
            # A known peer with a bad password: tell it why, on its own session's sequence.
            self.peer_comp_id = peer
            self.record = await self._open_record(peer, owner)
            await self._send([logout(refusal)])
        await self.close(refusal)

    async def _logon(self, frame: bytes, message: simplefix.FixMessage) -> None:
        assert self.record is not None
        seq = self._seq_of(message)
        interval_text = codec.field(message, 108)
        if seq is None or interval_text is None or not interval_text.isdigit():
            await self._logout_and_close("Logon needs MsgSeqNum(34) and HeartBtInt(108)")
            return
        sending_problem = self._sending_time_problem(message)
        if sending_problem is not None:
            if self.config.logout_before_drop:
                await self._logout_and_close(sending_problem.text)
            else:
                await self.close(f"Logon refused: {sending_problem.text}")
            return
        asked_reset = codec.field(message, 141) == "Y"
        reset = asked_reset or self.config.reset_on_logon or (self.config.conformance_peer is not None and seq == 1)
        if reset:
            self.record = await sync_to_async(self.store.session_reset)(session_pk=self.record.pk)
        expected = self.record.next_target_seq
        self.next_sender_seq, self.next_target_seq = self.record.next_sender_seq, expected
        if seq < expected:
            await self._logout_and_close(f"MsgSeqNum too low, expecting {expected} but received {seq}")
            return
        next_expected_text = codec.field(message, 789)
        our_next = self.next_sender_seq
        if next_expected_text is not None:
            if not next_expected_text.isdigit() or int(next_expected_text) < 1:
                await self._logout_and_close("NextExpectedMsgSeqNum(789) must be a positive number")
                return
            if int(next_expected_text) > our_next:
                await self._logout_and_close(
                    f"NextExpectedMsgSeqNum(789) {next_expected_text} is higher than our next MsgSeqNum {our_next}"
                )
                return
        self.heartbeat_interval = int(interval_text)
        body = [(98, "0"), (108, str(self.heartbeat_interval))]
        if asked_reset:
            # Acknowledged only when asked for: a reset of our own (ResetOnLogon) is not the peer's business.
            body.append((141, "Y"))
        advance_to = seq + 1 if seq == expected else expected
        if next_expected_text is not None:
            # Answered in kind: what we expect from them next, so that they can resend without a ResendRequest.
            body.append((789, str(advance_to)))
        inbound = Inbound(seq=seq, msg_type="A", raw=frame, next_target_seq=advance_to)
        await self._send([Outgoing("A", body)], inbound=inbound)
        if self.state is State.CLOSED:
            return
        self.state = State.LOGGED_ON
        await sync_to_async(self.store.session_status_set)(
            session_pk=self.record.pk, status=LOGGED_ON, heartbeat_interval=self.heartbeat_interval
        )
        logger.info("FIX %s logged on (in %d, out %d)", self.peer_comp_id, seq, self.next_sender_seq - 1)
        if next_expected_text is not None and int(next_expected_text) < our_next:
            # What they missed of ours, up to (not including) the Logon reply: an engine that queued the reply
            # processes it after the gap fill, one that consumed it asks for its number again.
            await self._resend_range(int(next_expected_text), our_next - 1)
        if seq > expected:
            self._resend_until = seq
            await self._request_resend()
        # The application's sweep takes the lock itself, once the Logon has been answered.
        task = asyncio.get_running_loop().create_task(self.application.on_logon(self))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class StreamTransport:
    """A :class:`Transport` over an asyncio stream writer (the dealers' acceptor and the venues' initiator)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def write(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await asyncio.wait_for(self._writer.wait_closed(), timeout=2)
