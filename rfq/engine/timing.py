"""The seconds an accept takes, which every decision that times a quote leaves as margin."""

from __future__ import annotations

from django.conf import settings

ACCEPT_LATENCY_S = 1.0
"""Seconds from the advice to the accept reaching the dealer, by default. The accept request itself (pre-trade
checks, dealer order, audit) takes about 20 ms on the embedded desk (median of 18 ms, ``tests/rfq/test_recommend.py``
measures it) and the order's way to a dealer a few ms more on one host; the rest is margin for the trader's click
once the advice changes at a wait's horizon, and for clocks that differ between desk and dealer. A wait must end
this long before the best quote expires. Overridden by the setting ``RFQ_ACCEPT_LATENCY_S``."""


def accept_latency_s() -> float:
    """The seconds an accept takes (the setting ``RFQ_ACCEPT_LATENCY_S``, else :data:`ACCEPT_LATENCY_S`)."""
    return float(getattr(settings, "RFQ_ACCEPT_LATENCY_S", ACCEPT_LATENCY_S))
