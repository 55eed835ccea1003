"""Limit usage -> the figures other apps keep: positions (execution) and dealer exposure (rfq).

Trigger: :func:`risk.selectors.limit_usage` (the risk page's gauges, the ``/metrics`` scrape, the risk API's limit
usage) asks the reader registered with :func:`risk.selectors.limit_figure_set` for the usage of a position limit or
of a dealer's exposure limit. Reaction: the largest absolute position (one book, one instrument) under the limit's
scope from execution, or the dealer's open and filled-today orders from rfq, against the limit as set.
"""

from __future__ import annotations

from decimal import Decimal

from desk import clock
from execution.selectors import positions_under
from rfq.selectors import dealer_exposure
from risk.models import Limit, LimitKind
from risk.selectors import LimitUsage, usage_ratio


def limit_figure(limit: Limit) -> LimitUsage:
    """The usage of a position limit or of a dealer's exposure limit."""
    if limit.kind == LimitKind.MAX_DEALER_EXPOSURE:
        used = dealer_exposure(dealer=limit.scope_key, now=clock.now())
        return LimitUsage(limit, used, usage_ratio(used, limit.value), f"open and filled today with {limit.scope_key}")
    positions = positions_under(scope=limit.scope, scope_key=limit.scope_key)
    if positions is None:
        return LimitUsage(limit, None, None, "positions are kept per book, not per trader")
    largest = max(positions, key=lambda p: abs(p.quantity), default=None)
    if largest is None:
        return LimitUsage(limit, Decimal(0), Decimal(0), "no position")
    used = abs(largest.quantity)
    return LimitUsage(
        limit, used, usage_ratio(used, limit.value), f"{largest.book} {largest.instrument.symbol} {largest.quantity}"
    )
