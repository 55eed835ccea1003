"""Book a replayed backtest through the RFQ services, as the live desk would have booked it.

For each outcome of :func:`sim.backtest.core.episode_replay` (or the oracle), on the desk's simulated clock
(:func:`sim.scoring.simulated_clock`): the RFQ is created and sent to the dealers asked; every answer the
desk received before it finished is booked when it arrived (``quote_receive``, valid
:data:`~sim.backtest.episodes.QUOTE_VALIDITY_S` seconds, or ``quote_request_decline``); each quote the policy took
is accepted and then filled or rejected on last look as the episode says; each decision the policy took is stored
as a decision record (``quote_decision``) with what the desk saw, what it chose and, for wait-or-split, the
expected cost in parts. The quantity handed to the algorithms is stated in the final decision's record; this
layer does not start an execution plan for it. Nothing here decides: the pure replay already has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from desk.decisions import decision_record
from desk.models import DecisionKind, Instrument
from rfq.models import Counterparty
from rfq.services import (
    LegInput,
    QuoteLegInput,
    QuoteRefused,
    dealer_order_fill,
    dealer_order_reject,
    quote_accept,
    quote_receive,
    quote_request_decline,
    rfq_create,
    rfq_send,
)
from sim.backtest.core import Action, Outcome, View
from sim.backtest.episodes import HORIZON_S, QUOTE_VALIDITY_S, Episode
from sim.scoring import SimulatedClock, simulated_clock

DECISION_ACTOR = "system:backtest"


@dataclass(frozen=True)
class Booked:
    """What booking stored: RFQs, quotes, fills, last-look rejects, decision records, and service refusals (an
    event the services refused, e.g. a quote arriving after the RFQ had closed on a last-look reject)."""

    rfqs: int = 0
    quotes: int = 0
    fills: int = 0
    rejects: int = 0
    decisions: int = 0
    refused: int = 0


def _lots(quantity: float, lot: Decimal) -> Decimal:
    return (Decimal(repr(quantity)) / lot).quantize(Decimal(1)) * lot


def _view_inputs(view: View) -> dict[str, Any]:
    return {
        "t_s": round(view.t, 3),
        "side": view.side,
        "remaining": view.remaining,
        "arrival_mid": view.arrival_mid,
        "mid": view.mid,
        "half_spread_bps": view.half_spread_bps,
        "volatility": view.volatility,
        "liquidity": view.liquidity,
        "drift_bps_per_s": view.drift_bps_per_s,
        "book": [asdict(q) for q in view.book],
        "pending": list(view.pending),
    }


def _action_output(action: Action) -> dict[str, Any]:
    out: dict[str, Any] = {
        "action": action.kind,
        "fills": [[dealer, quantity] for dealer, quantity in action.fills],
        "algo_quantity": action.algo_quantity,
        "wait_until_s": round(action.wait_until_s, 3),
    }
    if action.decision is not None:
        out["expected_gain_bps"] = action.decision.expected_gain_bps
        out["costs_bps"] = action.decision.costs
        out["alternatives_bps"] = action.decision.alternatives
    return out


def outcomes_book(
    *,
    outcomes: Sequence[Outcome],
    instruments: Mapping[str, Instrument],
    dealers: Mapping[str, Counterparty],
    actor: Any,
    model_versions: Mapping[str, Any] | None = None,
) -> Booked:
    """Book ``outcomes`` (in order) through :mod:`rfq.services`; ``instruments`` and ``dealers`` by symbol and code.

    Decisions are stored only for outcomes replayed with ``keep_views=True`` (the oracle has none: it decides in
    hindsight).
    """
    counts = dict.fromkeys(("rfqs", "quotes", "fills", "rejects", "decisions", "refused"), 0)
    if not outcomes:
        return Booked(**counts)
    clock = SimulatedClock(outcomes[0].episode.sent_at)
    with simulated_clock(clock):
        for outcome in outcomes:
            _book_one(
                outcome=outcome,
                instrument=instruments[outcome.episode.instrument.symbol],
                dealers=dealers,
                actor=actor,
                clock=clock,
                counts=counts,
                model_versions=dict(model_versions or {}) | {"policy": outcome.policy},
            )
    return Booked(**counts)


def _book_one(
    *,
    outcome: Outcome,
    instrument: Instrument,
    dealers: Mapping[str, Counterparty],
    actor: Any,
    clock: SimulatedClock,
    counts: dict[str, int],
    model_versions: dict[str, Any],
) -> None:
    episode: Episode = outcome.episode

    def at(seconds: float) -> None:
        clock.now = episode.sent_at + timedelta(seconds=round(seconds, 3))

    at(0.0)
    quantity = _lots(episode.quantity, instrument.lot_size)
    rfq = rfq_create(
        legs=[LegInput(instrument=instrument, side=episode.side, quantity=quantity)],
        actor=actor,
        expires_in=timedelta(seconds=HORIZON_S),
    )
    requests = {r.dealer.code: r for r in rfq_send(rfq=rfq, dealers=[dealers[c] for c in episode.asked], actor=actor)}
    counts["rfqs"] += 1
    # The replay's log is in order; each answer is booked just before the first logged step at or after it.
    answers = [(a.at_s, "answer", a) for a in episode.answers]
    log = sorted(outcome.log, key=lambda entry: entry[0])
    end = log[-1][0] if log else outcome.algo_at_s
    events = sorted((entry for entry in answers if entry[0] <= end), key=lambda entry: entry[0])
    merged: list[tuple[float, str, Any]] = []
    for entry in log:
        while events and events[0][0] <= entry[0]:
            merged.append(events.pop(0))
        merged.append(entry)
    merged += events
    quotes: dict[str, Any] = {}
    for when, kind, item in merged:
        at(when)
        try:
            if kind == "answer":
                dealer, request = dealers[item.dealer], requests[item.dealer]
                if item.action == "decline":
                    quote_request_decline(dealer=dealer, quote_req_id=request.quote_req_id, reason="no appetite")
                    continue
                quotes[item.dealer] = quote_receive(
                    dealer=dealer,
                    quote_req_id=request.quote_req_id,
                    quote_id=f"{rfq.reference}-{item.dealer}",
                    legs=[
                        QuoteLegInput(
                            leg_no=1, bid_price=item.bid, bid_size=quantity, offer_price=item.offer, offer_size=quantity
                        )
                    ],
                    valid_until=clock.now + timedelta(seconds=QUOTE_VALIDITY_S),
                )
                counts["quotes"] += 1
            elif kind == "decision":
                view, action = item
                decision_record(
                    kind=DecisionKind.QUOTE_DECISION,
                    actor=DECISION_ACTOR,
                    inputs=_view_inputs(view),
                    output=_action_output(action),
                    explanation=f"{outcome.policy}: {action.kind}",
                    model_versions=model_versions,
                    obj=rfq,
                )
                counts["decisions"] += 1
            else:
                code = item.dealer if kind == "fill" else item
                order = quote_accept(quote=quotes[code], actor=actor)
                if kind == "fill":
                    dealer_order_fill(
                        dealer=dealers[code],
                        cl_ord_id=order.cl_ord_id,
                        exec_id=order.cl_ord_id,
                        quantity=_lots(item.quantity, instrument.lot_size),
                        price=order.price,
                    )
                    counts["fills"] += 1
                else:
                    dealer_order_reject(dealer=dealers[code], cl_ord_id=order.cl_ord_id, reason="last look")
                    counts["rejects"] += 1
        except (QuoteRefused, KeyError) as refused:
            import sys

            print("REFUSED", kind, when, refused, file=sys.stderr)
            counts["refused"] += 1
