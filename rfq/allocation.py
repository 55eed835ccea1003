"""Pure allocation arithmetic for aggregated desk orders: pro-rata fill allocation and internal crossing at mid.

Decimal in, Decimal out, no ORM: the services in :mod:`rfq.aggregation` read the rows, call these functions and
write what they return. Quantities are contracts, prices quote currency per contract.

All arithmetic is done in whole lots with exact rationals (:class:`fractions.Fraction`), so no rounding error can
creep in: an allocation is always an integer number of lots times ``lot``.

Pro-rata allocation (largest-remainder method, a.k.a. Hamilton's method)
------------------------------------------------------------------------
Let ``F`` be the fill in whole lots, and ``q_i`` the open quantity in lots of each *eligible* order (one whose
limit the fill price does not break). The desk can place at most ``A = min(F, sum q_i)`` lots. Each order's exact
share is ``s_i = A * q_i / sum q_i``; it first gets ``floor(s_i)`` lots, and the ``A - sum floor(s_i)`` lots left
go one each to the orders with the largest fractional remainders ``s_i - floor(s_i)``. Ties on the remainder go to
the **lowest order id** (ids grow with creation, so the earliest order wins); the result therefore depends only
on the set of orders, never on the order of the list.

Consequences, which the property tests hold:

- every allocation is within one lot of its exact share (``|a_i - s_i| < 1`` lot);
- no order gets more than its open quantity (``s_i <= q_i`` because ``A <= sum q_i``, and the extra lot only
  goes to an order with a positive remainder, so ``floor(s_i) + 1 <= q_i``);
- the allocations sum to exactly ``A`` lots; what is left of the fill (``F - A`` lots, plus any part of the fill
  smaller than a lot) is returned as ``unallocated`` and never forced onto an order: the desk keeps it.

Pro rata is by **open** quantity (quantity not yet filled), so an order already part-filled by a cross or an
earlier fill weighs only what it still needs.

Internal crossing at mid
------------------------
A buy crosses at ``mid`` only if it has no limit or its limit is at or above mid; a sell only if it has no limit
or its limit is at or below mid. The crossed quantity is the smaller of the two eligible totals (the maximum
possible). The smaller side crosses in full; the larger side's share is split pro rata with the same
largest-remainder rule (the orders of one aggregation window are treated as simultaneous, so the better price at
mid is shared fairly rather than given to whoever arrived first). The per-order quantities are then paired into
bilateral crosses by walking both sides in order-id order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction

BUY = "buy"
SELL = "sell"


@dataclass(frozen=True)
class OrderShare:
    """What the allocation needs to know of one desk order.

    Attributes
    ----------
    order_id : int
        Unique within one call; also the tie-break (lower id = earlier order = first served).
    open_quantity : Decimal
        Contracts still to fill, a non-negative multiple of the lot.
    limit_price : Decimal or None
        Worst acceptable price, quote currency per contract; None: no limit.
    side : str
        ``"buy"`` or ``"sell"``.
    """

    order_id: int
    open_quantity: Decimal
    limit_price: Decimal | None
    side: str


@dataclass(frozen=True)
class Allocation:
    """The result of :func:`allocate_pro_rata`.

    ``by_order`` has every order passed in (zero for those that get nothing); ``unallocated`` is the part of the
    fill no eligible order could take. ``sum(by_order.values()) + unallocated == fill_quantity`` exactly.
    """

    by_order: dict[int, Decimal]
    unallocated: Decimal

    @property
    def allocated(self) -> Decimal:
        return sum(self.by_order.values(), Decimal(0))


@dataclass(frozen=True)
class Cross:
    """One bilateral internal trade at mid: ``quantity`` contracts from ``sell_order_id`` to ``buy_order_id``."""

    buy_order_id: int
    sell_order_id: int
    quantity: Decimal
    price: Decimal


@dataclass(frozen=True)
class CrossResult:
    """The crosses, and each side's orders with what is left open after them (orders left with nothing open are
    dropped; orders that could not cross because of their limit are returned unchanged)."""

    crosses: list[Cross]
    residual_buys: list[OrderShare] = field(default_factory=list)
    residual_sells: list[OrderShare] = field(default_factory=list)

    def crossed_by_order(self) -> dict[int, Decimal]:
        """Total crossed quantity per order id (only orders that crossed)."""
        totals: dict[int, Decimal] = {}
        for cross in self.crosses:
            for order_id in (cross.buy_order_id, cross.sell_order_id):
                totals[order_id] = totals.get(order_id, Decimal(0)) + cross.quantity
        return totals


def limit_allows(*, side: str, limit_price: Decimal | None, price: Decimal) -> bool:
    """True when trading at ``price`` respects the limit: a buy never pays above it, a sell never sells below."""
    if limit_price is None:
        return True
    return price <= limit_price if side == BUY else price >= limit_price


def _lots(quantity: Decimal, lot: Decimal, *, what: str) -> int:
    """``quantity`` in whole lots; refuses a negative quantity or one that is not a whole number of lots."""
    if quantity < 0:
        raise ValueError(f"{what}: {quantity} is negative")
    lots, rest = divmod(quantity, lot)
    if rest != 0:
        raise ValueError(f"{what}: {quantity} is not a multiple of the lot {lot}")
    return int(lots)


def _check_common(*, orders: Sequence[OrderShare], price: Decimal, lot: Decimal, price_name: str) -> None:
    if not lot.is_finite() or lot <= 0:
        raise ValueError(f"lot must be positive, got {lot}")
    if not price.is_finite() or price <= 0:
        raise ValueError(f"{price_name} must be positive, got {price}")
    ids = [order.order_id for order in orders]
    if len(set(ids)) != len(ids):
        raise ValueError("order ids must be unique")
    for order in orders:
        if order.side not in (BUY, SELL):
            raise ValueError(f"order {order.order_id}: side must be buy or sell, got {order.side!r}")


def _largest_remainder(*, total_lots: int, weights: dict[int, int]) -> dict[int, int]:
    """Split ``total_lots`` over ``weights`` (lots each, keyed by order id) by largest remainder.

    Requires ``0 <= total_lots <= sum(weights)``; ties on the remainder go to the lowest id."""
    weight_sum = sum(weights.values())
    if total_lots == 0 or weight_sum == 0:
        return dict.fromkeys(weights, 0)
    shares = {order_id: Fraction(total_lots * weight, weight_sum) for order_id, weight in weights.items()}
    lots = {order_id: math.floor(share) for order_id, share in shares.items()}
    leftover = total_lots - sum(lots.values())
    # Every remainder is < 1 and they sum to ``leftover``, so more than ``leftover`` of them are positive: the
    # extra lots only ever go to orders whose exact share exceeds their floor, never beyond their weight.
    ranked = sorted(shares, key=lambda order_id: (-(shares[order_id] - lots[order_id]), order_id))
    for order_id in ranked[:leftover]:
        lots[order_id] += 1
    return lots


def allocate_pro_rata(
    *, fill_quantity: Decimal, orders: Sequence[OrderShare], fill_price: Decimal, lot: Decimal
) -> Allocation:
    """Allocate a fill to same-side orders pro rata to their open quantity, in whole lots.

    Parameters
    ----------
    fill_quantity : Decimal
        Contracts filled, >= 0. A part smaller than a lot cannot be allocated and is returned as unallocated.
    orders : sequence of OrderShare
        The orders sharing the fill, all on the fill's side, open quantities whole lots, unique ids.
    fill_price : Decimal
        Quote currency per contract, > 0. An order whose limit this price breaks gets nothing.
    lot : Decimal
        Lot size in contracts, > 0.

    Returns
    -------
    Allocation
        Contracts per order id (every id present, multiples of ``lot``, each at most the order's open quantity)
        and the unallocated remainder; allocations plus remainder equal ``fill_quantity`` exactly.

    Raises
    ------
    ValueError
        On a non-positive lot or price, a negative fill, mixed sides, duplicate ids, or an open quantity that is
        negative or not a whole number of lots.
    """
    _check_common(orders=orders, price=fill_price, lot=lot, price_name="fill_price")
    if not fill_quantity.is_finite() or fill_quantity < 0:
        raise ValueError(f"fill_quantity must be >= 0, got {fill_quantity}")
    if len({order.side for order in orders}) > 1:
        raise ValueError("a fill is allocated to orders of one side only")
    open_lots = {order.order_id: _lots(order.open_quantity, lot, what=f"order {order.order_id}") for order in orders}
    eligible = {
        order.order_id: open_lots[order.order_id]
        for order in orders
        if limit_allows(side=order.side, limit_price=order.limit_price, price=fill_price)
    }
    # A fill that is not a whole number of lots (a dealer's odd partial) cannot be split into lots: the odd part
    # stays with the desk rather than being rounded onto a client.
    fill_lots = int(fill_quantity // lot)
    placeable = min(fill_lots, sum(eligible.values()))
    lots = _largest_remainder(total_lots=placeable, weights=eligible)
    by_order = {order.order_id: lots.get(order.order_id, 0) * lot for order in orders}
    return Allocation(by_order=by_order, unallocated=fill_quantity - placeable * lot)


def cross_internally(
    *, buys: Sequence[OrderShare], sells: Sequence[OrderShare], mid: Decimal, lot: Decimal
) -> CrossResult:
    """Cross opposite desk orders against each other at ``mid``, as much as their limits allow.

    Parameters
    ----------
    buys, sells : sequence of OrderShare
        Buy and sell orders of one instrument, open quantities whole lots, ids unique across both lists.
    mid : Decimal
        The crossing price, quote currency per contract, > 0.
    lot : Decimal
        Lot size in contracts, > 0.

    Returns
    -------
    CrossResult
        Bilateral crosses at ``mid`` (whole lots, each within both orders' limits), and the residual orders:
        the crossed quantity is the smaller of the two sides' eligible totals, so afterwards at most one side
        still has an order able to cross.

    Raises
    ------
    ValueError
        On a non-positive lot or mid, a buy in ``sells`` or a sell in ``buys``, duplicate ids, or an open quantity
        that is negative or not a whole number of lots.
    """
    _check_common(orders=[*buys, *sells], price=mid, lot=lot, price_name="mid")
    if any(order.side != BUY for order in buys) or any(order.side != SELL for order in sells):
        raise ValueError("buys must all be buys and sells all sells")
    buy_lots = {order.order_id: _lots(order.open_quantity, lot, what=f"order {order.order_id}") for order in buys}
    sell_lots = {order.order_id: _lots(order.open_quantity, lot, what=f"order {order.order_id}") for order in sells}
    eligible_buys = {
        order.order_id: buy_lots[order.order_id]
        for order in buys
        if limit_allows(side=BUY, limit_price=order.limit_price, price=mid)
    }
    eligible_sells = {
        order.order_id: sell_lots[order.order_id]
        for order in sells
        if limit_allows(side=SELL, limit_price=order.limit_price, price=mid)
    }
    crossed_lots = min(sum(eligible_buys.values()), sum(eligible_sells.values()))
    buy_take = _largest_remainder(total_lots=crossed_lots, weights=eligible_buys)
    sell_take = _largest_remainder(total_lots=crossed_lots, weights=eligible_sells)

    crosses: list[Cross] = []
    buy_queue = [[order_id, lots] for order_id, lots in sorted(buy_take.items()) if lots > 0]
    sell_queue = [[order_id, lots] for order_id, lots in sorted(sell_take.items()) if lots > 0]
    b = s = 0
    # Both queues hold exactly ``crossed_lots`` lots, so they run out together.
    while b < len(buy_queue) and s < len(sell_queue):
        lots = min(buy_queue[b][1], sell_queue[s][1])
        crosses.append(Cross(buy_queue[b][0], sell_queue[s][0], lots * lot, mid))
        buy_queue[b][1] -= lots
        sell_queue[s][1] -= lots
        if buy_queue[b][1] == 0:
            b += 1
        if sell_queue[s][1] == 0:
            s += 1

    def residual(orders: Sequence[OrderShare], taken: dict[int, int], open_lots: dict[int, int]) -> list[OrderShare]:
        left = []
        for order in orders:
            remaining = open_lots[order.order_id] - taken.get(order.order_id, 0)
            if remaining > 0:
                left.append(replace(order, open_quantity=remaining * lot))
        return left

    return CrossResult(
        crosses=crosses,
        residual_buys=residual(buys, buy_take, buy_lots),
        residual_sells=residual(sells, sell_take, sell_lots),
    )
