"""What an RFQ did not fill goes back to its orders: three buys and a sell of ETH-USD crossed at the validated price,
one RFQ for the net 1.151, 0.777 accepted and allocated in whole lots, and the 0.374 left is aggregated again into a
new RFQ that fills it; no order stays working with nothing working it (a live quote, a dealer order, a plan), a
partly accepted RFQ's last quotes expiring, a last-look reject or an expiry hand the rest back, and the beat finds
what nobody settled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from desk.audit import chain_verify
from desk.models import AuditEvent, Instrument
from execution.models import Position
from rfq import aggregation, services
from rfq.engine.desk_orders import desk_orders_work_all
from rfq.engine.lifecycle import rfqs_expire_due, rfqs_orders_settle_due
from rfq.models import RFQ, DeskOrder, DeskOrderStatus, Quote, QuoteStatus, RFQStatus, Side
from tests import factories

pytestmark = pytest.mark.django_db

PRICE = Decimal(3500)


@pytest.fixture
def eth(db) -> Instrument:  # noqa: ANN001
    factories.validated_price_set(underlying="ETH", price=PRICE)
    yield factories.instrument_create(symbol="ETH-USD", base_currency="ETH", lot_size=Decimal("0.001"))
    factories.validated_price_clear(underlying="ETH")


@pytest.fixture
def orders(trader, eth) -> list[DeskOrder]:  # noqa: ANN001
    """Three accounts buy 0.5, 0.6 and 0.4 ETH; a fourth sells 0.349."""
    accounts = [factories.account_create(code=f"ACC-R-{name}") for name in "ABCD"]
    sides = [(Side.BUY, "0.5"), (Side.BUY, "0.6"), (Side.BUY, "0.4"), (Side.SELL, "0.349")]
    return [
        factories.desk_order_enter(trader=trader, instrument=eth, account=account, side=side, quantity=quantity)
        for account, (side, quantity) in zip(accounts, sides, strict=True)
    ]


def _fresh(orders: list[DeskOrder]) -> list[DeskOrder]:
    rows = DeskOrder.objects.in_bulk([order.pk for order in orders])
    return [rows[order.pk] for order in orders]


def _quote(rfq: RFQ, dealer, offer: str, size: str = "5") -> Quote:  # noqa: ANN001
    quote = factories.quote_create(rfq=rfq, dealer=dealer, bid="3499", offer=offer)
    quote.legs.update(offer_size=Decimal(size))
    return quote


def _take(quote: Quote, trader, dealer, quantity: str, exec_id: str) -> None:  # noqa: ANN001
    order = services.quote_accept(quote=quote, actor=trader, quantity=Decimal(quantity))
    services.dealer_order_fill(
        dealer=dealer, cl_ord_id=order.cl_ord_id, exec_id=exec_id, quantity=Decimal(quantity), price=order.price
    )


def test_the_rest_of_a_partial_accept_is_aggregated_again_and_filled(trader, eth, orders, dealer) -> None:  # noqa: ANN001
    a, b, c, d = orders
    # given the window crossed at the validated price and the net 1.151 in one RFQ
    first = aggregation.desk_orders_aggregate(instrument=eth)
    (rfq,) = first.rfqs
    assert rfq.legs.get().quantity == Decimal("1.151")
    # (0.349 shared over 500 : 600 : 400 lots: 116.3, 139.6, 93.1 -> 116, 140, 93)
    assert [o.filled_quantity for o in _fresh(orders)] == [Decimal(q) for q in ("0.116", "0.140", "0.093", "0.349")]

    # when the dealer's quote is taken for 0.777 of it and filled
    services.rfq_send(rfq=rfq, dealers=[dealer], actor=trader)
    _take(_quote(rfq, dealer, "3501"), trader, dealer, "0.777", "E1")

    # then 0.777 is allocated in whole lots over the open 384 : 460 : 307 (259.2, 310.5, 207.2 -> 259, 311, 207)
    a, b, c, d = _fresh(orders)
    assert [o.filled_quantity for o in (a, b, c)] == [Decimal(q) for q in ("0.375", "0.451", "0.300")]
    # and, no quote left to take and no dealer order working, the 0.374 left goes back to its orders
    rfq.refresh_from_db()
    assert rfq.status == RFQStatus.PARTIALLY_ACCEPTED
    assert "back to its orders" in rfq.close_reason
    assert [o.status for o in (a, b, c, d)] == [DeskOrderStatus.NEW] * 3 + [DeskOrderStatus.FILLED]
    assert sum(o.quantity - o.filled_quantity for o in (a, b, c)) == Decimal("0.374")

    # when the next window aggregates them again: one new RFQ for exactly the rest, nothing crossed twice
    second = aggregation.desk_orders_aggregate(instrument=eth)
    (again,) = second.rfqs
    assert (second.crosses, again.legs.get().quantity) == ([], Decimal("0.374"))
    services.rfq_send(rfq=again, dealers=[dealer], actor=trader)
    _take(_quote(again, dealer, "3502"), trader, dealer, "0.374", "E2")

    # then every order is filled, with its fills and their average price, and the desk's book is flat
    a, b, c, d = _fresh(orders)
    assert all(o.status == DeskOrderStatus.FILLED and o.filled_quantity == o.quantity for o in (a, b, c, d))
    assert [list(o.fills.values_list("kind", "price")) for o in (a,)] == [
        [("cross", PRICE), ("dealer", Decimal(3501)), ("dealer", Decimal(3502))]
    ]
    assert a.average_price == Decimal("3501.018000000000")  # (0.116 × 3500 + 0.259 × 3501 + 0.125 × 3502) / 0.5
    assert d.average_price == PRICE
    desk = Position.objects.get(book="desk", instrument=eth)
    assert desk.quantity == 0
    positions = dict(Position.objects.exclude(book="desk").values_list("book", "quantity"))
    assert positions == {
        "ACC-R-A": Decimal("0.5"),
        "ACC-R-B": Decimal("0.6"),
        "ACC-R-C": Decimal("0.4"),
        "ACC-R-D": -1 * Decimal("0.349"),
    }
    assert AuditEvent.objects.filter(action="desk_order.release").count() == 3
    assert chain_verify().ok


def test_orders_stay_in_a_partly_accepted_rfq_while_a_quote_is_there_to_take(  # noqa: ANN001
    trader, eth, orders, dealer, other_dealer
) -> None:
    (rfq,) = aggregation.desk_orders_aggregate(instrument=eth).rfqs
    services.rfq_send(rfq=rfq, dealers=[dealer, other_dealer], actor=trader)
    other = _quote(rfq, other_dealer, "3503")

    _take(_quote(rfq, dealer, "3501"), trader, dealer, "0.777", "E1")

    # another live quote could still take the rest: the orders stay in the RFQ, and the sweep leaves them
    assert rfqs_orders_settle_due() == []
    assert {o.status for o in _fresh(orders[:3])} == {DeskOrderStatus.AGGREGATED}

    # when that quote expires, the beat's sweep hands the rest back, and the expired quote can no longer be taken
    Quote.objects.filter(pk=other.pk).update(valid_until=datetime.now(UTC) - timedelta(seconds=1))
    assert rfqs_orders_settle_due() == [rfq.reference]
    assert {o.status for o in _fresh(orders[:3])} == {DeskOrderStatus.NEW}
    other.refresh_from_db()
    assert other.status == QuoteStatus.EXPIRED
    with pytest.raises(services.QuoteRefused):
        services.quote_accept(quote=other, actor=trader, quantity=Decimal("0.1"))


def test_an_accepted_but_unfilled_rfq_keeps_its_orders_working_until_the_dealer_answers(  # noqa: ANN001
    trader, eth, orders, dealer
) -> None:
    (rfq,) = aggregation.desk_orders_aggregate(instrument=eth).rfqs
    services.rfq_send(rfq=rfq, dealers=[dealer], actor=trader)
    dealer_order = services.quote_accept(quote=_quote(rfq, dealer, "3501"), actor=trader)

    # the RFQ no longer asks; the dealer order works the whole size
    assert rfqs_orders_settle_due() == []
    assert {o.status for o in _fresh(orders[:3])} == {DeskOrderStatus.WORKING}

    # when the dealer rejects it on last look, nothing works them any more: they go back
    services.dealer_order_reject(dealer=dealer, cl_ord_id=dealer_order.cl_ord_id, reason="price moved")

    assert {o.status for o in _fresh(orders[:3])} == {DeskOrderStatus.NEW}
    rfq.refresh_from_db()
    assert rfq.status == RFQStatus.REJECTED


def test_an_expired_rfq_hands_its_orders_back_and_the_next_window_asks_again(trader, eth, orders, dealer) -> None:  # noqa: ANN001
    (rfq,) = aggregation.desk_orders_aggregate(instrument=eth).rfqs
    services.rfq_send(rfq=rfq, dealers=[dealer], actor=trader)
    RFQ.objects.filter(pk=rfq.pk).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))

    assert rfqs_expire_due() == [rfq.reference]

    assert {o.status for o in _fresh(orders[:3])} == {DeskOrderStatus.NEW}
    (again,) = aggregation.desk_orders_aggregate(instrument=eth).rfqs
    assert again.legs.get().quantity == Decimal("1.151")
    assert set(again.orders.all()) == set(orders[:3])


def test_the_beat_run_crosses_sends_the_rest_and_cancels_what_cannot_be_sent(trader, eth, orders, dealer) -> None:  # noqa: ANN001
    (run,) = desk_orders_work_all(actor="system:aggregation")

    assert run.instrument == "ETH-USD"
    (reference,) = run.sent
    rfq = RFQ.objects.get(reference=reference)
    assert rfq.status == RFQStatus.SENT
    assert rfq.quote_requests.get().dealer == dealer
    assert rfq.created_by == trader
    assert {o.status for o in _fresh(orders[:3])} == {DeskOrderStatus.AGGREGATED}

    # when no dealer can be asked, the RFQ made is cancelled at once and its orders wait for the next window
    RFQ.objects.filter(pk=rfq.pk).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    rfqs_expire_due()
    dealer.status = "suspended"
    dealer.save(update_fields=["status"])
    (run,) = desk_orders_work_all(actor="system:aggregation")

    (cancelled,) = run.cancelled
    assert "no dealer can be asked" in run.cancelled[cancelled]
    assert RFQ.objects.get(reference=cancelled).status == RFQStatus.CANCELLED
    assert {o.status for o in _fresh(orders[:3])} == {DeskOrderStatus.NEW}


def test_the_beat_run_says_why_it_waits_without_a_validated_price(trader, eth, orders) -> None:  # noqa: ANN001
    factories.validated_price_clear(underlying="ETH")

    (run,) = desk_orders_work_all(actor="system:aggregation")

    assert run.result is None
    assert "no fresh price validated by the market-health monitor for ETH" in run.refused
    assert {o.status for o in _fresh(orders)} == {DeskOrderStatus.NEW}


def test_the_window_is_a_beat_task_that_runs_the_same_work(settings, trader, eth, orders, dealer) -> None:  # noqa: ANN001
    from rfq.tasks import desk_orders_aggregate_task

    entry = settings.CELERY_BEAT_SCHEDULE["desk-orders-aggregate"]
    assert (entry["task"], entry["schedule"]) == (desk_orders_aggregate_task.name, settings.DESK_ORDERS_WINDOW_S)

    done = desk_orders_aggregate_task()
    again = desk_orders_aggregate_task()  # safe to run twice: nothing new the second time

    assert len(done["ETH-USD"]["sent"]) == 1
    assert again == {}
    assert RFQ.objects.count() == 1
