"""Whom to ask: the live scoring model's estimates (a prior with exploration when no model is live), the
selection of :func:`rfq.scoring.select.dealers_select`, the waves it is sent in, and its decision record.

A challenger (the newest validated version trained after the live one) scores the same RFQ in shadow: its choice
is stored beside the live one's in the decision record, never acted on.

Waves: the chosen dealers are asked ``wave_size`` at a time, best first; :func:`rfq_wave_next` widens the RFQ to
the next wave when the quotes so far do not cover the order (a task calls it ``wave_wait_s`` after each wave).
Spacing: a new RFQ on an instrument asked within the last ``RFQ_SPACING_S`` seconds (twice that when the dealers
asked last time have measured leakage) is held back, so that the desk's interest is not repeated on the tape.
Partial size: when the chosen dealers' measured leakage passes ``RFQ_PARTIAL_LEAK_BPS``, they are shown only part of
the size (:func:`shown_fraction`); the rest is asked again, or worked, once this part is done.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum

from desk import clock
from desk.audit import Actor, audit_record
from desk.decisions import decision_record, decision_replayer_register
from desk.events import broadcast
from desk.models import DecisionKind, DecisionRecord
from rfq import tasks
from rfq.engine.market import NoMarket, rfq_market
from rfq.models import (
    RFQ,
    Counterparty,
    CounterpartyStatus,
    QuoteRequest,
    RFQLeg,
    RFQStatus,
    ScoringModelStatus,
    ScoringModelVersion,
)
from rfq.scoring.scores import WEIGHTS_ATTR, Context, cost_parts, dealer_estimates
from rfq.scoring.select import Selection, SelectionPolicy, dealers_select
from rfq.selectors import dealer_exposure
from rfq.services.common import QuoteRefused
from rfq.services.rfqs import quote_requests_add, rfq_send

ENGINE_ACTOR = "system:rfq-engine"
PRIOR = {"p_answer": 0.7, "p_respond": 0.8, "p_fill": 0.9, "price_bps": 5.0, "noise_bps": 3.0, "response_s": 1.0}
"""The desk-wide prior of a dealer nobody has scored yet (no live model): explored by Thompson sampling."""
PRIOR_WEIGHTS = {
    "fill_base_bps": 0.0,
    "price": 1.0,
    "wait_s": 0.0,
    "noise": 0.4,
    "leak": 1.0,
    "silent_bps": 20.0,
    "decline_bps": 0.0,
    "reject_bps": 20.0,
}
"""Cost weights before any model version exists (no outcome learned yet): the price at face value, a failed
request at 20 bps. Every dealer has the same prior estimates then, so these only shape the exploration draws; the
first trained version replaces them with weights learned from the desk's outcomes."""


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def challenger_version(live: ScoringModelVersion | None) -> ScoringModelVersion | None:
    """The newest validated version trained after the live one (any validated one when none is live)."""
    candidates = ScoringModelVersion.objects.filter(status=ScoringModelStatus.VALIDATED)
    if live is not None:
        candidates = candidates.filter(version__gt=live.version)
    return candidates.order_by("-version").first()


def prior_estimates(dealers: list[str]) -> pd.DataFrame:
    """Estimates with the desk-wide prior for every dealer (no history): what exploration starts from."""
    frame = pd.DataFrame({"dealer": dealers})
    for column in ("requests", "answers", "wins", "fills"):
        frame[column] = 0.0
    frame["known"] = False
    for column, value in PRIOR.items():
        frame[column] = value
    frame["leak_estimate_bps"] = 0.0
    return cost_parts(frame, PRIOR_WEIGHTS)


def _candidates(kind: str) -> tuple[list[str], dict[str, str]]:
    """Dealers that quote ``kind`` (all kinds when their list is empty), and every dealer's status with the
    exposure cap applied (a dealer past it is ``exposure cap``)."""
    cap = float(_setting("RFQ_DEALER_MAX_EXPOSURE", 50_000_000))
    now = clock.now()
    codes, statuses = [], {}
    for dealer in Counterparty.objects.order_by("code"):
        if dealer.instrument_classes and kind not in dealer.instrument_classes and kind != "package":
            continue
        codes.append(dealer.code)
        status = dealer.status
        if status == CounterpartyStatus.ACTIVE:
            # The same exposure the pre-trade check holds against the dealer's limit at acceptance.
            exposure = float(dealer_exposure(dealer=dealer.code, now=now))
            if exposure >= cap:
                status = f"exposure cap ({exposure:,.0f} ≥ {cap:,.0f})"
        statuses[dealer.code] = status
    return codes, statuses


SEED_WINDOW_S = 300


def selection_seed(*, legs: list[RFQLeg], now: datetime | None = None) -> int:
    """The seed of a selection's draws (exploration and Monte Carlo): the same for the same legs within a
    :data:`SEED_WINDOW_S` window, so that the dealers a ticket previews are the ones the RFQ is then sent to."""
    now = now or clock.now()
    key = "|".join(f"{leg.instrument_id}:{leg.side}:{leg.ratio}:{Decimal(leg.quantity).normalize()}" for leg in legs)
    window = int(now.timestamp() // SEED_WINDOW_S)
    return int.from_bytes(hashlib.sha256(f"{key}|{window}".encode()).digest()[:4], "big")


def selection_inputs(*, legs: list[RFQLeg], seed: int) -> dict[str, Any]:
    """What the selection reads for an RFQ of ``legs`` (saved or not): the context, every candidate's status and
    estimates from the live model (the prior without one) and from the challenger, the policy and the seed."""
    try:
        market = rfq_market(rfq=None, legs=legs)
        context = Context(
            kind=market.kind, notional=market.notional, regime=market.regime, volatility=market.state.volatility
        )
    except NoMarket:
        context = Context(kind=legs[0].instrument.kind if len(legs) == 1 else "package")
    codes, statuses = _candidates(context.kind)
    live = ScoringModelVersion.objects.filter(status=ScoringModelStatus.LIVE).first()
    challenger = challenger_version(live)
    policy = SelectionPolicy(
        max_dealers=int(_setting("RFQ_MAX_DEALERS", 5)),
        leakage_per_dealer_bps=float(_setting("RFQ_LEAKAGE_PER_DEALER_BPS", 0.5)),
        draws=1024,
        explore=live is None or bool(_setting("RFQ_EXPLORE", True)),
    )

    def block(version: ScoringModelVersion | None) -> dict[str, Any]:
        frame = dealer_estimates(version.artifact, codes, context) if version else prior_estimates(codes)
        return {
            "version": version.version if version else None,
            "estimates": frame.replace({np.nan: None}).to_dict(orient="records"),
            "weights": frame.attrs[WEIGHTS_ATTR],
        }

    return {
        "context": asdict(context),
        "statuses": statuses,
        "policy": {k: v for k, v in asdict(policy).items() if k != "exploration"},
        "seed": seed,
        "partial_leak_bps": float(_setting("RFQ_PARTIAL_LEAK_BPS", 2.0)),
        "live": block(live),
        "challenger": block(challenger) if challenger else None,
    }


def shown_fraction(leak_bps: float, threshold_bps: float) -> float:
    """The share of the size to show: all of it while the chosen dealers' measured leakage ``leak_bps`` is within
    ``threshold_bps`` (0 turns partial display off), else ``threshold / leak`` (the leak scales with the size shown),
    in steps of 5 %, never below a quarter."""
    if threshold_bps <= 0 or leak_bps <= threshold_bps:
        return 1.0
    return max(0.25, math.floor(threshold_bps / leak_bps * 20.0) / 20.0)


def selection_compute(inputs: dict[str, Any]) -> dict[str, Any]:
    """The selection (and the challenger's in shadow) from stored inputs: the decision's replayer."""
    policy = SelectionPolicy(**inputs["policy"])

    def run(block: dict[str, Any]) -> Selection:
        frame = pd.DataFrame(block["estimates"]).fillna(value=np.nan)
        # Records stored before the weights were learned scored with the prior's weights.
        frame.attrs[WEIGHTS_ATTR] = block.get("weights", PRIOR_WEIGHTS)
        return dealers_select(
            frame, statuses=inputs["statuses"], policy=policy, rng=np.random.default_rng(inputs["seed"])
        )

    live = run(inputs["live"]).as_dict()
    shadow = run(inputs["challenger"]).as_dict() if inputs.get("challenger") else None
    leak = sum(max(row["leak_bps"], 0.0) for row in live["rows"] if row["chosen"])
    return {
        "shown_fraction": shown_fraction(leak, float(inputs.get("partial_leak_bps", 0.0))),
        "dealers": live["dealers"],
        "expected_cost_bps": live["expected_cost_bps"],
        "rows": live["rows"],
        "shadow": None
        if shadow is None
        else {"dealers": shadow["dealers"], "expected_cost_bps": shadow["expected_cost_bps"]},
    }


decision_replayer_register(DecisionKind.DEALER_SELECTION, selection_compute)


def dealers_recommend(*, rfq: RFQ, actor: Actor, record: bool = True) -> dict[str, Any]:
    """The dealers the desk would ask for ``rfq``, each with its score and why; stored as a decision record."""
    legs = list(rfq.legs.select_related("instrument__underlying").order_by("leg_no"))
    inputs = selection_inputs(legs=legs, seed=selection_seed(legs=legs))
    output = selection_compute(inputs)
    chosen = ", ".join(output["dealers"]) or "nobody"
    explanation = (
        f"asks {chosen}: expected best price net of leakage {output['expected_cost_bps']:.2f} bps "
        f"(model v{inputs['live']['version'] or '— prior, exploring'})"
    )
    if record:
        decision_record(
            kind=DecisionKind.DEALER_SELECTION,
            actor=actor,
            obj=rfq,
            inputs=inputs,
            output=output,
            explanation=explanation,
            model_versions={
                "scoring": inputs["live"]["version"],
                "challenger": inputs["challenger"]["version"] if inputs["challenger"] else None,
            },
        )
    return output | {"explanation": explanation, "model_version": inputs["live"]["version"]}


def spacing_wait_s(*, legs: list[RFQLeg], now: datetime) -> float:
    """Seconds to hold a new RFQ back: another RFQ on one of its instruments went out less than the spacing ago.
    The spacing (``RFQ_SPACING_S``, 0 by default: off) doubles when the dealers asked last time leaked (positive
    measured leakage in that RFQ's selection record)."""
    base = float(_setting("RFQ_SPACING_S", 0.0))
    if base <= 0:
        return 0.0
    instruments = [leg.instrument_id for leg in legs]
    last = (
        RFQ.objects.filter(legs__instrument_id__in=instruments, sent_at__isnull=False)
        .exclude(pk=legs[0].rfq_id)
        .order_by("-sent_at")
        .first()
    )
    if last is None:
        return 0.0
    record = (
        DecisionRecord.objects.filter(kind=DecisionKind.DEALER_SELECTION, object_type="rfq.rfq", object_id=str(last.pk))
        .order_by("-id")
        .first()
    )
    leaked = record is not None and any(
        row.get("chosen") and (row.get("leak_bps") or 0.0) > 0 for row in record.output.get("rows", [])
    )
    spacing = base * (2.0 if leaked else 1.0)
    elapsed = (now - last.sent_at).total_seconds()
    return max(0.0, spacing - elapsed)


def _waves(dealers: list[str], size: int) -> list[list[str]]:
    return [dealers[i : i + size] for i in range(0, len(dealers), size)]


def rfq_send_selected(*, rfq: RFQ, actor: Actor, wave_size: int | None = None) -> dict[str, Any]:
    """Select the dealers, send the first wave, keep the others for :func:`rfq_wave_next`. Refused (nothing sent)
    when nobody can be asked or the instrument was asked too recently (spacing)."""
    legs = list(rfq.legs.select_related("instrument"))
    wait = spacing_wait_s(legs=legs, now=clock.now())
    if wait > 0:
        raise QuoteRefused(f"spacing: this instrument was asked for less than its spacing ago; retry in {wait:.0f} s")
    wave_size = wave_size or int(_setting("RFQ_WAVE_SIZE", 3))
    with transaction.atomic():
        recommendation = dealers_recommend(rfq=rfq, actor=actor)
        if not recommendation["dealers"]:
            raise QuoteRefused("no dealer can be asked (all suspended, disabled or at their exposure cap)")
        waves = _waves(recommendation["dealers"], wave_size)
        dealers = {d.code: d for d in Counterparty.objects.filter(code__in=recommendation["dealers"])}
        rfq_send(rfq=rfq, dealers=[dealers[code] for code in waves[0]], actor=actor)
        fraction = Decimal(str(recommendation["shown_fraction"]))
        QuoteRequest.objects.filter(rfq=rfq).update(shown_fraction=fraction)
        RFQ.objects.filter(pk=rfq.pk).update(waves=waves[1:], version=F("version") + 1)
        expires_at = RFQ.objects.values_list("expires_at", flat=True).get(pk=rfq.pk)
        if expires_at is not None:
            # Closed at its expiry, not up to a sweep later; the beat sweep (rfqs_expire) catches a lost task.
            transaction.on_commit(lambda: tasks.rfq_expire_task.apply_async((rfq.pk,), eta=expires_at))
        if waves[1:]:
            transaction.on_commit(
                lambda: tasks.rfq_wave_next_task.apply_async(
                    (rfq.pk,), countdown=float(_setting("RFQ_WAVE_WAIT_S", 5.0))
                )
            )
    return recommendation | {"waves": waves}


def _covered(rfq: RFQ) -> bool:
    quantity = rfq.legs.order_by("leg_no").values_list("quantity", flat=True).first() or Decimal(0)
    side = rfq.legs.order_by("leg_no").values_list("side", flat=True).first()
    size_field = "legs__offer_size" if side == "buy" else "legs__bid_size"
    live = rfq.quotes.filter(status="live", valid_until__gt=clock.now(), legs__leg__leg_no=1)
    total = live.aggregate(total=Sum(size_field))["total"] or Decimal(0)
    return total >= quantity


def rfq_wave_next(*, rfq_id: int, actor: Actor = ENGINE_ACTOR) -> list[str]:
    """Send the next wave when the live quotes do not cover the order; returns the dealers asked (may be none)."""
    with transaction.atomic():
        rfq = RFQ.objects.select_for_update().get(pk=rfq_id)
        if rfq.status not in (RFQStatus.SENT, RFQStatus.QUOTED) or not rfq.waves:
            return []
        if rfq.expires_at is not None and rfq.expires_at <= clock.now():
            return []
        if _covered(rfq):
            audit_record(actor=actor, action="rfq.wave_skipped", obj=rfq, after={"reason": "covered by live quotes"})
            RFQ.objects.filter(pk=rfq.pk).update(waves=[], version=F("version") + 1)
            return []
        wave, rest = rfq.waves[0], rfq.waves[1:]
        already = set(QuoteRequest.objects.filter(rfq=rfq).values_list("dealer__code", flat=True))
        dealers = [
            d
            for d in Counterparty.objects.filter(code__in=wave, status=CounterpartyStatus.ACTIVE)
            if d.code not in already
        ]
        shown = QuoteRequest.objects.filter(rfq=rfq).values_list("shown_fraction", flat=True).first() or Decimal(1)
        added = quote_requests_add(rfq=rfq, dealers=dealers, actor=actor)
        QuoteRequest.objects.filter(pk__in=[r.pk for r in added]).update(shown_fraction=shown)
        RFQ.objects.filter(pk=rfq.pk).update(waves=rest, version=F("version") + 1)
        if rest:
            transaction.on_commit(
                lambda: tasks.rfq_wave_next_task.apply_async(
                    (rfq.pk,), countdown=float(_setting("RFQ_WAVE_WAIT_S", 5.0))
                )
            )
    broadcast(event="rfq.wave", payload={"rfq": rfq.reference, "dealers": len(dealers)})
    return [d.code for d in dealers]


def rfq_ask_more(*, rfq_id: int, actor: Actor, count: int | None = None) -> list[str]:
    """The trader asks more dealers now: the next wave kept back when there is one, else the best-scored active
    dealers not asked yet (``count``, by default a wave's size). Refused with the reason when the RFQ is no longer
    open or nobody is left to ask; the new requests show the same share of the size as the first wave."""
    count = count or int(_setting("RFQ_WAVE_SIZE", 3))
    with transaction.atomic():
        rfq = RFQ.objects.select_for_update().get(pk=rfq_id)
        if rfq.status not in (RFQStatus.SENT, RFQStatus.QUOTED):
            raise QuoteRefused(f"RFQ {rfq.reference} is {rfq.status}: only an open RFQ can ask more dealers")
        if rfq.expires_at is not None and rfq.expires_at <= clock.now():
            raise QuoteRefused(f"RFQ {rfq.reference} has expired")
        asked = set(QuoteRequest.objects.filter(rfq=rfq).values_list("dealer__code", flat=True))
        if rfq.waves:
            codes, rest = [c for c in rfq.waves[0] if c not in asked], rfq.waves[1:]
        else:
            rows = dealers_recommend(rfq=rfq, actor=actor)["rows"]
            ranked = sorted(
                (r for r in rows if not r["reason"].startswith("excluded") and r["dealer"] not in asked),
                key=lambda r: -r["score_bps"],
            )
            codes, rest = [r["dealer"] for r in ranked[:count]], []
        dealers = list(Counterparty.objects.filter(code__in=codes, status=CounterpartyStatus.ACTIVE))
        if not dealers:
            raise QuoteRefused("every active dealer that can quote this RFQ has been asked")
        shown = QuoteRequest.objects.filter(rfq=rfq).values_list("shown_fraction", flat=True).first() or Decimal(1)
        added = quote_requests_add(rfq=rfq, dealers=dealers, actor=actor)
        QuoteRequest.objects.filter(pk__in=[r.pk for r in added]).update(shown_fraction=shown)
        RFQ.objects.filter(pk=rfq.pk).update(waves=rest, version=F("version") + 1)
    broadcast(event="rfq.wave", payload={"rfq": rfq.reference, "dealers": len(added)})
    return sorted(r.dealer.code for r in added)
