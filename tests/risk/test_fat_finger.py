"""The fat-finger guards hold with no limit set: a maximum quantity (a share of the day's volume, or the setting where
that volume is unknown), a maximum notional and a price collar; limit rows only tighten them. A refusal names the
limit, the value and the threshold, and is audited."""

from __future__ import annotations

from decimal import Decimal

import pytest

from desk.models import AuditEvent
from risk import services
from risk.fat_finger import fat_finger_defaults
from risk.models import LimitKind, LimitScope
from risk.orders import OrderSize
from tests.risk.factories import limit_create, market_state, proposed_order

pytestmark = pytest.mark.django_db


def _size(**overrides: object) -> OrderSize:
    fields: dict = {
        "book": "desk",
        "trader": "trader-t",
        "instrument": "BTC-USD",
        "underlying": "BTC",
        "side": "buy",
        "quantity": Decimal(1),
        "mid": Decimal(100_000),
        "reference": "rfq-ticket/L1",
    }
    fields.update(overrides)
    return OrderSize(**fields)


def test_the_defaults_come_from_the_settings_and_the_days_volume(settings) -> None:
    # given the settings' guards and BTC's reference day's volume of 20 000 coins
    settings.RISK_FAT_FINGER = {
        "max_order_notional": 50_000_000,
        "daily_volume_fraction": 0.25,
        "max_order_quantity": 1_000_000,
        "price_collar_bps": 500,
    }

    btc = fat_finger_defaults(instrument="BTC-USD", underlying="BTC", multiplier=Decimal(1), collar=True)
    tenth = fat_finger_defaults(instrument="BTC-MINI", underlying="BTC", multiplier=Decimal("0.1"), collar=False)
    sol = fat_finger_defaults(instrument="SOL-USD", underlying="SOL", multiplier=Decimal(1), collar=False)

    assert {kind: limit.value for kind, limit in btc.items()} == {
        "max_order_notional": Decimal(50_000_000),
        "max_order_quantity": Decimal(5_000),
        "price_collar_bps": Decimal(500),
    }
    assert btc["max_order_quantity"].label == "default for BTC-USD: 0.25 × the BTC day's volume of 20000"
    # a contract of 0.1 BTC: ten times as many contracts; no collar asked, none given
    assert tenth["max_order_quantity"].value == Decimal(50_000)
    assert "price_collar_bps" not in tenth
    # no day's volume known for SOL: the setting's absolute maximum
    assert sol["max_order_quantity"].value == Decimal(1_000_000)
    assert "no day's volume known for SOL" in sol["max_order_quantity"].basis


def test_the_issues_order_is_refused_with_no_limit_set_naming_limit_value_and_threshold(trader) -> None:  # noqa: ANN001
    # given no limit at all, and the 1 000 000 000 BTC-USD order of the issue at a 99 000 mid
    order = _size(quantity=Decimal(1_000_000_000), mid=Decimal(99_000))

    # when it is checked as it is created
    report = services.fat_finger_check(order=order, actor=trader)

    # then both the notional and the quantity refuse it, each with its figures and where its threshold comes from
    assert report.limits == ["max_order_notional", "max_order_quantity"]
    notional, quantity = report.refusals
    assert (notional.observed, notional.threshold) == (99e12, 50e6)
    assert notional.message == (
        "max_order_notional: limit 50000000, order 1000000000 × 99000 = 99000000000000 "
        "[default for BTC-USD: settings RISK_FAT_FINGER max_order_notional]"
    )
    assert (quantity.observed, quantity.threshold) == (1e9, 5_000.0)
    assert (quantity.scope, quantity.scope_key) == ("default", "BTC-USD")
    # and every reason is audited with the order
    events = AuditEvent.objects.filter(action="risk.refused").order_by("id")  # as written
    assert [e.after["limit"] for e in events] == ["max_order_notional", "max_order_quantity"]
    assert events[0].actor == "user:trader-t"
    assert events[0].object_id == "rfq-ticket/L1"
    assert events[0].after["order"]["quantity"] == "1000000000"


def test_a_normal_order_passes_and_writes_nothing(django_assert_num_queries) -> None:  # noqa: ANN001
    with django_assert_num_queries(1):
        report = services.fat_finger_check(order=_size(quantity=Decimal(5)), actor="system:test")

    assert report.passed
    assert [r.limit for r in report.results] == ["max_order_notional", "max_order_quantity"]
    assert not AuditEvent.objects.exists()


def test_a_limit_row_tightens_the_default_and_never_widens_it() -> None:
    # given a looser desk notional (1e9) and a tighter instrument quantity (10)
    limit_create(scope=LimitScope.DESK, kind=LimitKind.MAX_ORDER_NOTIONAL, value="1000000000")
    limit_create(scope=LimitScope.INSTRUMENT, scope_key="BTC-USD", kind=LimitKind.MAX_ORDER_QUANTITY, value="10")

    # when a 600-coin order (60M) is checked
    report = services.fat_finger_check(order=_size(quantity=Decimal(600)), actor="system:test")

    # then the default notional still holds (the looser row does not widen it) and the row's quantity refuses it
    by_limit = {r.limit: r for r in report.refusals}
    assert by_limit["max_order_notional"].scope == "default"
    assert by_limit["max_order_notional"].threshold == 50e6
    assert (by_limit["max_order_quantity"].scope, by_limit["max_order_quantity"].threshold) == ("instrument", 10.0)
    assert by_limit["max_order_quantity"].message == "max_order_quantity: limit 10, order 600 [instrument:BTC-USD]"


def test_without_a_price_the_notional_is_not_guessed() -> None:
    report = services.fat_finger_check(order=_size(quantity=Decimal(4_000), mid=None), actor="system:test")

    assert report.passed
    assert [r.limit for r in report.results] == ["max_order_quantity"]


def test_the_default_collar_refuses_a_venue_order_far_from_the_mid_but_not_a_dealers_quote(trader) -> None:  # noqa: ANN001
    # given no limit and a mid of 100, an order priced 600 bps through it
    venue = services.limit_check(order=proposed_order(limit_price="106"), actor=trader)
    dealer = services.limit_check(
        order=proposed_order(limit_price="106", dealer="ALPHA", market=market_state(dealer_exposure="0")), actor=trader
    )
    option = services.limit_check(order=proposed_order(limit_price="106", mid_is_underlying=False), actor=trader)

    assert venue.limits == ["price_collar_bps"]
    assert venue.refusals[0].message == (
        "price_collar_bps: limit 500 bps, order 106 is 600 bps from mid 100 "
        "[default for BTC-USD: settings RISK_FAT_FINGER price_collar_bps]"
    )
    assert dealer.passed
    assert option.passed


def test_a_child_order_past_the_default_size_is_refused_with_no_limit(trader) -> None:  # noqa: ANN001
    report = services.limit_check(order=proposed_order(quantity="6000"), actor=trader)

    assert report.limits == ["max_order_quantity"]
    assert report.refusals[0].threshold == 5_000.0
    assert AuditEvent.objects.get(action="risk.refused").after["limit"] == "max_order_quantity"


def test_a_plans_parent_is_bounded_by_the_defaults_and_its_children_by_the_size_rows() -> None:
    # given a book's 1M per order (what each child may be)
    limit_create(scope=LimitScope.DESK, kind=LimitKind.MAX_ORDER_NOTIONAL, value="1000000")
    parent = _size(quantity=Decimal(30), limit_price=Decimal(100_500))

    # then a 3M parent passes as a plan, and is refused as one order
    assert services.fat_finger_check(order=parent, actor="system:test", size_rows=False).passed
    assert services.fat_finger_check(order=parent, actor="system:test").limits == ["max_order_notional"]
