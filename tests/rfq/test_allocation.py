"""Pro-rata allocation and internal crossing (pure): exact sums, whole lots, no over-allocation, limits never
broken, each share within one lot of its exact pro-rata value, crossing conserves quantity at mid."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rfq.allocation import (
    BUY,
    SELL,
    Allocation,
    CrossResult,
    OrderShare,
    allocate_pro_rata,
    cross_internally,
    limit_allows,
)

LOTS = st.sampled_from([Decimal("1"), Decimal("0.0001"), Decimal("0.5"), Decimal("25")])
# Prices on a 0.25 grid around 100 so that limits land above, below and exactly on the fill price or mid.
PRICES = st.integers(min_value=380, max_value=420).map(lambda quarters: Decimal(quarters) / 4)
LIMITS = st.none() | PRICES


@st.composite
def order_lists(draw: st.DrawFn, *, ids: st.SearchStrategy[int], max_size: int = 8) -> list[tuple]:
    """(order_id, open lots, limit) tuples with unique ids; quantities are turned into contracts per lot later."""
    return draw(
        st.lists(
            st.tuples(ids, st.integers(min_value=0, max_value=60), LIMITS),
            max_size=max_size,
            unique_by=lambda row: row[0],
        )
    )


def _shares(rows: list[tuple], *, side: str, lot: Decimal) -> list[OrderShare]:
    return [OrderShare(order_id, lots * lot, limit, side) for order_id, lots, limit in rows]


def _eligible(orders: list[OrderShare], price: Decimal) -> list[OrderShare]:
    return [o for o in orders if limit_allows(side=o.side, limit_price=o.limit_price, price=price)]


# --- allocate_pro_rata ----------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    rows=order_lists(ids=st.integers(min_value=1, max_value=10_000)),
    side=st.sampled_from([BUY, SELL]),
    lot=LOTS,
    fill_lots=st.integers(min_value=0, max_value=400),
    fill_price=PRICES,
)
def test_allocation_is_exact_in_lots_within_open_and_limits(
    rows: list[tuple], side: str, lot: Decimal, fill_lots: int, fill_price: Decimal
) -> None:
    orders = _shares(rows, side=side, lot=lot)
    fill = fill_lots * lot

    result = allocate_pro_rata(fill_quantity=fill, orders=orders, fill_price=fill_price, lot=lot)

    eligible = _eligible(orders, fill_price)
    capacity = sum((o.open_quantity for o in eligible), Decimal(0))
    assert set(result.by_order) == {o.order_id for o in orders}
    assert result.allocated + result.unallocated == fill  # exact: nothing lost, nothing invented
    assert result.allocated == min(fill, capacity)  # never under-allocates while an eligible order has room
    for order in orders:
        quantity = result.by_order[order.order_id]
        assert quantity % lot == 0
        assert Decimal(0) <= quantity <= order.open_quantity
        if not limit_allows(side=order.side, limit_price=order.limit_price, price=fill_price):
            assert quantity == 0  # a fill price that breaks the order's limit never reaches it
    if result.unallocated > 0:
        assert all(result.by_order[o.order_id] == o.open_quantity for o in eligible)


@settings(max_examples=100, deadline=None)
@given(
    rows=order_lists(ids=st.integers(min_value=1, max_value=10_000)),
    lot=LOTS,
    fill_lots=st.integers(min_value=0, max_value=400),
    fill_price=PRICES,
)
def test_each_allocation_is_within_one_lot_of_its_exact_pro_rata_share(
    rows: list[tuple], lot: Decimal, fill_lots: int, fill_price: Decimal
) -> None:
    orders = _shares(rows, side=BUY, lot=lot)

    result = allocate_pro_rata(fill_quantity=fill_lots * lot, orders=orders, fill_price=fill_price, lot=lot)

    eligible = _eligible(orders, fill_price)
    capacity = sum((Fraction(o.open_quantity) for o in eligible), Fraction(0))
    placed = Fraction(result.allocated)
    for order in eligible:
        exact = placed * Fraction(order.open_quantity) / capacity if capacity else Fraction(0)
        assert abs(Fraction(result.by_order[order.order_id]) - exact) < Fraction(lot)


@settings(max_examples=100, deadline=None)
@given(
    rows=order_lists(ids=st.integers(min_value=1, max_value=10_000)),
    lot=LOTS,
    fill_lots=st.integers(min_value=0, max_value=400),
    fill_price=PRICES,
    data=st.data(),
)
def test_allocation_does_not_depend_on_the_order_of_the_list(
    rows: list[tuple], lot: Decimal, fill_lots: int, fill_price: Decimal, data: st.DataObject
) -> None:
    orders = _shares(rows, side=SELL, lot=lot)
    shuffled = data.draw(st.permutations(orders))

    first = allocate_pro_rata(fill_quantity=fill_lots * lot, orders=orders, fill_price=fill_price, lot=lot)
    second = allocate_pro_rata(fill_quantity=fill_lots * lot, orders=shuffled, fill_price=fill_price, lot=lot)

    assert first == second


@settings(max_examples=100, deadline=None)
@given(
    rows=order_lists(ids=st.integers(min_value=1, max_value=10_000)),
    lot=LOTS,
    fill_lots=st.integers(min_value=0, max_value=400),
    odd=st.integers(min_value=1, max_value=99),
)
def test_a_part_of_the_fill_smaller_than_a_lot_stays_unallocated(
    rows: list[tuple], lot: Decimal, fill_lots: int, odd: int
) -> None:
    orders = _shares(rows, side=BUY, lot=lot)
    fill = fill_lots * lot + lot * odd / 100  # a dealer's odd partial, not a whole number of lots

    result = allocate_pro_rata(fill_quantity=fill, orders=orders, fill_price=Decimal(100), lot=lot)

    assert result.allocated + result.unallocated == fill
    assert all(quantity % lot == 0 for quantity in result.by_order.values())
    assert result.unallocated >= lot * odd / 100


def test_largest_remainder_gives_the_odd_lot_to_the_largest_remainder() -> None:
    # Given 5 lots over open 4, 2, 2: exact shares 2.5, 1.25, 1.25
    orders = [
        OrderShare(1, Decimal(4), None, BUY),
        OrderShare(2, Decimal(2), None, BUY),
        OrderShare(3, Decimal(2), None, BUY),
    ]

    result = allocate_pro_rata(fill_quantity=Decimal(5), orders=orders, fill_price=Decimal(100), lot=Decimal(1))

    assert result == Allocation(by_order={1: Decimal(3), 2: Decimal(1), 3: Decimal(1)}, unallocated=Decimal(0))


def test_equal_remainders_go_to_the_earliest_order() -> None:
    # Given three equal orders and one lot: every remainder is 1/3, so the lowest id (the earliest order) wins
    orders = [OrderShare(order_id, Decimal(1), None, BUY) for order_id in (7, 3, 5)]

    result = allocate_pro_rata(fill_quantity=Decimal(1), orders=orders, fill_price=Decimal(100), lot=Decimal(1))

    assert result.by_order == {7: Decimal(0), 3: Decimal(1), 5: Decimal(0)}


def test_what_the_limits_leave_is_returned_not_forced() -> None:
    # Given a buy limited at 100.5 and a fill at 101: only the unlimited order may take it
    orders = [OrderShare(1, Decimal(3), Decimal("100.5"), BUY), OrderShare(2, Decimal(2), None, BUY)]

    result = allocate_pro_rata(fill_quantity=Decimal(5), orders=orders, fill_price=Decimal(101), lot=Decimal(1))

    assert result.by_order == {1: Decimal(0), 2: Decimal(2)}
    assert result.unallocated == Decimal(3)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"lot": Decimal(0)}, "lot must be positive"),
        ({"fill_price": Decimal(-1)}, "fill_price must be positive"),
        ({"fill_quantity": Decimal(-1)}, "fill_quantity"),
        ({"orders": [OrderShare(1, Decimal("1.5"), None, BUY)]}, "not a multiple of the lot"),
        ({"orders": [OrderShare(1, Decimal(1), None, BUY), OrderShare(1, Decimal(1), None, BUY)]}, "unique"),
        ({"orders": [OrderShare(1, Decimal(1), None, BUY), OrderShare(2, Decimal(1), None, SELL)]}, "one side"),
    ],
)
def test_bad_allocation_input_is_refused(kwargs: dict, reason: str) -> None:
    arguments = {
        "fill_quantity": Decimal(1),
        "orders": [OrderShare(1, Decimal(1), None, BUY)],
        "fill_price": Decimal(100),
        "lot": Decimal(1),
    } | kwargs

    with pytest.raises(ValueError, match=reason):
        allocate_pro_rata(**arguments)


# --- cross_internally -----------------------------------------------------------------------------------------


def _crossed(result: CrossResult) -> dict[int, Decimal]:
    return result.crossed_by_order()


@settings(max_examples=100, deadline=None)
@given(
    buy_rows=order_lists(ids=st.integers(min_value=1, max_value=5_000)),
    sell_rows=order_lists(ids=st.integers(min_value=5_001, max_value=10_000)),
    lot=LOTS,
    mid=PRICES,
)
def test_crossing_conserves_quantity_at_mid_within_every_limit(
    buy_rows: list[tuple], sell_rows: list[tuple], lot: Decimal, mid: Decimal
) -> None:
    buys, sells = _shares(buy_rows, side=BUY, lot=lot), _shares(sell_rows, side=SELL, lot=lot)

    result = cross_internally(buys=buys, sells=sells, mid=mid, lot=lot)

    by_id = {o.order_id: o for o in [*buys, *sells]}
    crossed = _crossed(result)
    residual = {o.order_id: o.open_quantity for o in [*result.residual_buys, *result.residual_sells]}
    for cross in result.crosses:
        assert cross.price == mid
        assert cross.quantity > 0
        assert cross.quantity % lot == 0
        assert by_id[cross.buy_order_id].side == BUY
        assert by_id[cross.sell_order_id].side == SELL
        assert limit_allows(side=BUY, limit_price=by_id[cross.buy_order_id].limit_price, price=mid)
        assert limit_allows(side=SELL, limit_price=by_id[cross.sell_order_id].limit_price, price=mid)
    buy_total = sum((crossed.get(o.order_id, Decimal(0)) for o in buys), Decimal(0))
    sell_total = sum((crossed.get(o.order_id, Decimal(0)) for o in sells), Decimal(0))
    assert buy_total == sell_total  # every contract bought internally was sold internally
    for order in by_id.values():
        # Each order's open quantity is split exactly into what crossed and what is left for the RFQ
        assert crossed.get(order.order_id, Decimal(0)) + residual.get(order.order_id, Decimal(0)) == order.open_quantity
    eligible_buy = sum((o.open_quantity for o in _eligible(buys, mid)), Decimal(0))
    eligible_sell = sum((o.open_quantity for o in _eligible(sells, mid)), Decimal(0))
    assert buy_total == min(eligible_buy, eligible_sell)  # as much as the limits allow, no less
    still_buy = any(limit_allows(side=BUY, limit_price=o.limit_price, price=mid) for o in result.residual_buys)
    still_sell = any(limit_allows(side=SELL, limit_price=o.limit_price, price=mid) for o in result.residual_sells)
    assert not (still_buy and still_sell)  # nothing left that could still cross


@settings(max_examples=100, deadline=None)
@given(
    buy_rows=order_lists(ids=st.integers(min_value=1, max_value=5_000)),
    sell_rows=order_lists(ids=st.integers(min_value=5_001, max_value=10_000)),
    lot=LOTS,
    mid=PRICES,
)
def test_the_cross_is_shared_pro_rata_within_one_lot(
    buy_rows: list[tuple], sell_rows: list[tuple], lot: Decimal, mid: Decimal
) -> None:
    buys, sells = _shares(buy_rows, side=BUY, lot=lot), _shares(sell_rows, side=SELL, lot=lot)

    result = cross_internally(buys=buys, sells=sells, mid=mid, lot=lot)

    crossed = _crossed(result)
    total = Fraction(sum((c.quantity for c in result.crosses), Decimal(0)))
    for side_orders in (_eligible(buys, mid), _eligible(sells, mid)):
        capacity = sum((Fraction(o.open_quantity) for o in side_orders), Fraction(0))
        for order in side_orders:
            exact = total * Fraction(order.open_quantity) / capacity if capacity else Fraction(0)
            assert abs(Fraction(crossed.get(order.order_id, Decimal(0))) - exact) < Fraction(lot)


def test_three_buys_and_one_sell_cross_the_sell_in_full_at_mid() -> None:
    # Given buys of 6, 3, 3 and a sell of 4, with mid 100
    buys = [
        OrderShare(1, Decimal(6), None, BUY),
        OrderShare(2, Decimal(3), None, BUY),
        OrderShare(3, Decimal(3), None, BUY),
    ]
    sells = [OrderShare(4, Decimal(4), Decimal(99), SELL)]

    result = cross_internally(buys=buys, sells=sells, mid=Decimal(100), lot=Decimal(1))

    assert [(c.buy_order_id, c.sell_order_id, c.quantity, c.price) for c in result.crosses] == [
        (1, 4, Decimal(2), Decimal(100)),
        (2, 4, Decimal(1), Decimal(100)),
        (3, 4, Decimal(1), Decimal(100)),
    ]
    assert [(o.order_id, o.open_quantity) for o in result.residual_buys] == [(1, 4), (2, 2), (3, 2)]
    assert result.residual_sells == []


def test_a_limit_on_the_wrong_side_of_mid_does_not_cross() -> None:
    # Given a buy limited below mid and a sell limited above it
    buys = [OrderShare(1, Decimal(2), Decimal("99.5"), BUY)]
    sells = [OrderShare(2, Decimal(2), Decimal("100.5"), SELL)]

    result = cross_internally(buys=buys, sells=sells, mid=Decimal(100), lot=Decimal(1))

    assert result.crosses == []
    assert result.residual_buys == buys
    assert result.residual_sells == sells


def test_a_sell_among_the_buys_is_refused() -> None:
    with pytest.raises(ValueError, match="buys must all be buys"):
        cross_internally(buys=[OrderShare(1, Decimal(1), None, SELL)], sells=[], mid=Decimal(100), lot=Decimal(1))
