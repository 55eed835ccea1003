"""Asking again: when an open RFQ has no quote an accept could still take and nothing more to wait for (every dealer
asked has answered, declined, or stayed silent past ``RFQ_REASK_SILENT_S``), the engine asks again within the
RFQ's expiry: the next wave of dealers when one is left, else a refreshed request to the dealers already asked
(a new QuoteReqID: each answers it as a new RFQ; those that declined are not asked again). At most
``RFQ_MAX_REASKS`` times, and only while ``RFQ_REASK_MIN_LEFT_S`` seconds are left before the RFQ expires (enough
for a dealer to answer and an accept to reach it). Each re-ask is a decision record (``reask``) that replays.

The beat sweep (:func:`rfqs_reask_due`) looks every few seconds; automatic mode asks at each of its decisions.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction

from desk import clock
from desk.audit import Actor
from desk.decisions import decision_record, decision_replayer_register
from desk.events import broadcast
from desk.models import DecisionKind, DecisionRecord
from rfq.engine.timing import accept_latency_s
from rfq.models import (
    RFQ,
    Counterparty,
    CounterpartyStatus,
    Firmness,
    QuoteRequest,
    QuoteRequestStatus,
    QuoteStatus,
    RFQStatus,
)
from rfq.services.rfqs import quote_requests_add, quote_requests_refresh

REASK_ACTOR = "system:rfq-engine"
MAX_REASKS = 3
REASK_MIN_LEFT_S = 6.0
"""Seconds the RFQ must still have for a re-ask to be worth sending: most demo dealers answer within 2 to 4 s, and
an accept takes ``RFQ_ACCEPT_LATENCY_S`` more."""
REASK_SILENT_S = 5.0
"""Seconds after which a dealer that has not answered no longer holds a re-ask back (the wave spacing's default)."""


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def reask_inputs(*, rfq: RFQ, now: datetime) -> dict[str, Any]:
    """What the re-ask decision reads, JSON-ready: seconds left, the takeable quotes, each request's state and
    silence, the waves left, the re-asks already made, and the settings."""
    latency = accept_latency_s()
    takeable = rfq.quotes.filter(
        status=QuoteStatus.LIVE, firmness=Firmness.FIRM, valid_until__gt=now + timedelta(seconds=latency)
    ).count()
    requests = [
        {
            "dealer": code,
            "status": status,
            "silent_s": None if sent_at is None else max((now - sent_at).total_seconds(), 0.0),
        }
        for code, status, sent_at in QuoteRequest.objects.filter(rfq=rfq)
        .order_by("id")
        .values_list("dealer__code", "status", "sent_at")
    ]
    done = DecisionRecord.objects.filter(kind=DecisionKind.REASK, object_type="rfq.rfq", object_id=str(rfq.pk))
    return {
        "left_s": None if rfq.expires_at is None else (rfq.expires_at - now).total_seconds(),
        "takeable_quotes": takeable,
        "requests": requests,
        "waves": rfq.waves,
        "reasks": done.count(),
        "max_reasks": int(_setting("RFQ_MAX_REASKS", MAX_REASKS)),
        "min_left_s": _setting("RFQ_REASK_MIN_LEFT_S", REASK_MIN_LEFT_S),
        "silent_s": _setting("RFQ_REASK_SILENT_S", REASK_SILENT_S),
        "as_of": now.isoformat(),
    }


def reask_compute(inputs: dict[str, Any]) -> dict[str, Any]:
    """The re-ask decision from its inputs (the replayer): ``action`` ``none``, ``wave`` or ``refresh``, the
    ``dealers`` to ask and the ``reason``."""
    none = {"action": "none", "dealers": []}
    if inputs["takeable_quotes"] > 0:
        return none | {"reason": "a quote can still be taken"}
    if inputs["left_s"] is not None and inputs["left_s"] < inputs["min_left_s"]:
        return none | {"reason": "too little time left before the RFQ expires"}
    if inputs["reasks"] >= inputs["max_reasks"]:
        return none | {"reason": "asked again as often as allowed"}
    open_states = (QuoteRequestStatus.PENDING, QuoteRequestStatus.SENT)
    waiting = [
        r
        for r in inputs["requests"]
        if r["status"] in open_states and (r["silent_s"] is None or r["silent_s"] < inputs["silent_s"])
    ]
    if waiting:
        return none | {"reason": f"{len(waiting)} dealer(s) may still answer"}
    answered = sum(r["status"] == QuoteRequestStatus.QUOTED for r in inputs["requests"])
    why = "their quotes expired" if answered else "no dealer answered in time"
    if inputs["waves"]:
        return {"action": "wave", "dealers": list(inputs["waves"][0]), "reason": f"{why}: the next wave is asked"}
    again = [r["dealer"] for r in inputs["requests"] if r["status"] != QuoteRequestStatus.DECLINED]
    if not again:
        return none | {"reason": "every dealer asked declined"}
    return {"action": "refresh", "dealers": again, "reason": f"{why}: the same dealers are asked again"}


decision_replayer_register(DecisionKind.REASK, reask_compute)


def rfq_reask(*, rfq_id: int, actor: Actor = REASK_ACTOR) -> dict[str, Any]:
    """Ask again when the RFQ needs it (see the module): returns the decision (``action`` ``none`` when nothing was
    sent; a decision record only when something was). Safe to run twice: the second run finds the dealers asked."""
    with transaction.atomic():
        rfq = RFQ.objects.select_for_update().filter(pk=rfq_id).first()
        if rfq is None or rfq.status not in (RFQStatus.SENT, RFQStatus.QUOTED):
            return {"action": "none", "dealers": [], "reason": "the RFQ is not open"}
        now = clock.now()
        if rfq.expires_at is not None and rfq.expires_at <= now:
            return {"action": "none", "dealers": [], "reason": "the RFQ expired"}
        inputs = reask_inputs(rfq=rfq, now=now)
        output = reask_compute(inputs)
        if output["action"] == "none":
            return output
        dealers = list(Counterparty.objects.filter(code__in=output["dealers"], status=CounterpartyStatus.ACTIVE))
        if output["action"] == "wave":
            asked = quote_requests_add(rfq=rfq, dealers=dealers, actor=actor)
            RFQ.objects.filter(pk=rfq.pk).update(waves=rfq.waves[1:])
        else:
            asked = quote_requests_refresh(rfq=rfq, dealers=dealers, actor=actor)
        codes = sorted(r.dealer.code for r in asked)
        if not asked:
            return output | {"action": "none", "asked": []}
        record = decision_record(
            kind=DecisionKind.REASK,
            actor=actor,
            obj=rfq,
            inputs=inputs,
            output=output,
            explanation=f"{output['reason']} (asked: {', '.join(codes)})",
            model_versions={"decision": "reask"},
        )
        broadcast(event="rfq.reask", payload={"rfq": rfq.reference, "dealers": len(asked), "reason": output["reason"]})
    return output | {"asked": codes, "decision": record.pk}


def rfqs_reask_due() -> list[str]:
    """Beat: ask again on every open RFQ that needs it; the references asked again."""
    now = clock.now()
    rows = RFQ.objects.filter(status__in=[RFQStatus.SENT, RFQStatus.QUOTED], expires_at__gt=now).values_list(
        "pk", "reference"
    )
    return [reference for pk, reference in rows if rfq_reask(rfq_id=pk)["action"] != "none"]
