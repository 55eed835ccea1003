"""A simulated dealer that connects as a real FIX dealer would: a FIX 4.4 initiator over TCP (simplefix for the
wire format), logging on with its CompID and password, answering QuoteRequests with Quotes after its own response
time, and NewOrderSingles with ExecutionReports after its last look.

It is deliberately a separate, minimal engine (the gateway's own session code is not reused), so that the desk
and its dealers only share the FIX protocol. It resets sequence numbers at each logon (ResetSeqNumFlag=Y).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import simplefix

from sim.dealers.profiles import DealerProfile, LegRequest, dealer_answer, dealer_last_look
from sim.dealers.rest_bot import FairValueSource

logger = logging.getLogger(__name__)

SIDES = {"1": "buy", "2": "sell"}


def _fix_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]


def _text(message: simplefix.FixMessage, tag: int) -> str | None:
    value = message.get(tag)
    return value.decode() if value is not None else None


def _groups(message: simplefix.FixMessage, count_tag: int, first_tag: int) -> list[dict[int, str]]:
    entries: list[dict[int, str]] = []
    inside = False
    for raw_tag, raw_value in message.pairs:
        tag = int(raw_tag)
        if tag == count_tag:
            inside = True
        elif inside and tag == first_tag:
            entries.append({tag: raw_value.decode()})
        elif inside and entries and tag in (623, 624, 687, 654):
            entries[-1][tag] = raw_value.decode()
        elif inside and entries:
            inside = False
    return entries


class FixDealerBot(threading.Thread):
    """One simulated dealer on the FIX gateway. Reconnects while running; stops when ``stop_event`` is set."""

    def __init__(
        self,
        *,
        profile: DealerProfile,
        host: str,
        port: int,
        comp_id: str,
        password: str,
        fair_value: FairValueSource,
        stop_event: threading.Event,
        seed: int = 0,
        heartbeat_s: int = 10,
        quote_life_s: float = 20.0,
        target_comp_id: str = "DESK",
    ) -> None:
        super().__init__(name=f"fix-dealer-{comp_id}", daemon=True)
        self.profile = profile
        self.host, self.port = host, port
        self.comp_id, self.password, self.target = comp_id, password, target_comp_id
        self.fair_value = fair_value
        self.stop_event = stop_event
        self.rng = np.random.default_rng(seed)
        self.heartbeat_s = heartbeat_s
        self.quote_life_s = quote_life_s
        self.logged_on = threading.Event()
        self.quotes_sent = 0
        self.fills_sent = 0
        self._seq = 1
        self._ids = itertools.count(1)
        self._writer: asyncio.StreamWriter | None = None

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        while not self.stop_event.is_set():
            try:
                await self._session()
            except (OSError, asyncio.IncompleteReadError) as error:
                logger.info("FIX dealer %s: %s", self.comp_id, error)
            except Exception:
                # A dealer's engine that hits a bug reconnects; it does not vanish for the rest of the day.
                logger.exception("FIX dealer %s failed, reconnecting", self.comp_id)
            self.logged_on.clear()
            await asyncio.sleep(1.0)

    async def _send(self, msg_type: str, body: list[tuple[int, str]]) -> None:
        message = simplefix.FixMessage()
        message.append_pair(8, "FIX.4.4", header=True)
        message.append_pair(35, msg_type, header=True)
        message.append_pair(49, self.comp_id, header=True)
        message.append_pair(56, self.target, header=True)
        message.append_pair(34, str(self._seq), header=True)
        message.append_pair(52, _fix_time(datetime.now(UTC)), header=True)
        for tag, value in body:
            message.append_pair(tag, value)
        self._seq += 1
        assert self._writer is not None
        self._writer.write(message.encode())
        await self._writer.drain()

    async def _session(self) -> None:
        reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self._seq = 1
        await self._send("A", [(98, "0"), (108, str(self.heartbeat_s)), (141, "Y"), (554, self.password)])
        parser = simplefix.FixParser()
        last_sent = asyncio.get_running_loop().time()
        try:
            while not self.stop_event.is_set():
                try:
                    data = await asyncio.wait_for(reader.read(65536), timeout=0.2)
                except TimeoutError:
                    data = None
                if data == b"":
                    return
                if data:
                    parser.append_buffer(data)
                    while (message := parser.get_message()) is not None:
                        await self._on_message(message)
                now = asyncio.get_running_loop().time()
                if now - last_sent >= self.heartbeat_s and self.logged_on.is_set():
                    await self._send("0", [])
                    last_sent = now
            if self.logged_on.is_set():
                await self._send("5", [(58, "dealer going home")])
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reader.read(65536), timeout=1)
        finally:
            self.logged_on.clear()
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()

    async def _on_message(self, message: simplefix.FixMessage) -> None:
        kind = _text(message, 35)
        if kind == "A":
            self.logged_on.set()
        elif kind == "1":
            await self._send("0", [(112, _text(message, 112) or "")])
        elif kind == "2":
            # Nothing of ours is worth resending: gap-fill everything asked for.
            await self._send("4", [(123, "Y"), (36, str(self._seq + 1))])
        elif kind == "5":
            await self._send("5", [])
            raise OSError("logged out by the desk")
        elif kind == "R":
            self._on_quote_request(message)
        elif kind == "D":
            await self._on_order(message)
        elif kind in ("3", "j"):
            logger.info("FIX dealer %s: refused by the desk: %s", self.comp_id, _text(message, 58))

    def _on_quote_request(self, message: simplefix.FixMessage) -> None:
        quote_req_id = _text(message, 131)
        legs_in = _groups(message, 555, 600)
        if legs_in:
            wanted = [(e[600], SIDES.get(e.get(624, "1"), "buy"), float(e.get(687, "1"))) for e in legs_in]
        else:
            wanted = [(_text(message, 55), SIDES.get(_text(message, 54) or "1", "buy"), float(_text(message, 38)))]
        legs = []
        for number, (symbol, side, quantity) in enumerate(wanted, start=1):
            fair = self.fair_value(symbol)
            if fair is None:
                return
            legs.append(LegRequest(number, fair.kind, side, quantity, fair.price, fair.contract_notional))
        answer = dealer_answer(self.profile, legs, self.rng, tick=self.fair_value(wanted[0][0]).tick)
        if answer.action == "silent":
            return
        loop = asyncio.get_running_loop()
        loop.call_later(answer.delay_s, lambda: asyncio.ensure_future(self._answer(quote_req_id, wanted, answer)))

    async def _answer(self, quote_req_id: str, wanted: list, answer: object) -> None:
        if not self.logged_on.is_set():
            return
        if answer.action == "decline":
            await self._send("AG", [(131, quote_req_id), (658, "99"), (58, answer.reason)])
            return
        valid_until = _fix_time(datetime.now(UTC) + timedelta(seconds=self.quote_life_s))
        body = [(117, f"{self.comp_id}-{next(self._ids)}"), (131, quote_req_id), (537, "1")]
        if len(answer.legs) == 1:
            q = answer.legs[0]
            body += [(132, f"{q.bid_price:.8f}"), (133, f"{q.offer_price:.8f}")]
            body += [(134, f"{q.size:.8f}"), (135, f"{q.size:.8f}"), (62, valid_until)]
        else:
            net = sum(
                q.offer_price if side == "buy" else -q.bid_price
                for q, (_, side, _) in zip(answer.legs, wanted, strict=True)
            )
            body += [(133, f"{net:.8f}"), (62, valid_until), (555, str(len(answer.legs)))]
            for q, (symbol, _, _) in zip(answer.legs, wanted, strict=True):
                body += [
                    (600, symbol),
                    (681, f"{q.bid_price:.8f}"),
                    (684, f"{q.offer_price:.8f}"),
                    (687, f"{q.size:.8f}"),
                ]
        await self._send("S", body)
        self.quotes_sent += 1

    async def _on_order(self, message: simplefix.FixMessage) -> None:
        cl_ord_id, symbol = _text(message, 11), _text(message, 55)
        side, quantity, price = SIDES.get(_text(message, 54), "buy"), _text(message, 38), _text(message, 44)
        fair = self.fair_value(symbol) if symbol and symbol != "[N/A]" else None
        honour = dealer_last_look(
            self.profile,
            desk_side=side,
            quoted_price=float(price),
            fair_now=fair.price if fair else float(price),
            rng=self.rng,
        )
        common = [(37, f"{self.comp_id}-O{next(self._ids)}"), (11, cl_ord_id), (55, symbol), (54, _text(message, 54))]
        if honour:
            await self._send(
                "8",
                [
                    *common[:1],
                    (17, f"{self.comp_id}-E-{cl_ord_id}"),
                    (150, "F"),
                    (39, "2"),
                    *common[1:],
                    (38, quantity),
                    (32, quantity),
                    (31, price),
                    (151, "0"),
                    (14, quantity),
                    (6, price),
                ],
            )
            self.fills_sent += 1
        else:
            await self._send(
                "8",
                [
                    *common[:1],
                    (17, f"{self.comp_id}-R-{cl_ord_id}"),
                    (150, "8"),
                    (39, "8"),
                    *common[1:],
                    (38, quantity),
                    (151, "0"),
                    (14, "0"),
                    (6, "0"),
                    (58, "last look"),
                ],
            )
