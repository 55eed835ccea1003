"""Conformance mode (``fixgateway --conformance OURS:THEIRS``): the session protocol to the letter, case by case.

The gateway runs the session layer alone for one peer, validates inbound messages against QuickFIX's FIX44.xml,
and echoes every application message that passes. Each test is one case of the FIX 4.4 session rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from rfq.fix import codec
from rfq.fix.acceptor import GatewayThread
from rfq.models import FixSession
from tests.rfq.test_fix_support import FixClient, field, running_gateway, wait_for

pytest.importorskip("quickfix", reason="conformance mode validates against the FIX44.xml of the quickfix package")

pytestmark = pytest.mark.django_db(transaction=True)

OURS, THEIRS = "CONF-DESK", "CONF-PEER"


@pytest.fixture
def gateway() -> Iterator[GatewayThread]:
    with running_gateway(conformance=(OURS, THEIRS)) as running:
        yield running


@pytest.fixture
def peer(gateway: GatewayThread) -> Iterator[FixClient]:
    connection = FixClient(gateway.port, sender=THEIRS, target=OURS)
    yield connection
    connection.close()


@pytest.fixture
def logged_on(peer: FixClient) -> FixClient:
    peer.logon(password="")
    return peer


def _now() -> str:
    return codec.format_utc_timestamp(datetime.now(UTC))


def encode_pairs(pairs: list[tuple[int, str]], *, begin_string: str = "FIX.4.4") -> bytes:
    """A message with exactly these fields in this order (BodyLength and CheckSum computed)."""
    body = b"".join(f"{tag}={value}".encode() + b"\x01" for tag, value in pairs)
    head = f"8={begin_string}\x019={len(body)}\x01".encode()
    return head + body + f"10={codec.checksum(head + body):03d}\x01".encode()


def _header(msg_type: str, seq: int, *, sender: str = THEIRS, target: str = OURS) -> list[tuple[int, str]]:
    return [(35, msg_type), (49, sender), (56, target), (34, str(seq)), (52, _now())]


NEW_ORDER = [(11, "C-1"), (55, "BTC-USD"), (54, "1"), (60, "20260101-00:00:00"), (38, "5"), (40, "1")]


def _reject_of(message) -> tuple[str | None, ...]:  # noqa: ANN001
    return field(message, 45), field(message, 371), field(message, 372), field(message, 373)


# ------------------------------------------------------------------ logon


def test_logon_with_seq_1_resets_both_sequences(peer: FixClient, gateway: GatewayThread) -> None:
    peer.logon(password="")
    peer.send("0")
    peer.close()
    wait_for(lambda: FixSession.objects.filter(target_comp_id=THEIRS, next_target_seq=3).exists(), what="seq 3")
    again = FixClient(gateway.port, sender=THEIRS, target=OURS)

    reply = again.logon(password="")

    assert field(reply, 34) == "1"
    again.close()


def test_logon_with_seq_too_high_is_accepted_then_the_gap_requested(peer: FixClient) -> None:
    peer.next_seq = 4
    reply = peer.logon(password="")

    resend = peer.expect("2", skip=())
    peer.send("4", [(123, "Y"), (36, "5")], seq=1, poss_dup=True, orig_sending_time=_now())
    peer.send("1", [(112, "FIVE")], seq=5)

    assert field(reply, 34) == "1"
    assert (field(resend, 7), field(resend, 16)) == ("1", "0")
    assert field(peer.expect("0"), 112) == "FIVE"


def test_first_message_not_a_logon_is_dropped_silently(peer: FixClient) -> None:
    peer.send("0")

    assert peer.wait_closed()
    assert peer.received == []


def test_logon_from_another_comp_id_is_refused(gateway: GatewayThread) -> None:
    stranger = FixClient(gateway.port, sender="SOMEONE-ELSE", target=OURS)
    stranger.send("A", [(98, "0"), (108, "30")])

    assert stranger.wait_closed()
    stranger.close()


def test_a_second_logon_on_a_live_session_is_rejected(logged_on: FixClient) -> None:
    logged_on.send("A", [(98, "0"), (108, "30")])

    reject = logged_on.expect("3")
    assert _reject_of(reject)[0] == "2"


# ------------------------------------------------------------------ header


def test_wrong_begin_string_ends_the_session(logged_on: FixClient) -> None:
    logged_on.send_raw(encode_pairs(_header("0", 2), begin_string="FIX.4.2"))

    logout = logged_on.expect("5")
    assert "BeginString" in (field(logout, 58) or "")
    assert logged_on.wait_closed()


def test_wrong_comp_id_is_rejected_then_logged_out(logged_on: FixClient) -> None:
    logged_on.send_raw(encode_pairs(_header("0", 2, sender="INTRUDER")))

    reject = logged_on.expect("3")
    assert _reject_of(reject) == ("2", "49", "0", "9")
    logged_on.expect("5")
    assert logged_on.wait_closed()


def test_sending_time_more_than_two_minutes_off_is_rejected_then_logged_out(logged_on: FixClient) -> None:
    logged_on.send("0", sending_time=datetime.now(UTC) + timedelta(minutes=3))

    reject = logged_on.expect("3")
    assert _reject_of(reject) == ("2", "52", "0", "10")
    logged_on.expect("5")


def test_header_field_after_a_body_field_is_rejected(logged_on: FixClient) -> None:
    pairs = [(35, "1"), (49, THEIRS), (56, OURS), (34, "2"), (112, "T"), (52, _now())]
    logged_on.send_raw(encode_pairs(pairs))

    reject = logged_on.expect("3")
    assert _reject_of(reject) == ("2", "52", "1", "14")


def test_bad_body_length_and_bad_checksum_are_ignored_without_advancing(logged_on: FixClient) -> None:
    good = logged_on.build("1", [(112, "AFTER")], seq=2)
    length = int(good.split(b"\x019=")[1].split(b"\x01")[0])
    # Too short: garbled on its own (one too long swallows what it runs into: test_fix_codec, QuickFIX's 2m).
    logged_on.send_raw(good.replace(f"\x019={length}\x01".encode(), f"\x019={length - 5}\x01".encode(), 1))
    logged_on.send_raw(good[:-4] + (b"001" if good[-4:-1] != b"001" else b"002") + b"\x01")
    logged_on.send_raw(good)

    heartbeat = logged_on.expect("0")
    assert field(heartbeat, 112) == "AFTER"


# ------------------------------------------------------------------ sequence numbers


def test_too_high_is_resent_then_processed_in_order(logged_on: FixClient) -> None:
    logged_on.send("1", [(112, "FOUR")], seq=4)
    resend = logged_on.expect("2")
    logged_on.send("1", [(112, "TWO")], seq=2, poss_dup=True, orig_sending_time=_now())
    logged_on.send("1", [(112, "THREE")], seq=3, poss_dup=True, orig_sending_time=_now())

    answers = [field(logged_on.expect("0"), 112) for _ in range(3)]
    assert (field(resend, 7), field(resend, 16)) == ("2", "0")
    assert answers == ["TWO", "THREE", "FOUR"]


def test_too_low_without_poss_dup_logs_out(logged_on: FixClient) -> None:
    logged_on.send("0", seq=1)

    logout = logged_on.expect("5")
    assert "too low" in (field(logout, 58) or "")
    assert logged_on.wait_closed()


def test_poss_dup_already_seen_is_ignored(logged_on: FixClient) -> None:
    logged_on.send("1", [(112, "FIRST")])  # 2
    logged_on.expect("0")

    logged_on.send("1", [(112, "DUP")], seq=2, poss_dup=True, orig_sending_time=_now())
    logged_on.send("1", [(112, "NEXT")])  # 3

    assert field(logged_on.expect("0"), 112) == "NEXT"


def test_poss_dup_without_orig_sending_time_is_rejected_and_counts(logged_on: FixClient) -> None:
    logged_on.send("1", [(112, "X")], poss_dup=True)  # 2
    reject = logged_on.expect("3")
    logged_on.send("1", [(112, "Y")])  # 3

    assert _reject_of(reject) == ("2", "122", "1", "1")
    assert field(logged_on.expect("0"), 112) == "Y"


def test_poss_dup_with_later_orig_sending_time_is_rejected(logged_on: FixClient) -> None:
    later = codec.format_utc_timestamp(datetime.now(UTC) + timedelta(seconds=30))
    logged_on.send("1", [(112, "X")], poss_dup=True, orig_sending_time=later)

    reject = logged_on.expect("3")
    assert _reject_of(reject) == ("2", "122", "1", "10")


def test_sequence_reset_gap_fill_moves_the_expected_number(logged_on: FixClient) -> None:
    logged_on.send("4", [(123, "Y"), (36, "10")])  # 2
    logged_on.send("1", [(112, "TEN")], seq=10)

    assert field(logged_on.expect("0"), 112) == "TEN"


def test_sequence_reset_without_gap_fill_ignores_seq_and_refuses_going_back(logged_on: FixClient) -> None:
    logged_on.send("4", [(36, "20")], seq=999)
    logged_on.send("1", [(112, "TWENTY")], seq=20)
    answered = logged_on.expect("0")
    logged_on.send("4", [(36, "5")], seq=21)

    reject = logged_on.expect("3")
    assert field(answered, 112) == "TWENTY"
    assert (field(reject, 371), field(reject, 373)) == ("36", "5")


def test_gap_fill_with_new_seq_no_not_above_is_rejected(logged_on: FixClient) -> None:
    logged_on.send("4", [(123, "Y"), (36, "2")])  # 2, NewSeqNo 2: goes nowhere

    reject = logged_on.expect("3")
    assert (field(reject, 371), field(reject, 373)) == ("36", "5")


# ------------------------------------------------------------------ resend requests


def test_resend_request_range_and_to_infinity(logged_on: FixClient) -> None:
    logged_on.send("D", NEW_ORDER)  # echoed as our 2
    echo = logged_on.expect("D")
    logged_on.send("1", [(112, "T")])  # our 3: Heartbeat
    logged_on.expect("0")

    logged_on.send("2", [(7, "2"), (16, "2")])
    ranged = logged_on.expect("D")
    logged_on.send("2", [(7, "1"), (16, "0")])
    infinite = [logged_on.expect(kind, skip=()) for kind in ("4", "D", "4")]

    assert field(echo, 11) == "C-1"
    assert (field(ranged, 34), field(ranged, 43), field(ranged, 122)) == ("2", "Y", field(echo, 52))
    assert [(field(m, 34), field(m, 36)) for m in infinite] == [("1", "2"), ("2", None), ("3", "4")]


def test_simultaneous_resend_requests_are_both_served(logged_on: FixClient) -> None:
    logged_on.send("2", [(7, "1"), (16, "0")], seq=5)  # they lost ours and we lost theirs

    first, second = logged_on.expect("4", skip=()), logged_on.expect("2", skip=())

    logged_on.send("4", [(123, "Y"), (36, "5")], seq=2, poss_dup=True, orig_sending_time=_now())
    logged_on.send("1", [(112, "AFTER")], seq=6)  # after the held ResendRequest (5), answered once only

    assert (field(first, 34), field(first, 36), field(first, 123)) == ("1", "2", "Y")
    assert (field(second, 7), field(second, 16)) == ("2", "0")
    assert field(logged_on.expect("0", skip=()), 112) == "AFTER"


# ------------------------------------------------------------------ body validation


@pytest.mark.parametrize(
    ("fields", "ref_tag", "reason"),
    [
        pytest.param([*NEW_ORDER, (9999, "x")], "9999", "0", id="undefined-tag"),
        pytest.param([*NEW_ORDER[:-1]], "40", "1", id="required-missing"),
        pytest.param([*NEW_ORDER, (112, "x")], "112", "2", id="not-for-this-message"),
        pytest.param([*NEW_ORDER, (58, "")], "58", "4", id="without-value"),
        pytest.param([(54, "Z") if tag == 54 else (tag, v) for tag, v in NEW_ORDER], "54", "5", id="bad-enum"),
        pytest.param([(38, "five") if tag == 38 else (tag, v) for tag, v in NEW_ORDER], "38", "6", id="bad-format"),
        pytest.param([*NEW_ORDER, (55, "ETH-USD")], "55", "13", id="repeated"),
        pytest.param([*NEW_ORDER, (78, "2"), (79, "A1"), (80, "1")], "78", "16", id="group-count"),
        # NoPartyIDs entries open with PartyID(448): PartyIDSource(447) first is out of order.
        pytest.param([*NEW_ORDER, (453, "1"), (447, "D"), (448, "P1")], "447", "15", id="group-out-of-order"),
    ],
)
def test_bad_fields_get_a_reject_with_the_reason(
    logged_on: FixClient, fields: list[tuple[int, str]], ref_tag: str, reason: str
) -> None:
    logged_on.send("D", fields)  # 2
    reject = logged_on.expect("3")
    logged_on.send("1", [(112, "AFTER")])  # 3: the Reject counted, the session goes on

    assert _reject_of(reject) == ("2", ref_tag, "D", reason)
    assert field(logged_on.expect("0"), 112) == "AFTER"


def test_unknown_msg_type_is_rejected(logged_on: FixClient) -> None:
    logged_on.send("ZZ")

    assert _reject_of(logged_on.expect("3")) == ("2", "35", "ZZ", "11")


def test_valid_application_message_is_echoed(logged_on: FixClient) -> None:
    logged_on.send("D", NEW_ORDER)

    echo = logged_on.expect("D")
    assert [(int(t), v.decode()) for t, v in echo.pairs if int(t) in {tag for tag, _ in NEW_ORDER}] == NEW_ORDER
    assert (field(echo, 49), field(echo, 56)) == (OURS, THEIRS)


def test_inbound_reject_advances_the_sequence(logged_on: FixClient) -> None:
    logged_on.send("3", [(45, "1"), (373, "99")])  # 2
    logged_on.send("1", [(112, "AFTER")])  # 3

    assert field(logged_on.expect("0"), 112) == "AFTER"


# ------------------------------------------------------------------ logout and timing


def test_unsolicited_logout_is_answered_and_the_connection_closed(logged_on: FixClient) -> None:
    logged_on.send("5")

    logged_on.expect("5")
    assert logged_on.wait_closed()


def test_heartbeat_sent_when_silent_for_heart_bt_int(peer: FixClient) -> None:
    peer.logon(password="", heartbeat=1)
    peer.send("0")

    heartbeat = peer.expect("0", timeout=3, skip=())
    assert field(heartbeat, 112) is None
