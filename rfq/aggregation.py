"""Aggregation of desk orders: create them, gather a window's orders into one RFQ per side after crossing
opposite orders internally at mid, and allocate the dealer's fills back to the orders pro rata.

The arithmetic lives in :mod:`rfq.allocation` (pure); these services read and lock the rows, call it, write the
result with ``update_fields``, audit in the same transaction and broadcast after commit.

Choices made here, and why
--------------------------
- **Crosses are not Fills.** A :class:`~execution.models.Fill` must come from a child order or a dealer quote
  (``fill_has_a_source``) and moves the desk's position; an internal cross is between two clients at mid and
  leaves the desk flat. So a cross is booked as the two orders' ``filled_quantity`` going up, with one audited
  ``order.cross`` event per order and per counter-order (price = mid, the counter-order's id), so that each
  client's order carries its own complete history in the audit trail.
- **Orders whose limit would not trade at mid stay NEW.** A buy limited below mid (a sell above) cannot cross, and
  a dealer's offer (bid) is worse than mid, so putting its size in the RFQ would only buy what no client takes.
  They are reported in :attr:`AggregationResult.left_new` and left for the trader.
- **The RFQ carries only the aggregate.** One leg, the sum of the residual quantities; the orders are linked
  through ``RFQ.orders``, which no dealer endpoint or FIX message exposes. The account is never written to the
  RFQ, its legs, or anything a dealer reads.
- **Fill allocation is idempotent without a new table.** What has already been allocated from a dealer order is
  read back from this module's own ``rfq.fill_allocate`` audit events for it (written under the dealer order's
  row lock), so running the allocation twice allocates the same fill once. A dedicated allocation table would
  be cleaner; see the report of issue 4.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from desk import clock
from desk.audit import Actor, audit_record
from desk.events import broadcast
from desk.fields import DECIMAL_PLACES, MAX_DIGITS
from desk.models import Account, AuditEvent, Instrument
from rfq.allocation import Allocation, Cross, OrderShare, allocate_pro_rata, cross_internally, limit_allows
from rfq.models import RFQ, DealerOrder, DeskOrder, DeskOrderStatus, Side, Urgency
from rfq.services.common import QuoteRefused
from rfq.services.rfqs import LegInput, rfq_create

CROSS_ACTION = "order.cross"
ALLOCATE_ACTION = "rfq.fill_allocate"
ORDER_ALLOCATE_ACTION = "order.allocate"
# The largest value a quantity or price column holds (28 digits, 12 after the point).
_COLUMN_LIMIT = Decimal(10) ** (MAX_DIGITS - DECIMAL_PLACES)
# Orders an RFQ fill may still go to: in the RFQ, or part-filled by an earlier fill.
_ALLOCATABLE_STATES = (DeskOrderStatus.AGGREGATED, DeskOrderStatus.WORKING)


class DeskOrderRefused(QuoteRefused):
    """Bad input to a desk-order service. Built from a ``{field: message}`` dict: ``message_dict`` names each
    field at fault, and nothing is stored."""


@dataclass(frozen=True)
class AggregationResult:
    """What one aggregation did.

    Attributes
    ----------
    orders : list of DeskOrder
        Every NEW order of the window that was taken (crossed, sent to an RFQ, or both), as saved.
    crosses : list of Cross
        The internal crosses at mid, by order id.
    rfqs : list of RFQ
        One draft RFQ per side with a residual (at most one in practice: the cross leaves one side flat).
    left_new : list of DeskOrder
        Orders of the window whose limit does not trade at mid: untouched, still NEW.
    """

    orders: list[DeskOrder] = field(default_factory=list)
    crosses: list[Cross] = field(default_factory=list)
    rfqs: list[RFQ] = field(default_factory=list)
    left_new: list[DeskOrder] = field(default_factory=list)


def _decimal_error(value: object, *, name: str, allow_none: bool = False) -> str | None:
    """Why ``value`` is not a usable positive Decimal for column ``name``, or None when it is."""
    if value is None:
        return None if allow_none else f"{name} is required"
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        # Floats carry binary rounding into money and quantities: the boundary converts them, not the service.
        return f"{name} must be a Decimal, got {type(value).__name__}"
    value = Decimal(value)
    if not value.is_finite() or value <= 0:
        return f"{name} must be positive, got {value}"
    if value >= _COLUMN_LIMIT or value != value.quantize(Decimal(1).scaleb(-DECIMAL_PLACES)):
        return f"{name} {value} does not fit {MAX_DIGITS} digits with {DECIMAL_PLACES} after the point"
    return None


def _check_desk_order(
    *,
    account: Account,
    instrument: Instrument,
    side: str,
    quantity: Decimal,
    limit_price: Decimal | None,
    urgency: str,
    trader: AbstractBaseUser,
    now: datetime,
) -> dict[str, str]:
    """Every problem with a new desk order, by field (empty when there is none)."""
    errors: dict[str, str] = {}
    if not account.is_active:
        errors["account"] = f"account {account.code} is not active"
    if not instrument.is_active:
        errors["instrument"] = f"{instrument.symbol} is not tradable (halted or inactive)"
    elif instrument.expiry is not None and instrument.expiry <= now:
        errors["instrument"] = f"{instrument.symbol} expired at {instrument.expiry.isoformat()}"
    if side not in Side.values:
        errors["side"] = f"side must be one of {', '.join(Side.values)}, got {side!r}"
    if urgency not in Urgency.values:
        errors["urgency"] = f"urgency must be one of {', '.join(Urgency.values)}, got {urgency!r}"
    if not trader.is_active:
        errors["trader"] = f"{trader.get_username()} is not an active user"
    if problem := _decimal_error(quantity, name="quantity"):
        errors["quantity"] = problem
    elif Decimal(quantity) % instrument.lot_size != 0:
        errors["quantity"] = f"quantity {quantity} is not a multiple of the lot {instrument.lot_size}"
    if problem := _decimal_error(limit_price, name="limit_price", allow_none=True):
        errors["limit_price"] = problem
    return errors


def desk_order_create(
    *,
    account: Account,
    instrument: Instrument,
    side: str,
    quantity: Decimal,
    limit_price: Decimal | None,
    urgency: str,
    trader: AbstractBaseUser,
) -> DeskOrder:
    """A client's order for the desk to execute, NEW until an aggregation takes it.

    Refused with :class:`DeskOrderRefused` naming every field at fault (inactive account, inactive or expired
    instrument, unknown side or urgency, a quantity that is not a positive whole number of lots, a limit that is
    not positive); nothing is stored then.
    """
    now = clock.now()
    errors = _check_desk_order(
        account=account,
        instrument=instrument,
        side=side,
        quantity=quantity,
        limit_price=limit_price,
        urgency=urgency,
        trader=trader,
        now=now,
    )
    if errors:
        raise DeskOrderRefused(errors)
    with transaction.atomic():
        order = DeskOrder.objects.create(
            account=account,
            instrument=instrument,
            side=side,
            quantity=Decimal(quantity),
            limit_price=None if limit_price is None else Decimal(limit_price),
            urgency=urgency,
            trader=trader,
        )
        audit_record(
            actor=trader,
            action="desk_order.create",
            obj=order,
            after={
                "account": account.code,
                "instrument": instrument.symbol,
                "side": side,
                "quantity": order.quantity,
                "limit_price": order.limit_price,
                "urgency": urgency,
            },
        )
        # The desk's own screens only; the account stays out of the event all the same (blotters look it up).
        broadcast(
            event="desk_order.created",
            payload={"id": order.pk, "instrument": instrument.symbol, "side": side, "quantity": order.quantity},
        )
    return order


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
            "filled_quantity": order.filled_quantity,
            "status": order.status,
        },
    )


def desk_orders_aggregate(
    *, instrument: Instrument, window: timedelta, now: datetime, mid: Decimal, actor: AbstractBaseUser
) -> AggregationResult:
    """Take the NEW orders on ``instrument`` created in ``[now - window, now]``, cross opposite sides at ``mid``,
    and put what is left of each side in one draft RFQ (sent later with :func:`rfq.services.rfq_send`).

    One transaction: the orders are locked, crossed orders' ``filled_quantity`` and status are updated (FILLED
    when the cross covers them, AGGREGATED when a residual goes to the RFQ), every cross is audited per order,
    the RFQ is created through :func:`rfq.services.rfq_create` with the orders linked, and a summary event is
    audited. Orders whose limit does not trade at mid stay NEW. ``actor`` is the trader the RFQ is created for.
    """
    errors: dict[str, str] = {}
    if window <= timedelta(0):
        errors["window"] = f"window must be positive, got {window}"
    if now.tzinfo is None:
        errors["now"] = "now must carry a time zone (UTC)"
    if problem := _decimal_error(mid, name="mid"):
        errors["mid"] = problem
    if errors:
        raise DeskOrderRefused(errors)
    with transaction.atomic():
        instrument = Instrument.objects.get(pk=instrument.pk)
        if not instrument.is_active:
            raise DeskOrderRefused({"instrument": f"{instrument.symbol} is not tradable (halted or inactive)"})
        # The status filter is re-checked after the lock (PostgreSQL re-reads locked rows), so two aggregations
        # racing on one instrument never take the same order twice.
        orders = list(
            DeskOrder.objects.select_for_update(of=("self",))
            .filter(
                instrument=instrument,
                status=DeskOrderStatus.NEW,
                created_at__gte=now - window,
                created_at__lte=now,
            )
            .order_by("created_at", "id")
        )
        if not orders:
            return AggregationResult()
        by_id = {order.pk: order for order in orders}
        shares = [_share(order) for order in orders]
        try:
            crossing = cross_internally(
                buys=[s for s in shares if s.side == Side.BUY],
                sells=[s for s in shares if s.side == Side.SELL],
                mid=mid,
                lot=instrument.lot_size,
            )
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
            marketable = [s for s in residual if limit_allows(side=side, limit_price=s.limit_price, price=mid)]
            if not marketable:
                continue
            side_orders = [by_id[s.order_id] for s in marketable]
            for order in side_orders:
                order.status = DeskOrderStatus.AGGREGATED
            taken.update(s.order_id for s in marketable)
            total = sum((s.open_quantity for s in marketable), Decimal(0))
            rfqs.append(
                rfq_create(
                    legs=[LegInput(instrument=instrument, side=side, quantity=total)],
                    actor=actor,
                    orders=tuple(side_orders),
                )
            )
        changed = [by_id[order_id] for order_id in sorted(taken)]
        for order in changed:
            order.save(update_fields=["filled_quantity", "status", "updated_at"])
        for cross in crossing.crosses:
            buy, sell = by_id[cross.buy_order_id], by_id[cross.sell_order_id]
            _audit_cross(actor=actor, order=buy, counter=sell, cross=cross, before=before[buy.pk])
            _audit_cross(actor=actor, order=sell, counter=buy, cross=cross, before=before[sell.pk])
        left_new = [order for order in orders if order.pk not in taken]
        crossed = sum((cross.quantity for cross in crossing.crosses), Decimal(0))
        audit_record(
            actor=actor,
            action="desk_orders.aggregate",
            obj=instrument,
            after={
                "window_s": window.total_seconds(),
                "now": now,
                "mid": mid,
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
    return AggregationResult(orders=changed, crosses=crossing.crosses, rfqs=rfqs, left_new=left_new)


def _allocated_so_far(dealer_order: DealerOrder) -> Decimal:
    """The part of the dealer order's fills already allocated (or found unallocatable) by earlier calls."""
    events = AuditEvent.objects.filter(
        action=ALLOCATE_ACTION, object_type=DealerOrder._meta.label_lower, object_id=str(dealer_order.pk)
    ).values_list("after", flat=True)
    return sum((Decimal(after["quantity"]) for after in events), Decimal(0))


def rfq_fill_allocate(*, dealer_order: DealerOrder, actor: Actor = "system:allocation") -> Allocation:
    """Allocate what the dealer has filled of ``dealer_order`` and not yet allocated to the RFQ's desk orders,
    pro rata to their open quantity in whole lots (:func:`rfq.allocation.allocate_pro_rata`).

    Each order's ``filled_quantity`` goes up (status FILLED when complete, WORKING when part-filled) and gets an
    ``order.allocate`` event; the whole allocation is one ``rfq.fill_allocate`` event on the dealer order. An
    order whose limit the fill price breaks gets nothing: that part, and any part smaller than a lot, is
    returned as ``unallocated`` and stays on the desk's book. Safe to run twice: a second call finds nothing new
    and returns an empty allocation.
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
        rfq = dealer_order.quote.rfq
        instrument = dealer_order.leg.instrument
        orders = list(
            DeskOrder.objects.select_for_update(of=("self",))
            .filter(
                rfqs=rfq,
                instrument=instrument,
                side=dealer_order.side,
                status__in=_ALLOCATABLE_STATES,
            )
            .order_by("id")
        )
        try:
            allocation = allocate_pro_rata(
                fill_quantity=pending,
                orders=[_share(order) for order in orders],
                fill_price=dealer_order.price,
                lot=instrument.lot_size,
            )
        except ValueError as error:
            raise QuoteRefused(f"RFQ {rfq.reference}: {error}") from None
        for order in orders:
            quantity = allocation.by_order[order.pk]
            if quantity == 0:
                continue
            before = {"filled_quantity": order.filled_quantity, "status": order.status}
            order.filled_quantity += quantity
            order.status = (
                DeskOrderStatus.FILLED if order.filled_quantity == order.quantity else DeskOrderStatus.WORKING
            )
            order.save(update_fields=["filled_quantity", "status", "updated_at"])
            audit_record(
                actor=actor,
                action=ORDER_ALLOCATE_ACTION,
                obj=order,
                before=before,
                after={
                    "quantity": quantity,
                    "price": dealer_order.price,
                    "rfq": rfq.reference,
                    "dealer_order": dealer_order.cl_ord_id,
                    "filled_quantity": order.filled_quantity,
                    "status": order.status,
                },
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
        broadcast(
            event="rfq.fill_allocated",
            payload={"rfq": rfq.reference, "allocated": allocation.allocated, "unallocated": allocation.unallocated},
        )
    return allocation
