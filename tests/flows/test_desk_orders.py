"""Flow desk orders: each cross or allocation moves the position from the desk's book to the order's account in its
own transaction (a refusal later in it leaves neither); a split's rest worked by a plan has its fills allocated to
the orders and, when the plan ends, hands what is left back to be aggregated again; a plan switched to an RFQ hands
the orders to that RFQ; client accounts' options are not the desk's to hedge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from desk.bus import Phase, subscribers
from desk.market import venue_books_ensure
from desk.models import AuditEvent, VenueBook
from execution import services as execution_services
from execution.models import ExecutionPlan, Fill, PlanStatus, Position
from execution.selectors import option_books
from flows import desk_orders
from rfq import aggregation, services
from rfq.engine.auto import rfq_act
from rfq.engine.lifecycle import rfqs_expire_due
from rfq.models import RFQ, DeskOrder, DeskOrderFill, DeskOrderStatus
from risk.services import kill_switch_engage
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def btc_mid(db) -> Decimal:  # noqa: ANN001
    venue_books_ensure(underlying="BTC", now=datetime.now(UTC))
    mid = VenueBook.objects.filter(underlying="BTC").order_by("pk").first().mid
    factories.validated_price_set(underlying="BTC", price=mid)
    yield mid
    factories.validated_price_clear(underlying="BTC")


@pytest.fixture
def two_buys(trader, instrument, btc_mid) -> list[DeskOrder]:  # noqa: ANN001
    """Two accounts buy 3 and 2 BTC."""
    return [
        factories.desk_order_enter(
            trader=trader, instrument=instrument, account=factories.account_create(code=code), quantity=quantity
        )
        for code, quantity in (("ACC-F-A", "3"), ("ACC-F-B", "2"))
    ]


def _fresh(orders: list[DeskOrder]) -> list[DeskOrder]:
    rows = DeskOrder.objects.in_bulk([order.pk for order in orders])
    return [rows[order.pk] for order in orders]


def test_the_reactions_run_in_the_transaction_of_their_fact() -> None:
    for event, handler in (
        (services.DESK_ORDER_FILL, desk_orders.desk_order_fill_booked),
        (execution_services.PLAN_FILL, desk_orders.plan_fill_allocated),
        (execution_services.PLAN_END, desk_orders.plan_ended),
    ):
        assert (Phase.IN_TRANSACTION, handler) in subscribers(event)


def test_a_window_refused_after_its_crosses_leaves_neither_fill_nor_position(  # noqa: ANN001
    trader, risk_officer, instrument, btc_mid, two_buys
) -> None:
    seller = factories.account_create(code="ACC-F-S")
    factories.desk_order_enter(trader=trader, instrument=instrument, account=seller, side="sell", quantity="1")
    kill_switch_engage(scope="instrument", scope_key=instrument.symbol, reason="bad prints", actor=risk_officer)

    with pytest.raises(aggregation.DeskOrderRefused, match="halted"):
        aggregation.desk_orders_aggregate(instrument=instrument)

    assert not DeskOrderFill.objects.exists()
    assert not Position.objects.exists()
    assert {o.status for o in DeskOrder.objects.all()} == {DeskOrderStatus.NEW}


def test_a_split_rest_worked_by_a_plan_fills_the_orders_and_its_end_hands_the_rest_back(  # noqa: ANN001
    trader, instrument, dealer, btc_mid, two_buys, django_capture_on_commit_callbacks
) -> None:
    # given the two orders in one RFQ of 5, split: 2 taken from the dealer, 3 worked by a plan
    (rfq,) = aggregation.desk_orders_aggregate(instrument=instrument).rfqs
    services.rfq_send(rfq=rfq, dealers=[dealer], actor=trader)
    offer = (btc_mid * Decimal("1.001")).quantize(Decimal("0.01"))
    quote = factories.quote_create(rfq=rfq, dealer=dealer, bid=str(btc_mid - 10), offer=str(offer))
    output = {"action": "split", "fills": [(dealer.code, 2.0, quote.pk)], "algo_quantity": 3.0}
    with django_capture_on_commit_callbacks(execute=True):
        done = rfq_act(rfq=rfq, output=output, actor=trader)
    plan = ExecutionPlan.objects.get(pk=done["plan"])
    assert plan.status == PlanStatus.RUNNING
    assert {o.status for o in _fresh(two_buys)} == {DeskOrderStatus.WORKING}  # a dealer order and a plan work them

    # when the dealer fills its 2 and the plan works a few of its slices
    (dealer_order,) = rfq.quotes.get().dealer_orders.all()
    services.dealer_order_fill(
        dealer=dealer, cl_ord_id=dealer_order.cl_ord_id, exec_id="E1", quantity=Decimal(2), price=offer
    )
    execution_services.plan_work(plan_id=plan.pk, now=datetime.now(UTC) + timedelta(seconds=95))
    plan.refresh_from_db()
    child_fills = list(Fill.objects.filter(child_order__plan=plan))
    assert 0 < plan.filled_quantity < plan.quantity

    # then each plan fill is allocated 3 : 2 over the orders' open quantity, at its own price
    algo = DeskOrderFill.objects.filter(kind="algo")
    assert algo.count() == 2 * len(child_fills)
    assert sum(f.quantity for f in algo) == plan.filled_quantity
    assert {(f.source, f.price) for f in algo} == {(fill.exec_id, fill.price) for fill in child_fills}
    assert {o.status for o in _fresh(two_buys)} == {DeskOrderStatus.WORKING}

    # when the trader cancels the plan, nothing works the rest any more: it goes back to its orders
    execution_services.plan_cancel(plan_id=plan.pk, actor=trader, reason="enough")

    a, b = _fresh(two_buys)
    assert (a.status, b.status) == (DeskOrderStatus.NEW, DeskOrderStatus.NEW)
    assert a.filled_quantity + b.filled_quantity == 2 + plan.filled_quantity
    assert a.filled_quantity / 3 == b.filled_quantity / 2  # pro rata at every step
    # and the desk's book gave on everything it bought: flat
    desk = Position.objects.get(book="desk", instrument=instrument)
    assert desk.quantity == 0
    assert Position.objects.get(book="ACC-F-A", instrument=instrument).quantity == a.filled_quantity
    assert AuditEvent.objects.filter(action="desk_order.release").count() == 2


def test_a_plan_switched_to_an_rfq_hands_its_orders_to_that_rfq(  # noqa: ANN001
    trader, instrument, dealer, btc_mid, two_buys, django_capture_on_commit_callbacks
) -> None:
    # given the two orders' RFQ split: 2 taken from the dealer (not filled yet), 3 worked by a plan
    (rfq,) = aggregation.desk_orders_aggregate(instrument=instrument).rfqs
    services.rfq_send(rfq=rfq, dealers=[dealer], actor=trader)
    offer = (btc_mid * Decimal("1.001")).quantize(Decimal("0.01"))
    quote = factories.quote_create(rfq=rfq, dealer=dealer, bid=str(btc_mid - 10), offer=str(offer))
    output = {"action": "split", "fills": [(dealer.code, 2.0, quote.pk)], "algo_quantity": 3.0}
    with django_capture_on_commit_callbacks(execute=True):
        done = rfq_act(rfq=rfq, output=output, actor=trader)

    # when the plan's rest switches to an RFQ
    plan = execution_services.plan_fallback_to_rfq(plan_id=done["plan"], actor=trader, reason="too thin")

    # then that RFQ holds the orders
    fallback = RFQ.objects.get(pk=plan.fallback_rfq_id)
    assert set(fallback.orders.all()) == set(two_buys)
    assert {o.status for o in _fresh(two_buys)} == {DeskOrderStatus.AGGREGATED}
    # and the dealer's late fill of the first RFQ is still theirs, while the second still asks for the rest
    (dealer_order,) = quote.dealer_orders.all()
    services.dealer_order_fill(
        dealer=dealer, cl_ord_id=dealer_order.cl_ord_id, exec_id="E1", quantity=Decimal(2), price=offer
    )
    assert [o.filled_quantity for o in _fresh(two_buys)] == [Decimal("1.2"), Decimal("0.8")]
    assert {o.status for o in _fresh(two_buys)} == {DeskOrderStatus.AGGREGATED}
    # and when that RFQ ends unfilled, the rest goes back to be aggregated again
    RFQ.objects.filter(pk=fallback.pk).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert rfqs_expire_due() == [fallback.reference]
    assert {o.status for o in _fresh(two_buys)} == {DeskOrderStatus.NEW}
    assert Position.objects.get(book="desk", instrument=instrument).quantity == 0


def test_a_client_accounts_options_are_not_the_desks_to_hedge(instrument) -> None:  # noqa: ANN001
    option = factories.instrument_create(
        symbol="BTC-OPT-F",
        kind="option",
        underlying=instrument,
        strike=Decimal(100_000),
        expiry=datetime.now(UTC) + timedelta(days=30),
        option_type="call",
    )
    account = factories.account_create(code="ACC-F-OPT")
    Position.objects.create(book=account.code, instrument=option, quantity=Decimal(1))
    Position.objects.create(book="desk", instrument=option, quantity=Decimal(-1))

    assert option_books() == [("desk", "BTC")]
