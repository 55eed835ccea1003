"""The FIX 4.4 session cases closed after the first release of the gateway, each over a real socket:

- a gap the peer does not fill: the ResendRequest is sent again, at most N times in a row, then Logout;
- NextExpectedMsgSeqNum(789) on Logon: what the peer missed of ours is resent without a ResendRequest;
- BusinessMessageReject reason 5 (conditionally required field missing), in the dealer flow and in conformance mode;
- PossResend(97)=Y: processed once per business id, never rejected at session level;
- SessionRejectReason 15 (repeating group fields out of order) in the dealer flow.

A raw simplefix client plays the peer (``FixClient``), so every test sends exactly the bytes it needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import simplefix

from desk.models import Instrument
from rfq.fix import codec
from rfq.fix.acceptor import GatewayThread
from rfq.models import Counterparty, FixSession, FixSessionStatus, Quote, QuoteRequest, QuoteRequestStatus
from tests import factories
from tests.rfq.test_fix_support import (
    FixClient,
    execution_report_body,
    field,
    fix_dealer_create,
    quote_body,
    rfq_send_to,
    running_gateway,
    unique_code,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)

RESEND_TIMEOUT_S = 0.5
MAX_RESEND_REQUESTS = 2
OURS, THEIRS = "GAPS-DESK", "GAPS-PEER"
NEW_ORDER = [(11, "C-1"), (55, "BTC-USD"), (54, "1"), (60, "20260101-00:00:00"), (38, "5"), (40, "1")]


@pytest.fixture
def gateway() -> Iterator[GatewayThread]:
    with running_gateway(resend_timeout=RESEND_TIMEOUT_S, max_resend_requests=MAX_RESEND_REQUESTS) as running:
        yield running


@pytest.fixture
def fix_dealer() -> Counterparty:
    return fix_dealer_create()


@pytest.fixture
def client(gateway: GatewayThread, fix_dealer: Counterparty) -> Iterator[FixClient]:
    connection = FixClient(gateway.port, sender=fix_dealer.fix_sender_comp_id or "")
    yield connection
    connection.close()


@pytest.fixture
def btc(db) -> Instrument:  # noqa: ANN001
    return factories.instrument_create(symbol=f"BTC-{unique_code('')}")


@pytest.fixture
def conformance_gateway() -> Iterator[GatewayThread]:
    pytest.importorskip("quickfix", reason="conformance mode validates against the FIX44.xml of the quickfix package")
    with running_gateway(conformance=(OURS, THEIRS)) as running:
        yield running


@pytest.fixture
def peer(conformance_gateway: GatewayThread) -> Iterator[FixClient]:
    connection = FixClient(conformance_gateway.port, sender=THEIRS, target=OURS)
    connection.logon(password="")
    yield connection
    connection.close()


def _now() -> str:
    return codec.format_utc_timestamp(datetime.now(UTC))


def _resend_request_from(client: FixClient, begin: int, timeout: float = 5.0) -> simplefix.FixMessage:
    """The next ResendRequest asking from ``begin``; earlier ones for a smaller BeginSeqNo (sent before the peer's
    partial fill arrived, on a loaded machine) are skipped."""
    while True:
        request = client.expect("2", timeout=timeout)
        if int(field(request, 7) or "0") >= begin:
            return request


def _next_target_seq(dealer: Counterparty) -> int:
    return FixSession.objects.get(sender_comp_id="DESK", target_comp_id=dealer.fix_sender_comp_id).next_target_seq


# ------------------------------------------------------------------ 1. a gap that stays unfilled


def test_unanswered_resend_request_is_sent_again_then_the_session_logged_out(client: FixClient) -> None:
    client.logon()  # 1
    client.send("1", [(112, "BEYOND")], seq=5)  # 2..4 missing

    first = client.expect("2")
    second = client.expect("2", timeout=5)
    logout = client.expect("5", timeout=5)

    assert (field(first, 7), field(first, 16)) == ("2", "0")
    assert (field(second, 7), field(second, 16)) == ("2", "0")
    assert int(field(second, 34) or "0") == int(field(first, 34) or "0") + 1
    assert f"not filled after {MAX_RESEND_REQUESTS} ResendRequests" in (field(logout, 58) or "")
    assert client.wait_closed()


def test_gap_filled_after_the_second_resend_request_lets_the_session_go_on(
    client: FixClient, fix_dealer: Counterparty
) -> None:
    client.logon()  # 1
    client.send("1", [(112, "HELD")], seq=4)
    client.expect("2")
    again = client.expect("2", timeout=5)

    client.send("4", [(123, "Y"), (36, "4")], seq=2, poss_dup=True, orig_sending_time=_now())
    answered = client.expect("0", skip=())
    client.send("1", [(112, "LATER")], seq=5)

    assert field(again, 7) == "2"
    assert field(answered, 112) == "HELD"
    assert field(client.expect("0", skip=()), 112) == "LATER"  # no third ResendRequest, no Logout
    wait_for(lambda: _next_target_seq(fix_dealer) == 6, what="next_target_seq 6")


def test_a_gap_filled_piece_by_piece_is_asked_for_from_where_it_stands(client: FixClient) -> None:
    client.logon()  # 1
    client.send("1", [(112, "SIX")], seq=6)  # 2..5 missing
    client.expect("2")

    client.send("4", [(123, "Y"), (36, "3")], seq=2, poss_dup=True, orig_sending_time=_now())
    from_three = _resend_request_from(client, 3)
    client.send("4", [(123, "Y"), (36, "4")], seq=3, poss_dup=True, orig_sending_time=_now())
    # Without the progress the count would have reached MAX_RESEND_REQUESTS (2) here and ended the session.
    from_four = _resend_request_from(client, 4)
    client.send("4", [(123, "Y"), (36, "6")], seq=4, poss_dup=True, orig_sending_time=_now())

    assert (field(from_three, 7), field(from_four, 7)) == ("3", "4")
    assert field(client.expect("0", skip=("2",)), 112) == "SIX"


# ------------------------------------------------------------------ 4. NextExpectedMsgSeqNum(789) on Logon


def _reconnect(gateway: GatewayThread, first: FixClient, *, next_seq: int) -> FixClient:
    first.close()
    wait_for(
        lambda: FixSession.objects.filter(target_comp_id=THEIRS, status=FixSessionStatus.DISCONNECTED).exists(),
        what="the first connection closed",
    )
    again = FixClient(gateway.port, sender=THEIRS, target=OURS)
    again.next_seq = next_seq
    return again


def _echo_then_heartbeat(peer: FixClient) -> simplefix.FixMessage:
    peer.send("D", NEW_ORDER)  # 2, echoed as our 2
    echo = peer.expect("D")
    peer.send("1", [(112, "T")])  # 3, answered by our 3 (a Heartbeat)
    peer.expect("0")
    return echo


def test_logon_with_next_expected_seq_num_gets_what_the_peer_missed(
    peer: FixClient, conformance_gateway: GatewayThread
) -> None:
    echo = _echo_then_heartbeat(peer)
    again = _reconnect(conformance_gateway, peer, next_seq=4)

    again.send("A", [(98, "0"), (108, "30"), (789, "2")])  # 4: "the next I expect from you is your 2"
    reply = again.expect("A", skip=())
    resent = again.expect("D", skip=())
    gap_fill = again.expect("4", skip=())
    again.send("1", [(112, "AFTER")])  # 5

    assert (field(reply, 34), field(reply, 789)) == ("4", "5")
    assert (field(resent, 34), field(resent, 43), field(resent, 11)) == ("2", "Y", "C-1")
    assert field(resent, 122) == field(echo, 52)
    assert (field(gap_fill, 34), field(gap_fill, 123), field(gap_fill, 36)) == ("3", "Y", "4")
    assert field(again.expect("0", skip=()), 112) == "AFTER"
    again.close()


def test_logon_with_next_expected_seq_num_up_to_date_resends_nothing(
    peer: FixClient, conformance_gateway: GatewayThread
) -> None:
    _echo_then_heartbeat(peer)
    again = _reconnect(conformance_gateway, peer, next_seq=4)

    again.send("A", [(98, "0"), (108, "30"), (789, "4")])
    reply = again.expect("A", skip=())
    again.send("1", [(112, "NOTHING-BEFORE")])

    assert (field(reply, 34), field(reply, 789)) == ("4", "5")
    assert field(again.expect("0", skip=()), 112) == "NOTHING-BEFORE"
    again.close()


def test_logon_with_next_expected_seq_num_beyond_what_we_sent_is_logged_out(
    peer: FixClient, conformance_gateway: GatewayThread
) -> None:
    _echo_then_heartbeat(peer)
    again = _reconnect(conformance_gateway, peer, next_seq=4)

    again.send("A", [(98, "0"), (108, "30"), (789, "9")])

    logout = again.expect("5", skip=())
    assert "NextExpectedMsgSeqNum(789) 9 is higher than our next MsgSeqNum 4" in (field(logout, 58) or "")
    assert again.wait_closed()
    assert not [m for m in again.received if m.message_type == b"A"]
    again.close()


# ------------------------------------------------------------------ 2. BusinessMessageReject reason 5


def _package_request(dealer: Counterparty, trader, btc: Instrument) -> tuple[QuoteRequest, Instrument]:  # noqa: ANN001
    eth = factories.instrument_create(symbol=f"ETH-{unique_code('')}", base_currency="ETH")
    return rfq_send_to(dealer=dealer, trader=trader, instruments=[btc, eth]), eth


def _package_quote(request: QuoteRequest, btc: Instrument, eth: Instrument, quote_id: str) -> list[tuple[int, str]]:
    valid_until = codec.format_utc_timestamp(datetime.now(UTC) + timedelta(minutes=1))
    return [
        (131, request.quote_req_id),
        (117, quote_id),
        (55, "[N/A]"),
        (555, "2"),
        (600, btc.symbol),
        (687, "5"),
        (681, "99"),
        (684, "101"),
        (600, eth.symbol),
        (687, "5"),
        (681, "9"),
        (684, "11"),
        (133, "90"),
        (62, valid_until),
    ]


def test_package_quote_without_the_package_price_gets_business_reject_5(
    client: FixClient,
    fix_dealer: Counterparty,
    trader,
    btc: Instrument,  # noqa: ANN001
) -> None:
    client.logon()
    request, eth = _package_request(fix_dealer, trader, btc)
    client.expect("R")

    no_price = [pair for pair in _package_quote(request, btc, eth, "PKG-NOPX") if pair[0] != 133]
    client.send("S", no_price)  # 2
    refused = client.expect("j", skip=())
    no_legs = [pair for pair in _package_quote(request, btc, eth, "PKG-NOLEGS") if pair[0] not in (555, 600, 687)]
    client.send("S", [pair for pair in no_legs if pair[0] not in (681, 684)])  # 3
    refused_legs = client.expect("j", skip=())

    assert (field(refused, 45), field(refused, 372), field(refused, 379), field(refused, 380)) == (
        "2",
        "S",
        "PKG-NOPX",
        "5",
    )
    assert "package price" in (field(refused, 58) or "")
    assert (field(refused_legs, 379), field(refused_legs, 380)) == ("PKG-NOLEGS", "5")
    assert "NoLegs(555)" in (field(refused_legs, 58) or "")
    assert not Quote.objects.filter(dealer=fix_dealer).exists()
    wait_for(lambda: _next_target_seq(fix_dealer) == 4, what="next_target_seq 4")


def test_fill_without_last_qty_gets_business_reject_5_not_a_session_reject(
    client: FixClient, fix_dealer: Counterparty
) -> None:
    client.logon()
    report = [pair for pair in execution_report_body(cl_ord_id="ORD-X", exec_id="E1") if pair[0] != 32]

    client.send("8", report)  # 2

    refused = client.expect("j", skip=())
    assert (field(refused, 45), field(refused, 372), field(refused, 379), field(refused, 380)) == (
        "2",
        "8",
        "ORD-X",
        "5",
    )
    assert "LastQty(32)" in (field(refused, 58) or "")


@pytest.mark.parametrize(
    ("ord_type", "extra", "missing"),
    [
        pytest.param("D", [], "QuoteID(117)", id="previously-quoted-without-quote-id"),
        pytest.param("2", [], "Price(44)", id="limit-without-price"),
    ],
)
def test_conformance_new_order_missing_a_conditional_field_gets_business_reject_5(
    peer: FixClient, ord_type: str, extra: list[tuple[int, str]], missing: str
) -> None:
    order = [(40, ord_type) if tag == 40 else (tag, value) for tag, value in NEW_ORDER]
    peer.send("D", order + extra)  # 2
    refused = peer.expect("j", skip=())
    peer.send("D", [*order, (117, "QT-1"), (44, "100")])  # 3: complete, echoed

    assert (field(refused, 45), field(refused, 372), field(refused, 379), field(refused, 380)) == ("2", "D", "C-1", "5")
    assert missing in (field(refused, 58) or "")
    assert field(peer.expect("D", skip=()), 117) == "QT-1"


# ------------------------------------------------------------------ 3. PossResend(97)=Y


def test_poss_resend_quote_already_received_is_ignored_and_a_new_one_processed(
    client: FixClient,
    fix_dealer: Counterparty,
    trader,
    btc: Instrument,  # noqa: ANN001
) -> None:
    client.logon()
    request = rfq_send_to(dealer=fix_dealer, trader=trader, instruments=[btc])
    client.expect("R")
    client.send("S", quote_body(request, quote_id="Q-ONCE"))  # 2
    wait_for(lambda: Quote.objects.filter(dealer=fix_dealer, quote_id="Q-ONCE").exists(), what="the quote")

    client.send("S", quote_body(request, quote_id="Q-ONCE"), poss_resend=True)  # 3: ignored, no reply
    client.send("1", [(112, "AFTER-RESEND")])  # 4
    answered = client.expect("0", skip=())
    client.send("S", quote_body(request, quote_id="Q-ONCE"))  # 5: the same QuoteID without PossResend
    refused = client.expect("j", skip=())

    assert field(answered, 112) == "AFTER-RESEND"
    assert (field(refused, 45), field(refused, 379)) == ("5", "Q-ONCE")
    assert Quote.objects.filter(dealer=fix_dealer, quote_id="Q-ONCE").count() == 1
    wait_for(lambda: _next_target_seq(fix_dealer) == 6, what="next_target_seq 6")


def test_poss_resend_of_a_message_never_processed_is_processed(
    client: FixClient,
    fix_dealer: Counterparty,
    trader,
    btc: Instrument,  # noqa: ANN001
) -> None:
    client.logon()
    request = rfq_send_to(dealer=fix_dealer, trader=trader, instruments=[btc])
    client.expect("R")

    client.send("AG", [(131, request.quote_req_id), (658, "1"), (58, "no appetite")], poss_resend=True)  # 2
    wait_for(lambda: QuoteRequest.objects.get(pk=request.pk).status == QuoteRequestStatus.DECLINED, what="the decline")
    client.send("AG", [(131, request.quote_req_id), (658, "1")], poss_resend=True)  # 3: a duplicate, ignored
    client.send("1", [(112, "AFTER")])  # 4

    assert field(client.expect("0", skip=()), 112) == "AFTER"
    wait_for(lambda: _next_target_seq(fix_dealer) == 5, what="next_target_seq 5")


def test_conformance_poss_resend_is_echoed_once_per_cl_ord_id(peer: FixClient) -> None:
    peer.send("D", NEW_ORDER)  # 2
    peer.expect("D")

    peer.send("D", NEW_ORDER, poss_resend=True)  # 3: C-1 again, not echoed
    fresh = [(11, "C-2") if tag == 11 else (tag, value) for tag, value in NEW_ORDER]
    peer.send("D", fresh, poss_resend=True)  # 4: never seen, echoed

    echo = peer.expect("D", skip=())
    assert (field(echo, 11), field(echo, 34)) == ("C-2", "3")


# ------------------------------------------------------------------ 5. SessionRejectReason 15, dealer flow


def test_leg_group_entry_not_opening_with_leg_symbol_is_rejected_with_reason_15(
    client: FixClient,
    fix_dealer: Counterparty,
    trader,
    btc: Instrument,  # noqa: ANN001
) -> None:
    client.logon()
    request, eth = _package_request(fix_dealer, trader, btc)
    client.expect("R")
    fields = _package_quote(request, btc, eth, "PKG-ORDER")
    first_leg = fields.index((600, btc.symbol))
    fields[first_leg], fields[first_leg + 1] = fields[first_leg + 1], fields[first_leg]  # LegQty before LegSymbol

    client.send("S", fields)  # 2

    reject = client.expect("3", skip=())
    assert (field(reject, 45), field(reject, 371), field(reject, 372), field(reject, 373)) == ("2", "687", "S", "15")
    assert not Quote.objects.filter(dealer=fix_dealer, quote_id="PKG-ORDER").exists()
    wait_for(lambda: _next_target_seq(fix_dealer) == 3, what="next_target_seq 3")
