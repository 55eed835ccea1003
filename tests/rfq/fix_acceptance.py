"""QuickFIX's server acceptance scripts, played against the gateway over TCP as QuickFIX's own runner plays them.

A script (``tests/rfq/fix_acceptance/fix44/*.def``, SOH written ``|``) is one step a line: ``iCONNECT`` and
``iDISCONNECT`` open and close a connection; ``I<message>`` sends a message; ``E<message>`` reads the next message
and compares it with this one; ``eDISCONNECT`` waits (10 s at most) for the gateway to close the connection without
sending anything more. ``i2,CONNECT``, ``I2,...``, ``E2,...``: the same on a second connection. ``#`` starts a
comment.

Messages are prepared as QuickFIX's runner (``test/Reflector.rb``) prepares them: ``<TIME>``, ``<TIME+n>`` and
``<TIME-n>`` become the UTC time to the second (plus or minus n seconds); BodyLength(9) and CheckSum(10) are computed
unless the line gives them (some scripts give wrong ones on purpose). Messages are read as ``test/FixParser.rb``
reads them: BodyLength bytes after the BodyLength field, then the CheckSum field.

The comparison is QuickFIX's (``test/Comparator.rb`` with the patterns of ``test/definitions/fields.fmt``: the value
of a pattern field such as SendingTime or CheckSum must only match its pattern; every other field must be there with
the same value, and no other field may be), with three relaxations:

- field order: BeginString, BodyLength and MsgType must open the message and CheckSum close it, as FIX requires;
  the other fields are compared tag by tag (QuickFIX writes header and body fields in tag order, the gateway in the
  order the specification lists them, and it echoes a body in the order it received it);
- Text(58) of a Reject, BusinessMessageReject or Logout must begin with the expected text: the gateway follows the
  standard reason (``Required tag missing``) with the detail (``: 55``);
- RefTagID(371) may be on a Reject where QuickFIX sends none: the gateway names the field whenever there is one.
"""

from __future__ import annotations

import contextlib
import re
import socket
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

SOH = b"\x01"
EXPECT_TIMEOUT_S = 10.0
DISCONNECT_TIMEOUT_S = 10.0

_TIMESTAMP = r"\d{8}-\d{2}:\d{2}:\d{2}"
# test/definitions/fields.fmt: fields whose value varies from run to run, matched (unanchored, as Ruby's ===).
PATTERNS: dict[int, re.Pattern[str]] = {
    tag: re.compile(pattern)
    for tag, pattern in {
        10: r"\d{3}",
        42: _TIMESTAMP,
        52: _TIMESTAMP,
        60: _TIMESTAMP,
        122: _TIMESTAMP,
        75: r"\d{8}",
        17: ".",
        37: ".",
        198: ".",
        9: ".",
    }.items()
}
TEXT_PREFIX_TYPES = frozenset({"3", "j", "5"})
_STEP = re.compile(r"^([IEie])(?:(\d),)?(.*)$")
_TIME = re.compile(r"<TIME(?:([+-])(\d+))?>")


class ScriptFailure(AssertionError):
    """A step of a script did not go as the script says; the message names the line and what differed."""


@dataclass(frozen=True)
class Step:
    action: str  # I, E, i, e
    connection: int
    text: str
    line_no: int
    line: str


def parse_script(script: str) -> list[Step]:
    """The steps of a script, comments and blank lines left out."""
    steps = []
    for line_no, line in enumerate(script.splitlines(), start=1):
        line = line.rstrip("\r")
        if not line or line.startswith("#"):
            continue
        match = _STEP.match(line)
        if match is None:
            raise ValueError(f"line {line_no}: not a step: {line!r}")
        action, connection, text = match.groups()
        steps.append(Step(action, int(connection or 1), text, line_no, line))
    return steps


def timify(text: str, now: datetime) -> str:
    """``<TIME>``, ``<TIME+n>``, ``<TIME-n>`` as UTC timestamps to the second."""

    def replace(match: re.Match[str]) -> str:
        sign, seconds = match.groups()
        offset = timedelta(seconds=int(seconds or 0)) * (-1 if sign == "-" else 1)
        return (now + offset).strftime("%Y%m%d-%H:%M:%S")

    return _TIME.sub(replace, text)


def fixify(text: str) -> bytes:
    """The wire bytes of a script message: '|' as SOH, BodyLength and CheckSum added unless the line has them."""
    raw = text.replace("|", "\x01").encode("latin-1")
    if not raw.startswith(b"8="):
        # Not a message the runner can complete (e.g. MsgType first): sent exactly as written.
        return raw
    head_end = raw.index(SOH) + 1
    head, rest = raw[:head_end], raw[head_end:]
    trailer = b""
    checksum_at = rest.find(b"\x0110=")
    if checksum_at >= 0 or rest.startswith(b"10="):
        cut = checksum_at + 1 if checksum_at >= 0 else 0
        rest, trailer = rest[:cut], rest[cut:]
    length = b"" if b"\x019=" in raw else b"9=%d\x01" % len(rest)
    if not trailer:
        trailer = b"10=%03d\x01" % (sum(head + length + rest) % 256)
    return head + length + rest + trailer


def split_fields(raw: bytes) -> list[tuple[int | str, str]]:
    """(tag, value) pairs in wire order; a tag that is not a number is kept as text."""
    pairs: list[tuple[int | str, str]] = []
    for item in raw.decode("latin-1").split("\x01"):
        if not item:
            continue
        tag, _, value = item.partition("=")
        pairs.append((int(tag) if re.fullmatch(r"-?\d+", tag) else tag, value))
    return pairs


def compare(expected: bytes, received: bytes) -> str | None:
    """Why ``received`` does not match the script's ``expected`` message, or None when it does (module docstring)."""
    want, got = split_fields(expected), split_fields(received)
    if [tag for tag, _ in got[:3]] != [8, 9, 35] or not got or got[-1][0] != 10:
        return "BeginString, BodyLength and MsgType must come first and CheckSum last"
    msg_type = dict(got).get(35, "")
    want_by_tag: dict[int | str, list[str]] = defaultdict(list)
    got_by_tag: dict[int | str, list[str]] = defaultdict(list)
    for tag, value in want:
        want_by_tag[tag].append(value)
    for tag, value in got:
        got_by_tag[tag].append(value)
    for tag in got_by_tag:
        if tag not in want_by_tag and not (tag == 371 and msg_type == "3"):
            return f"field {tag} was not expected (received {tag}={got_by_tag[tag][0]})"
    for tag, values in want_by_tag.items():
        received_values = got_by_tag.get(tag, [])
        if len(received_values) != len(values):
            return f"field {tag} expected {len(values)} time(s), received {len(received_values)} time(s)"
        for want_value, got_value in zip(values, received_values, strict=True):
            pattern = PATTERNS.get(tag) if isinstance(tag, int) else None
            if pattern is not None:
                if not pattern.search(got_value):
                    return f"field {tag} does not match its pattern: {got_value!r}"
            elif tag == 58 and msg_type in TEXT_PREFIX_TYPES:
                if not got_value.startswith(want_value):
                    return f"field 58 should begin with {want_value!r} but was {got_value!r}"
            elif want_value != got_value:
                return f"value in field {tag} should be {want_value!r} but was {got_value!r}"
    return None


def readable(raw: bytes) -> str:
    return raw.decode("latin-1").replace("\x01", "|")


class Connection:
    """One TCP connection of the script, read as QuickFIX's FixParser.rb reads: by BodyLength."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buffer = b""
        self.closed_by_peer = False

    def _fill(self, deadline: float) -> bool:
        """Read more bytes; False once the peer closed the connection or the deadline passed."""
        if self.closed_by_peer:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return False
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.closed_by_peer = True
            return False
        self.buffer += data
        return True

    def _read_until(self, marker: bytes, start: int, deadline: float) -> int:
        while (index := self.buffer.find(marker, start)) < 0:
            if not self._fill(deadline):
                raise ScriptFailure(self._why_nothing(f"waiting for {marker!r}"))
        return index + len(marker)

    def _why_nothing(self, what: str) -> str:
        if self.closed_by_peer:
            return f"was disconnected, expected data ({what}); unread: {readable(self.buffer)!r}"
        return f"nothing within {EXPECT_TIMEOUT_S:.0f} s ({what}); unread: {readable(self.buffer)!r}"

    def read_message(self, timeout: float = EXPECT_TIMEOUT_S) -> bytes:
        deadline = time.monotonic() + timeout
        length_start = self._read_until(b"\x019=", 0, deadline)
        length_end = self._read_until(SOH, length_start, deadline)
        length_text = self.buffer[length_start : length_end - 1]
        if not length_text.isdigit():
            raise ScriptFailure(f"BodyLength is not a number: {readable(self.buffer)!r}")
        body_end = length_end + int(length_text)
        while len(self.buffer) < body_end:
            if not self._fill(deadline):
                raise ScriptFailure(self._why_nothing("the body"))
        end = self._read_until(SOH, body_end, deadline)
        message, self.buffer = self.buffer[:end], self.buffer[end:]
        trailer = message[body_end:]
        if not re.fullmatch(rb"10=\d{3}\x01", trailer) or int(trailer[3:6]) != sum(message[:body_end]) % 256:
            raise ScriptFailure(f"BodyLength or CheckSum wrong in {readable(message)!r}")
        return message

    def wait_disconnect(self, timeout: float = DISCONNECT_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while not self.buffer and self._fill(deadline):
            pass
        if self.buffer:
            raise ScriptFailure(f"expected disconnection, got data: {readable(self.buffer)!r}")
        if not self.closed_by_peer:
            raise ScriptFailure(f"connection hangs after {timeout:.0f} seconds")

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise ScriptFailure(f"unable to send, the connection was dropped ({exc})") from exc

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def run_script(script: str, *, port: int, expect_timeout: float = EXPECT_TIMEOUT_S) -> None:
    """Play a script against the gateway listening on ``port``; raise :class:`ScriptFailure` at the first step
    that does not go as written (the message names the line)."""
    connections: dict[int, Connection] = {}
    try:
        for step in parse_script(script):
            try:
                _run_step(step, connections, port, expect_timeout)
            except ScriptFailure as exc:
                raise ScriptFailure(f"line {step.line_no}: {step.line}\n    {exc}") from None
    finally:
        for connection in connections.values():
            connection.close()


def _run_step(step: Step, connections: dict[int, Connection], port: int, expect_timeout: float) -> None:
    if step.action == "i":
        if step.text == "CONNECT":
            connections[step.connection] = Connection(port)
        elif step.text == "DISCONNECT":
            connections.pop(step.connection).close()
        else:
            raise ScriptFailure(f"syntax error: {step.text}")
        return
    connection = connections.get(step.connection)
    if connection is None:
        raise ScriptFailure(f"no connection {step.connection}")
    if step.action == "e":
        if step.text != "DISCONNECT":
            raise ScriptFailure(f"syntax error: {step.text}")
        connection.wait_disconnect()
        return
    message = fixify(timify(step.text, datetime.now(UTC)))
    if step.action == "I":
        connection.send(message)
        return
    received = connection.read_message(expect_timeout)
    reason = compare(message, received)
    if reason is not None:
        raise ScriptFailure(f"{reason}\n    expected: {readable(message)}\n    received: {readable(received)}")
