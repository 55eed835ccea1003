"""Helpers of the FIX gateway tests: a raw FIX client over a socket, FIX dealers, RFQs sent to them, polling.

The client uses ``simplefix`` for parsing (not the gateway's own framer), so what it sees is what any engine sees.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

import simplefix
from django.contrib.auth.models import User

from desk.models import Instrument
from rfq import services
from rfq.fix import codec
from rfq.fix.acceptor import GatewayThread
from rfq.models import RFQ, Connectivity, Counterparty, QuoteRequest, RFQLeg, Side
from tests import factories

PASSWORD = "fix-pass-123"
T = TypeVar("T")
_ids = itertools.count(1)


def unique_code(prefix: str = "F") -> str:
    # Unique across concurrent runs that share one Redis channel layer.
    return f"{prefix}{uuid.uuid4().hex[:8].upper()}"


def fix_dealer_create(*, code: str | None = None, password: str = PASSWORD) -> Counterparty:
    dealer = factories.dealer_create(code=code or unique_code())
    dealer.connectivity = Connectivity.FIX
    dealer.fix_sender_comp_id = dealer.code
    dealer.set_fix_password(password)
    dealer.save(update_fields=["connectivity", "fix_sender_comp_id", "fix_password_hash"])
    return dealer


def rfq_send_to(
    *, dealer: Counterparty, trader: User, instruments: list[Instrument], quantity: str = "5"
) -> QuoteRequest:
    """A draft RFQ on these instruments (one leg each), sent to the dealer through the service."""
    rfq = RFQ.objects.create(
        reference=f"RFQ-FIX-{uuid.uuid4().hex[:8]}",
        created_by=trader,
        expires_at=datetime.now(UTC) + timedelta(minutes=5),
        package_type="single" if len(instruments) == 1 else "custom",
    )
    for leg_no, instrument in enumerate(instruments, start=1):
        side = Side.BUY if leg_no % 2 else Side.SELL
        RFQLeg.objects.create(rfq=rfq, leg_no=leg_no, instrument=instrument, side=side, quantity=Decimal(quantity))
    (request,) = services.rfq_send(rfq=rfq, dealers=[dealer], actor=trader)
    return request


def wait_for(predicate: Callable[[], T], *, timeout: float = 10.0, what: str = "condition") -> T:
    """Poll until ``predicate`` returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


@contextlib.contextmanager
def running_gateway(**options: object) -> Iterator[GatewayThread]:
    gateway = GatewayThread(port=0, **options).start()
    try:
        yield gateway
    finally:
        gateway.stop()


def field(message: simplefix.FixMessage, tag: int) -> str | None:
    value = message.get(tag)
    return None if value is None else value.decode()


class FixClient:
    """A hand-driven FIX 4.4 initiator: it sends exactly what a test asks, with any sequence number."""

    def __init__(self, port: int, *, sender: str, target: str = "DESK", timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sender, self.target = sender, target
        self.parser = simplefix.FixParser()
        self.next_seq = 1
        self.received: list[simplefix.FixMessage] = []
        self.eof = False

    def build(
        self,
        msg_type: str,
        body: Iterable[tuple[int, str]] = (),
        *,
        seq: int | None = None,
        poss_dup: bool = False,
        orig_sending_time: str | None = None,
        sending_time: datetime | None = None,
        poss_resend: bool = False,
        header: Iterable[tuple[int, str]] = (),
    ) -> bytes:
        if seq is None:
            seq, self.next_seq = self.next_seq, self.next_seq + 1
        return codec.encode(
            msg_type=msg_type,
            sender=self.sender,
            target=self.target,
            seq=seq,
            body=list(body),
            poss_dup=poss_dup,
            orig_sending_time=orig_sending_time,
            sending_time=sending_time,
            poss_resend=poss_resend,
            header=header,
        )

    def send(self, msg_type: str, body: Iterable[tuple[int, str]] = (), **options: object) -> bytes:
        raw = self.build(msg_type, body, **options)  # type: ignore[arg-type]
        self.sock.sendall(raw)
        return raw

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive(self, timeout: float = 5.0) -> simplefix.FixMessage | None:
        deadline = time.monotonic() + timeout
        while True:
            message = self.parser.get_message()
            if message is not None:
                self.received.append(message)
                return message
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.eof:
                return None
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return None
            except OSError:
                data = b""
            if not data:
                self.eof = True
            self.parser.append_buffer(data)

    def expect(self, msg_type: str, timeout: float = 5.0, *, skip: Iterable[str] = ("0",)) -> simplefix.FixMessage:
        """The next message of ``msg_type``, skipping heartbeats (or the types in ``skip``) on the way."""
        skipped = set(skip)
        deadline = time.monotonic() + timeout
        while True:
            message = self.receive(max(deadline - time.monotonic(), 0.01))
            if message is None:
                seen = [codec.readable(m.encode(raw=True)) for m in self.received[-5:]]
                raise AssertionError(f"no {msg_type} within {timeout} s; last received: {seen}")
            kind = message.message_type.decode()
            if kind == msg_type:
                return message
            if kind not in skipped:
                raise AssertionError(f"expected {msg_type}, got {codec.readable(message.encode(raw=True))}")

    def logon(self, password: str = PASSWORD, *, heartbeat: int = 30, reset: bool = False) -> simplefix.FixMessage:
        body = [(98, "0"), (108, str(heartbeat))]
        if reset:
            body.append((141, "Y"))
        if password:
            body.append((554, password))
        self.send("A", body)
        return self.expect("A")

    def wait_closed(self, timeout: float = 5.0) -> bool:
        """True once the gateway closed the connection (messages still arriving are kept in ``received``)."""
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            self.receive(max(deadline - time.monotonic(), 0.01))
        return self.eof

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def quote_body(
    request: QuoteRequest, *, quote_id: str, bid: str = "99", offer: str = "101", valid_s: int = 60
) -> list[tuple[int, str]]:
    """A single-instrument Quote (S) answering ``request``."""
    valid_until = codec.format_utc_timestamp(datetime.now(UTC) + timedelta(seconds=valid_s))
    symbol = request.rfq.legs.get().instrument.symbol
    return [
        (131, request.quote_req_id),
        (117, quote_id),
        (55, symbol),
        (132, bid),
        (133, offer),
        (134, "5"),
        (135, "5"),
        (62, valid_until),
    ]


def execution_report_body(
    *, cl_ord_id: str, exec_id: str, exec_type: str = "F", qty: str = "5", price: str = "101", symbol: str = "X"
) -> list[tuple[int, str]]:
    filled = exec_type == "F"
    return [
        (37, f"ORD-{exec_id}"),
        (11, cl_ord_id),
        (17, exec_id),
        (150, exec_type),
        (39, "2" if filled else "8"),
        (55, symbol),
        (54, "2"),
        (151, "0"),
        (14, qty if filled else "0"),
        (6, price if filled else "0"),
        *([(32, qty), (31, price)] if filled else [(58, "last look")]),
    ]
