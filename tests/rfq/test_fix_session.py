"""The FIX session layer over a real socket: logon, heartbeats, gaps and resends, garbled input, rejects, logout.

A raw simplefix client plays the dealer so that each test can send exactly the bytes and sequence numbers it
needs. The gateway runs in a thread of the test process, on the test database.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from rfq.fix import codec
from rfq.fix.acceptor import GatewayThread
from rfq.models import Counterparty, FixDirection, FixMessage, FixSession
from tests.rfq.test_fix_support import FixClient, field, fix_dealer_create, running_gateway, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def gateway() -> Iterator[GatewayThread]:
    with running_gateway() as running:
        yield running


@pytest.fixture
def fix_dealer() -> Counterparty:
    return fix_dealer_create()


@pytest.fixture
def client(gateway: GatewayThread, fix_dealer: Counterparty) -> Iterator[FixClient]:
    connection = FixClient(gateway.port, sender=fix_dealer.fix_sender_comp_id or "")
    yield connection
    connection.close()


def _stored_session(dealer: Counterparty) -> FixSession:
    return FixSession.objects.get(sender_comp_id="DESK", target_comp_id=dealer.fix_sender_comp_id)


def test_logon_is_answered_with_our_heartbeat_interval(client: FixClient, fix_dealer: Counterparty) -> None:
    reply = client.logon(heartbeat=30)

    assert field(reply, 49) == "DESK"
    assert field(reply, 56) == fix_dealer.fix_sender_comp_id
    assert field(reply, 34) == "1"
    assert field(reply, 108) == "30"
    session = wait_for(lambda: _stored_session(fix_dealer), what="the stored session")
    assert (session.next_target_seq, session.next_sender_seq) == (2, 2)


def test_logon_with_a_wrong_password_is_refused(client: FixClient) -> None:
    client.send("A", [(98, "0"), (108, "30"), (554, "not-the-password")])

    logout = client.expect("5")
    assert "invalid logon" in (field(logout, 58) or "")
    assert client.wait_closed()


def test_first_message_other_than_logon_drops_the_connection(client: FixClient) -> None:
    client.send("1", [(112, "hello")])

    assert client.wait_closed()
    assert client.received == []


def test_test_request_is_answered_with_its_id(client: FixClient) -> None:
    client.logon()

    client.send("1", [(112, "PING-1")])

    heartbeat = client.expect("0")
    assert field(heartbeat, 112) == "PING-1"


def test_silent_peer_gets_a_test_request_then_a_logout(client: FixClient) -> None:
    client.logon(heartbeat=1)

    test_request = client.expect("1", timeout=4)
    logout = client.expect("5", timeout=4)

    assert field(test_request, 112)
    assert "TestRequest" in (field(logout, 58) or "")
    assert client.wait_closed()


def test_a_sequence_gap_is_resent_then_the_held_message_processed(client: FixClient, fix_dealer: Counterparty) -> None:
    client.logon()  # seq 1
    client.send("0")  # seq 2

    client.send("1", [(112, "AFTER-GAP")], seq=5)
    resend = client.expect("2")
    client.send("4", [(123, "Y"), (36, "5")], seq=3, poss_dup=True)

    heartbeat = client.expect("0")
    assert (field(resend, 7), field(resend, 16)) == ("3", "0")
    assert field(heartbeat, 112) == "AFTER-GAP"
    wait_for(lambda: _stored_session(fix_dealer).next_target_seq == 6, what="next_target_seq 6")


def test_garbled_messages_are_ignored_and_the_session_lives_on(client: FixClient, fix_dealer: Counterparty) -> None:
    client.logon()
    good = client.build("1", [(112, "STILL-HERE")], seq=2)
    bad_checksum = good[:-4] + (b"000" if not good.endswith(b"000\x01") else b"001") + b"\x01"
    length = int(good.split(b"\x019=")[1].split(b"\x01")[0])
    # Too short: garbled on its own (one too long would swallow the messages it runs into, see test_fix_codec).
    bad_length = good.replace(f"\x019={length}\x01".encode(), f"\x019={length - 5}\x01".encode(), 1)

    client.send_raw(bad_checksum)
    client.send_raw(bad_length)
    client.send_raw(b"garbage without any structure\x01")
    client.send_raw(good)

    heartbeat = client.expect("0")
    assert field(heartbeat, 112) == "STILL-HERE"
    wait_for(lambda: _stored_session(fix_dealer).next_target_seq == 3, what="next_target_seq 3")
    assert not FixMessage.objects.filter(direction=FixDirection.INBOUND, seq=2, msg_type="1").count() > 1


def test_missing_field_gets_a_reject_and_the_sequence_advances(client: FixClient, fix_dealer: Counterparty) -> None:
    client.logon()

    client.send("S", [(131, "NO-SUCH-RFQ"), (117, "Q-1"), (132, "99")])  # no ValidUntilTime(62)
    reject = client.expect("3")
    client.send("S", [(131, "NO-SUCH-RFQ"), (117, "Q-2"), (132, "abc"), (62, "20300101-00:00:00")])
    malformed = client.expect("3")

    assert (field(reject, 45), field(reject, 371), field(reject, 372), field(reject, 373)) == ("2", "62", "S", "1")
    assert (field(malformed, 45), field(malformed, 371), field(malformed, 373)) == ("3", "132", "6")
    wait_for(lambda: _stored_session(fix_dealer).next_target_seq == 4, what="next_target_seq 4")


def test_unknown_msg_type_is_rejected_and_unsupported_gets_business_reject(client: FixClient) -> None:
    client.logon()

    client.send("ZZ", [(58, "what")])
    invalid = client.expect("3")
    client.send("D", [(11, "X1"), (55, "BTC-USD"), (54, "1"), (60, "20300101-00:00:00"), (40, "1")])
    unsupported = client.expect("j")

    assert (field(invalid, 371), field(invalid, 373)) == ("35", "11")
    assert (field(unsupported, 372), field(unsupported, 380), field(unsupported, 379)) == ("D", "3", "X1")
    assert (field(unsupported, 58) or "").startswith("Unsupported Message Type")


def test_refusals_go_back_the_way_the_message_came(client: FixClient) -> None:
    client.logon()

    # Through a hub: sent on behalf of HUB-A's desk 7, to be delivered to our desk-side NY.
    routing = [(115, "HUB-A"), (116, "DESK-7"), (128, "NY")]
    client.send_raw(
        client.build("D", [(11, "X2"), (55, "BTC-USD"), (54, "1"), (60, "20300101-00:00:00")], header=routing)
    )
    refused = client.expect("j")
    client.send_raw(client.build("S", [(131, "NO-SUCH-RFQ"), (117, "Q-9"), (132, "99")], header=routing))
    rejected = client.expect("3")

    for answer in (refused, rejected):
        assert (field(answer, 128), field(answer, 129), field(answer, 115), field(answer, 116)) == (
            "HUB-A",
            "DESK-7",
            "NY",
            None,
        )


def test_too_low_seq_without_poss_dup_ends_the_session(client: FixClient) -> None:
    client.logon()
    client.send("0")  # seq 2

    client.send("0", seq=2, poss_dup=True, orig_sending_time=codec.format_utc_timestamp(datetime.now(UTC)))
    client.send("1", [(112, "OK")], seq=3)
    answered = client.expect("0")
    client.send("0", seq=2)

    logout = client.expect("5")
    assert field(answered, 112) == "OK"  # the PossDup duplicate was ignored, the session went on
    assert "MsgSeqNum too low, expecting 4 but received 2" in (field(logout, 58) or "")
    assert client.wait_closed()


def test_sending_time_off_by_more_than_two_minutes_is_rejected(client: FixClient) -> None:
    client.logon()

    client.send("0", sending_time=datetime.now(UTC) - timedelta(minutes=5))

    reject = client.expect("3")
    assert (field(reject, 371), field(reject, 373)) == ("52", "10")
    client.expect("5")
    assert client.wait_closed()


def test_resend_request_replays_app_messages_with_poss_dup_and_gap_fills_admin(
    client: FixClient, fix_dealer: Counterparty
) -> None:
    client.logon()  # their seq 1 is our Logon
    client.send("1", [(112, "T")])  # our seq 2: a Heartbeat
    client.expect("0")

    client.send("2", [(7, "1"), (16, "0")])

    gap_fill = client.expect("4")
    assert (field(gap_fill, 34), field(gap_fill, 123), field(gap_fill, 36)) == ("1", "Y", "3")
    assert field(gap_fill, 43) == "Y"
    wait_for(lambda: _stored_session(fix_dealer).next_target_seq == 4, what="next_target_seq 4")
