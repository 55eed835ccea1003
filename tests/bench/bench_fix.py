"""FIX gateway figures on loopback: application messages handled per second against a simplefix parse-only loop
over the same bytes, and the QuoteRequest -> Quote round trip (median and p99) with a dealer that answers at once."""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import simplefix

from tests.bench.django_env import django_ready

QUOTES = 300
ROUND_TRIPS = 60


def _fix(comp_id: str, seq: int, msg_type: str, body: list[tuple[int, str]]) -> bytes:
    message = simplefix.FixMessage()
    for tag, value in [(8, "FIX.4.4"), (35, msg_type), (49, comp_id), (56, "DESK"), (34, str(seq))]:
        message.append_pair(tag, value, header=True)
    message.append_pair(52, datetime.now(UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3], header=True)
    for tag, value in body:
        message.append_pair(tag, value)
    return message.encode()


def _read_until(
    sock: socket.socket, parser: simplefix.FixParser, want: str, key: tuple[int, str] | None = None
) -> None:
    while True:
        message = parser.get_message()
        if message is None:
            parser.append_buffer(sock.recv(65536))
            continue
        if message.get(35).decode() == want and (key is None or message.get(key[0]).decode() == key[1]):
            return


def _throughput(trader: Any, instrument: Any) -> dict[str, Any]:
    from rfq.fix.acceptor import fix_gateway_thread
    from rfq.models import Connectivity, Quote
    from tests import factories

    dealer = factories.dealer_create(code="FIXBENCH", connectivity=Connectivity.FIX)
    dealer.set_fix_password("bench-pw")
    dealer.save(update_fields=["fix_password_hash"])
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer], expires_in=timedelta(hours=1))
    quote_req_id = rfq.quote_requests.get().quote_req_id
    valid_until = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y%m%d-%H:%M:%S.000")
    gateway = fix_gateway_thread(port=0)
    try:
        with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
            parser = simplefix.FixParser()
            sock.sendall(_fix("FIXBENCH", 1, "A", [(98, "0"), (108, "30"), (141, "Y"), (554, "bench-pw")]))
            _read_until(sock, parser, "A")
            _read_until(sock, parser, "R")
            quotes = [
                _fix(
                    "FIXBENCH",
                    2 + i,
                    "S",
                    [
                        (117, f"QB-{i}"),
                        (131, quote_req_id),
                        (537, "1"),
                        (132, "99.5"),
                        (133, "100.5"),
                        (134, "1"),
                        (135, "1"),
                        (62, valid_until),
                    ],
                )
                for i in range(QUOTES)
            ]
            started = time.perf_counter()
            sock.sendall(b"".join(quotes))
            # The session handles messages in order: the answer to this TestRequest means all quotes are stored.
            sock.sendall(_fix("FIXBENCH", 2 + QUOTES, "1", [(112, "done")]))
            _read_until(sock, parser, "0", key=(112, "done"))
            handled = QUOTES / (time.perf_counter() - started)
        assert Quote.objects.filter(dealer=dealer).count() == QUOTES
    finally:
        gateway.stop()
    raw = b"".join(quotes)
    started = time.perf_counter()
    parser = simplefix.FixParser()
    parser.append_buffer(raw)
    parsed = 0
    while parser.get_message() is not None:
        parsed += 1
    parse_only = parsed / (time.perf_counter() - started)
    return {
        "bench": "fix.quotes_handled_per_second",
        "value": round(handled, 1),
        "baseline": round(parse_only, 1),
        "ratio": round(handled / parse_only, 5),
        "unit": "messages/s (baseline: simplefix parse-only loop over the same bytes; ratio: handled/parsed)",
    }


def _round_trip(trader: Any, instrument: Any) -> dict[str, Any]:
    from rfq.fix.acceptor import fix_gateway_thread
    from rfq.models import Connectivity, Quote
    from sim.dealers.fix_bot import FixDealerBot
    from sim.dealers.profiles import DealerProfile
    from sim.dealers.rest_bot import FairValue
    from tests import factories

    dealer = factories.dealer_create(code="FIXRTT", connectivity=Connectivity.FIX)
    dealer.set_fix_password("rtt-pw")
    dealer.save(update_fields=["fix_password_hash"])
    instant = DealerProfile("FIXRTT", 1.0, 5.0, 0.0, 1e-6, 1e-3, 0.0, last_look_reject_prob=0.0)
    gateway = fix_gateway_thread(port=0)
    stop = threading.Event()
    bot = FixDealerBot(
        profile=instant,
        host="127.0.0.1",
        port=gateway.port,
        comp_id="FIXRTT",
        password="rtt-pw",
        fair_value=lambda symbol: FairValue(price=100.0, kind="spot", contract_notional=100.0, tick=0.01),
        stop_event=stop,
        heartbeat_s=30,
    )
    bot.start()
    samples = []
    try:
        assert bot.logged_on.wait(10)
        for _ in range(ROUND_TRIPS):
            started = time.perf_counter()
            rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])
            while not Quote.objects.filter(rfq=rfq).exists():
                time.sleep(0.0005)
            samples.append((time.perf_counter() - started) * 1000)
    finally:
        stop.set()
        bot.join(10)
        gateway.stop()
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(0.99 * len(samples)))]
    return {
        "bench": "fix.quote_request_to_quote_round_trip",
        "value": round(statistics.median(samples), 2),
        "baseline": round(p99, 2),
        "ratio": round(p99 / statistics.median(samples), 2),
        "unit": "ms (value: median, baseline: p99, ratio: p99/median); RFQ send to Quote stored, loopback",
    }


def benchmarks() -> Iterator[dict[str, Any]]:
    django_ready()
    from django.test import override_settings

    from tests import factories

    with override_settings(DEBUG=False):
        trader = factories.user_create(role="trader", username="fix-bench-trader")
        instrument = factories.instrument_create(symbol="BTC-USD-FIXBENCH")
        yield _throughput(trader, instrument)
        yield _round_trip(trader, instrument)
