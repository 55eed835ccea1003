"""Aggregation services: desk orders of a window cross at mid, the net goes to one RFQ carrying only the
aggregate, dealer fills are allocated back pro rata in whole lots within every limit, all audited; bad input is
refused naming the field, with nothing stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from desk.audit import chain_verify
from desk.models import Account, AuditEvent, Instrument
from rfq import aggregation, services
from rfq.models import RFQ, DealerOrder, DeskOrder, DeskOrderStatus, Side, Urgency
from tests import factories

pytestmark = pytest.mark.django_db

MID = Decimal(100)
WINDOW = timedelta(seconds=30)
ALPHA = "DealerKey key-alpha:alpha-secret-123"


@pytest.fixture
def lot_instrument(db) -> Instrument:  # noqa: ANN001
    # Whole-contract lots keep the expected pro-rata numbers readable.
    return factories.instrument_create(symbol="ETH-USD-AGG", base_currency="ETH", lot_size=Decimal(1))


@pytest.fixture
def accounts(account) -> list[Account]:  # noqa: ANN001
    return [account, *(factories.account_create(code=f"ACC-AGG-{name}") for name in ("B", "C", "D"))]


def _order(trader, instrument: Instrument, account: Account, side: str, quantity: str, limit: str | None = None):  # noqa: ANN001, ANN202
    return aggregation.desk_order_create(
        account=account,
        instrument=instrument,
        side=side,
        quantity=Decimal(quantity),
        limit_price=None if limit is None else Decimal(limit),
        urgency=Urgency.NORMAL,
        trader=trader,
    )


@pytest.fixture
def window_orders(trader, lot_instrument, accounts) -> list[DeskOrder]:  # noqa: ANN001
    """Three accounts buy 6, 3 (limit 101) and 3; a fourth sells 4 (limit 99)."""
    a, b, c, d = accounts
    return [
        _order(trader, lot_instrument, a, Side.BUY, "6"),
        _order(trader, lot_instrument, b, Side.BUY, "3", limit="101"),
        _order(trader, lot_instrument, c, Side.BUY, "3"),
        _order(trader, lot_instrument, d, Side.SELL, "4", limit="99"),
    ]


def _aggregate(instrument: Instrument, trader) -> aggregation.AggregationResult:  # noqa: ANN001
    return aggregation.desk_orders_aggregate(
        instrument=instrument, window=WINDOW, now=datetime.now(UTC), mid=MID, actor=trader
    )


def _fresh(orders: list[DeskOrder]) -> list[DeskOrder]:
    rows = DeskOrder.objects.in_bulk([order.pk for order in orders])
    return [rows[order.pk] for order in orders]


def _accepted(rfq: RFQ, trader, dealer, offer: str = "100.5") -> DealerOrder:  # noqa: ANN001
    services.rfq_send(rfq=rfq, dealers=[dealer], actor=trader)
    quote = factories.quote_create(rfq=rfq, dealer=dealer, bid="99.5", offer=offer)
    return services.quote_accept(quote=quote, actor=trader)


def _fill(order: DealerOrder, dealer, exec_id: str, quantity: str) -> None:  # noqa: ANN001
    services.dealer_order_fill(
        dealer=dealer, cl_ord_id=order.cl_ord_id, exec_id=exec_id, quantity=Decimal(quantity), price=order.price
    )


def test_desk_order_create_stores_a_new_order_and_audits_it(trader, lot_instrument, account) -> None:  # noqa: ANN001
    order = _order(trader, lot_instrument, account, Side.BUY, "2", limit="100.5")

    assert order.status == DeskOrderStatus.NEW
    assert order.filled_quantity == 0
    event = AuditEvent.objects.get(action="desk_order.create", object_id=str(order.pk))
    assert Decimal(event.after["quantity"]) == 2
    assert event.actor == "user:trader-t"


def test_three_buys_and_a_sell_cross_at_mid_and_the_net_goes_to_one_rfq(trader, lot_instrument, window_orders) -> None:  # noqa: ANN001
    a, b, c, d = window_orders

    result = _aggregate(lot_instrument, trader)

    # The sell of 4 crosses in full at mid, shared pro rata over the buys' 6 : 3 : 3
    assert [(x.buy_order_id, x.sell_order_id, x.quantity, x.price) for x in result.crosses] == [
        (a.pk, d.pk, Decimal(2), MID),
        (b.pk, d.pk, Decimal(1), MID),
        (c.pk, d.pk, Decimal(1), MID),
    ]
    a, b, c, d = _fresh(window_orders)
    assert (d.status, d.filled_quantity) == (DeskOrderStatus.FILLED, Decimal(4))
    assert [(o.status, o.filled_quantity) for o in (a, b, c)] == [
        (DeskOrderStatus.AGGREGATED, Decimal(n)) for n in (2, 1, 1)
    ]
    # One RFQ for the net: buy 12 - 4 = 8, linked to the three buys only
    (rfq,) = result.rfqs
    (leg,) = rfq.legs.all()
    assert (leg.side, leg.quantity, leg.instrument_id) == (Side.BUY, Decimal(8), lot_instrument.pk)
    assert set(rfq.orders.values_list("pk", flat=True)) == {a.pk, b.pk, c.pk}
    assert RFQ.objects.count() == 1
    # Every cross is audited on both orders, at mid, with its counter-order
    crosses = AuditEvent.objects.filter(action=aggregation.CROSS_ACTION).order_by("seq")
    assert [
        (e.object_id, e.after["counter_order"], Decimal(e.after["quantity"]), Decimal(e.after["price"]))
        for e in crosses
    ] == [
        (str(a.pk), d.pk, 2, 100),
        (str(d.pk), a.pk, 2, 100),
        (str(b.pk), d.pk, 1, 100),
        (str(d.pk), b.pk, 1, 100),
        (str(c.pk), d.pk, 1, 100),
        (str(d.pk), c.pk, 1, 100),
    ]
    summary = AuditEvent.objects.get(action="desk_orders.aggregate")
    assert Decimal(summary.after["crossed_quantity"]) == 4
    assert summary.after["rfqs"] == [rfq.reference]
    assert chain_verify().ok


def test_fills_are_allocated_back_pro_rata_exactly_and_audited(trader, lot_instrument, window_orders, dealer) -> None:  # noqa: ANN001
    (rfq,) = _aggregate(lot_instrument, trader).rfqs
    dealer_order = _accepted(rfq, trader, dealer)
    a, b, c, _ = window_orders

    # When the dealer fills 5 of 8: open 4 : 2 : 2 makes exact shares 2.5, 1.25, 1.25 (the fill allocates at once)
    _fill(dealer_order, dealer, "E1", "5")
    again = aggregation.rfq_fill_allocate(dealer_order=dealer_order)

    first = AuditEvent.objects.filter(action=aggregation.ORDER_ALLOCATE_ACTION).order_by("seq")
    assert {int(e.object_id): Decimal(e.after["quantity"]) for e in first} == {
        a.pk: Decimal(3),
        b.pk: Decimal(1),
        c.pk: Decimal(1),
    }
    assert again.by_order == {}  # safe to run twice: the same fill is never allocated twice
    assert [(o.status, o.filled_quantity) for o in _fresh([a, b, c])] == [
        (DeskOrderStatus.WORKING, Decimal(5)),
        (DeskOrderStatus.WORKING, Decimal(2)),
        (DeskOrderStatus.WORKING, Decimal(2)),
    ]

    # When the rest comes: one lot each, and every order is complete
    _fill(dealer_order, dealer, "E2", "3")

    assert all(o.status == DeskOrderStatus.FILLED and o.filled_quantity == o.quantity for o in _fresh([a, b, c]))
    events = AuditEvent.objects.filter(action=aggregation.ALLOCATE_ACTION, object_id=str(dealer_order.pk))
    assert [Decimal(e.after["quantity"]) for e in events.order_by("seq")] == [5, 3]
    assert AuditEvent.objects.filter(action=aggregation.ORDER_ALLOCATE_ACTION).count() == 6
    assert chain_verify().ok


def test_a_fill_price_beyond_an_orders_limit_never_reaches_it(trader, lot_instrument, accounts, dealer) -> None:  # noqa: ANN001
    a, b, _, _ = accounts
    loose = _order(trader, lot_instrument, a, Side.BUY, "4")
    tight = _order(trader, lot_instrument, b, Side.BUY, "2", limit="100.25")
    (rfq,) = _aggregate(lot_instrument, trader).rfqs
    dealer_order = _accepted(rfq, trader, dealer, offer="100.5")

    _fill(dealer_order, dealer, "E1", "6")

    loose, tight = _fresh([loose, tight])
    assert (loose.status, tight.status, tight.filled_quantity) == (
        DeskOrderStatus.FILLED,
        DeskOrderStatus.AGGREGATED,
        Decimal(0),
    )
    assert Decimal(AuditEvent.objects.get(action=aggregation.ALLOCATE_ACTION).after["unallocated"]) == 2


def test_orders_outside_the_window_or_not_marketable_at_mid_are_left_alone(trader, lot_instrument, accounts) -> None:  # noqa: ANN001
    a, b, c, _ = accounts
    old = _order(trader, lot_instrument, a, Side.BUY, "5")
    DeskOrder.objects.filter(pk=old.pk).update(created_at=datetime.now(UTC) - timedelta(minutes=10))
    below_mid = _order(trader, lot_instrument, b, Side.BUY, "2", limit="99.5")
    fresh = _order(trader, lot_instrument, c, Side.BUY, "3")
    other_instrument = _order(trader, factories.instrument_create(symbol="SOL-USD-AGG"), c, Side.BUY, "1")

    result = _aggregate(lot_instrument, trader)

    assert [o.pk for o in result.orders] == [fresh.pk]
    assert [o.pk for o in result.left_new] == [below_mid.pk]
    (rfq,) = result.rfqs
    assert rfq.legs.get().quantity == Decimal(3)
    assert [o.status for o in _fresh([old, below_mid, fresh, other_instrument])] == [
        DeskOrderStatus.NEW,
        DeskOrderStatus.NEW,
        DeskOrderStatus.AGGREGATED,
        DeskOrderStatus.NEW,
    ]


def test_an_empty_window_changes_nothing(trader, lot_instrument) -> None:  # noqa: ANN001
    result = _aggregate(lot_instrument, trader)

    assert result == aggregation.AggregationResult()
    assert not RFQ.objects.exists()
    assert not AuditEvent.objects.filter(action="desk_orders.aggregate").exists()


def test_the_dealer_sees_only_the_aggregate_never_an_account(trader, lot_instrument, window_orders, dealer) -> None:  # noqa: ANN001
    (rfq,) = _aggregate(lot_instrument, trader).rfqs
    services.rfq_send(rfq=rfq, dealers=[dealer], actor=trader)

    listing = Client().get("/api/v1/dealer/rfqs/", HTTP_AUTHORIZATION=ALPHA)
    detail = Client().get(f"/api/v1/dealer/rfqs/{rfq.reference}/", HTTP_AUTHORIZATION=ALPHA)

    assert listing.status_code == detail.status_code == 200
    for text in (listing.content.decode(), detail.content.decode()):
        assert rfq.reference in text
        assert "ACC-" not in text  # no account code: ACC-SECRET-CLIENT, ACC-AGG-B, ...
        assert "Client " not in text  # nor an account's name
    assert "ACC-" not in str(AuditEvent.objects.get(action="rfq.create").after)


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"quantity": Decimal(0)}, {"quantity"}),
        ({"quantity": Decimal(-3)}, {"quantity"}),
        ({"quantity": Decimal("2.5")}, {"quantity"}),  # not a whole lot
        ({"quantity": 2.0}, {"quantity"}),  # a float
        ({"quantity": Decimal("NaN")}, {"quantity"}),
        ({"limit_price": Decimal(0)}, {"limit_price"}),
        ({"side": "hold"}, {"side"}),
        ({"urgency": "asap"}, {"urgency"}),
        ({"side": "short", "quantity": Decimal(0), "limit_price": Decimal(-1)}, {"side", "quantity", "limit_price"}),
    ],
)
def test_bad_desk_order_is_refused_naming_the_field(trader, lot_instrument, account, overrides, fields) -> None:  # noqa: ANN001
    arguments = {
        "account": account,
        "instrument": lot_instrument,
        "side": Side.BUY,
        "quantity": Decimal(2),
        "limit_price": None,
        "urgency": Urgency.NORMAL,
        "trader": trader,
    } | overrides

    with pytest.raises(aggregation.DeskOrderRefused) as refused:
        aggregation.desk_order_create(**arguments)

    assert set(refused.value.message_dict) == fields
    assert not DeskOrder.objects.exists()
    assert not AuditEvent.objects.filter(action="desk_order.create").exists()


def test_an_order_on_a_halted_instrument_or_inactive_account_is_refused(trader, lot_instrument, account) -> None:  # noqa: ANN001
    Instrument.objects.filter(pk=lot_instrument.pk).update(is_active=False)
    Account.objects.filter(pk=account.pk).update(is_active=False)
    lot_instrument.refresh_from_db()
    account.refresh_from_db()

    with pytest.raises(aggregation.DeskOrderRefused) as refused:
        _order(trader, lot_instrument, account, Side.BUY, "1")

    assert set(refused.value.message_dict) == {"instrument", "account"}
    assert "not tradable" in refused.value.message_dict["instrument"][0]
    assert not DeskOrder.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"window": timedelta(0)}, "window"),
        ({"now": datetime(2026, 1, 1, 12, 0)}, "now"),  # noqa: DTZ001 - the naive datetime is the bad input
        ({"mid": Decimal(0)}, "mid"),
    ],
)
def test_bad_aggregation_input_is_refused_and_changes_nothing(
    trader,  # noqa: ANN001
    lot_instrument,  # noqa: ANN001
    window_orders,  # noqa: ANN001
    overrides,  # noqa: ANN001
    field,  # noqa: ANN001
) -> None:
    arguments = {"instrument": lot_instrument, "window": WINDOW, "now": datetime.now(UTC), "mid": MID, "actor": trader}

    with pytest.raises(aggregation.DeskOrderRefused) as refused:
        aggregation.desk_orders_aggregate(**arguments | overrides)

    assert set(refused.value.message_dict) == {field}
    assert not RFQ.objects.exists()
    assert all(o.status == DeskOrderStatus.NEW and o.filled_quantity == 0 for o in _fresh(window_orders))
    assert not AuditEvent.objects.filter(action__in=[aggregation.CROSS_ACTION, "desk_orders.aggregate"]).exists()


def test_aggregation_on_a_halted_instrument_is_refused_whole(trader, lot_instrument, window_orders) -> None:  # noqa: ANN001
    Instrument.objects.filter(pk=lot_instrument.pk).update(is_active=False)

    with pytest.raises(aggregation.DeskOrderRefused, match="not tradable"):
        _aggregate(lot_instrument, trader)

    assert not RFQ.objects.exists()
    assert all(o.status == DeskOrderStatus.NEW for o in _fresh(window_orders))


def test_a_second_aggregation_takes_no_order_twice(trader, lot_instrument, window_orders) -> None:  # noqa: ANN001
    _aggregate(lot_instrument, trader)

    again = _aggregate(lot_instrument, trader)

    assert again == aggregation.AggregationResult()
    assert RFQ.objects.count() == 1
    assert AuditEvent.objects.filter(action=aggregation.CROSS_ACTION).count() == 6


def test_a_dealer_fill_is_allocated_back_to_the_aggregated_orders_at_once(trader, instrument, dealer) -> None:  # noqa: ANN001
    accounts = [factories.account_create() for _ in range(2)]
    for account, quantity in zip(accounts, ("3", "1"), strict=True):
        aggregation.desk_order_create(
            account=account,
            instrument=instrument,
            side="buy",
            quantity=Decimal(quantity),
            limit_price=None,
            urgency="normal",
            trader=trader,
        )
    result = aggregation.desk_orders_aggregate(
        instrument=instrument, window=timedelta(minutes=5), now=datetime.now(UTC), mid=Decimal(100), actor=trader
    )
    (rfq,) = result.rfqs
    services.rfq_send(rfq=rfq, dealers=[dealer], actor=trader)
    quote = factories.quote_create(rfq=rfq, dealer=dealer, offer="100.5")
    order = services.quote_accept(quote=quote, actor=trader)

    services.dealer_order_fill(
        dealer=dealer, cl_ord_id=order.cl_ord_id, exec_id="E1", quantity=Decimal(4), price=Decimal("100.5")
    )

    filled = sorted(o.filled_quantity for o in DeskOrder.objects.filter(rfqs=rfq))
    assert filled == [Decimal(1), Decimal(3)]
    assert set(DeskOrder.objects.filter(rfqs=rfq).values_list("status", flat=True)) == {"filled"}
