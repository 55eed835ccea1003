"""A simulated dealer that connects as a real REST dealer would: over HTTP, with its DealerKey, polling its RFQs
and accepted orders, answering after its own response time, and deciding last look against the market."""

from __future__ import annotations

import heapq
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from sim.dealers.profiles import DealerProfile, LegRequest, dealer_answer, dealer_last_look

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FairValue:
    """What the simulated world says an instrument is worth now."""

    price: float
    kind: str
    contract_notional: float
    tick: float


FairValueSource = Callable[[str], FairValue | None]


class DealerHttpError(Exception):
    pass


class RestDealerBot(threading.Thread):
    """One simulated dealer on the REST API. Stops when ``stop_event`` is set."""

    def __init__(
        self,
        *,
        profile: DealerProfile,
        base_url: str,
        key_id: str,
        secret: str,
        fair_value: FairValueSource,
        stop_event: threading.Event,
        seed: int = 0,
        poll_s: float = 0.25,
        quote_life_s: float = 20.0,
    ) -> None:
        super().__init__(name=f"dealer-{profile.code}", daemon=True)
        self.profile = profile
        self.base_url = base_url.rstrip("/")
        self.auth = f"DealerKey {key_id}:{secret}"
        self.fair_value = fair_value
        self.stop_event = stop_event
        self.rng = np.random.default_rng(seed)
        self.poll_s = poll_s
        self.quote_life_s = quote_life_s
        self.seen_requests: set[str] = set()
        self.seen_orders: set[str] = set()
        self.due: list[tuple[float, int, dict[str, Any]]] = []
        self.counter = 0
        self.quotes_sent = 0
        self.connected = False

    def _call(self, method: str, path: str, body: dict | None = None, key: str | None = None) -> Any:
        headers = {"Authorization": self.auth, "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        if key:
            headers["Idempotency-Key"] = key
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise DealerHttpError(f"{method} {path}: {error.code} {error.read()[:300]!r}") from None

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.step()
                self.connected = True
            except (DealerHttpError, urllib.error.URLError, OSError) as error:
                self.connected = False
                logger.warning("dealer %s: %s", self.profile.code, error)
            self.stop_event.wait(self.poll_s)

    def step(self) -> None:
        """One poll: pick up new RFQs, send what is due, decide last look on accepted quotes."""
        rfqs = self._call("GET", "/api/v1/dealer/rfqs/?status=sent&status=quoted&limit=50")["results"]
        for rfq in rfqs:
            if rfq["quote_req_id"] not in self.seen_requests:
                self.seen_requests.add(rfq["quote_req_id"])
                self._plan_answer(rfq)
        now = time.monotonic()
        while self.due and self.due[0][0] <= now:
            _, _, action = heapq.heappop(self.due)
            self._send(action)
        orders = self._call("GET", "/api/v1/dealer/orders/?status=sent&limit=50")["results"]
        for order in orders:
            if order["cl_ord_id"] not in self.seen_orders:
                self.seen_orders.add(order["cl_ord_id"])
                self._last_look(order)

    def _plan_answer(self, rfq: dict[str, Any]) -> None:
        legs = []
        for leg in rfq["legs"]:
            fair = self.fair_value(leg["instrument"])
            if fair is None:
                return
            legs.append(
                LegRequest(
                    leg_no=leg["leg_no"],
                    kind=fair.kind,
                    side=leg["side"],
                    quantity=float(leg["quantity"]),
                    fair_price=fair.price,
                    contract_notional=fair.contract_notional,
                )
            )
        tick = self.fair_value(rfq["legs"][0]["instrument"]).tick
        answer = dealer_answer(self.profile, legs, self.rng, tick=tick)
        if answer.action == "silent":
            return
        self.counter += 1
        heapq.heappush(self.due, (time.monotonic() + answer.delay_s, self.counter, {"rfq": rfq, "answer": answer}))

    def _send(self, action: dict[str, Any]) -> None:
        rfq, answer = action["rfq"], action["answer"]
        quote_req_id = rfq["quote_req_id"]
        try:
            if answer.action == "decline":
                self._call(
                    "POST",
                    f"/api/v1/dealer/quote-requests/{quote_req_id}/decline/",
                    {"reason": answer.reason},
                    key=f"decline-{quote_req_id}",
                )
                return
            legs = [
                {
                    "leg_no": q.leg_no,
                    "bid_price": f"{q.bid_price:.8f}",
                    "bid_size": f"{q.size:.8f}",
                    "offer_price": f"{q.offer_price:.8f}",
                    "offer_size": f"{q.size:.8f}",
                }
                for q in answer.legs
            ]
            body = {
                "quote_req_id": quote_req_id,
                "quote_id": f"{self.profile.code}-{quote_req_id}",
                "valid_until": (datetime.now(UTC) + timedelta(seconds=self.quote_life_s)).isoformat(),
                "legs": legs,
            }
            if len(legs) > 1:
                package = sum(
                    q.offer_price if leg["side"] == "buy" else -q.bid_price
                    for q, leg in zip(answer.legs, rfq["legs"], strict=True)
                )
                body["package_price"] = f"{package:.8f}"
            self._call("POST", "/api/v1/dealer/quotes/", body, key=f"quote-{quote_req_id}")
            self.quotes_sent += 1
        except DealerHttpError as error:
            # A late answer to an RFQ that expired or was filled meanwhile: what real dealers see too.
            logger.info("dealer %s: answer refused: %s", self.profile.code, error)

    def _last_look(self, order: dict[str, Any]) -> None:
        fair = self.fair_value(order["instrument"]) if order.get("instrument") else None
        price = float(order["price"])
        honour = dealer_last_look(
            self.profile,
            desk_side=order["side"],
            quoted_price=price,
            fair_now=fair.price if fair else price,
            rng=self.rng,
        )
        cl_ord_id = order["cl_ord_id"]
        try:
            if honour:
                body = {
                    "exec_id": f"{self.profile.code}-{cl_ord_id}",
                    "quantity": order["quantity"],
                    "price": order["price"],
                }
                self._call("POST", f"/api/v1/dealer/orders/{cl_ord_id}/fill/", body, key=f"fill-{cl_ord_id}")
            else:
                self._call(
                    "POST",
                    f"/api/v1/dealer/orders/{cl_ord_id}/reject/",
                    {"reason": "last look"},
                    key=f"rej-{cl_ord_id}",
                )
        except DealerHttpError as error:
            logger.info("dealer %s: last look answer refused: %s", self.profile.code, error)
