"""Read-only shaping of what the pages show, on top of the apps' selectors: chart series, filtered blotter tables,
dealer scorecards and model comparisons. Nothing here writes; Decimals become floats only for the charts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from django.db.models import Q, QuerySet

from desk import clock
from desk.market import NoVenue, underlying_reference
from desk.models import VenueBook
from desk.volume import volume_density
from execution.models import ExecutionPlan, Fill
from rfq.models import (
    RFQ,
    Counterparty,
    CounterpartyStatus,
    DealerOrderStatus,
    DeskOrder,
    ScoringModelStatus,
    ScoringModelVersion,
)
from rfq.scoring.explain import dealer_explanations
from rfq.scoring.features import mids_from_quotes
from rfq.scoring.history import scoring_history_frame
from rfq.scoring.scores import Context, dealer_estimates
from risk import selectors as risk_selectors
from tca.markouts import MARKOUT_HORIZONS_S, markout_curves, markouts

BLOTTER_ROWS = 50
MARKET_VOLUME_BINS = 24
SCORECARD_WINDOW = timedelta(days=30)


# --- execution -----------------------------------------------------------------------------------------------


def _cumulative(points: list[tuple[float, float]]) -> list[dict[str, float]]:
    total, out = 0.0, []
    for x, quantity in sorted(points):
        total += quantity
        out.append({"x": round(x, 3), "y": round(total, 10)})
    return out


def plan_market_volume(
    *, start: datetime, horizon_s: float, daily_volume: float, amplitude: float, multiplier: float, bins: int
) -> list[dict[str, float]]:
    """Expected market volume (contracts) in each of ``bins`` equal slices of ``[start, start + horizon_s]``: the
    simulated market's intraday U (:func:`desk.volume.volume_density`) times its daily volume, midpoint rule.

    Returns ``[{"x": seconds from start at the bin's middle, "y": contracts}, ...]``."""
    if horizon_s <= 0 or bins < 1:
        return []
    width_s = horizon_s / bins
    day_start = datetime.combine(start.date(), time(0), tzinfo=UTC)
    start_fraction = (start - day_start).total_seconds() / 86_400.0
    middles_s = (np.arange(bins) + 0.5) * width_s
    density = volume_density(start_fraction + middles_s / 86_400.0, amplitude)
    contracts = daily_volume * density * (width_s / 86_400.0) / multiplier
    return [{"x": round(float(x), 3), "y": float(y)} for x, y in zip(middles_s, contracts, strict=True)]


def plan_chart(plan: ExecutionPlan) -> dict[str, Any]:
    """The plan's schedule against its fills and the market's volume, seconds from the plan's start (or creation):
    ``schedule`` and ``filled`` cumulative contracts, ``market`` expected contracts traded per bin."""
    children = list(plan.child_orders.all())
    origin = plan.start_at or plan.created_at
    if children:
        origin = min(origin, *(c.scheduled_at for c in children))
    schedule = _cumulative([((c.scheduled_at - origin).total_seconds(), float(c.quantity)) for c in children])
    fills = [f for c in children for f in c.fills.all()]
    filled = _cumulative([((f.executed_at - origin).total_seconds(), float(f.quantity)) for f in fills])
    if filled:
        filled.insert(0, {"x": 0.0, "y": 0.0})
    span = max([p["x"] for p in schedule + filled] + [float(plan.parameters.get("horizon_s") or 0)])
    market: list[dict[str, float]] = []
    note = ""
    try:
        config = underlying_reference(plan.instrument.base_currency)
    except NoVenue:
        note = f"no simulated market for {plan.instrument.base_currency}: market volume unknown"
    else:
        market = plan_market_volume(
            start=origin,
            horizon_s=span,
            daily_volume=config.daily_volume,
            amplitude=config.volume_profile_amplitude,
            multiplier=float(plan.instrument.multiplier),
            bins=MARKET_VOLUME_BINS,
        )
    return {
        "origin": origin.isoformat(),
        "quantity": float(plan.quantity),
        "schedule": schedule,
        "filled": filled,
        "market": market,
        "note": note,
    }


def plan_market_now(plan: ExecutionPlan) -> dict[str, Any] | None:
    """The venues' traded volume over the last 5 minutes (contracts) and the plan's share of it, or None."""
    book = VenueBook.objects.filter(underlying=plan.instrument.base_currency).order_by("pk").first()
    if book is None:
        return None
    volume = book.volume_5m / plan.instrument.multiplier
    since = clock.now() - timedelta(minutes=5)
    ours = sum(
        (f.quantity for c in plan.child_orders.all() for f in c.fills.all() if f.executed_at >= since), Decimal(0)
    )
    share = None if not volume else float(ours / volume)
    return {
        "volume_5m": volume,
        "ours_5m": ours,
        "share": share,
        "share_pct": None if share is None else share * 100,
        "ticked_at": book.ticked_at,
    }


def plan_progress_pct(plan: ExecutionPlan) -> float:
    return min(float(plan.filled_quantity / plan.quantity) * 100, 100.0) if plan.quantity else 0.0


# --- blotter -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlotterFilter:
    """The blotter's filters; empty strings and None mean no filter."""

    status: str = ""
    instrument: str = ""
    side: str = ""
    trader: str = ""
    day: date | None = None


def _day_range(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def blotter_tables(*, filters: BlotterFilter, limit: int = BLOTTER_ROWS) -> dict[str, QuerySet]:
    """Orders, RFQs, plans and fills matching ``filters`` (a status filters the tables that have it)."""
    orders = DeskOrder.objects.select_related("account", "instrument", "trader").prefetch_related("fills")
    rfqs = RFQ.objects.select_related("created_by").prefetch_related("legs__instrument")
    plans = ExecutionPlan.objects.select_related("instrument", "created_by")
    fills = Fill.objects.select_related("instrument")
    f = filters
    if f.status:
        orders, rfqs, plans = (
            orders.filter(status=f.status),
            rfqs.filter(status=f.status),
            plans.filter(status=f.status),
        )
    if f.instrument:
        orders = orders.filter(instrument__symbol=f.instrument)
        rfqs = rfqs.filter(legs__instrument__symbol=f.instrument)
        plans = plans.filter(instrument__symbol=f.instrument)
        fills = fills.filter(instrument__symbol=f.instrument)
    if f.side:
        orders, plans, fills = orders.filter(side=f.side), plans.filter(side=f.side), fills.filter(side=f.side)
        rfqs = rfqs.filter(legs__side=f.side)
    if f.trader:
        orders = orders.filter(trader__username=f.trader)
        rfqs = rfqs.filter(created_by__username=f.trader)
        plans = plans.filter(created_by__username=f.trader)
        fills = fills.filter(
            Q(child_order__plan__created_by__username=f.trader)
            | Q(quote__quote_request__rfq__created_by__username=f.trader)
        )
    if f.day is not None:
        start, end = _day_range(f.day)
        orders = orders.filter(created_at__gte=start, created_at__lt=end)
        rfqs = rfqs.filter(created_at__gte=start, created_at__lt=end)
        plans = plans.filter(created_at__gte=start, created_at__lt=end)
        fills = fills.filter(executed_at__gte=start, executed_at__lt=end)
    return {
        "orders": orders[:limit],
        "rfqs": rfqs.distinct()[:limit],
        "plans": plans[:limit],
        "fills": fills.distinct()[:limit],
    }


# --- dealers and models --------------------------------------------------------------------------------------


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def dealer_observed(history: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per dealer, from the RFQ history: requests, quotes, answer rate, accepted, filled and fill rate."""
    if history.empty:
        return {}
    frame = history.assign(
        quoted=history["bid"].notna() | history["offer"].notna(),
        accepted=history["order_status"].ne(""),
        filled=history["order_status"].eq(DealerOrderStatus.FILLED),
    )
    grouped = frame.groupby("dealer").agg(
        requests=("request_id", "count"),
        quoted=("quoted", "sum"),
        accepted=("accepted", "sum"),
        filled=("filled", "sum"),
    )
    out: dict[str, dict[str, Any]] = {}
    for dealer, row in grouped.iterrows():
        requests, quoted, accepted, filled = (int(row[c]) for c in ("requests", "quoted", "accepted", "filled"))
        out[str(dealer)] = {
            "requests": requests,
            "quoted": quoted,
            "answer_rate": quoted / requests if requests else None,
            "accepted": accepted,
            "filled": filled,
            "fill_rate": filled / accepted if accepted else None,
        }
    return out


def dealer_markout_curves(history: pd.DataFrame) -> dict[str, list[float | None]]:
    """Per dealer, the quantity-weighted markout (bps, positive against the desk) at each of
    :data:`~tca.markouts.MARKOUT_HORIZONS_S` after its fills, the mids being the quotes' own consensus (the only
    mid series the database keeps); None where no later mid exists."""
    if history.empty:
        return {}
    done = history.loc[history["order_status"].eq(DealerOrderStatus.FILLED)]
    if done.empty:
        return {}
    fills = pd.DataFrame(
        {
            "time": done["accepted_at"],
            "instrument": done["instrument"],
            "dealer": done["dealer"],
            "side": done["side"].astype(float),
            "quantity": done["quantity"].astype(float),
            "price": np.where(done["side"] > 0, done["offer"], done["bid"]).astype(float),
        }
    )
    curves = markout_curves(markouts(fills, mids_from_quotes(history)), by="dealer")
    out: dict[str, list[float | None]] = {}
    for dealer, rows in curves.groupby("dealer"):
        by_horizon = dict(zip(rows["horizon_s"].astype(int), rows["markout_bps"], strict=True))
        out[str(dealer)] = [_finite(by_horizon.get(h)) for h in MARKOUT_HORIZONS_S]
    return out


def dealer_scorecards(*, context: Context, now: datetime | None = None) -> dict[str, Any]:
    """Every active dealer's score and largest contributions under the live model (for ``context``), its observed
    answer and fill rates and markout curve over :data:`SCORECARD_WINDOW`."""
    now = now or clock.now()
    live = ScoringModelVersion.objects.filter(status=ScoringModelStatus.LIVE).first()
    codes = list(
        Counterparty.objects.filter(status=CounterpartyStatus.ACTIVE).order_by("code").values_list("code", flat=True)
    )
    history = scoring_history_frame(start=now - SCORECARD_WINDOW, end=now)
    observed = dealer_observed(history)
    curves = dealer_markout_curves(history)
    explained: dict[str, dict[str, Any]] = {}
    if live is not None and codes:
        for row in dealer_explanations(dealer_estimates(live.artifact, codes, context)):
            explained[row["dealer"]] = row
    order = [row for row in explained] + [c for c in codes if c not in explained]
    cards = [
        {
            "dealer": code,
            "score": explained.get(code),
            "observed": observed.get(code, {}),
            "markouts": curves.get(code),
        }
        for code in order
    ]
    return {
        "live": live,
        "cards": cards,
        "horizons": list(MARKOUT_HORIZONS_S),
        "window_days": SCORECARD_WINDOW.days,
    }


METRIC_ROWS: tuple[tuple[str, str, str, bool], ...] = (
    ("answer", "auc", "answer AUC", True),
    ("answer", "brier", "answer Brier", False),
    ("answer", "brier_baseline", "answer Brier, constant baseline", False),
    ("fill", "auc", "fill AUC", True),
    ("fill", "brier", "fill Brier", False),
    ("fill", "brier_baseline", "fill Brier, constant baseline", False),
    ("price", "mae_bps", "price MAE (bps)", False),
    ("price", "mae_baseline_bps", "price MAE, desk-mean baseline (bps)", False),
)


def model_metrics(version: ScoringModelVersion) -> list[dict[str, Any]]:
    """The version's hold-out metrics as labelled rows (None where missing)."""
    metrics = version.metrics or {}
    return [
        {"label": label, "value": _finite((metrics.get(group) or {}).get(key)), "higher_better": higher}
        for group, key, label, higher in METRIC_ROWS
    ]


def model_comparison(live: ScoringModelVersion, challenger: ScoringModelVersion) -> dict[str, Any]:
    """Challenger against live: hold-out metrics side by side, and each dealer's score (1m spot) under both."""
    rows = []
    for a, b in zip(model_metrics(live), model_metrics(challenger), strict=True):
        better = None
        if a["value"] is not None and b["value"] is not None and a["value"] != b["value"]:
            better = (b["value"] > a["value"]) == a["higher_better"]
        rows.append({"label": a["label"], "live": a["value"], "challenger": b["value"], "challenger_better": better})
    dealers = sorted(set(live.artifact["table"]["dealers"]) | set(challenger.artifact["table"]["dealers"]))
    scores = []
    if dealers:
        ours = dealer_estimates(live.artifact, dealers, Context()).set_index("dealer")["score_bps"]
        theirs = dealer_estimates(challenger.artifact, dealers, Context()).set_index("dealer")["score_bps"]
        for code in dealers:
            scores.append(
                {
                    "dealer": code,
                    "live": _finite(ours[code]),
                    "challenger": _finite(theirs[code]),
                    "delta": _finite(theirs[code] - ours[code]),
                }
            )
    return {"metrics": rows, "scores": scores}


# --- risk ----------------------------------------------------------------------------------------------------


def risk_alerts(*, plan_id: int | None = None, limit: int = 50) -> list[Any] | None:
    """The open risk alerts (of one plan), newest first, when the risk app has them (``risk.selectors.alerts_open``),
    else None."""
    alerts_open = getattr(risk_selectors, "alerts_open", None)
    if alerts_open is None:
        return None
    return list(alerts_open(plan_id=plan_id)[:limit])


def market_books(*, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per underlying, the simulated venues' latest book: mid, spread, depth, liquidity and the tick's age."""
    now = now or clock.now()
    rows: dict[str, dict[str, Any]] = {}
    for book in VenueBook.objects.order_by("underlying", "pk"):
        row = rows.setdefault(book.underlying, {"underlying": book.underlying, "venues": []})
        age = None if book.ticked_at is None else (now - book.ticked_at).total_seconds()
        row["venues"].append(
            {
                "venue": book.venue,
                "mid": book.mid,
                "half_spread_bps": book.half_spread_bps,
                "depth": book.depth,
                "liquidity": book.liquidity,
                "volume_5m": book.volume_5m,
                "age_s": age,
            }
        )
    return list(rows.values())
