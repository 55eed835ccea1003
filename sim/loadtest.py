"""A load test anyone can run: simulated dealers drive a running desk over REST as real dealers do.

Set-up (in the desk's own database, so run it with the desk's settings, on a development desk only): one dealer per
client (``LT001`` …, a fresh API secret each run) and one RFQ on BTC-USD sent to all of them, open for the run.

Then each client sends, on its own keep-alive connection, 70 % ``GET /api/v1/dealer/rfqs/`` and 30 % quote
``POST /api/v1/dealer/quotes/`` (a new QuoteID each time, priced a few bps around the desk's mid).

- **Open loop** (``rate``): the clients together *offer* ``rate`` requests per second, request ``k`` being due at
  ``k / rate`` seconds, spread round-robin over the clients. A slow answer does not slow the offer: a request that
  finds its client still busy waits, and its latency is counted from the moment it was due, so queueing shows up
  in the percentiles (no coordinated omission).
- **Closed loop** (no ``rate``): each client sends back to back, for the maximum throughput.

A request not answered within ``grace_s`` after the window counts as an error, as does any answer that is not 2xx.
The figures: ``requests`` answered, ``req_per_s`` answered per second of the window, ``p50_ms`` / ``p99_ms`` of
their latency, ``errors``, with ``offered`` (open loop) beside them.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import random
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from desk.market import venue_books
from desk.models import Instrument, InstrumentKind
from desk.roles import Role
from rfq.models import Connectivity, Counterparty, QuoteRequest
from rfq.services import LegInput, QuoteRefused, rfq_create, rfq_send

MAX_CLIENTS = 500
MAX_RATE = 5000.0
MAX_SECONDS = 600.0
GET_SHARE = 0.7
GRACE_S = 10.0
QUOTE_HALF_SPREAD_BPS = 5.0
INSTRUMENT = "BTC-USD"


class LoadtestRefused(ValueError):
    """A bad argument, in one line."""


@dataclass(frozen=True)
class Target:
    host: str
    port: int


def target_check(url: str, clients: int, rate: float | None, seconds: float) -> Target:
    """The loopback host and port of ``url``; refuses a remote URL and counts out of bounds, by name."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise LoadtestRefused(f"--url {url!r}: expected http://127.0.0.1:<port> (the desk on this machine)")
    host = parts.hostname
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise LoadtestRefused(f"--url {url!r}: only a desk on this machine (loopback) may be load tested")
    if not 1 <= clients <= MAX_CLIENTS:
        raise LoadtestRefused(f"--clients {clients}: must be between 1 and {MAX_CLIENTS}")
    if rate is not None and not 0 < rate <= MAX_RATE:
        raise LoadtestRefused(f"--rate {rate:g}: must be above 0 and at most {MAX_RATE:g} requests per second")
    if not 0 < seconds <= MAX_SECONDS:
        raise LoadtestRefused(f"--seconds {seconds:g}: must be above 0 and at most {MAX_SECONDS:g}")
    return Target(host=host, port=parts.port or 80)


@dataclass(frozen=True)
class Dealer:
    code: str
    key_id: str
    secret: str
    quote_req_id: str


@dataclass(frozen=True)
class Setup:
    dealers: list[Dealer]
    rfq: str
    mid: float


def _user(username: str, role: str) -> Any:
    """A user of ``role`` that cannot log in with a password (the dealers use their API keys)."""
    user, created = get_user_model().objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()
        user.save()
        user.groups.add(Group.objects.get(name=role))
    return user


def loadtest_provision(*, clients: int, seconds: float) -> Setup:
    """The dealers (one per client) and the RFQ they all quote, in the desk's database."""
    instrument = Instrument.objects.filter(symbol=INSTRUMENT).first()
    if instrument is None:
        raise LoadtestRefused(f"no instrument {INSTRUMENT}: run `manage.py seed_demo` on the desk first")
    books = venue_books(underlying=instrument.base_currency)
    if not books:
        raise LoadtestRefused(f"no market for {INSTRUMENT}: start the desk with its simulated market first")
    mid = float(np.median([float(b.mid) for b in books]))
    with transaction.atomic():
        trader = _user(f"loadtest-{Role.TRADER}", Role.TRADER)
        dealers = []
        for n in range(1, clients + 1):
            code = f"LT{n:03d}"
            user = _user(f"dealer-{code.lower()}", Role.DEALER)
            dealer, _ = Counterparty.objects.get_or_create(
                code=code,
                defaults={
                    "name": f"Load test dealer {code}",
                    "connectivity": Connectivity.REST,
                    "api_key_id": f"key-{code.lower()}",
                    "instrument_classes": [InstrumentKind.SPOT],
                    "user": user,
                },
            )
            secret = secrets.token_urlsafe(18)
            dealer.set_api_secret(secret)
            dealer.save(update_fields=["api_secret_hash"])
            dealers.append((dealer, secret))
        try:
            rfq = rfq_create(
                legs=[LegInput(instrument=instrument, side="buy", quantity=instrument.lot_size)],
                actor=trader,
                expires_in=timedelta(seconds=seconds + 120),
            )
            rfq_send(rfq=rfq, dealers=[d for d, _ in dealers], actor=trader)
        except QuoteRefused as error:
            raise LoadtestRefused(f"the desk refused the load test's RFQ: {'; '.join(error.messages)}") from None
    requests = dict(QuoteRequest.objects.filter(rfq=rfq).values_list("dealer__code", "quote_req_id"))
    return Setup(
        dealers=[Dealer(d.code, d.api_key_id, secret, requests[d.code]) for d, secret in dealers],
        rfq=rfq.reference,
        mid=mid,
    )


@dataclass
class ClientResult:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    refused: dict[int, str] = field(default_factory=dict)
    """The first answer's body of each refused (non-2xx) status, cut short: what a user needs to see why."""


class Client(threading.Thread):
    """One dealer on one keep-alive connection, sending the requests due to it (open loop) or back to back."""

    def __init__(  # noqa: PLR0913 - one keyword per part of the client's schedule
        self, *, target: Target, dealer: Dealer, mid: float, due: list[float] | None, start: float, end: float
    ) -> None:
        super().__init__(daemon=True, name=f"loadtest-{dealer.code}")
        self.target, self.dealer, self.mid = target, dealer, mid
        self.due, self.start_at, self.end_at = due, start, end
        self.result = ClientResult()
        self.random = random.Random(dealer.code)
        self.connection: http.client.HTTPConnection | None = None
        self.auth = f"DealerKey {dealer.key_id}:{dealer.secret}"
        self.done = 0

    def _request(self, *, get: bool) -> tuple[int, bytes]:
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.target.host, self.target.port, timeout=30)
        headers = {"Authorization": self.auth, "Accept": "application/json"}
        if get:
            self.connection.request("GET", "/api/v1/dealer/rfqs/?status=sent&status=quoted&limit=50", headers=headers)
        else:
            half = self.mid * QUOTE_HALF_SPREAD_BPS / 1e4
            body = {
                "quote_req_id": self.dealer.quote_req_id,
                "quote_id": f"{self.dealer.code}-{uuid.uuid4().hex[:12]}",
                "valid_until": (datetime.now(UTC) + timedelta(seconds=20)).isoformat(),
                "legs": [
                    {
                        "leg_no": 1,
                        "bid_price": str(round(Decimal(self.mid - half), 2)),
                        "bid_size": "1",
                        "offer_price": str(round(Decimal(self.mid + half), 2)),
                        "offer_size": "1",
                    }
                ],
            }
            headers |= {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
            self.connection.request("POST", "/api/v1/dealer/quotes/", body=json.dumps(body), headers=headers)
        response = self.connection.getresponse()
        return response.status, response.read()

    def _one(self, counted_from: float, *, get: bool | None = None) -> None:
        try:
            status, body = self._request(get=self.random.random() < GET_SHARE if get is None else get)
        except (OSError, http.client.HTTPException):
            if self.connection is not None:
                self.connection.close()
            self.connection = None
            self.result.errors += 1
            return
        self.result.statuses[status] = self.result.statuses.get(status, 0) + 1
        if 200 <= status < 300:
            self.result.latencies_ms.append((time.monotonic() - counted_from) * 1e3)
        else:
            self.result.errors += 1
            self.result.refused.setdefault(status, body[:300].decode("utf-8", "replace"))

    def warm(self) -> None:
        """One GET before the window: the desk checks a dealer's secret slowly once, then remembers it."""
        self._one(time.monotonic(), get=True)
        self.result = ClientResult()

    def run(self) -> None:
        deadline = self.end_at + GRACE_S
        if self.due is None:
            while time.monotonic() < self.end_at:
                self._one(time.monotonic())
            return
        for at in self.due:
            now = time.monotonic()
            if now >= deadline:
                self.result.errors += 1  # never sent in time
            else:
                if at > now:
                    time.sleep(at - now)
                self._one(at)
            self.done += 1

    def left(self) -> int:
        """Requests due to this client that it has not finished (sent and answered, or failed)."""
        return len(self.due or []) - self.done

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


def loadtest_run(*, target: Target, setup: Setup, rate: float | None, seconds: float) -> dict[str, Any]:
    """Run the window and return the figures (see the module)."""
    clients = len(setup.dealers)
    workers = [Client(target=target, dealer=d, mid=setup.mid, due=None, start=0.0, end=0.0) for d in setup.dealers]
    for worker in workers:
        worker.warm()
    start = time.monotonic() + 0.5
    end = start + seconds
    offered = None if rate is None else int(rate * seconds)
    for i, worker in enumerate(workers):
        worker.start_at, worker.end_at = start, end
        if offered is not None and rate is not None:
            worker.due = [start + k / rate for k in range(i, offered, clients)]
        worker.start()
    for worker in workers:
        worker.join(timeout=max(end + GRACE_S + 5 - time.monotonic(), 0.1))
    latencies = np.array([ms for w in workers for ms in w.result.latencies_ms], dtype=float)
    # A client still stuck in a request after the grace: whatever it has not done counts as failed.
    errors = sum(w.result.errors + (w.left() if w.is_alive() else 0) for w in workers)
    statuses: dict[str, int] = {}
    refused: dict[str, str] = {}
    for worker in workers:
        worker.close()
        for status, count in worker.result.statuses.items():
            statuses[str(status)] = statuses.get(str(status), 0) + count
        for status, body in worker.result.refused.items():
            refused.setdefault(str(status), body)
    out: dict[str, Any] = {
        "requests": int(latencies.size),
        "req_per_s": round(latencies.size / seconds, 2),
        "p50_ms": round(float(np.percentile(latencies, 50)), 2) if latencies.size else None,
        "p99_ms": round(float(np.percentile(latencies, 99)), 2) if latencies.size else None,
        "errors": int(errors),
        "mode": "closed" if offered is None else "open",
        "clients": clients,
        "statuses": statuses,
        "refused": refused,
    }
    if offered is not None:
        out |= {"offered": offered, "offered_per_s": rate}
    return out
