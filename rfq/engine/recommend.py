"""Accept, wait or split: the wait-or-split decision (:mod:`rfq.decision`) on an RFQ's live quote book, stored as a
decision record that replays.

Inputs gathered here: the live firm quotes (the desk's side of each, its size, seconds left, the dealer's modelled
P(fill) on last look), the dealers still to answer (modelled P(answer), their response-time distribution measured on
the desk's own history - median and log-sd - and how long they have been silent, expected price and its dispersion),
the seconds an accept takes (:mod:`rfq.engine.timing`, the setting ``RFQ_ACCEPT_LATENCY_S``), which bounds every
wait before the best live quote's expiry, the market now (costs are measured from the mark now: the move since the
RFQ went out is sunk for every action), and the order (side, quantity, the RFQ's risk aversion). Packages are priced
as one unit: a package quote's net price becomes a price against the package's gross mark, whose volatility accounts
for the legs' correlation (:mod:`rfq.packages`)."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from desk import clock
from desk.audit import Actor, json_normalize
from desk.decisions import decision_record, decision_replayer_register
from desk.models import DecisionKind, DecisionRecord
from rfq.decision import BookQuote, MarketState, OrderTerms, PendingDealer, wait_or_split
from rfq.engine import selection
from rfq.engine.market import rfq_market
from rfq.engine.reask import reask_compute, reask_inputs
from rfq.engine.timing import accept_latency_s
from rfq.models import (
    RFQ,
    Firmness,
    Quote,
    QuoteRequest,
    QuoteRequestStatus,
    QuoteStatus,
    ScoringModelStatus,
    ScoringModelVersion,
)
from rfq.ports import algo_workable
from rfq.scoring.scores import Context, dealer_estimates

DEFAULT_RESPONSE_S = 2.0
DEFAULT_RESPONSE_SIGMA = 0.5
"""Log-sd of a dealer's response time until :data:`MIN_RESPONSE_SAMPLES` answers measure it (the decision's own
default)."""
MIN_RESPONSE_SAMPLES = 5
MIN_RESPONSE_SIGMA = 0.05
"""A floor on the measured log-sd: a dealer that always answered in the same time still varies a little, and the
lognormal needs a positive spread."""


def dealer_response_stats(codes: list[str], *, last: int = 200) -> dict[str, tuple[float, float]]:
    """(median seconds, log-sd) from a dealer's quote request going out to its quote, over its last ``last``
    quotes: the lognormal the wait-or-split decision prices a wait with. The log-sd is the sample standard deviation
    of the log response times (the lognormal's maximum-likelihood spread), floored at :data:`MIN_RESPONSE_SIGMA`;
    with fewer than :data:`MIN_RESPONSE_SAMPLES` answers it is :data:`DEFAULT_RESPONSE_SIGMA`."""
    out: dict[str, tuple[float, float]] = {}
    for code in codes:
        rows = (
            Quote.objects.filter(dealer__code=code, quote_request__sent_at__isnull=False)
            .order_by("-received_at")
            .values_list("received_at", "quote_request__sent_at")[:last]
        )
        seconds = [(received - sent).total_seconds() for received, sent in rows if received >= sent]
        median = statistics.median(seconds) if seconds else DEFAULT_RESPONSE_S
        logs = [math.log(s) for s in seconds if s > 0]
        sigma = (
            max(statistics.stdev(logs), MIN_RESPONSE_SIGMA)
            if len(logs) >= MIN_RESPONSE_SAMPLES
            else DEFAULT_RESPONSE_SIGMA
        )
        out[code] = (median if median > 0 else DEFAULT_RESPONSE_S, sigma)
    return out


def _estimates(codes: list[str], context: Context) -> tuple[dict[str, dict[str, Any]], int | None]:
    live = ScoringModelVersion.objects.filter(status=ScoringModelStatus.LIVE).first()
    frame = dealer_estimates(live.artifact, codes, context) if live else selection.prior_estimates(codes)
    return {row["dealer"]: row for row in frame.to_dict(orient="records")}, (live.version if live else None)


def _book_price(quote: Quote, *, legs: list, gross: float, net: float) -> tuple[float, float] | None:
    """(price against the gross mark, size in package units) of the desk's side of a quote, None without one."""
    quote_legs = {ql.leg.leg_no: ql for ql in quote.legs.all()}
    if len(legs) == 1:
        ql = quote_legs.get(legs[0].leg_no)
        if ql is None:
            return None
        buy = legs[0].side == "buy"
        price, size = (ql.offer_price, ql.offer_size) if buy else (ql.bid_price, ql.bid_size)
        if price is None or size is None:
            return None
        return float(price), float(size)
    if quote.package_price is None:
        return None
    sizes = []
    for leg in legs:
        ql = quote_legs.get(leg.leg_no)
        size = None if ql is None else (ql.offer_size if leg.side == "buy" else ql.bid_size)
        if size is None:
            return None
        sizes.append(float(size) / leg.ratio)
    # The package's net price against its net mark, carried onto the gross mark the decision measures in.
    return gross + (float(quote.package_price) - net), min(sizes)


def recommendation_inputs(*, rfq: RFQ, now: datetime | None = None) -> dict[str, Any]:
    """Everything :func:`recommendation_compute` reads, JSON-ready (stored with the decision)."""
    now = now or clock.now()
    legs = list(rfq.legs.select_related("instrument__underlying").order_by("leg_no"))
    market = rfq_market(rfq=rfq, legs=legs, now=now)
    quotes = list(
        rfq.quotes.filter(status=QuoteStatus.LIVE, firmness=Firmness.FIRM, valid_until__gt=now)
        .select_related("dealer")
        .prefetch_related("legs__leg")
    )
    waiting = list(
        QuoteRequest.objects.filter(
            rfq=rfq, status__in=[QuoteRequestStatus.PENDING, QuoteRequestStatus.SENT]
        ).select_related("dealer")
    )
    codes = sorted({q.dealer.code for q in quotes} | {r.dealer.code for r in waiting})
    context = Context(kind=market.kind, notional=market.notional, volatility=market.state.volatility)
    estimates, version = _estimates(codes, context)
    responses = dealer_response_stats([r.dealer.code for r in waiting])
    book, quote_ids = [], []
    for quote in quotes:
        priced = _book_price(quote, legs=legs, gross=market.mid, net=market.net)
        if priced is None:
            continue
        price = priced[0]
        book.append(
            BookQuote(
                dealer=quote.dealer.code,
                price=price,
                size=priced[1],
                expires_in_s=(quote.valid_until - now).total_seconds(),
                p_fill=float(estimates[quote.dealer.code]["p_fill"]),
            )
        )
        quote_ids.append(quote.pk)
    pending = []
    for request in waiting:
        e = estimates[request.dealer.code]
        elapsed = max((now - request.sent_at).total_seconds(), 0.0) if request.sent_at else 0.0
        median, sigma = responses[request.dealer.code]
        # The decision conditions the dealer's measured response time on its silence so far (elapsed_s).
        pending.append(
            PendingDealer(
                dealer=request.dealer.code,
                p_answer=float(e["p_answer"]),
                response_s=median,
                price_bps=float(e["price_bps"]),
                price_sd_bps=float(e["noise_bps"]),
                p_fill=float(e["p_fill"]),
                response_sigma=sigma,
                elapsed_s=elapsed,
            )
        )
    # The decision looks forward: what the mark moved since the RFQ went out is sunk for every action, so costs are
    # measured from the mark now (the arrival mark stays on the RFQ for TCA).
    state = market.state
    expires_in = (rfq.expires_at - now).total_seconds() if rfq.expires_at else 30.0
    latency = accept_latency_s()
    # A quote taken after the RFQ's expiry is refused: the longest wait also leaves an accept's time before it.
    terms = OrderTerms(
        side="buy" if len(legs) > 1 else legs[0].side,
        quantity=market.quantity,
        risk_aversion=rfq.risk_aversion,
        max_wait_s=max(min(expires_in - latency, 60.0), 0.0),
        accept_latency_s=latency,
        algo_available=all(algo_workable(instrument=leg.instrument) for leg in legs),
    )
    return json_normalize(
        {
            "book": [asdict(q) for q in book],
            "quote_ids": quote_ids,
            "pending": [asdict(p) for p in pending],
            "market": asdict(state),
            "terms": asdict(terms),
            "diversification": market.diversification,
            "scoring_version": version,
            "seed": rfq.pk,
            "as_of": now.isoformat(),
        }
    )


def recommendation_compute(inputs: dict[str, Any]) -> dict[str, Any]:
    """The decision from stored inputs (the replayer): ``action``, ``fills`` as (dealer, quantity, quote id)."""
    book = [BookQuote(**q) for q in inputs["book"]]
    decision = wait_or_split(
        book=book,
        pending=[PendingDealer(**p) for p in inputs["pending"]],
        market=MarketState(**inputs["market"]),
        terms=OrderTerms(**inputs["terms"]),
        seed=int(inputs["seed"]),
    )
    quote_of = {q.dealer: quote_id for q, quote_id in zip(book, inputs["quote_ids"], strict=True)}
    out = asdict(decision)
    out["fills"] = [[dealer, quantity, quote_of.get(dealer)] for dealer, quantity in decision.fills]
    return json_normalize(out)


decision_replayer_register(DecisionKind.QUOTE_DECISION, recommendation_compute)


def explain(output: dict[str, Any], outlook: str = "") -> str:
    """The advice in words: the action, its expected cost and parts, and (with no quote to take) what comes next."""
    costs = output["costs"]
    parts = ", ".join(f"{name} {value:.2f}" for name, value in costs.items() if name != "total")
    if output["action"] == "split" and not output["fills"]:
        head = f"no quote to take now: work all {output['algo_quantity']:g} with the algorithms"
    else:
        head = {
            "accept": "accept now",
            "split": f"split: take part now, {output['algo_quantity']:g} to the algorithms",
            "wait": f"wait {output['wait_s']:.1f} s (expected gain {output['expected_gain_bps']:.2f} bps)",
        }[output["action"]]
    tail = f"; {outlook}" if outlook else ""
    return f"{head}; expected cost {costs['total']:.2f} bps of the mark ({parts}){tail}"


def outlook(*, rfq: RFQ, output: dict[str, Any], now: datetime) -> str:
    """What the engine does next when the advice takes no quote: ask again (and whom), wait for the dealers still
    to answer, or nothing more (why). Empty when the advice takes a quote."""
    if output["fills"]:
        return ""
    step = reask_compute(reask_inputs(rfq=rfq, now=now))
    if step["action"] == "wave":
        return f"the desk asks the next wave of dealers ({len(step['dealers'])}) within seconds"
    if step["action"] == "refresh":
        return f"{step['reason']}: {len(step['dealers'])} dealer(s), within seconds"
    if step["reason"] == "a quote can still be taken":
        return ""
    if step["reason"].endswith("may still answer"):
        return step["reason"]
    return f"no re-ask: {step['reason']}"


REUSE_S = 10.0
"""A recommendation on the same quotes and the same dealers still to answer, younger than this, is not stored
again: a board asking on every event would otherwise write a decision record each time. A "wait" is reused only
until its horizon: after it, the advice is computed afresh."""


def _book_key(inputs: dict[str, Any]) -> list[Any]:
    return [sorted(inputs["quote_ids"]), sorted(p["dealer"] for p in inputs["pending"])]


def _as_of(record: DecisionRecord) -> datetime:
    """The time the record's inputs describe (the quotes' seconds left count from it)."""
    stamp = record.inputs.get("as_of")
    return datetime.fromisoformat(stamp) if stamp else record.decided_at


def _reusable(record: DecisionRecord | None, inputs: dict[str, Any], now: datetime) -> bool:
    if record is None or "quote_ids" not in record.inputs or _book_key(record.inputs) != _book_key(inputs):
        return False
    age = (now - _as_of(record)).total_seconds()
    if record.output.get("action") == "wait":
        return age < min(REUSE_S, float(record.output.get("wait_s", 0.0)))
    return age < REUSE_S


def _timing(output: dict[str, Any], as_of: datetime, now: datetime) -> dict[str, Any]:
    """When the advice was made and, for a wait, its horizon and the seconds left to it (the board re-asks then)."""
    timing: dict[str, Any] = {"decided_at": as_of.isoformat(), "horizon_at": None, "wait_left_s": None}
    if output["action"] == "wait":
        horizon = as_of + timedelta(seconds=float(output["wait_s"]))
        timing |= {"horizon_at": horizon.isoformat(), "wait_left_s": max((horizon - now).total_seconds(), 0.0)}
    return timing


def rfq_recommendation(*, rfq: RFQ, actor: Actor, record: bool = True) -> dict[str, Any]:
    """The desk's recommendation for ``rfq`` now, with its cost parts, explanation and (for a wait) its horizon;
    stored as a decision. The last one is returned again while the book it saw is unchanged, it is younger than
    :data:`REUSE_S` and, for a wait, its horizon has not passed."""
    now = clock.now()
    inputs = recommendation_inputs(rfq=rfq, now=now)
    if record:
        last = (
            DecisionRecord.objects.filter(
                kind=DecisionKind.QUOTE_DECISION, object_type="rfq.rfq", object_id=str(rfq.pk)
            )
            .order_by("-id")
            .first()
        )
        if _reusable(last, inputs, now):
            return (
                last.output
                | {"explanation": last.explanation, "decision_id": last.pk, "rfq": rfq.reference}
                | _timing(last.output, _as_of(last), now)
            )
    output = recommendation_compute(inputs)
    explanation = explain(output, outlook(rfq=rfq, output=output, now=now))
    record_id = None
    if record:
        record_id = decision_record(
            kind=DecisionKind.QUOTE_DECISION,
            actor=actor,
            obj=rfq,
            inputs=inputs,
            output=output,
            explanation=explanation,
            model_versions={"scoring": inputs["scoring_version"], "decision": "wait_or_split"},
        ).pk
    return (
        output
        | {"explanation": explanation, "decision_id": record_id, "rfq": rfq.reference}
        | _timing(output, now, now)
    )
