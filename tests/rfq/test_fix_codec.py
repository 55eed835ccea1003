"""The FIX framer and codec, without sockets: BodyLength and CheckSum checks, resynchronisation after garbage."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rfq.fix import codec


def _message(seq: int, text: str = "hello") -> bytes:
    return codec.encode(msg_type="1", sender="A", target="B", seq=seq, body=[(112, text)])


def _frames(*chunks: bytes) -> list[bytes | codec.Garbled]:
    reader = codec.FrameReader()
    out: list[bytes | codec.Garbled] = []
    for chunk in chunks:
        reader.feed(chunk)
        out.extend(reader.frames())
    return out


def test_a_message_split_byte_by_byte_is_framed_once() -> None:
    raw = _message(1)

    frames = _frames(*(raw[i : i + 1] for i in range(len(raw))))

    assert frames == [raw]


def test_two_messages_in_one_read_are_two_frames() -> None:
    first, second = _message(1), _message(2)

    assert _frames(first + second) == [first, second]


def test_bad_checksum_is_dropped_and_the_next_message_framed() -> None:
    good = _message(2)
    bad = _message(1)[:-4] + b"999\x01"

    frames = _frames(bad + good)

    assert isinstance(frames[0], codec.Garbled)
    assert frames[0].reason == "bad CheckSum"
    assert frames[-1] == good


def _with_body_length(raw: bytes, delta: int) -> bytes:
    length = int(raw.split(b"\x019=")[1].split(b"\x01")[0])
    return raw.replace(f"\x019={length}\x01".encode(), f"\x019={length + delta}\x01".encode(), 1)


def test_body_length_too_large_garbles_the_message_it_runs_into() -> None:
    # As the reference engines frame (QuickFIX's acceptance case 2m): the declared body runs into the next message,
    # so the frame ends at that message's CheckSum and both are dropped; the one after is framed again.
    too_long, swallowed, after = _with_body_length(_message(1), 10), _message(2), _message(3)

    frames = _frames(too_long, swallowed, after)

    assert len(frames) == 2
    assert isinstance(frames[0], codec.Garbled)
    assert frames[0].data == too_long + swallowed
    assert frames[1] == after


def test_body_length_too_large_waits_for_the_declared_bytes() -> None:
    too_long = _with_body_length(_message(1), 500)

    assert _frames(too_long, _message(2)) == []


def test_body_length_too_short_is_dropped() -> None:
    raw = _message(1)
    length = int(raw.split(b"\x019=")[1].split(b"\x01")[0])
    short = raw.replace(f"\x019={length}\x01".encode(), f"\x019={length - 3}\x01".encode(), 1)

    good = _message(2)

    frames = _frames(short + good)

    assert isinstance(frames[0], codec.Garbled)
    assert frames[-1] == good


def test_bytes_before_begin_string_are_dropped() -> None:
    raw = _message(1)

    frames = _frames(b"noise\x01" + raw)

    assert isinstance(frames[0], codec.Garbled)
    assert frames[-1] == raw


def test_msg_type_must_be_the_third_field() -> None:
    body = b"49=A\x0135=0\x0156=B\x0134=1\x0152=20260101-00:00:00\x01"
    head = f"8=FIX.4.4\x019={len(body)}\x01".encode()
    raw = head + body + f"10={codec.checksum(head + body):03d}\x01".encode()

    with pytest.raises(codec.GarbledMessage):
        codec.decode(raw)


def test_decode_keeps_fields_in_order_and_empty_values() -> None:
    raw = codec.encode(msg_type="0", sender="A", target="B", seq=7, body=[(112, ""), (58, "x")])

    message = codec.decode(raw)

    assert codec.tags(message)[:5] == [8, 9, 35, 49, 56]
    assert codec.field(message, 34) == "7"
    assert codec.field(message, 112) == ""


@pytest.mark.parametrize("text", ["1e5", "1,5", "+1", "", "abc", "1.2.3"])
def test_fix_floats_reject_what_fix_does_not_allow(text: str) -> None:
    with pytest.raises(ValueError, match="bad FIX float"):
        codec.parse_decimal(text)


def test_timestamps_round_trip_with_milliseconds() -> None:
    moment = datetime(2026, 11, 25, 12, 34, 56, 789000, tzinfo=UTC)

    text = codec.format_utc_timestamp(moment)

    assert text == "20261125-12:34:56.789"
    assert codec.parse_utc_timestamp(text) == moment
    assert codec.parse_utc_timestamp("20261125-12:34:56") == moment.replace(microsecond=0)
    with pytest.raises(ValueError, match="UTCTimestamp"):
        codec.parse_utc_timestamp("2026-11-25T12:34:56")
