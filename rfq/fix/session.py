"""The dealers' FIX sessions: the session layer of :mod:`desk.fix.session` on the dealers' store
(:mod:`rfq.fix.store`), a dealer authenticated by its CompID and FIX password (Username 553 / Password 554)."""

from __future__ import annotations

from typing import Any

import simplefix
from asgiref.sync import sync_to_async

from desk.fix import codec
from desk.fix.session import DEFAULT_RESEND_TIMEOUT_S as DEFAULT_RESEND_TIMEOUT_S
from desk.fix.session import LOGON_TIMEOUT_S as LOGON_TIMEOUT_S
from desk.fix.session import LOGOUT_TIMEOUT_S as LOGOUT_TIMEOUT_S
from desk.fix.session import MAX_HELD_MESSAGES as MAX_HELD_MESSAGES
from desk.fix.session import MAX_RESEND_REQUESTS as MAX_RESEND_REQUESTS
from desk.fix.session import Application as Application
from desk.fix.session import Session as CoreSession
from desk.fix.session import SessionConfig as SessionConfig
from desk.fix.session import SessionRegistry as SessionRegistry
from desk.fix.session import State as State
from desk.fix.session import Transport as Transport
from desk.fix.store import SessionRecord
from rfq.fix import store
from rfq.models import Counterparty


class Session(CoreSession):
    """One dealer's FIX session over one connection (acceptor side)."""

    counterparty: Counterparty | None

    def __init__(self, **options: Any) -> None:
        options.setdefault("store", store.STORE)
        super().__init__(**options)

    async def _open_record(self, peer: str, owner: Any) -> SessionRecord:
        return await sync_to_async(store.session_open)(
            sender_comp_id=self.config.sender_comp_id, target_comp_id=peer, counterparty=owner
        )

    async def _authenticate(self, peer: str, message: simplefix.FixMessage) -> tuple[Counterparty | None, str | None]:
        if self.config.conformance_peer is not None:
            return None, (None if peer == self.config.conformance_peer else f"unknown CompID {peer!r}")
        counterparty = await sync_to_async(store.counterparty_for_comp_id)(peer)
        if counterparty is None:
            return None, f"unknown CompID {peer!r}"
        password = codec.field(message, 554) or ""
        active = counterparty.status == "active" and counterparty.connectivity == "fix"
        if not active or not await sync_to_async(counterparty.check_fix_password)(password):
            return counterparty, "invalid logon"
        return counterparty, None
