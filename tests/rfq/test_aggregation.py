"""Aggregation services: the desk orders waiting cross at the validated price (never a caller's number), the net goes
to one RFQ carrying only the aggregate, dealer fills are allocated back pro rata in whole lots within every limit,
each cross and allocation moves the position from the desk's book to the order's account, all audited; bad input
is refused naming the field, audited, with nothing stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from desk.audit import chain_verify
from desk.models import Account, AuditEvent, Instrument
from execution.models import Position
from rfq import aggregation, services
from rfq.models import RFQ, DealerOrder, DeskOrder, DeskOrderFill, DeskOrderStatus, Side, Urgency
from tests import factories

pytestmark = pytest.mark.django_db

PRICE = Decimal(100)
ALPHA = "DealerKey key-alpha:alpha-secret-123"


@pytest.fixture
def lot_instrument(db) -> Instrument:  # noqa: ANN001
    # Whole-contract lots keep the expected pro-rata numbers readable.
    return factories.instrument_create(symbol="ETH-USD-AGG", base_currency="ETH", lot_size=Decimal(1))


@pytest.fixture(autouse=True)
def validated_eth():  # noqa: ANN201
    """The market-health monitor's price of ETH, fresh: 100."""
    factories.validated_price_set(underlying="ETH", price=PRICE)
    yield
    factories.validated_price_clear(underlying="ETH")


@pytest.fixture
def accounts(account) -> list[Account]:  # noqa: ANN001
    return [account, *(factories.account_create(code=f"ACC-AGG-{name}") for name in ("B", "C", "D"))]


def _order(trader, instrument: Instrument, account: Account, side: str, quantity: str, limit: str | None = None):  # noqa: ANN001, ANN202
    return factories.desk_order_enter(
        trader=trader, instrument=instrument, account=account, side=side, quantity=quantity, limit=limit
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
    return aggregation.desk_orders_aggregate(instrument=instrument, now=datetime.now(UTC), actor=trader)


def _fresh(orders: list[DeskOrder]) -> list[DeskOrder]:
    rows = DeskOrder.objects.in_bulk([order.pk for order in orders])
    return [rows[order.pk] for order in orders]


def _position(book: str, instrument: Instrument) -> tuple[Decimal, Decimal]:
    row = Position.objects.filter(book=book, instrument=instrument).first()
    return (row.quantity, row.average_price) if row else (Decimal(0), Decimal(0))


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
    assert order.position_book == account.code
    event = AuditEvent.objects.get(action="desk_order.create", object_id=str(order.pk))
    assert Decimal(event.after["quantity"]) == 2
    assert Decimal(event.after["validated_price"]) == PRICE
    assert event.actor == "user:trader-t"


def test_a_desk_order_for_one_of_the_desks_books(trader, lot_instrument, settings) -> None:  # noqa: ANN001
    settings.RISK_BOOKS = ("desk", "FLOW")

    order = factories.desk_order_enter(trader=trader, instrument=lot_instrument, book="FLOW", quantity="2")

    assert (order.account, order.book, order.position_book) == (None, "FLOW", "FLOW")


def test_three_buys_and_a_sell_cross_at_the_validated_price_and_the_net_goes_to_one_rfq(
    trader,  # noqa: ANN001
    lot_instrument,  # noqa: ANN001
    window_orders,  # noqa: ANN001
    accounts,  # noqa: ANN001
) -> None:
    a, b, c, d = window_orders

    result = _aggregate(lot_instrument, trader)

    # The sell of 4 crosses in full at the validated price, shared pro rata over the buys' 6 : 3 : 3
    assert result.price == PRICE
    assert [(x.buy_order_id, x.sell_order_id, x.quantity, x.price) for x in result.crosses] == [
        (a.pk, d.pk, Decimal(2), PRICE),
        (b.pk, d.pk, Decimal(1), PRICE),
        (c.pk, d.pk, Decimal(1), PRICE),
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
    # Each side of each cross is a fill of its order at the validated price, and the positions went straight to
    # the accounts: the desk's book is no party to a cross
    assert [(f.order_id, f.kind, f.quantity, f.price) for f in DeskOrderFill.objects.order_by("id")] == [
        (a.pk, "cross", Decimal(2), PRICE),
        (d.pk, "cross", Decimal(2), PRICE),
        (b.pk, "cross", Decimal(1), PRICE),
        (d.pk, "cross", Decimal(1), PRICE),
        (c.pk, "cross", Decimal(1), PRICE),
        (d.pk, "cross", Decimal(1), PRICE),
    ]
    assert [_position(account.code, lot_instrument)[0] for account in accounts] == [2, 1, 1, -4]
    assert _position("desk", lot_instrument) == (0, 0)
    assert d.average_price == PRICE
    # Every cross is audited on both orders, at the validated price, with its counter-order
    crosses = AuditEvent.objects.filter(action=aggregation.CROSS_ACTION).order_by("id")
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
    assert Decimal(summary.after["price"]) == PRICE
    assert summary.after["rfqs"] == [rfq.reference]
    assert chain_verify().ok


def test_the_crossing_price_follows_the_monitor_not_the_entry(trader, lot_instrument, accounts) -> None:  # noqa: ANN001
    a, b, _, _ = accounts
    _order(trader, lot_instrument, a, Side.BUY, "2")
    _order(trader, lot_instrument, b, Side.SELL, "2")
    # the monitor's price moves after the orders came in (to 8 decimals, as every database keeps it exactly)
    factories.validated_price_set(underlying="ETH", price="100.412345678912")

    result = _aggregate(lot_instrument, trader)

    assert [cross.price for cross in result.crosses] == [Decimal("100.41234568")]
    assert set(DeskOrderFill.objects.values_list("price", flat=True)) == {Decimal("100.41234568")}
    assert {o.average_price for o in DeskOrder.objects.all()} == {Decimal("100.41234568")}


def test_fills_are_allocated_back_pro_rata_exactly_and_move_the_position(  # noqa: ANN001
    trader, lot_instrument, window_orders, accounts, dealer
) -> None:
    (rfq,) = _aggregate(lot_instrument, trader).rfqs
    dealer_order = _accepted(rfq, trader, dealer)
    a, b, c, _ = window_orders

    # When the dealer fills 5 of 8: open 4 : 2 : 2 makes exact shares 2.5, 1.25, 1.25 (the fill allocates at once)
    _fill(dealer_order, dealer, "E1", "5")
    again = aggregation.rfq_fill_allocate(dealer_order=dealer_order)

    first = AuditEvent.objects.filter(action=aggregation.ORDER_ALLOCATE_ACTION).order_by("id")
    assert {int(e.object_id): Decimal(e.after["quantity"]) for e in first} == {
        a.pk: Decimal(3),
        b.pk: Decimal(1),
        c.pk: Decimal(1),
    }
    assert again.by_order == {}  # safe to run twice: the same fill is never allocated twice
    # the RFQ no longer asks, the dealer order still works the rest: the orders are working
    assert [(o.status, o.filled_quantity) for o in _fresh([a, b, c])] == [
        (DeskOrderStatus.WORKING, Decimal(5)),
        (DeskOrderStatus.WORKING, Decimal(2)),
        (DeskOrderStatus.WORKING, Decimal(2)),
    ]
    # the desk's book bought 5 from the dealer and gave them on at the dealer's price: flat
    assert _position("desk", lot_instrument)[0] == 0
    assert _position(accounts[0].code, lot_instrument) == (Decimal(5), Decimal("100.3"))  # 2 @ 100, 3 @ 100.5

    # When the rest comes: one lot each, and every order is complete, with its fills and average price
    _fill(dealer_order, dealer, "E2", "3")

    a, b, c = _fresh([a, b, c])
    assert all(o.status == DeskOrderStatus.FILLED and o.filled_quantity == o.quantity for o in (a, b, c))
    assert [o.average_price for o in (a, b, c)] == [
        Decimal("100.333333333333"),  # 2 @ 100 + 4 @ 100.5 over 6
        Decimal("100.333333333333"),  # 1 @ 100 + 2 @ 100.5 over 3
        Decimal("100.333333333333"),
    ]
    assert list(a.fills.values_list("kind", "quantity")) == [
        ("cross", Decimal(2)),
        ("dealer", Decimal(3)),
        ("dealer", Decimal(1)),
    ]
    assert _position("desk", lot_instrument)[0] == 0
    assert [_position(account.code, lot_instrument)[0] for account in accounts] == [6, 3, 3, -4]
    events = AuditEvent.objects.filter(action=aggregation.ALLOCATE_ACTION, object_id=str(dealer_order.pk))
    assert [Decimal(e.after["quantity"]) for e in events.order_by("id")] == [5, 3]
    assert AuditEvent.objects.filter(action=aggregation.ORDER_ALLOCATE_ACTION).count() == 6
    assert chain_verify().ok


def test_a_fill_price_beyond_an_orders_limit_never_reaches_it_and_its_rest_goes_back(  # noqa: ANN001
    trader, lot_instrument, accounts, dealer
) -> None:
    a, b, _, _ = accounts
    loose = _order(trader, lot_instrument, a, Side.BUY, "4")
    tight = _order(trader, lot_instrument, b, Side.BUY, "2", limit="100.25")
    (rfq,) = _aggregate(lot_instrument, trader).rfqs
    dealer_order = _accepted(rfq, trader, dealer, offer="100.5")

    _fill(dealer_order, dealer, "E1", "6")

    loose, tight = _fresh([loose, tight])
    assert (loose.status, tight.filled_quantity) == (DeskOrderStatus.FILLED, Decimal(0))
    assert Decimal(AuditEvent.objects.get(action=aggregation.ALLOCATE_ACTION).after["unallocated"]) == 2
    # the two lots no order could take stay in the desk's book; the tight order goes back to be aggregated again
    assert _position("desk", lot_instrument) == (Decimal(2), Decimal("100.5"))
    assert tight.status == DeskOrderStatus.NEW
    release = AuditEvent.objects.get(action="desk_order.release", object_id=str(tight.pk))
    assert (release.after["rfq"], Decimal(release.after["left"])) == (rfq.reference, 2)


def test_orders_not_marketable_at_the_validated_price_or_on_another_instrument_are_left_alone(  # noqa: ANN001
    trader, lot_instrument, accounts
) -> None:
    a, b, c, _ = accounts
    earlier = _order(trader, lot_instrument, a, Side.BUY, "5")
    DeskOrder.objects.filter(pk=earlier.pk).update(created_at=datetime.now(UTC) - timedelta(minutes=10))
    limited = _order(trader, lot_instrument, b, Side.BUY, "2", limit="100.2")
    fresh = _order(trader, lot_instrument, c, Side.BUY, "3")
    sol = factories.instrument_create(symbol="SOL-USD-AGG", base_currency="SOL", lot_size=Decimal(1))
    other_instrument = _order(trader, sol, c, Side.BUY, "1", limit="150")  # no validated SOL price: its limit prices it
    # the market moves up through the buy's limit before the window closes
    factories.validated_price_set(underlying="ETH", price="100.5")

    result = _aggregate(lot_instrument, trader)

    assert [o.pk for o in result.orders] == [earlier.pk, fresh.pk]
    assert [o.pk for o in result.left_new] == [limited.pk]
    (rfq,) = result.rfqs
    assert rfq.legs.get().quantity == Decimal(8)
    assert [o.status for o in _fresh([earlier, limited, fresh, other_instrument])] == [
        DeskOrderStatus.AGGREGATED,
        DeskOrderStatus.NEW,
        DeskOrderStatus.AGGREGATED,
        DeskOrderStatus.NEW,
    ]


def test_an_empty_window_changes_nothing(trader, lot_instrument) -> None:  # noqa: ANN001
    result = _aggregate(lot_instrument, trader)

    assert result == aggregation.AggregationResult(price=PRICE)
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
        ({"limit_price": Decimal("99.9")}, {"limit_price"}),  # a buy below the validated price
        ({"side": Side.SELL, "limit_price": Decimal("100.1")}, {"limit_price"}),  # a sell above it
        ({"side": "hold"}, {"side"}),
        ({"urgency": "asap"}, {"urgency"}),
        ({"account": None}, {"account"}),  # neither an account nor a book
        ({"book": "FLOW"}, {"book"}),  # both
        ({"account": None, "book": "desk"}, {"book"}),  # the desk's own book
        ({"account": None, "book": "NO-SUCH-BOOK"}, {"book"}),  # a book the desk does not have
        ({"side": "short", "quantity": Decimal(0), "limit_price": Decimal(-1)}, {"side", "quantity", "limit_price"}),
    ],
)
def test_bad_desk_order_is_refused_naming_the_field_and_audited(  # noqa: ANN001
    trader, lot_instrument, account, overrides, fields
) -> None:
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
    audit = AuditEvent.objects.get(action="desk_order.refused")
    assert set(audit.after["errors"]) == fields
    assert audit.after["submitted"]["instrument"] == lot_instrument.symbol
    assert chain_verify().ok


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


def test_codes_that_name_nothing_are_refused_on_their_fields(trader, lot_instrument) -> None:  # noqa: ANN001
    with pytest.raises(aggregation.DeskOrderRefused) as refused:
        services.desk_order_enter(
            trader=trader, instrument="NOPE-USD", side="buy", quantity=Decimal(-1), account="ACC-NOBODY"
        )

    assert refused.value.message_dict == {
        "instrument": ["unknown instrument 'NOPE-USD'"],
        "account": ["unknown account 'ACC-NOBODY'"],
        "quantity": ["quantity must be positive, got -1"],
    }
    assert not DeskOrder.objects.exists()
    assert AuditEvent.objects.get(action="desk_order.refused").after["submitted"]["account"] == "ACC-NOBODY"


def test_aggregation_without_a_fresh_validated_price_is_refused_and_changes_nothing(  # noqa: ANN001
    trader, lot_instrument, window_orders
) -> None:
    factories.validated_price_clear(underlying="ETH")

    with pytest.raises(aggregation.DeskOrderRefused) as refused:
        _aggregate(lot_instrument, trader)

    assert set(refused.value.message_dict) == {"price"}
    assert "no fresh price validated" in refused.value.message_dict["price"][0]
    # a price the monitor published too long ago is not fresh either
    factories.validated_price_set(underlying="ETH", price=PRICE)
    with pytest.raises(aggregation.DeskOrderRefused, match="no fresh price"):
        aggregation.desk_orders_aggregate(instrument=lot_instrument, now=datetime.now(UTC) + timedelta(seconds=30))
    assert not RFQ.objects.exists()
    assert all(o.status == DeskOrderStatus.NEW and o.filled_quantity == 0 for o in _fresh(window_orders))
    assert not DeskOrderFill.objects.exists()
    assert not AuditEvent.objects.filter(action__in=[aggregation.CROSS_ACTION, "desk_orders.aggregate"]).exists()


def test_a_naive_time_is_refused(lot_instrument, window_orders) -> None:  # noqa: ANN001
    with pytest.raises(aggregation.DeskOrderRefused) as refused:
        aggregation.desk_orders_aggregate(instrument=lot_instrument, now=datetime(2026, 1, 1, 12, 0))  # noqa: DTZ001

    assert set(refused.value.message_dict) == {"now"}


def test_aggregation_on_a_halted_instrument_is_refused_whole(trader, lot_instrument, window_orders) -> None:  # noqa: ANN001
    Instrument.objects.filter(pk=lot_instrument.pk).update(is_active=False)

    with pytest.raises(aggregation.DeskOrderRefused, match="not tradable"):
        _aggregate(lot_instrument, trader)

    assert not RFQ.objects.exists()
    assert all(o.status == DeskOrderStatus.NEW for o in _fresh(window_orders))


def test_a_second_aggregation_takes_no_order_twice(trader, lot_instrument, window_orders) -> None:  # noqa: ANN001
    _aggregate(lot_instrument, trader)

    again = _aggregate(lot_instrument, trader)

    assert again == aggregation.AggregationResult(price=PRICE)
    assert RFQ.objects.count() == 1
    assert AuditEvent.objects.filter(action=aggregation.CROSS_ACTION).count() == 6


def test_urgency_sets_the_rfqs_risk_aversion(trader, lot_instrument, accounts) -> None:  # noqa: ANN001
    a, b, _, _ = accounts
    factories.desk_order_enter(trader=trader, instrument=lot_instrument, account=a, quantity="1", urgency="low")
    factories.desk_order_enter(trader=trader, instrument=lot_instrument, account=b, quantity="1", urgency="high")

    (rfq,) = _aggregate(lot_instrument, trader).rfqs

    assert rfq.risk_aversion == aggregation.URGENCY_RISK_AVERSION[Urgency.HIGH]


def test_option_orders_are_never_crossed_each_side_is_asked(trader, lot_instrument, accounts) -> None:  # noqa: ANN001
    option = factories.instrument_create(
        symbol="ETH-OPT-AGG",
        kind="option",
        base_currency="ETH",
        underlying=lot_instrument,
        lot_size=Decimal(1),
        strike=Decimal(100),
        expiry=datetime.now(UTC) + timedelta(days=30),
        option_type="call",
    )
    a, b, _, _ = accounts
    buy = factories.desk_order_enter(trader=trader, instrument=option, account=a, quantity="2", limit="5")
    sell = factories.desk_order_enter(trader=trader, instrument=option, account=b, side="sell", quantity="1", limit="4")

    result = _aggregate(option, trader)

    assert (result.crosses, result.price) == ([], None)
    assert sorted((r.legs.get().side, r.legs.get().quantity) for r in result.rfqs) == [
        ("buy", Decimal(2)),
        ("sell", Decimal(1)),
    ]
    assert {o.status for o in _fresh([buy, sell])} == {DeskOrderStatus.AGGREGATED}


def test_a_dealer_fill_is_allocated_back_to_the_aggregated_orders_at_once(trader, instrument, dealer) -> None:  # noqa: ANN001
    factories.validated_price_set(underlying="BTC", price=PRICE)
    accounts = [factories.account_create() for _ in range(2)]
    for account, quantity in zip(accounts, ("3", "1"), strict=True):
        factories.desk_order_enter(trader=trader, instrument=instrument, account=account, quantity=quantity)
    (rfq,) = aggregation.desk_orders_aggregate(instrument=instrument).rfqs
    services.rfq_send(rfq=rfq, dealers=[dealer], actor=trader)
    quote = factories.quote_create(rfq=rfq, dealer=dealer, offer="100.5")
    order = services.quote_accept(quote=quote, actor=trader)

    services.dealer_order_fill(
        dealer=dealer, cl_ord_id=order.cl_ord_id, exec_id="E1", quantity=Decimal(4), price=Decimal("100.5")
    )

    filled = sorted(o.filled_quantity for o in DeskOrder.objects.filter(rfqs=rfq))
    assert filled == [Decimal(1), Decimal(3)]
    assert set(DeskOrder.objects.filter(rfqs=rfq).values_list("status", flat=True)) == {"filled"}
    factories.validated_price_clear(underlying="BTC")
