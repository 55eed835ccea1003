"""Flow rfq.dealer_fill: a dealer's fill books the desk's fill and position together, and queues the delta hedge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from desk.bus import Phase, subscribers
from desk.models import InstrumentKind
from execution import hedging_tasks
from execution.models import Fill, Position
from flows.dealer_fill import dealer_fill_booked
from rfq import services
from rfq.models import DealerOrderStatus
from risk.orders import DEFAULT_BOOK
from tests import factories

pytestmark = pytest.mark.django_db


def test_the_flow_reacts_inside_the_fills_transaction() -> None:
    assert (Phase.IN_TRANSACTION, dealer_fill_booked) in subscribers(services.DEALER_FILL)


def test_a_dealer_fill_books_the_fill_and_the_position_once(trader, instrument, dealer) -> None:  # noqa: ANN001
    # given an accepted quote for 5
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])
    order = services.quote_accept(quote=factories.quote_create(rfq=rfq, dealer=dealer, offer="101"), actor=trader)

    # when the dealer fills it, and repeats the same ExecID
    fill = services.dealer_order_fill(
        dealer=dealer, cl_ord_id=order.cl_ord_id, exec_id="E1", quantity=Decimal(5), price=Decimal(101)
    )
    again = services.dealer_order_fill(
        dealer=dealer, cl_ord_id=order.cl_ord_id, exec_id="E1", quantity=Decimal(5), price=Decimal(101)
    )

    # then one fill and the book's position are booked, and the repeat returns the same fill
    assert isinstance(fill, Fill)
    assert again.pk == fill.pk
    assert (fill.exec_id, fill.quote_id, fill.side, fill.quantity) == ("ALPHA:E1", order.quote_id, "buy", Decimal(5))
    position = Position.objects.get(book=DEFAULT_BOOK, instrument=instrument)
    assert (position.quantity, position.average_price) == (Decimal(5), Decimal(101))
    order.refresh_from_db()
    assert order.status == DealerOrderStatus.FILLED


def test_an_options_fill_queues_the_delta_hedge_after_commit(  # noqa: ANN001
    trader, dealer, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    # given an accepted quote on a BTC call
    perp = factories.instrument_create(symbol="BTC-PERP-F", kind=InstrumentKind.PERPETUAL)
    call = factories.instrument_create(
        symbol="BTC-100000-C-F",
        kind=InstrumentKind.OPTION,
        underlying=perp,
        strike=Decimal(100_000),
        expiry=datetime.now(UTC) + timedelta(days=30),
        option_type="call",
        lot_size=Decimal("0.1"),
    )
    rfq = factories.rfq_create(trader=trader, instrument=call, dealers=[dealer], quantity="1")
    order = services.quote_accept(quote=factories.quote_create(rfq=rfq, dealer=dealer, offer="2500"), actor=trader)
    queued: list[tuple] = []
    monkeypatch.setattr(hedging_tasks.delta_hedge, "delay", lambda *args: queued.append(args))

    # when the dealer fills it
    with django_capture_on_commit_callbacks(execute=True):
        services.dealer_order_fill(
            dealer=dealer, cl_ord_id=order.cl_ord_id, exec_id="E1", quantity=Decimal(1), price=Decimal(2500)
        )

    # then the position is booked and a hedge of the book's BTC delta is queued for the RFQ's trader
    assert Position.objects.get(book=DEFAULT_BOOK, instrument=call).quantity == Decimal(1)
    assert queued == [(DEFAULT_BOOK, "BTC", trader.get_username())]


def test_a_refused_fill_books_nothing(trader, instrument, dealer) -> None:  # noqa: ANN001
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])
    order = services.quote_accept(quote=factories.quote_create(rfq=rfq, dealer=dealer, offer="101"), actor=trader)

    with pytest.raises(services.QuoteRefused):
        services.dealer_order_fill(
            dealer=dealer, cl_ord_id=order.cl_ord_id, exec_id="E1", quantity=Decimal(6), price=Decimal(101)
        )

    assert not Fill.objects.exists()
    assert not Position.objects.exists()
