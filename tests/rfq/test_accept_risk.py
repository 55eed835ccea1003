"""Every RFQ acceptance passes the pre-trade check before the dealer order leaves: a single leg, a package taken
whole (every leg must pass) and a leg taken under legging; a refusal names the limit and the figures, is audited,
and stores nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from desk.audit import actor_label
from desk.market import venue_books_ensure
from desk.models import AuditEvent, InstrumentKind, VenueBook
from rfq.models import DealerOrder, QuoteRequest, QuoteStatus, RFQStatus
from rfq.selectors import dealer_exposure
from rfq.services import LegInput, QuoteLegInput, QuoteRefused, quote_accept, quote_receive, rfq_create, rfq_send
from risk.models import LimitKind, LimitScope
from risk.services import scope_state_set
from tests import factories
from tests.risk.factories import limit_create, position_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def market(db) -> Decimal:  # noqa: ANN001
    venue_books_ensure(underlying="BTC", now=datetime.now(UTC))
    return VenueBook.objects.filter(underlying="BTC").order_by("pk").first().mid


@pytest.fixture
def sent_rfq(trader, instrument, dealer):  # noqa: ANN001, ANN201
    return factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer], quantity="5")


def _nothing_stored(rfq) -> None:  # noqa: ANN001
    rfq.refresh_from_db()
    assert not DealerOrder.objects.exists()
    assert rfq.status == RFQStatus.QUOTED
    assert not AuditEvent.objects.filter(action="quote.accept").exists()


def test_a_single_leg_over_the_notional_limit_is_refused_naming_it_and_audited(sent_rfq, dealer, trader) -> None:  # noqa: ANN001
    # given a desk limit of 400 per order and a quote offering 5 at 101 (505)
    limit_create(scope=LimitScope.DESK, kind=LimitKind.MAX_ORDER_NOTIONAL, value="400")
    quote = factories.quote_create(rfq=sent_rfq, dealer=dealer, offer="101")

    with pytest.raises(QuoteRefused) as refused:
        quote_accept(quote=quote, actor=trader)

    message = " ".join(refused.value.messages)
    assert "max_order_notional" in message
    assert "limit 400" in message
    assert "505" in message
    _nothing_stored(sent_rfq)
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.LIVE
    event = AuditEvent.objects.get(action="risk.refused")
    assert event.actor == actor_label(trader)
    assert event.after["limit"] == "max_order_notional"
    assert (event.after["observed"], event.after["threshold"]) == (505.0, 400.0)
    assert event.after["order"]["reference"].startswith(sent_rfq.reference)
    # and a part of the quote within the limit is taken (3 × 101 = 303)
    order = quote_accept(quote=quote, actor="system:auto", quantity=Decimal(3))
    assert order.quantity == Decimal(3)


def test_with_no_limit_the_acceptance_is_unchanged(sent_rfq, dealer, trader) -> None:  # noqa: ANN001
    quote = factories.quote_create(rfq=sent_rfq, dealer=dealer, offer="101")

    order = quote_accept(quote=quote, actor=trader)

    assert (order.quantity, order.price) == (Decimal(5), Decimal(101))
    assert not AuditEvent.objects.filter(action="risk.refused").exists()


def test_a_halted_or_reducing_scope_refuses_a_growing_acceptance(sent_rfq, dealer, trader, risk_officer) -> None:  # noqa: ANN001
    scope_state_set(scope="book", scope_key="desk", state="reducing", reason="drill", actor=risk_officer)
    quote = factories.quote_create(rfq=sent_rfq, dealer=dealer)

    with pytest.raises(QuoteRefused, match="scope_reducing: book:desk is REDUCING"):
        quote_accept(quote=quote, actor=trader)
    _nothing_stored(sent_rfq)

    # Halting the scope cancels its open RFQs (and their quotes): nothing can be taken any more.
    scope_state_set(scope="book", scope_key="desk", state="halted", reason="drill", actor=risk_officer)
    with pytest.raises(QuoteRefused, match="cancelled"):
        quote_accept(quote=quote, actor=trader)
    sent_rfq.refresh_from_db()
    assert sent_rfq.status == RFQStatus.CANCELLED
    assert not DealerOrder.objects.exists()


def test_a_reducing_scope_lets_a_sale_that_shrinks_the_long_position_through(  # noqa: PLR0913
    trader, instrument, dealer, risk_officer
) -> None:  # noqa: ANN001
    position_create(instrument=instrument, quantity="8")
    scope_state_set(scope="desk", scope_key="", state="reducing", reason="loss", actor=risk_officer)
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer], side="sell", quantity="5")

    order = quote_accept(quote=factories.quote_create(rfq=rfq, dealer=dealer), actor=trader)

    assert order.side == "sell"


def test_the_dealer_exposure_counts_its_open_and_todays_orders(trader, instrument, dealer, other_dealer) -> None:  # noqa: ANN001
    # given a limit of 1 000 per dealer: ALPHA already has 5 × 101 = 505 open with the desk
    limit_create(scope=LimitScope.DEALER, scope_key="ALPHA", kind=LimitKind.MAX_DEALER_EXPOSURE, value="1000")
    first = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer, other_dealer])
    quote_accept(quote=factories.quote_create(rfq=first, dealer=dealer, offer="101"), actor=trader)
    second = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer, other_dealer])

    # when the desk takes 5 × 102 = 510 more from ALPHA: 1 015 > 1 000
    with pytest.raises(QuoteRefused) as refused:
        quote_accept(quote=factories.quote_create(rfq=second, dealer=dealer, offer="102"), actor=trader)

    message = " ".join(refused.value.messages)
    assert "max_dealer_exposure: limit 1000, exposure 505 + order 510 = 1015 [dealer:ALPHA]" in message
    # the same from BRAVO is within its own (unlimited) exposure
    assert quote_accept(quote=factories.quote_create(rfq=second, dealer=other_dealer, offer="102"), actor=trader)


def _options(instrument) -> list:  # noqa: ANN001
    future = datetime.now(UTC) + timedelta(days=30)
    return [
        factories.instrument_create(
            symbol=symbol,
            kind=InstrumentKind.OPTION,
            underlying=instrument,
            strike=Decimal(60000),
            expiry=future,
            option_type=kind,
            lot_size=Decimal("0.1"),
        )
        for symbol, kind in (("BTC-60K-C", "call"), ("BTC-60K-P", "put"))
    ]


def _package(trader, dealer, options, *, allow_legging: bool = False):  # noqa: ANN001, ANN202
    dealer.instrument_classes = []
    dealer.save(update_fields=["instrument_classes"])
    rfq = rfq_create(
        legs=[LegInput(option, "buy", Decimal(2)) for option in options],
        actor=trader,
        package_type="straddle",
        allow_legging=allow_legging,
    )
    rfq_send(rfq=rfq, dealers=[dealer], actor=trader)
    quote = quote_receive(
        dealer=dealer,
        quote_req_id=QuoteRequest.objects.get(rfq=rfq).quote_req_id,
        quote_id=f"PKG-{rfq.pk}",
        legs=[
            QuoteLegInput(
                leg_no=n, bid_price=Decimal(p - 50), bid_size=Decimal(2), offer_price=Decimal(p), offer_size=Decimal(2)
            )
            for n, p in ((1, 3000), (2, 2500))
        ],
        valid_until=datetime.now(UTC) + timedelta(seconds=60),
        package_price=Decimal(5490),
    )
    return rfq, quote


def test_a_package_taken_whole_needs_every_leg_to_pass(trader, instrument, market, dealer) -> None:  # noqa: ANN001
    # given a limit on the put only: 2 × 2 500 = 5 000 > 4 000
    call, put = _options(instrument)
    limit_create(scope=LimitScope.INSTRUMENT, scope_key=put.symbol, kind=LimitKind.MAX_ORDER_NOTIONAL, value="4000")
    rfq, quote = _package(trader, dealer, [call, put])

    with pytest.raises(QuoteRefused) as refused:
        quote_accept(quote=quote, actor=trader)

    message = " ".join(refused.value.messages)
    assert "max_order_notional: limit 4000, order 2 × 2500 = 5000 [instrument:BTC-60K-P]" in message
    assert not DealerOrder.objects.exists()
    event = AuditEvent.objects.get(action="risk.refused")
    assert event.after["order"]["instrument"] == put.symbol
    assert event.after["order"]["reference"].endswith("/L2")


def test_a_package_within_every_limit_is_taken_once_for_the_order_rate(  # noqa: PLR0913
    trader, instrument, market, dealer, settings
) -> None:  # noqa: ANN001
    from django.core.cache import cache

    cache.clear()
    settings.RISK_ORDER_RATE_WINDOW_S = 60
    # 1 order in 60 s: the two legs of one package are one order
    limit_create(scope=LimitScope.DESK, kind=LimitKind.MAX_ORDER_RATE, value=str(Decimal(1) / 60))
    rfq, quote = _package(trader, dealer, _options(instrument))
    # set once the RFQ is out: at its creation the legs are valued at the model's mid (~40 000), not at these quotes
    limit_create(scope=LimitScope.DESK, kind=LimitKind.MAX_ORDER_NOTIONAL, value="6000")

    order = quote_accept(quote=quote, actor=trader)

    assert order.leg is None
    assert order.quantity == Decimal(2)
    # the package's exposure to the dealer is each leg's units × quoted price: 2 × 3 000 + 2 × 2 500
    assert dealer_exposure(dealer=dealer.code, now=datetime.now(UTC)) == Decimal(11000)
    # and the next acceptance in the window is the second order: refused by the rate
    single = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer], quantity="1")
    with pytest.raises(QuoteRefused, match="max_order_rate: limit 0.016667/s, 2 orders in 60 s"):
        quote_accept(quote=factories.quote_create(rfq=single, dealer=dealer), actor=trader)
    cache.clear()


def test_a_leg_under_legging_is_checked_alone(trader, instrument, market, dealer) -> None:  # noqa: ANN001
    call, put = _options(instrument)
    limit_create(scope=LimitScope.INSTRUMENT, scope_key=put.symbol, kind=LimitKind.MAX_ORDER_NOTIONAL, value="4000")
    rfq, quote = _package(trader, dealer, [call, put], allow_legging=True)

    # the call leg passes (no limit on it), the put leg is refused
    taken = quote_accept(quote=quote, actor=trader, leg_no=1)
    assert taken.leg.leg_no == 1
    rfq.refresh_from_db()
    assert rfq.status == RFQStatus.PARTIALLY_ACCEPTED


def test_a_leg_under_legging_over_its_limit_is_refused(trader, instrument, market, dealer) -> None:  # noqa: ANN001
    call, put = _options(instrument)
    limit_create(scope=LimitScope.INSTRUMENT, scope_key=put.symbol, kind=LimitKind.MAX_ORDER_NOTIONAL, value="4000")
    rfq, quote = _package(trader, dealer, [call, put], allow_legging=True)

    with pytest.raises(QuoteRefused, match="max_order_notional"):
        quote_accept(quote=quote, actor=trader, leg_no=2)
    assert not DealerOrder.objects.exists()


def test_an_option_acceptance_is_collared_around_its_own_model_mid(trader, instrument, market, dealer) -> None:  # noqa: ANN001
    # The collar of an option leg centres on its mark (Black–Scholes at the desk's fitted surface), not on the
    # underlying's price: a 1 bps collar refuses the dealer's 3 000 for a call whose mark is elsewhere, and names it.
    from desk.market import SECONDS_PER_YEAR
    from desk.pricing import black_scholes
    from rfq.engine.market import underlying_state
    from tests import factories

    call, put = _options(instrument)
    limit_create(scope=LimitScope.DESK, kind=LimitKind.PRICE_COLLAR_BPS, value="1")
    rfq, quote = _package(trader, dealer, [call, put], allow_legging=True)
    state = underlying_state("BTC")
    factories.vol_surface_fitted(spot=state.spot)
    years = (call.expiry - datetime.now(UTC)).total_seconds() / SECONDS_PER_YEAR
    vol = float(underlying_state("BTC").surface.vol(spot=state.spot, strike=60000.0, t_years=years))
    model = float(black_scholes(state.spot, 60000.0, years, 0.04, vol, "call").price)

    with pytest.raises(QuoteRefused) as refused:
        quote_accept(quote=quote, actor=trader, leg_no=1)

    event = AuditEvent.objects.get(action="risk.refused")
    assert event.after["limit"] == "price_collar_bps"
    assert float(event.after["order"]["mid"]) == pytest.approx(model, rel=1e-3)
    assert event.after["observed"] == pytest.approx(abs(3000 - model) / model * 10_000, rel=1e-3)
    assert "price_collar_bps" in " ".join(refused.value.messages)
