"""One trade, confirmed: what an RFQ's fills came to, leg by leg (the dealers' fills and the algorithms' fills of a
split's rest), against the arrival mid and against the desk's own estimate when it sent the RFQ.

Per leg: quantity filled, volume-weighted price (per unit, as quoted), notional (quantity × price × multiplier),
fees, and the slippage in bps against the leg's arrival mid, positive when the desk paid (a buy above the mid, a sell
below). A single-leg RFQ's arrival mid is the one stored on the RFQ when it was sent; a package's legs take the market
tape's mid at that instant (none when the tape has no sample near it). The trade's slippage is the legs' weighted by
notional. The estimate is the expected cost (bps) of the dealer selection the desk recorded when it sent the RFQ.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

import numpy as np

from desk.models import DecisionKind, DecisionRecord
from execution.models import Fill
from rfq.models import RFQ
from tca.selectors import market_tape_frame
from tca.sources import tape_asof

_LOOKBACK = timedelta(seconds=30)
"""How far back before the send a tape sample still counts as the arrival mid of a package's leg."""


def _arrival_mids(rfq: RFQ, legs: list[Any]) -> dict[int, float | None]:
    """Per leg number, the arrival mid per contract (see the module)."""
    if len(legs) == 1:
        return {legs[0].leg_no: float(rfq.arrival_mid) if rfq.arrival_mid is not None else None}
    sent = rfq.sent_at or rfq.created_at
    symbols = np.array([leg.instrument.symbol for leg in legs], dtype=object)
    tape = market_tape_frame(start=sent.replace(microsecond=0) - _LOOKBACK, end=sent, instruments=list(symbols))
    mids = tape_asof(tape, symbols, [sent] * len(legs))
    return {leg.leg_no: float(mid) if np.isfinite(mid) else None for leg, mid in zip(legs, mids, strict=True)}


def rfq_confirmation(*, rfq: RFQ) -> dict[str, Any]:
    """The trade's confirmation (see the module): ``legs`` (one row per leg), ``total`` and ``estimate_bps``."""
    legs = list(rfq.legs.select_related("instrument").order_by("leg_no"))
    fills = list(
        (Fill.objects.filter(quote__rfq=rfq) | Fill.objects.filter(child_order__plan__rfq_leg__rfq=rfq))
        .select_related("instrument")
        .distinct()
    )
    by_leg: dict[int, list[Fill]] = defaultdict(list)
    leg_of_instrument = {leg.instrument_id: leg.leg_no for leg in legs}
    for fill in fills:
        if fill.instrument_id in leg_of_instrument:
            by_leg[leg_of_instrument[fill.instrument_id]].append(fill)
    arrival = _arrival_mids(rfq, legs) if fills else {}
    rows = []
    for leg in legs:
        mine = by_leg.get(leg.leg_no, [])
        quantity = sum(float(f.quantity) for f in mine)
        multiplier = float(leg.instrument.multiplier)
        vwap = sum(float(f.quantity) * float(f.price) for f in mine) / quantity if quantity else None
        mid = arrival.get(leg.leg_no)
        sign = 1.0 if leg.side == "buy" else -1.0
        slippage = None if vwap is None or not mid else sign * (vwap * multiplier - mid) / mid * 1e4
        rows.append(
            {
                "leg_no": leg.leg_no,
                "instrument": leg.instrument.symbol,
                "side": leg.side,
                "ordered": float(leg.quantity),
                "filled": quantity,
                "average_price": vwap,
                "notional": None if vwap is None else quantity * vwap * multiplier,
                "fees": sum(float(f.fee) for f in mine),
                "arrival_mid": mid,
                "slippage_bps": slippage,
                "fills": len(mine),
                "from_dealers": sum(float(f.quantity) for f in mine if f.quote_id is not None),
                "from_algorithms": sum(float(f.quantity) for f in mine if f.child_order_id is not None),
            }
        )
    priced = [r for r in rows if r["slippage_bps"] is not None and r["notional"]]
    weight = sum(r["notional"] for r in priced)
    total_bps = sum(r["slippage_bps"] * r["notional"] for r in priced) / weight if weight else None
    selection = (
        DecisionRecord.objects.filter(kind=DecisionKind.DEALER_SELECTION, object_type="rfq.rfq", object_id=str(rfq.pk))
        .order_by("id")
        .first()
    )
    estimate = selection.output.get("expected_cost_bps") if selection is not None else None
    estimate = float(estimate) if estimate is not None and np.isfinite(float(estimate)) else None
    return {
        "rfq": rfq.reference,
        "status": rfq.status,
        "legs": rows,
        "total": {
            "notional": sum(r["notional"] or 0.0 for r in rows),
            "fees": sum(r["fees"] for r in rows),
            "slippage_bps": total_bps,
            "vs_estimate_bps": None if total_bps is None or estimate is None else total_bps - estimate,
        },
        "estimate_bps": estimate,
        "filled": any(r["filled"] for r in rows),
    }
