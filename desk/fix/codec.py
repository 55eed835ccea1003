"""FIX 4.4 wire format: framing, BodyLength and CheckSum validation, parsing and encoding.

``simplefix`` tokenizes and encodes, but it neither checks BodyLength (9) nor CheckSum (10): its parser ends a
message at the first ``10=`` it sees. A session layer must ignore a garbled message without advancing its
sequence numbers, so the framer here reads BodyLength bytes, checks that the CheckSum field follows them and is
right, and only then hands the frame to ``simplefix.FixParser``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import simplefix
from simplefix import errors as simplefix_errors

SOH = b"\x01"
BEGIN_STRING = "FIX.4.4"
_BEGIN_MARK = b"8=FIX"
_TRAILER = re.compile(rb"10=(\d{3})\x01")
# A header longer than this without BodyLength is garbage, not a message still arriving.
_MAX_PREFIX = 64
# Beyond this a buffer is a flood or a lost frame: drop it rather than grow without bound.
MAX_MESSAGE_BYTES = 1 << 20

# Standard header tags, in the order this gateway writes them; 8, 9 and 35 must come first on the wire.
HEADER_TAGS = frozenset({8, 9, 35, 49, 56, 115, 128, 90, 91, 50, 142, 57, 143, 116, 144, 129, 145, 34, 43, 97, 52, 122})
HEADER_TAGS |= frozenset({212, 213, 347, 369, 627, 628, 629, 630})
TRAILER_TAGS = frozenset({93, 89, 10})


class GarbledMessage(Exception):  # noqa: N818 (a protocol term, not an error of ours)
    """A frame that cannot be trusted (bad BodyLength, bad CheckSum, no tag/value structure): it is ignored."""


@dataclass(frozen=True)
class Garbled:
    """What the framer yields for bytes it dropped, so that the session can log them."""

    reason: str
    data: bytes
    #: Bytes outside any message (before a BeginString), as opposed to a message that failed its checks.
    junk: bool = False


def checksum(data: bytes) -> int:
    """FIX CheckSum: the byte sum modulo 256 of everything before the ``10=`` field."""
    return sum(data) % 256


class FrameReader:
    """Cut a TCP byte stream into FIX frames whose BodyLength and CheckSum are right.

    Feed bytes with :meth:`feed`, then iterate :meth:`frames`: each item is the raw bytes of one whole message or
    a :class:`Garbled` marker for bytes that were dropped. Incomplete data stays buffered for the next feed.

    A frame runs from BeginString to the first CheckSum field that starts at or after the end of the body its
    BodyLength declares, as QuickFIX frames: a BodyLength too small garbles its own message only; one too large
    also garbles the message its declared body runs into (the sender said those bytes were part of it).
    """

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> None:
        self._buf += data

    def frames(self) -> Iterator[bytes | Garbled]:
        while True:
            item = self._next()
            if item is None:
                return
            yield item

    def _drop_to_next_begin(self, reason: str, after: int = 1) -> Garbled:
        nxt = self._buf.find(_BEGIN_MARK, after)
        cut = nxt if nxt >= 0 else max(len(self._buf) - len(_BEGIN_MARK) + 1, after)
        dropped, self._buf = self._buf[:cut], self._buf[cut:]
        return Garbled(reason, dropped)

    def _next(self) -> bytes | Garbled | None:  # noqa: PLR0911 (one return per framing outcome)
        start = self._buf.find(_BEGIN_MARK)
        if start < 0:
            keep = len(_BEGIN_MARK) - 1
            if len(self._buf) > keep:
                dropped, self._buf = self._buf[:-keep], self._buf[-keep:]
                return Garbled("no BeginString", dropped, junk=True)
            return None
        if start > 0:
            dropped, self._buf = self._buf[:start], self._buf[start:]
            return Garbled("bytes before BeginString", dropped, junk=True)
        buf = self._buf
        first_soh = buf.find(SOH)
        if first_soh < 0:
            return self._drop_to_next_begin("BeginString too long") if len(buf) > _MAX_PREFIX else None
        if len(buf) < first_soh + 3:
            return None
        if buf[first_soh + 1 : first_soh + 3] != b"9=":
            return self._drop_to_next_begin("BodyLength is not the second field")
        second_soh = buf.find(SOH, first_soh + 3)
        if second_soh < 0:
            return self._drop_to_next_begin("BodyLength too long") if len(buf) > _MAX_PREFIX else None
        length_text = buf[first_soh + 3 : second_soh]
        if not length_text.isdigit():
            return self._drop_to_next_begin("BodyLength is not a number")
        body_start = second_soh + 1
        body_end = body_start + int(length_text)
        if body_end > MAX_MESSAGE_BYTES:
            return self._drop_to_next_begin("BodyLength too large")
        if len(buf) < body_end:
            return None
        # As the reference engines frame: the message runs to the first CheckSum field at or after its BodyLength,
        # and is garbled whole if that field is not exactly there. A BodyLength too large thus garbles the next
        # message too (its bytes were declared part of this one); it never resynchronises inside a declared body.
        trailer_at = buf.find(b"\x0110=", body_end - 1)
        if trailer_at < 0:
            return self._drop_to_next_begin("no CheckSum") if len(buf) > MAX_MESSAGE_BYTES else None
        end = buf.find(SOH, trailer_at + 4)
        if end < 0:
            return None
        frame, self._buf = buf[: end + 1], buf[end + 1 :]
        trailer = _TRAILER.fullmatch(frame, body_end)
        if trailer_at != body_end - 1 or trailer is None:
            return Garbled("BodyLength does not end at CheckSum", frame)
        if int(trailer.group(1)) != checksum(frame[:body_end]):
            return Garbled("bad CheckSum", frame)
        return frame


def decode(frame: bytes) -> simplefix.FixMessage:
    """Parse one framed message. Empty values are kept (the session rejects them with reason 4).

    Raises
    ------
    GarbledMessage
        When the frame has no tag=value structure or MsgType is not the third field.
    """
    parser = simplefix.FixParser(allow_empty_values=True)
    parser.append_buffer(frame)
    try:
        message = parser.get_message()
    except simplefix_errors.FixParserError as exc:  # pragma: no cover - depends on the byte pattern
        raise GarbledMessage(str(exc)) from exc
    except ValueError as exc:
        raise GarbledMessage(str(exc)) from exc
    if message is None or len(message.pairs) < 4:
        raise GarbledMessage("incomplete message")
    if int(message.pairs[2][0]) != 35 or not message.pairs[2][1]:
        raise GarbledMessage("MsgType is not the third field")
    return message


def tags(message: simplefix.FixMessage) -> list[int]:
    """Every tag of the message, in wire order."""
    return [int(tag) for tag, _ in message.pairs]


def field(message: simplefix.FixMessage, tag: int) -> str | None:
    """The first value of ``tag`` as text, or None."""
    value = message.get(tag)
    return None if value is None else value.decode("latin-1")


def msg_type(message: simplefix.FixMessage) -> str:
    return message.message_type.decode("ascii", "replace")


def header_order_problem(message: simplefix.FixMessage) -> int | None:
    """The first tag that breaks header-body-trailer order (SessionRejectReason 14), or None."""
    seen_body = False
    wire = tags(message)
    for index, tag in enumerate(wire):
        if tag in HEADER_TAGS and seen_body:
            return tag
        if tag in TRAILER_TAGS and tag != 10 and index < len(wire) - 3:
            return tag
        if tag not in HEADER_TAGS and tag not in TRAILER_TAGS:
            seen_body = True
    return None


def repeated_tag(message: simplefix.FixMessage, group_tags: frozenset[int] = frozenset()) -> int | None:
    """The first tag that appears twice outside a repeating group (SessionRejectReason 13), or None."""
    seen: set[int] = set()
    for tag in tags(message):
        if tag in group_tags:
            continue
        if tag in seen:
            return tag
        seen.add(tag)
    return None


_TIMESTAMP_FORMATS = ("%Y%m%d-%H:%M:%S.%f", "%Y%m%d-%H:%M:%S")


def parse_utc_timestamp(text: str) -> datetime:
    """A FIX UTCTimestamp (``YYYYMMDD-HH:MM:SS[.sss…]``) as an aware UTC datetime.

    Raises
    ------
    ValueError
        When the text is not a UTCTimestamp.
    """
    if "." in text:
        head, _, fraction = text.partition(".")
        if not fraction.isdigit() or len(fraction) > 9:
            raise ValueError(f"bad UTCTimestamp {text!r}")
        text = f"{head}.{fraction[:6]}"
    for fmt in _TIMESTAMP_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(f"bad UTCTimestamp {text!r}")


def format_utc_timestamp(moment: datetime) -> str:
    """An aware datetime as a FIX UTCTimestamp with milliseconds."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y%m%d-%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def parse_decimal(text: str) -> Decimal:
    """A FIX Price/Qty/float field as a Decimal; FIX allows neither exponents nor signs other than '-'.

    Raises
    ------
    ValueError
        When the text is not a FIX float.
    """
    if not re.fullmatch(r"-?(\d+\.?\d*|\.\d+)", text):
        raise ValueError(f"bad FIX float {text!r}")
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid decimals
        raise ValueError(f"bad FIX float {text!r}") from exc


def format_decimal(value: Decimal) -> str:
    """A Decimal as a FIX float: plain notation, no exponent, no trailing zeros."""
    return format(value.normalize(), "f")


def encode(
    *,
    msg_type: str,
    sender: str,
    target: str,
    seq: int,
    body: Iterable[tuple[int, str]],
    sending_time: datetime | None = None,
    poss_dup: bool = False,
    orig_sending_time: str | None = None,
    poss_resend: bool = False,
    header: Iterable[tuple[int, str]] = (),
) -> bytes:
    """Encode one message with its standard header (then ``header``, further header fields), BodyLength and
    CheckSum."""
    message = simplefix.FixMessage()
    message.append_pair(8, BEGIN_STRING)
    message.append_pair(35, msg_type)
    message.append_pair(49, sender)
    message.append_pair(56, target)
    message.append_pair(34, seq)
    if poss_dup:
        message.append_pair(43, "Y")
    if poss_resend:
        message.append_pair(97, "Y")
    message.append_pair(52, format_utc_timestamp(sending_time or datetime.now(UTC)))
    if orig_sending_time is not None:
        message.append_pair(122, orig_sending_time)
    for tag, value in header:
        message.append_pair(tag, value)
    for tag, value in body:
        message.append_pair(tag, value)
    return message.encode()


# The header fields ``encode`` writes itself; the others (PossResend, routing…) are carried over on a resend.
_STANDARD_HEADER = frozenset({8, 9, 35, 49, 56, 34, 43, 97, 52, 122})


def extra_header_fields(message: simplefix.FixMessage) -> list[tuple[int, str]]:
    """The header fields of a message other than those ``encode`` writes (routing fields, for instance)."""
    return [
        (int(tag), value.decode("latin-1"))
        for tag, value in message.pairs
        if int(tag) in HEADER_TAGS and int(tag) not in _STANDARD_HEADER
    ]


def body_fields(message: simplefix.FixMessage) -> list[tuple[int, str]]:
    """The body of a message (header and trailer removed), to re-encode it for a resend."""
    return [
        (int(tag), value.decode("latin-1"))
        for tag, value in message.pairs
        if int(tag) not in HEADER_TAGS and int(tag) not in TRAILER_TAGS
    ]


def readable(raw: bytes | str) -> str:
    """A message with '|' for SOH, for logs and test failures."""
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    return text.replace("\x01", "|")
