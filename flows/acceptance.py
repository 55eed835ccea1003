"""Flow: the pre-trade check of an RFQ acceptance (rfq asks, risk judges, on execution's positions and the marks).

Triggered by :func:`rfq.services.quote_accept`, through its port :func:`rfq.ports.acceptance_check` (registered in
:mod:`flows.subscriptions`), inside the acceptance's transaction, before it creates the dealer order. What is taken
becomes proposed orders: a single leg is
one order (the leg's instrument and side, the quantity taken, the quoted price); a package taken whole is one order
per leg (units × ratio at the leg's quoted price), and every one must pass; a leg taken under legging is that leg.

The market state of each order comes from the venues (the underlying's primary lit book: its mid, volume and
volatility; an option's mid is its mark on the desk's implied-volatility surface, :func:`desk.marks.mark_surface`)
and from the desk's book (position and P&L today). The dealer's exposure (its open dealer orders and today's fills,
plus the package's earlier legs) feeds the ``max_dealer_exposure`` limit. The participation cap does not apply: an
acceptance trades off-venue with the dealer. The order rate counts the acceptance once: a package's last leg takes the
slot, once every other leg has passed.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import Sum

from desk import clock
from desk.audit import Actor
from desk.fields import to_decimal
from desk.market import NoVenue, underlying_reference
from desk.models import Instrument, InstrumentKind
from execution.models import Position
from rfq.engine.market import NoMarket, instrument_mid, underlying_state
from rfq.models import Quote
from rfq.ports import TakenLeg
from rfq.selectors import dealer_exposure
from risk.orders import DEFAULT_BOOK, MarketState, ProposedOrder
from risk.services import CheckReport, limit_check


def _underlying(instrument: Instrument) -> str:
    return instrument.underlying.base_currency if instrument.underlying_id else instrument.base_currency


def market_state(
    *, instrument: Instrument, book: str, now: datetime, dealer_exposure: Decimal | None = None
) -> tuple[MarketState, bool]:
    """The state an order of ``book`` on ``instrument`` trades into off the venues (an acceptance, a desk order
    entering the desk), and whether its mid is on the underlying's scale (see
    :attr:`ProposedOrder.mid_is_underlying`)."""
    option = instrument.kind == InstrumentKind.OPTION
    position = Position.objects.filter(book=book, instrument=instrument).first()
    realized = Position.objects.filter(book=book).aggregate(total=Sum("realized_pnl"))["total"] or Decimal(0)
    held = position.quantity if position is not None else Decimal(0)
    try:
        market = underlying_state(_underlying(instrument))
    except NoMarket:
        return MarketState(mid=None, position=held, realized_pnl_today=realized, dealer_exposure=dealer_exposure), (
            not option
        )
    multiplier = instrument.multiplier
    mid = to_decimal(instrument_mid(instrument, spot=market.spot, surface=market.surface, now=now)) / multiplier
    unrealized = Decimal(0)
    if position is not None and position.quantity:
        unrealized = position.quantity * (mid - position.average_price) * multiplier
    volatility_ratio = Decimal(1)
    try:
        reference = underlying_reference(_underlying(instrument)).volatility_reference
        if reference > 0:
            volatility_ratio = to_decimal(market.volatility / reference)
    except NoVenue:
        pass
    # No recent volume: the participation cap concerns orders sent to the venues, not a block taken off-venue.
    return (
        MarketState(
            mid=mid,
            position=held,
            realized_pnl_today=realized,
            unrealized_pnl_today=unrealized,
            volatility_ratio=volatility_ratio,
            dealer_exposure=dealer_exposure,
        ),
        not option,
    )


def acceptance_orders(
    *, quote: Quote, taken: list[TakenLeg], now: datetime | None = None, book: str = DEFAULT_BOOK, strategy: str = ""
) -> list[ProposedOrder]:
    """The proposed orders of an acceptance, one per leg taken, in leg order (the last one counts toward the
    order rate)."""
    now = now or clock.now()
    rfq = quote.rfq
    dealer = quote.dealer.code
    exposure = dealer_exposure(dealer=dealer, now=now)
    orders = []
    for number, item in enumerate(taken, start=1):
        instrument = item.leg.instrument
        market, on_underlying = market_state(instrument=instrument, book=book, now=now, dealer_exposure=exposure)
        orders.append(
            ProposedOrder(
                book=book,
                trader=rfq.created_by.username,
                instrument=instrument.symbol,
                underlying=_underlying(instrument),
                side=item.side,
                quantity=item.quantity,
                limit_price=item.price,
                market=market,
                multiplier=instrument.multiplier,
                reference=f"{rfq.reference}/{quote.quote_id}/L{item.leg.leg_no}",
                strategy=strategy,
                dealer=dealer,
                mid_is_underlying=on_underlying,
                counts_toward_rate=number == len(taken),
            )
        )
        exposure += abs(item.quantity * item.price * instrument.multiplier)
    return orders


def acceptance_check(*, quote: Quote, taken: list[TakenLeg], actor: Actor) -> CheckReport | None:
    """Check every leg taken, in order; the first refused leg's report (its refusals are audited by
    :func:`~risk.services.limit_check`), or None when all pass. The legs after a refused one are not checked."""
    for order in acceptance_orders(quote=quote, taken=taken):
        report = limit_check(order=order, actor=actor)
        if not report.passed:
            return report
    return None
