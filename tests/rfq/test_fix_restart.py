"""``python manage.py fixgateway`` as a child process on the test database: killed (SIGKILL) and restarted
mid-session it resumes at the right sequence numbers, loses nothing and applies nothing twice; and its
``--conformance`` mode answers as the session layer alone.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.management import CommandError, call_command
from django.db import connection

from execution.models import Fill
from rfq import services
from rfq.models import DealerOrder, DealerOrderStatus, FixDirection, FixMessage, FixSession, Quote
from tests import factories
from tests.conftest import REPO_ROOT, free_port
from tests.rfq.test_fix_support import (
    PASSWORD,
    FixClient,
    execution_report_body,
    field,
    fix_dealer_create,
    quote_body,
    rfq_send_to,
    unique_code,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _database_url() -> str:
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings_dict['NAME']}"
    user = quote(settings_dict["USER"] or "")
    password = f":{quote(settings_dict['PASSWORD'])}" if settings_dict["PASSWORD"] else ""
    host, port = settings_dict["HOST"] or "localhost", settings_dict["PORT"] or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"


def _accepting(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def gateway_process(port: int, *options: str) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "DATABASE_URL": _database_url(), "DJANGO_SETTINGS_MODULE": "desk.settings"}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "fixgateway", "--port", str(port), *options],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not _accepting(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the fixgateway process did not start")
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def test_gateway_killed_and_restarted_resumes_without_loss_or_repeat(trader) -> None:  # noqa: ANN001
    dealer = fix_dealer_create()
    # The child process runs the production hashers, not the tests' fast MD5 one.
    dealer.fix_password_hash = PBKDF2PasswordHasher().encode(PASSWORD, "restart-test-salt")
    dealer.save(update_fields=["fix_password_hash"])
    instrument = factories.instrument_create(symbol=f"BTC-{unique_code('')}")
    request = rfq_send_to(dealer=dealer, trader=trader, instruments=[instrument])
    port = free_port()

    with gateway_process(port) as first:
        client = FixClient(port, sender=dealer.code)
        client.logon()  # in 1 / out 1
        quote_request = client.expect("R")  # out 2
        quote_raw = client.send("S", quote_body(request, quote_id="Q-RESTART"))  # in 2
        sent_at = quote_raw.split(b"\x0152=")[1].split(b"\x01")[0].decode()
        quote = wait_for(lambda: Quote.objects.filter(dealer=dealer, quote_id="Q-RESTART").first(), what="the quote")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert client.wait_closed()
    client.close()
    # The desk accepts while the gateway is down: the NewOrderSingle must wait for it, not get lost.
    order = services.quote_accept(quote=quote, actor=trader)

    with gateway_process(port):
        resumed = FixClient(port, sender=dealer.code)
        resumed.next_seq = 3
        logon = resumed.logon()  # in 3 / out 3
        new_order = resumed.expect("D")  # out 4, delivered by the logon sweep
        resumed.send("S", quote_body(request, quote_id="Q-RESTART"), seq=2, poss_dup=True, orig_sending_time=sent_at)
        resumed.send("8", execution_report_body(cl_ord_id=order.cl_ord_id, exec_id="X1", symbol=instrument.symbol))
        wait_for(lambda: DealerOrder.objects.get(pk=order.pk).status == DealerOrderStatus.FILLED, what="the fill")
        resumed.send("2", [(7, "1"), (16, "0")])  # in 5: everything we ever sent, again
        replay = [resumed.expect(kind) for kind in ("4", "R", "4", "D")]
        resumed.close()

    assert (field(quote_request, 34), field(logon, 34), field(new_order, 34)) == ("2", "3", "4")
    assert field(new_order, 11) == order.cl_ord_id
    assert [(field(m, 34), field(m, 36), field(m, 43)) for m in replay] == [
        ("1", "2", "Y"),
        ("2", None, "Y"),
        ("3", "4", "Y"),
        ("4", None, "Y"),
    ]
    assert field(replay[1], 122) == field(quote_request, 52)
    assert Quote.objects.filter(dealer=dealer).count() == 1
    assert Fill.objects.filter(quote=quote).count() == 1
    session = FixSession.objects.get(sender_comp_id="DESK", target_comp_id=dealer.code)
    assert (session.next_target_seq, session.next_sender_seq) == (6, 5)
    inbound = FixMessage.objects.filter(session=session, direction=FixDirection.INBOUND).order_by("seq")
    assert [(m.seq, m.msg_type) for m in inbound] == [(1, "A"), (2, "S"), (3, "A"), (4, "8"), (5, "2")]


def test_fixgateway_command_in_conformance_mode_echoes_application_messages() -> None:
    pytest.importorskip("quickfix", reason="conformance mode validates against quickfix's FIX44.xml")
    port = free_port()

    with gateway_process(port, "--conformance", "OURS:THEIRS"):
        peer = FixClient(port, sender="THEIRS", target="OURS")
        logon = peer.logon(password="")
        peer.send("D", [(11, "C-9"), (55, "BTC-USD"), (54, "2"), (60, "20260101-00:00:00"), (38, "1"), (40, "1")])
        echo = peer.expect("D")
        peer.close()

    assert (field(logon, 49), field(logon, 56)) == ("OURS", "THEIRS")
    assert (field(echo, 11), field(echo, 54), field(echo, 34)) == ("C-9", "2", "2")


def test_fixgateway_command_resets_on_every_logon_when_asked() -> None:
    pytest.importorskip("quickfix", reason="conformance mode validates against quickfix's FIX44.xml")
    port = free_port()

    with gateway_process(port, "--conformance", "OURS:THEIRS", "--reset-on-logon"):
        first = FixClient(port, sender="THEIRS", target="OURS")
        first.logon(password="")  # 1
        first.send("0")  # 2
        first.close()
        wait_for(lambda: FixSession.objects.filter(target_comp_id="THEIRS", next_target_seq=3).exists(), what="2 in")
        again = FixClient(port, sender="THEIRS", target="OURS")
        again.next_seq = 3  # what the stored session expects, were it not reset
        logon = again.logon(password="")
        resend = again.expect("2", skip=())
        again.close()

    assert (field(logon, 34), field(logon, 141)) == ("1", None)
    assert (field(resend, 7), field(resend, 16)) == ("1", "0")


def test_fixgateway_refuses_a_malformed_conformance_pair() -> None:
    with pytest.raises(CommandError, match="OURS:THEIRS"):
        call_command("fixgateway", "--conformance", "ONLY-ONE")
