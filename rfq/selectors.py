"""Read queries of the RFQ domain."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery

from rfq.models import (
    RFQ,
    AutoTradingLimit,
    Connectivity,
    Counterparty,
    DealerOrder,
    DealerOrderStatus,
    DeskOrder,
    Firmness,
    FixSession,
    FixSessionStatus,
    Quote,
    QuoteRequest,
    QuoteRequestStatus,
    QuoteStatus,
    RFQStatus,
)
from rfq.presence import dealer_last_seen


def desk_orders_list() -> QuerySet[DeskOrder]:
    """Desk orders, newest first, with their fills (each order's average price reads them) and the RFQs that
    aggregated them."""
    return DeskOrder.objects.select_related("account", "instrument", "trader").prefetch_related(
        "fills", Prefetch("rfqs", queryset=RFQ.objects.order_by("id"))
    )


def auto_trading_enabled(*, user: Any) -> bool:
    """Whether the desk may act by itself on ``user``'s RFQs: their own automatic-mode limit, else the desk's
    default, is enabled (as :func:`rfq.engine.auto.auto_limit_for` reads it)."""
    limit = (
        AutoTradingLimit.objects.filter(trader=user).first()
        or AutoTradingLimit.objects.filter(trader__isnull=True).first()
    )
    return limit is not None and limit.enabled


def dealer_rfqs_list(*, dealer: Counterparty) -> QuerySet[RFQ]:
    """RFQs delivered to this dealer, and only those, each with the dealer's own QuoteReqID
    (never who else was asked, never the client)."""
    own_request = QuoteRequest.objects.filter(rfq=OuterRef("pk"), dealer=dealer).exclude(
        status=QuoteRequestStatus.PENDING
    )
    return (
        RFQ.objects.filter(pk__in=own_request.values("rfq"))
        .annotate(
            dealer_quote_req_id=Subquery(own_request.values("quote_req_id")[:1]),
            dealer_shown_fraction=Subquery(own_request.values("shown_fraction")[:1]),
        )
        .prefetch_related("legs__instrument")
        .order_by("-created_at", "-id")
    )


def dealer_quotes_list(*, dealer: Counterparty) -> QuerySet[Quote]:
    return Quote.objects.filter(dealer=dealer).select_related("rfq", "quote_request").order_by("-received_at", "-id")


def dealer_orders_list(*, dealer: Counterparty) -> QuerySet[DealerOrder]:
    return DealerOrder.objects.filter(dealer=dealer).select_related("quote", "leg__instrument")


@dataclass(frozen=True)
class DealerConnection:
    code: str
    name: str
    connectivity: str
    status: str
    connected: bool
    detail: str


def dealer_connections(*, now: float | None = None, window_s: float = 30.0) -> list[DealerConnection]:
    """Who is connected now: FIX dealers by their session's state, REST dealers by a request in the last
    ``window_s`` seconds."""
    now = now if now is not None else time.time()
    dealers = list(Counterparty.objects.order_by("code"))
    sessions = {s.counterparty_id: s for s in FixSession.objects.filter(counterparty__in=dealers)}
    seen = dealer_last_seen([d.code for d in dealers])
    rows = []
    for dealer in dealers:
        if dealer.connectivity == Connectivity.FIX:
            session = sessions.get(dealer.pk)
            connected = session is not None and session.status == FixSessionStatus.LOGGED_ON
            detail = (
                f"seq in {session.next_target_seq} / out {session.next_sender_seq}" if session else "never logged on"
            )
        else:
            last = seen.get(dealer.code)
            connected = last is not None and now - last <= window_s
            # Clocks of two processes: a request stamped a hair after "now" is "just now", never "-0 s ago".
            age = max(now - last, 0.0) if last else None
            detail = (
                "no request yet"
                if age is None
                else "last request just now"
                if age < 1
                else f"last request {age:.0f} s ago"
            )
        rows.append(DealerConnection(dealer.code, dealer.name, dealer.connectivity, dealer.status, connected, detail))
    return rows


def desk_rfqs_list() -> QuerySet[RFQ]:
    return RFQ.objects.prefetch_related(
        "legs__instrument", "quote_requests__dealer", "quotes__dealer", "quotes__legs__leg"
    ).order_by("-created_at", "-id")


BOARD_OPEN = (RFQStatus.SENT, RFQStatus.QUOTED)
"""The RFQ states in which the board offers to accept a quote."""
STILL_OPEN = (*BOARD_OPEN, RFQStatus.PARTIALLY_ACCEPTED)


@dataclass(frozen=True)
class QuoteOnBoard:
    """How the board shows a quote: ``state`` is ``live``, ``expired`` (its time is up, whatever its stored status),
    ``not_taken`` (still live when the RFQ was accepted from other quotes) or the quote's stored status;
    ``acceptable`` whether it may be accepted now; ``best`` whether it is the best acceptable quote."""

    state: str
    acceptable: bool
    best: bool


def _trade_price(quote: Quote, legs: list) -> tuple[Decimal, bool] | None:
    """The price the desk would trade ``quote`` at and whether lower is better (the board's rule)."""
    if len(legs) != 1:
        return (quote.package_price, True) if quote.package_price is not None else None
    quote_leg = next(iter(quote.legs.all()), None)
    if quote_leg is None:
        return None
    buy = legs[0].side == "buy"
    price = quote_leg.offer_price if buy else quote_leg.bid_price
    return (price, buy) if price is not None else None


def rfq_quote_board(*, rfq: RFQ, now: datetime) -> dict[int, QuoteOnBoard]:
    """Each quote of ``rfq`` as the board shows it at ``now`` (by quote id): expired or withdrawn quotes are never
    acceptable nor best; the best is the lowest offer when the desk buys, the highest bid when it sells, the lowest
    package price for a package, among the live firm unexpired quotes of an RFQ still taking quotes. Reads
    ``rfq.legs`` and ``rfq.quotes`` (with their legs) as prefetched by :func:`desk_rfqs_list`."""
    legs = list(rfq.legs.all())
    states: dict[int, tuple[str, bool]] = {}
    for quote in rfq.quotes.all():
        state = quote.status
        if quote.status == QuoteStatus.LIVE:
            if rfq.status not in STILL_OPEN:
                state = "not_taken"
            elif quote.valid_until <= now:
                state = "expired"
        acceptable = state == QuoteStatus.LIVE and quote.firmness == Firmness.FIRM and rfq.status in BOARD_OPEN
        states[quote.pk] = (state, acceptable)
    best_id, best_price = None, None
    for quote in rfq.quotes.all():
        trade = _trade_price(quote, legs) if states[quote.pk][1] else None
        if trade is None:
            continue
        price, lower = trade
        if best_price is None or (price < best_price if lower else price > best_price):
            best_id, best_price = quote.pk, price
    return {pk: QuoteOnBoard(state, acceptable, pk == best_id) for pk, (state, acceptable) in states.items()}


def dealer_exists(*, code: str) -> bool:
    """Whether a counterparty has ``code`` (whatever its status: a suspended dealer's limits still stand)."""
    return Counterparty.objects.filter(code=code).exists()


def dealer_exposure(*, dealer: str, now: datetime) -> Decimal:
    """Notional exposed to ``dealer`` (its code), quote currency: its open dealer orders (sent, partially filled)
    at their full quantity, plus those filled since 00:00 UTC. A leg's notional is quantity × price × multiplier;
    a package order's is the sum over its legs of units × ratio × the leg's quoted price × multiplier."""
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    orders = (
        DealerOrder.objects.filter(dealer__code=dealer)
        .filter(
            Q(status__in=[DealerOrderStatus.SENT, DealerOrderStatus.PARTIALLY_FILLED])
            | Q(status=DealerOrderStatus.FILLED, updated_at__gte=midnight)
        )
        .select_related("leg__instrument")
        .prefetch_related("quote__legs__leg__instrument")
    )
    total = Decimal(0)
    for order in orders:
        if order.leg is not None:
            total += abs(order.quantity * order.price * order.leg.instrument.multiplier)
            continue
        for quote_leg in order.quote.legs.all():
            leg = quote_leg.leg
            price = quote_leg.offer_price if leg.side == "buy" else quote_leg.bid_price
            if price is not None:
                total += abs(order.quantity * leg.ratio * price * leg.instrument.multiplier)
    return total
