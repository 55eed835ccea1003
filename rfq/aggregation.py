"""Aggregation of desk orders: take the desk orders waiting (``new``) on one instrument, cross opposite orders
internally at the **validated price**, put what is left of each side in one RFQ, and allocate the dealers' and the
algorithms' fills back to the orders pro rata, in whole lots.

The arithmetic lives in :mod:`rfq.allocation` (pure); these services read and lock the rows, call it, write the
result with ``update_fields``, audit in the same transaction and broadcast after commit. Entering an order is
:mod:`rfq.services.desk_orders`; what happens to an RFQ's orders when it ends (the residual) is
:func:`rfq.engine.lifecycle.rfq_orders_settle`; the beat and the on-demand runs are :mod:`rfq.engine.desk_orders`.

Choices made here, and why
--------------------------
- **The crossing price is the validated price, never a caller's number.** The market-health monitor's fresh price of
  the underlying (:func:`rfq.services.desk_orders.desk_order_price`); without one the aggregation is refused and the
  orders wait for the next window. An option has no validated price of its own: its orders are never crossed, each
  side goes to its own RFQ.
- **Crosses are desk-order fills, not execution Fills.** A :class:`~execution.models.Fill` must come from a child
  order or a dealer quote (``fill_has_a_source``) and moves the desk's position; an internal cross is between two
  of the desk's clients (or books) and leaves the desk's book out. Each side is a
  :class:`~rfq.models.DeskOrderFill` at the validated price, and the position goes straight to each order's account
  or book; each side is also audited (``order.cross``, with the counter-order), so that each order carries its own
  history in the audit trail.
- **Orders whose limit would not trade at the validated price stay NEW.** A buy limited below it (a sell above)
  cannot cross, and a dealer's offer (bid) is worse than mid, so putting its size in the RFQ would only buy what no
  client takes. Entry refuses such limits; one the market has moved away from since waits for the next window.
  They are reported in :attr:`AggregationResult.left_new`.
- **The RFQ carries only the aggregate.** One leg, the sum of the residual quantities; the orders are linked
  through ``RFQ.orders``, which no dealer endpoint or FIX message exposes. The account is never written to the
  RFQ, its legs, or anything a dealer reads. Its urgency (the wait-or-split decision's risk aversion) is the most
  urgent order's; it runs in automatic mode when its owner's automatic-mode limit is enabled.
- **Fill allocation is idempotent.** What has already been allocated from a dealer order is read back from this
  module's own ``rfq.fill_allocate`` audit events for it (written under the dealer order's row lock, and counting
  the part found unallocatable), so running the allocation twice allocates the same fill once. An algorithm's fill
  is allocated once per exec id (its desk-order fills carry it).
- **Fills move positions.** Every allocation is a :class:`~rfq.models.DeskOrderFill` at the fill's price, whose
  event (``rfq.desk_order_fill``) moves the position from the desk's book to the order's account or book in the same
  transaction (``flows.desk_orders``). What no order takes (a limit the price breaks, an odd part smaller than a
  lot) stays in the desk's book.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from desk import clock
from desk.audit import Actor, actor_label, audit_record
from desk.events import broadcast
from desk.models import AuditEvent, Instrument, InstrumentKind
from rfq import selectors
from rfq.allocation import Allocation, Cross, CrossResult, OrderShare, allocate_pro_rata, cross_internally, limit_allows
from rfq.engine.lifecycle import rfq_orders_settle
from rfq.models import (
    RFQ,
    DealerOrder,
    DeskOrder,
    DeskOrderFill,
    DeskOrderFillKind,
    DeskOrderStatus,
    RFQLeg,
    Side,
    TradingMode,
    Urgency,
)
from rfq.services.common import QuoteRefused
from rfq.services.desk_orders import (
    DeskOrderRefused,
    desk_order_create,
    desk_order_enter,
    desk_order_fill_record,
    desk_order_price,
    instrument_underlying,
)
from rfq.services.rfqs import LegInput, rfq_create
from risk.orders import DEFAULT_BOOK
from risk.selectors import kill_switches_engaged_for

__all__ = [
    "ALLOCATE_ACTION",
    "CROSS_ACTION",
    "ORDER_ALLOCATE_ACTION",
    "AggregationResult",
    "DeskOrderRefused",
    "desk_order_create",
    "desk_order_enter",
    "desk_orders_aggregate",
    "rfq_algo_fill_allocate",
    "rfq_fill_allocate",
]

CROSS_ACTION = "order.cross"
ALLOCATE_ACTION = "rfq.fill_allocate"
ALGO_ALLOCATE_ACTION = "rfq.algo_fill_allocate"
ORDER_ALLOCATE_ACTION = "order.allocate"
AGGREGATION_ACTOR = "system:aggregation"
# Orders an RFQ fill may still go to: in the RFQ, or worked after it (dealer fills pending, a plan).
_ALLOCATABLE_STATES = (DeskOrderStatus.AGGREGATED, DeskOrderStatus.WORKING)
# The wait-or-split decision's risk aversion λ (1/bps) of an RFQ by its most urgent order: the higher, the sooner
# it takes the quotes there are (or splits) rather than wait for better ones. ``normal`` is the ticket's default.
URGENCY_RISK_AVERSION = {
    Urgency.LOW: 0.01,
    Urgency.NORMAL: 0.05,
    Urgency.HIGH: 0.5,
    Urgency.IMMEDIATE: 5.0,
}


@dataclass(frozen=True)
class AggregationResult:
    """What one aggregation did.

    Attributes
    ----------
    orders : list of DeskOrder
        Every ``new`` order that was taken (crossed, sent to an RFQ, or both), as saved.
    crosses : list of Cross
        The internal crosses at the validated price, by order id.
    rfqs : list of RFQ
        One draft RFQ per side with a residual (at most one when the orders could cross: the cross leaves one side
        flat; one per side for an option, which is never crossed).
    left_new : list of DeskOrder
        Orders whose limit does not trade at the validated price: untouched, still ``new``.
    price : Decimal or None
        The validated price the orders were crossed and judged at (None for an option).
    """

    orders: list[DeskOrder] = field(default_factory=list)
    crosses: list[Cross] = field(default_factory=list)
    rfqs: list[RFQ] = field(default_factory=list)
    left_new: list[DeskOrder] = field(default_factory=list)
    price: Decimal | None = None


def _share(order: DeskOrder) -> OrderShare:
    return OrderShare(
        order_id=order.pk,
        open_quantity=order.quantity - order.filled_quantity,
        limit_price=order.limit_price,
        side=order.side,
    )


def _audit_cross(*, actor: Actor, order: DeskOrder, counter: DeskOrder, cross: Cross, before: dict[str, Any]) -> None:
    audit_record(
        actor=actor,
        action=CROSS_ACTION,
        obj=order,
        before=before,
        after={
            "side": order.side,
            "quantity": cross.quantity,
            "price": cross.price,
            "counter_order": counter.pk,
            "to_book": order.position_book,
            "filled_quantity": order.filled_quantity,
            "status": order.status,
        },
    )


def _rfq_terms(*, orders: list[DeskOrder], owner: AbstractBaseUser) -> dict[str, Any]:
    """The RFQ's urgency (its most urgent order's) and mode (automatic when its owner may trade automatically)."""
    urgency = max((URGENCY_RISK_AVERSION[order.urgency] for order in orders), default=URGENCY_RISK_AVERSION["normal"])
    mode = TradingMode.AUTO if selectors.auto_trading_enabled(user=owner) else TradingMode.MANUAL
    return {"risk_aversion": urgency, "mode": mode}


def desk_orders_aggregate(
    *,
    instrument: Instrument,
    now: datetime | None = None,
    owner: AbstractBaseUser | None = None,
    actor: Actor | None = None,
) -> AggregationResult:
    """Take the ``new`` desk orders on ``instrument`` entered up to ``now``, cross opposite sides at the validated
    price, and put what is left of each side in one draft RFQ (sent by :mod:`rfq.engine.desk_orders`).

    One transaction: the orders are locked; each cross is a desk-order fill per side (the positions go to the
    orders' accounts or books), crossed orders' ``filled_quantity`` and status are updated (FILLED when the cross
    covers them, AGGREGATED when a residual goes to the RFQ), every cross is audited per order, the RFQ is created
    through :func:`rfq.services.rfq_create` with the orders linked, for ``owner`` (by default the trader of the
    earliest order), and a summary event is audited as ``actor`` (by default the owner). Orders whose limit does
    not trade at the validated price stay NEW.

    Refused whole (:class:`DeskOrderRefused`, nothing changed) without a fresh validated price (a spot or perpetual
    instrument), on an inactive instrument or one a kill switch halts (firm, desk, its underlying or itself), or when
    the RFQ rules refuse the residual.
    """
    now = now or clock.now()
    if now.tzinfo is None:
        raise DeskOrderRefused({"now": "now must carry a time zone (UTC)"})
    price = desk_order_price(instrument=instrument, now=now)
    if price.price is None and instrument.kind != InstrumentKind.OPTION:
        raise DeskOrderRefused({"price": f"{instrument.symbol}: {price.why}; the orders wait for the next window"})
    with transaction.atomic():
        instrument = Instrument.objects.get(pk=instrument.pk)
        if not instrument.is_active:
            raise DeskOrderRefused({"instrument": f"{instrument.symbol} is not tradable (halted or inactive)"})
        halted = kill_switches_engaged_for(
            scopes=[
                ("firm", ""),
                ("desk", ""),
                ("underlying", instrument_underlying(instrument)),
                ("instrument", instrument.symbol),
            ]
        )
        if halted:
            # A cross trades too: under an engaged switch nothing is crossed, nothing asked.
            switch = halted[0]
            raise DeskOrderRefused(
                {"instrument": f"{instrument.symbol} is halted ({switch.scope} kill switch engaged: {switch.reason})"}
            )
        # The status filter is re-checked after the lock (PostgreSQL re-reads locked rows), so two aggregations
        # racing on one instrument never take the same order twice.
        orders = list(
            DeskOrder.objects.select_for_update(of=("self",))
            .select_related("account", "instrument")
            .filter(instrument=instrument, status=DeskOrderStatus.NEW, created_at__lte=now)
            .order_by("created_at", "id")
        )
        if not orders:
            return AggregationResult(price=price.price)
        owner = owner or orders[0].trader
        actor = actor or owner
        by_id = {order.pk: order for order in orders}
        shares = [_share(order) for order in orders]
        buys = [s for s in shares if s.side == Side.BUY]
        sells = [s for s in shares if s.side == Side.SELL]
        try:
            if price.price is None:
                crossing = CrossResult(crosses=[], residual_buys=buys, residual_sells=sells)
            else:
                crossing = cross_internally(buys=buys, sells=sells, mid=price.price, lot=instrument.lot_size)
        except ValueError as error:
            # Only an order stored outside desk_order_create, or a lot changed since, gets here.
            raise DeskOrderRefused({"instrument": str(error)}) from None

        before = {order.pk: {"filled_quantity": order.filled_quantity, "status": order.status} for order in orders}
        for order_id, quantity in crossing.crossed_by_order().items():
            order = by_id[order_id]
            order.filled_quantity += quantity
            order.status = DeskOrderStatus.FILLED if order.filled_quantity == order.quantity else order.status
        rfqs: list[RFQ] = []
        taken: set[int] = set(crossing.crossed_by_order())
        for side, residual in ((Side.BUY, crossing.residual_buys), (Side.SELL, crossing.residual_sells)):
            marketable = [
                s
                for s in residual
                if price.price is None or limit_allows(side=side, limit_price=s.limit_price, price=price.price)
            ]
            if not marketable:
                continue
            side_orders = [by_id[s.order_id] for s in marketable]
            for order in side_orders:
                order.status = DeskOrderStatus.AGGREGATED
            taken.update(s.order_id for s in marketable)
            total = sum((s.open_quantity for s in marketable), Decimal(0))
            try:
                rfqs.append(
                    rfq_create(
                        legs=[LegInput(instrument=instrument, side=side, quantity=total)],
                        actor=owner,
                        orders=tuple(side_orders),
                        **_rfq_terms(orders=side_orders, owner=owner),
                    )
                )
            except QuoteRefused as error:
                raise DeskOrderRefused({"instrument": " ".join(error.messages)}) from None
        changed = [by_id[order_id] for order_id in sorted(taken)]
        for order in changed:
            order.save(update_fields=["filled_quantity", "status", "updated_at"])
        for cross in crossing.crosses:
            buy, sell = by_id[cross.buy_order_id], by_id[cross.sell_order_id]
            for order, counter in ((buy, sell), (sell, buy)):
                desk_order_fill_record(
                    order=order,
                    kind=DeskOrderFillKind.CROSS,
                    quantity=cross.quantity,
                    price=cross.price,
                    counter_order=counter,
                    source=f"cross:{buy.pk}/{sell.pk}",
                )
                _audit_cross(actor=actor, order=order, counter=counter, cross=cross, before=before[order.pk])
        left_new = [order for order in orders if order.pk not in taken]
        crossed = sum((cross.quantity for cross in crossing.crosses), Decimal(0))
        audit_record(
            actor=actor,
            action="desk_orders.aggregate",
            obj=instrument,
            after={
                "now": now,
                "price": price.price,
                "price_source": "validated" if price.price is not None else price.why,
                "owner": actor_label(owner),
                "orders": [order.pk for order in changed],
                "crossed_quantity": crossed,
                "rfqs": [rfq.reference for rfq in rfqs],
                "left_new": [order.pk for order in left_new],
            },
        )
        broadcast(
            event="desk_orders.aggregated",
            payload={
                "instrument": instrument.symbol,
                "orders": len(changed),
                "crossed_quantity": crossed,
                "rfqs": [rfq.reference for rfq in rfqs],
            },
        )
    return AggregationResult(orders=changed, crosses=crossing.crosses, rfqs=rfqs, left_new=left_new, price=price.price)


def _allocated_so_far(dealer_order: DealerOrder) -> Decimal:
    """The part of the dealer order's fills already allocated (or found unallocatable) by earlier calls."""
    events = AuditEvent.objects.filter(
        action=ALLOCATE_ACTION, object_type=DealerOrder._meta.label_lower, object_id=str(dealer_order.pk)
    ).values_list("after", flat=True)
    return sum((Decimal(after["quantity"]) for after in events), Decimal(0))


def _orders_allocatable(*, rfq: RFQ, leg: RFQLeg) -> list[DeskOrder]:
    """The RFQ's orders of ``leg``'s side still open and held, locked. An order is only handed back once nothing
    works it any more, so a fill of the RFQ never finds its order aggregated again elsewhere (and an allocation never
    exceeds an order's open quantity in any case)."""
    return list(
        DeskOrder.objects.select_for_update(of=("self",))
        .select_related("account", "instrument")
        .filter(rfqs=rfq, instrument=leg.instrument_id, side=leg.side, status__in=_ALLOCATABLE_STATES)
        .order_by("id")
    )


def _allocation_apply(
    *,
    orders: list[DeskOrder],
    allocation: Allocation,
    kind: str,
    price: Decimal,
    from_book: str,
    rfq: RFQ,
    dealer_order: DealerOrder | None,
    source: str,
    actor: Actor,
    detail: dict[str, Any],
) -> None:
    """Write each order's share of a fill: its filled quantity (FILLED when complete), a desk-order fill (the
    position moves with it) and an ``order.allocate`` event."""
    for order in orders:
        quantity = allocation.by_order[order.pk]
        if quantity == 0:
            continue
        before = {"filled_quantity": order.filled_quantity, "status": order.status}
        order.filled_quantity += quantity
        if order.filled_quantity == order.quantity:
            order.status = DeskOrderStatus.FILLED
        order.save(update_fields=["filled_quantity", "status", "updated_at"])
        desk_order_fill_record(
            order=order,
            kind=kind,
            quantity=quantity,
            price=price,
            from_book=from_book,
            rfq=rfq,
            dealer_order=dealer_order,
            source=source,
        )
        audit_record(
            actor=actor,
            action=ORDER_ALLOCATE_ACTION,
            obj=order,
            before=before,
            after={
                "quantity": quantity,
                "price": price,
                "rfq": rfq.reference,
                **detail,
                "from_book": from_book,
                "to_book": order.position_book,
                "filled_quantity": order.filled_quantity,
                "status": order.status,
            },
        )


def rfq_fill_allocate(*, dealer_order: DealerOrder, actor: Actor = "system:allocation") -> Allocation:
    """Allocate what the dealer has filled of ``dealer_order`` and not yet allocated to the RFQ's desk orders,
    pro rata to their open quantity in whole lots (:func:`rfq.allocation.allocate_pro_rata`).

    Each order's ``filled_quantity`` goes up (status FILLED when complete), it gets a desk-order fill at the dealer's
    price (the position moves from the desk's book to its account or book) and an ``order.allocate`` event; the
    whole allocation is one ``rfq.fill_allocate`` event on the dealer order. An order whose limit the fill price
    breaks gets nothing: that part, and any part smaller than a lot, is returned as ``unallocated`` and stays on the
    desk's book. Then the RFQ's orders are settled (:func:`rfq.engine.lifecycle.rfq_orders_settle`: what nothing
    works any more goes back to be aggregated again). Safe to run twice: a second call finds nothing new and
    returns an empty allocation.
    """
    with transaction.atomic():
        dealer_order = (
            DealerOrder.objects.select_for_update(of=("self",))
            .select_related("quote__rfq", "leg__instrument")
            .get(pk=dealer_order.pk)
        )
        if dealer_order.leg is None:
            raise QuoteRefused("package fills are allocated per leg: not supported yet")
        pending = dealer_order.filled_quantity - _allocated_so_far(dealer_order)
        if pending <= 0:
            return Allocation(by_order={}, unallocated=Decimal(0))
        # The RFQ before its orders: every writer of an RFQ's orders locks in this order (no deadlock).
        rfq = RFQ.objects.select_for_update().get(pk=dealer_order.quote.rfq_id)
        instrument = dealer_order.leg.instrument
        orders = _orders_allocatable(rfq=rfq, leg=dealer_order.leg)
        try:
            allocation = allocate_pro_rata(
                fill_quantity=pending,
                orders=[_share(order) for order in orders],
                fill_price=dealer_order.price,
                lot=instrument.lot_size,
            )
        except ValueError as error:
            raise QuoteRefused(f"RFQ {rfq.reference}: {error}") from None
        _allocation_apply(
            orders=orders,
            allocation=allocation,
            kind=DeskOrderFillKind.DEALER,
            price=dealer_order.price,
            from_book=DEFAULT_BOOK,
            rfq=rfq,
            dealer_order=dealer_order,
            source=dealer_order.cl_ord_id,
            actor=actor,
            detail={"dealer_order": dealer_order.cl_ord_id},
        )
        audit_record(
            actor=actor,
            action=ALLOCATE_ACTION,
            obj=dealer_order,
            after={
                "rfq": rfq.reference,
                "price": dealer_order.price,
                "quantity": pending,
                "allocations": {str(order_id): qty for order_id, qty in allocation.by_order.items() if qty},
                "unallocated": allocation.unallocated,
            },
        )
        rfq_orders_settle(rfq=rfq, actor=actor)
        broadcast(
            event="rfq.fill_allocated",
            payload={"rfq": rfq.reference, "allocated": allocation.allocated, "unallocated": allocation.unallocated},
        )
    return allocation


def rfq_algo_fill_allocate(
    *,
    leg: RFQLeg,
    exec_id: str,
    quantity: Decimal,
    price: Decimal,
    from_book: str = DEFAULT_BOOK,
    plan: int | None = None,
    actor: Actor = "system:allocation",
) -> Allocation:
    """Allocate one fill of an execution plan working part of ``leg`` (a split's rest) to the desk orders its RFQ
    holds, as a dealer's fill is: pro rata to their open quantity, in whole lots, each at the fill's price, the
    position moving from the plan's book (``from_book``) to each order's account or book. Called by the
    ``execution.plan_fill`` flow in the fill's transaction; once per ``exec_id`` (a second call allocates nothing).
    An RFQ holding no order allocates nothing."""
    if not DeskOrder.objects.filter(rfqs=leg.rfq_id).exists():
        # A plan of a trader's own RFQ (no desk order in it): nothing to lock, nothing to allocate.
        return Allocation(by_order={}, unallocated=quantity)
    with transaction.atomic():
        rfq = RFQ.objects.select_for_update().get(pk=leg.rfq_id)
        done = DeskOrderFill.objects.filter(kind=DeskOrderFillKind.ALGO, rfq=rfq, source=exec_id[:80]).exists()
        orders = [] if done else _orders_allocatable(rfq=rfq, leg=leg)
        if not orders:
            return Allocation(by_order={}, unallocated=quantity if not done else Decimal(0))
        lot = orders[0].instrument.lot_size
        try:
            allocation = allocate_pro_rata(
                fill_quantity=quantity, orders=[_share(order) for order in orders], fill_price=price, lot=lot
            )
        except ValueError as error:
            raise QuoteRefused(f"RFQ {rfq.reference}: {error}") from None
        _allocation_apply(
            orders=orders,
            allocation=allocation,
            kind=DeskOrderFillKind.ALGO,
            price=price,
            from_book=from_book,
            rfq=rfq,
            dealer_order=None,
            source=exec_id,
            actor=actor,
            detail={"exec_id": exec_id, "plan": plan},
        )
        audit_record(
            actor=actor,
            action=ALGO_ALLOCATE_ACTION,
            obj=rfq,
            after={
                "exec_id": exec_id,
                "plan": plan,
                "price": price,
                "quantity": quantity,
                "allocations": {str(order_id): qty for order_id, qty in allocation.by_order.items() if qty},
                "unallocated": allocation.unallocated,
            },
        )
        broadcast(
            event="rfq.fill_allocated",
            payload={"rfq": rfq.reference, "allocated": allocation.allocated, "unallocated": allocation.unallocated},
        )
    return allocation
