"""The dealers' FIX session store: :class:`desk.fix.store.FixStore` over :class:`~rfq.models.FixSession` and
:class:`~rfq.models.FixMessage` (see :mod:`desk.fix.store` for the rule that makes a restart lose or repeat
nothing), and the dealer a CompID belongs to."""

from __future__ import annotations

from desk.fix.store import Exchange as Exchange
from desk.fix.store import FixStore
from desk.fix.store import Inbound as Inbound
from desk.fix.store import Outgoing as Outgoing
from desk.fix.store import SessionRecord as SessionRecord
from rfq.models import Counterparty, FixMessage, FixSession

STORE = FixStore(FixSession, FixMessage)

session_status_set = STORE.session_status_set
session_reset = STORE.session_reset
exchange = STORE.exchange
target_seq_set = STORE.target_seq_set
outbound_range = STORE.outbound_range
outbound_exists = STORE.outbound_exists
inbound_exists = STORE.inbound_exists
inbound_seen = STORE.inbound_seen
sessions_mark_disconnected = STORE.sessions_mark_disconnected


def counterparty_for_comp_id(comp_id: str) -> Counterparty | None:
    """The dealer whose FIX SenderCompID this is, or None."""
    return Counterparty.objects.filter(fix_sender_comp_id=comp_id).first()


def session_open(*, sender_comp_id: str, target_comp_id: str, counterparty: Counterparty | None) -> SessionRecord:
    """The stored session for this CompID pair, created on first use with both sequence numbers at 1; tied to
    ``counterparty``."""
    record = STORE.session_open(sender_comp_id=sender_comp_id, target_comp_id=target_comp_id, counterparty=counterparty)
    if counterparty is not None and record.counterparty_id != counterparty.pk:
        FixSession.objects.filter(pk=record.pk).update(counterparty=counterparty)
    return record
