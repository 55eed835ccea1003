"""Accept, wait or split: the wait-or-split decision (:mod:`rfq.decision`) on an RFQ's live quote book, stored as
a decision record that replays.

Inputs gathered here: the live firm quotes (the desk's side of each, its size, seconds left, the dealer's modelled
P(fill) on last look), the dealers still to answer (modelled P(answer), median response time from the desk's own
history, expected price and its dispersion), the market now (costs are measured from the mark now: the move since
the RFQ went out is sunk for every action), and the order (side, quantity, the RFQ's risk aversion). Packages are
priced as one unit: a package quote's net price becomes a price against the package's gross mark, whose volatility
accounts for the legs' correlation (:mod:`rfq.packages`).
"""

from __future__ import annotations

import statistics
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from desk.audit import Actor, json_normalize
from desk.decisions import decision_record, decision_replayer_register
from desk.models import DecisionKind, DecisionRecord
from rfq.decision import BookQuote, MarketState, OrderTerms, PendingDealer, wait_or_split
from rfq.engine import selection
from rfq.engine.market import rfq_market
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
from rfq.scoring.scores import Context, dealer_estimates

DEFAULT_RESPONSE_S = 2.0


def dealer_response_medians(codes: list[str], *, last: int = 200) -> dict[str, float]:
    """Median seconds from a dealer's quote request going out to its quote, over its last ``last`` quotes."""
    out: dict[str, float] = {}
    for code in codes:
        rows = (
            Quote.objects.filter(dealer__code=code, quote_request__sent_at__isnull=False)
            .order_by("-received_at")
            .values_list("received_at", "quote_request__sent_at")[:last]
        )
        seconds = [(received - sent).total_seconds() for received, sent in rows if received >= sent]
        out[code] = statistics.median(seconds) if seconds else DEFAULT_RESPONSE_S
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
    now = now or datetime.now(UTC)
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
    responses = dealer_response_medians([r.dealer.code for r in waiting])
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
        elapsed = (now - request.sent_at).total_seconds() if request.sent_at else 0.0
        pending.append(
            PendingDealer(
                dealer=request.dealer.code,
                p_answer=float(e["p_answer"]),
                response_s=max(responses[request.dealer.code] - elapsed, 0.1),
                price_bps=float(e["price_bps"]),
                price_sd_bps=float(e["noise_bps"]),
                p_fill=float(e["p_fill"]),
            )
        )
    # The decision looks forward: what the mark moved since the RFQ went out is sunk for every action, so costs are
    # measured from the mark now (the arrival mark stays on the RFQ for TCA).
    state = market.state
    expires_in = (rfq.expires_at - now).total_seconds() if rfq.expires_at else 30.0
    terms = OrderTerms(
        side="buy" if len(legs) > 1 else legs[0].side,
        quantity=market.quantity,
        risk_aversion=rfq.risk_aversion,
        max_wait_s=max(min(expires_in, 60.0), 0.0),
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


def explain(output: dict[str, Any]) -> str:
    costs = output["costs"]
    parts = ", ".join(f"{name} {value:.2f}" for name, value in costs.items() if name != "total")
    head = {
        "accept": "accept now",
        "split": f"split: take part now, {output['algo_quantity']:g} to the algorithms",
        "wait": f"wait {output['wait_s']:.1f} s (expected gain {output['expected_gain_bps']:.2f} bps)",
    }[output["action"]]
    return f"{head}; expected cost {costs['total']:.2f} bps of the mark ({parts})"


REUSE_S = 10.0
"""A recommendation on the same quotes and the same dealers still to answer, younger than this, is not stored
again: a board polling every few seconds would otherwise write a decision record each time."""


def _book_key(inputs: dict[str, Any]) -> list[Any]:
    return [sorted(inputs["quote_ids"]), sorted(p["dealer"] for p in inputs["pending"])]


def rfq_recommendation(*, rfq: RFQ, actor: Actor, record: bool = True) -> dict[str, Any]:
    """The desk's recommendation for ``rfq`` now, with its cost parts and explanation; stored as a decision (the
    last one is returned again while the book it saw is unchanged and younger than :data:`REUSE_S`)."""
    inputs = recommendation_inputs(rfq=rfq)
    if record:
        last = (
            DecisionRecord.objects.filter(
                kind=DecisionKind.QUOTE_DECISION, object_type="rfq.rfq", object_id=str(rfq.pk)
            )
            .order_by("-id")
            .first()
        )
        fresh = last is not None and (datetime.now(UTC) - last.decided_at).total_seconds() < REUSE_S
        if fresh and "quote_ids" in last.inputs and _book_key(last.inputs) == _book_key(inputs):
            return last.output | {"explanation": last.explanation, "decision_id": last.pk, "rfq": rfq.reference}
    output = recommendation_compute(inputs)
    explanation = explain(output)
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
    return output | {"explanation": explanation, "decision_id": record_id, "rfq": rfq.reference}
