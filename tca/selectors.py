"""Read queries for TCA: the fills of a period, with what the database knows around them, as a pandas frame.

Decimals become floats here, at the boundary (STYLE rule 7); everything after this module is pure pandas.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

import pandas as pd
from django.db.models import Max, OuterRef, Subquery, Sum

from execution.models import ChildOrder, Fill
from rfq.models import DealerOrder, DealerOrderStatus, QuoteLeg, Side

RAW_FILL_COLUMNS: tuple[str, ...] = (
    "exec_id",
    "source",
    "order_key",
    "instrument",
    "currency",
    "side",
    "quantity",
    "price",
    "fee",
    "executed_at",
    "dealer",
    "algo",
    "trader",
    "leg",
    "quote_bid",
    "quote_offer",
    "first_child_limit",
    "order_target",
    "order_filled_total",
    "order_last_fill_at",
)
"""The columns of :func:`tca_fills_frame`, one row per fill."""


def _float(value: Decimal | None) -> float:
    return float("nan") if value is None else float(value)


def _leg_label(reference: str, leg_no: int) -> str:
    return f"{reference}/{leg_no}"


def tca_fills_frame(*, start: datetime, end: datetime) -> pd.DataFrame:
    """The fills executed in ``[start, end)`` (UTC), each with its order, its grouping keys and the prices the
    database holds around it: the accepted quote's bid and offer for a dealer fill, the plan's first child's limit
    price for an algorithm's fill.

    Returns
    -------
    A frame with :data:`RAW_FILL_COLUMNS`: ``source`` "dealer" or "algo"; ``order_key`` the parent order (the
    accepted quote's leg, or the execution plan); ``side`` +1/-1; money and quantities as floats (NaN when the
    database has no value); ``order_target`` the order's quantity, ``order_filled_total`` and
    ``order_last_fill_at`` over all of its fills, in the period or not.
    """
    fills = list(
        Fill.objects.filter(executed_at__gte=start, executed_at__lt=end)
        .select_related(
            "instrument",
            "quote__dealer",
            "quote__rfq__created_by",
            "child_order__plan__created_by",
            "child_order__plan__rfq_leg__rfq",
        )
        .order_by("executed_at", "id")
    )
    if not fills:
        return pd.DataFrame(columns=list(RAW_FILL_COLUMNS))

    quote_ids = {fill.quote_id for fill in fills if fill.quote_id is not None}
    plan_ids = {fill.child_order.plan_id for fill in fills if fill.child_order_id is not None}
    quote_legs = {
        (leg.quote_id, leg.leg.instrument_id): leg
        for leg in QuoteLeg.objects.filter(quote_id__in=quote_ids).select_related("leg__rfq")
    }
    dealer_targets: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    for order in (
        DealerOrder.objects.filter(quote_id__in=quote_ids, leg__isnull=False)
        .exclude(status=DealerOrderStatus.REJECTED)
        .select_related("leg")
    ):
        dealer_targets[(order.quote_id, order.leg.instrument_id)] += order.quantity
    first_seq = ChildOrder.objects.filter(plan_id=OuterRef("plan_id")).order_by("seq").values("seq")[:1]
    first_limits = {
        child.plan_id: child.limit_price
        for child in ChildOrder.objects.filter(plan_id__in=plan_ids, seq=Subquery(first_seq))
    }
    quote_totals = {
        (row["quote_id"], row["instrument_id"]): (row["total"], row["last"])
        for row in Fill.objects.filter(quote_id__in=quote_ids)
        .values("quote_id", "instrument_id")
        .annotate(total=Sum("quantity"), last=Max("executed_at"))
    }
    plan_totals = {
        row["child_order__plan_id"]: (row["total"], row["last"])
        for row in Fill.objects.filter(child_order__plan_id__in=plan_ids)
        .values("child_order__plan_id")
        .annotate(total=Sum("quantity"), last=Max("executed_at"))
    }

    rows = []
    for fill in fills:
        row: dict[str, object] = {
            "exec_id": fill.exec_id,
            "instrument": fill.instrument.symbol,
            "currency": fill.instrument.quote_currency,
            "side": 1 if fill.side == Side.BUY else -1,
            "quantity": _float(fill.quantity),
            "price": _float(fill.price),
            "fee": _float(fill.fee),
            "executed_at": fill.executed_at,
            "quote_bid": float("nan"),
            "quote_offer": float("nan"),
            "first_child_limit": float("nan"),
        }
        if fill.quote_id is not None:
            quote = fill.quote
            key = (quote.pk, fill.instrument_id)
            quote_leg = quote_legs.get(key)
            total, last = quote_totals[key]
            row |= {
                "source": "dealer",
                "order_key": f"quote:{quote.pk}:{fill.instrument_id}",
                "dealer": quote.dealer.code,
                "algo": "rfq",
                "trader": quote.rfq.created_by.get_username(),
                "leg": _leg_label(quote.rfq.reference, quote_leg.leg.leg_no) if quote_leg else quote.rfq.reference,
                "order_target": _float(dealer_targets.get(key) or total),
                "order_filled_total": _float(total),
                "order_last_fill_at": last,
            }
            if quote_leg is not None:
                row |= {"quote_bid": _float(quote_leg.bid_price), "quote_offer": _float(quote_leg.offer_price)}
        else:
            plan = fill.child_order.plan
            total, last = plan_totals[plan.pk]
            leg = plan.rfq_leg
            row |= {
                "source": "algo",
                "order_key": f"plan:{plan.pk}",
                "dealer": "venue",
                "algo": plan.algorithm,
                "trader": plan.created_by.get_username(),
                "leg": _leg_label(leg.rfq.reference, leg.leg_no) if leg else f"plan-{plan.pk}",
                "order_target": _float(plan.quantity),
                "order_filled_total": _float(total),
                "order_last_fill_at": last,
                "first_child_limit": _float(first_limits.get(plan.pk)),
            }
        rows.append(row)
    return pd.DataFrame(rows, columns=list(RAW_FILL_COLUMNS))
