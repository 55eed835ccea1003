"""The gateway in conformance mode against QuickFIX's own FIX 4.4 server acceptance scripts, played over TCP.

QuickFIX runs these scripts against its acceptor with ``SenderCompID=ISLD``, ``TargetCompID=TW`` and
``ResetOnLogon=Y`` (its ``test/setup.sh``); the gateway runs as ``fixgateway --conformance ISLD:TW --reset-on-logon``
would. Each
script is one test; ``tests/rfq/fix_acceptance.py`` plays it and says how a received message is compared. The
scripts are vendored in ``tests/rfq/fix_acceptance/fix44/`` under QuickFIX's license (``LICENSE-QUICKFIX`` there).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rfq.fix.acceptor import GatewayThread
from tests.rfq.fix_acceptance import compare, fixify, parse_script, run_script, timify
from tests.rfq.test_fix_support import running_gateway

pytest.importorskip("quickfix", reason="conformance mode validates against the FIX44.xml of the quickfix package")

SCRIPTS = sorted((Path(__file__).parent / "fix_acceptance" / "fix44").glob("*.def"))
OURS, THEIRS = "ISLD", "TW"


@pytest.fixture
def gateway(transactional_db: None) -> Iterator[GatewayThread]:
    with running_gateway(conformance=(OURS, THEIRS), reset_on_logon=True) as running:
        yield running


@pytest.mark.parametrize("script", SCRIPTS, ids=[path.stem for path in SCRIPTS])
def test_quickfix_acceptance_script(gateway: GatewayThread, script: Path) -> None:
    run_script(script.read_text(), port=gateway.port)


def test_every_fix44_script_is_vendored() -> None:
    assert len(SCRIPTS) == 59


# ------------------------------------------------------------------ the runner itself: it must be able to fail


def _message(text: str) -> bytes:
    return fixify(text)


def test_fixify_computes_body_length_and_checksum_unless_given() -> None:
    computed = fixify("8=FIX.4.4|35=0|34=2|49=TW|52=20260101-00:00:00|56=ISLD|")
    given = fixify("8=FIX.4.4|9=3|35=0|34=2|10=999|")

    body = b"35=0\x0134=2\x0149=TW\x0152=20260101-00:00:00\x0156=ISLD\x01"
    head = b"8=FIX.4.4\x019=%d\x01" % len(body)
    assert computed == head + body + b"10=%03d\x01" % (sum(head + body) % 256)
    assert given == b"8=FIX.4.4\x019=3\x0135=0\x0134=2\x0110=999\x01"


def test_timify_offsets_in_seconds() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    assert timify("52=<TIME>|122=<TIME+10>|60=<TIME-121>", now) == (
        "52=20260102-03:04:05|122=20260102-03:04:15|60=20260102-03:02:04"
    )


def test_compare_accepts_patterns_order_and_reason_details() -> None:
    expected = _message("8=FIX.4.4|35=3|34=2|49=ISLD|52=00000000-00:00:00|56=TW|45=2|58=Required tag missing|372=0|")
    received = _message(
        "8=FIX.4.4|35=3|49=ISLD|56=TW|34=2|52=20260101-10:00:00.123|45=2|371=56|372=0|58=Required tag missing: 56|"
    )

    assert compare(expected, received) is None


@pytest.mark.parametrize(
    ("received", "reason"),
    [
        pytest.param("8=FIX.4.4|35=0|34=3|49=ISLD|52=20260101-10:00:00|56=TW|", "field 34", id="other-value"),
        pytest.param("8=FIX.4.4|35=0|34=2|49=ISLD|52=20260101-10:00:00|", "field 56", id="missing-field"),
        pytest.param("8=FIX.4.4|35=0|34=2|49=ISLD|52=20260101-10:00:00|56=TW|58=x|", "field 58", id="extra-field"),
        pytest.param("8=FIX.4.4|35=0|34=2|49=ISLD|52=yesterday|56=TW|", "pattern", id="pattern"),
        pytest.param("8=FIX.4.4|34=2|35=0|49=ISLD|52=20260101-10:00:00|56=TW|", "first", id="msg-type-not-third"),
    ],
)
def test_compare_reports_what_differs(received: str, reason: str) -> None:
    expected = _message("8=FIX.4.4|35=0|34=2|49=ISLD|52=00000000-00:00:00|56=TW|")

    assert reason in (compare(expected, _message(received)) or "")


def test_a_reject_text_must_begin_with_the_standard_reason() -> None:
    expected = _message("8=FIX.4.4|35=3|34=2|49=ISLD|52=0|56=TW|45=2|58=CompID problem|372=D|373=9|")
    received = _message("8=FIX.4.4|35=3|34=2|49=ISLD|52=20260101-10:00:00|56=TW|45=2|58=Bad|372=D|373=9|")

    assert "field 58" in (compare(expected, received) or "")


def test_script_steps_name_their_connection() -> None:
    steps = parse_script("# comment\n\ni2,CONNECT\nI2,8=FIX.4.4|35=A|\nE8=FIX.4.4|\neDISCONNECT\n")

    assert [(step.action, step.connection, step.text) for step in steps] == [
        ("i", 2, "CONNECT"),
        ("I", 2, "8=FIX.4.4|35=A|"),
        ("E", 1, "8=FIX.4.4|"),
        ("e", 1, "DISCONNECT"),
    ]
