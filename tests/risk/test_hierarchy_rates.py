"""The hierarchy firm → desk → book → strategy → trader / dealer / underlying → instrument (tightest limit wins), the
per-dealer exposure limit, and the order-rate limit counted atomically per scope."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache

from desk.models import AuditEvent
from execution.models import ChildOrder, PlanStatus
from rfq.models import DealerOrder, DealerOrderStatus
from rfq.selectors import dealer_exposure
from rfq.services import quote_accept
from risk import rate, selectors, services
from risk.models import LimitKind, LimitScope
from tests import factories
from tests.risk import factories as risk_factories
from tests.risk.factories import limit_create, market_state, proposed_order

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counters(settings: Any) -> Any:
    settings.RISK_ORDER_RATE_WINDOW_S = 60  # a minute: the tests never cross the window's edge
    cache.clear()
    yield
    cache.clear()


def _check(**overrides: Any) -> services.CheckReport:
    return services.limit_check(order=proposed_order(**overrides), actor="system:test")


# --- hierarchy --------------------------------------------------------------------------------------------------


def test_the_tightest_limit_along_firm_desk_strategy_and_instrument_wins() -> None:
    limit_create(scope=LimitScope.FIRM, kind=LimitKind.MAX_ORDER_NOTIONAL, value="1000")
    limit_create(scope=LimitScope.DESK, kind=LimitKind.MAX_ORDER_NOTIONAL, value="800")
    limit_create(scope=LimitScope.STRATEGY, scope_key="basis", kind=LimitKind.MAX_ORDER_NOTIONAL, value="500")
    limit_create(scope=LimitScope.INSTRUMENT, scope_key="ETH-USD", kind=LimitKind.MAX_ORDER_NOTIONAL, value="1")

    refused = _check(quantity="6", strategy="basis")  # 600

    assert [(r.limit, r.scope, r.scope_key) for r in refused.refusals] == [("max_order_notional", "strategy", "basis")]
    # without a named strategy the book is the strategy: the desk's 800 is the tightest
    assert _check(quantity="6").passed
    assert _check(quantity="9").refusals[0].scope == LimitScope.DESK
    # the firm's limit reaches every order
    assert _check(quantity="6", book="B2").passed
    limit_create(scope=LimitScope.FIRM, kind=LimitKind.MAX_POSITION, value="2")
    assert _check(quantity="3", book="B2").refusals[0].scope == LimitScope.FIRM


def test_a_strategy_without_a_name_is_its_book() -> None:
    limit_create(scope=LimitScope.STRATEGY, scope_key="B7", kind=LimitKind.MAX_ORDER_NOTIONAL, value="50")

    assert _check(book="B7").limits == ["max_order_notional"]
    assert _check(book="B7", strategy="carry").passed
    assert selectors.order_scopes(book="B7", trader="t", underlying="BTC", instrument="X")[3] == ("strategy", "B7")


@pytest.mark.parametrize(
    ("scope", "scope_key", "halted"),
    [
        (LimitScope.STRATEGY, "basis", {"named", "book-basis"}),
        (LimitScope.STRATEGY, "desk", {"default"}),
        (LimitScope.FIRM, "", {"named", "book-basis", "other-strategy", "default"}),
        (LimitScope.DEALER, "ALPHA", set()),
    ],
)
def test_a_switch_halts_the_plans_of_its_scope(
    risk_officer, trader, instrument, dealer, scope, scope_key, halted
) -> None:  # noqa: ANN001, PLR0913
    plans = {
        "named": {"strategy": "basis"},
        "book-basis": {"book": "basis"},
        "other-strategy": {"book": "basis", "strategy": "carry"},
        "default": {},
    }
    rows = {
        name: risk_factories.plan_create(instrument=instrument, created_by=trader, parameters=params)
        for name, params in plans.items()
    }

    services.kill_switch_engage(scope=scope, scope_key=scope_key, reason="drill", actor=risk_officer)

    for row in rows.values():
        row.refresh_from_db()
    assert {name for name, row in rows.items() if row.status == PlanStatus.HALTED} == halted


def test_a_child_order_carries_its_plans_strategy(trader, instrument) -> None:  # noqa: ANN001
    from execution.services import child_order_proposed

    plan = risk_factories.plan_create(instrument=instrument, created_by=trader, parameters={"strategy": "basis"})
    child = ChildOrder.objects.create(
        plan=plan, seq=1, client_order_id="CO-STRAT-1", quantity=Decimal(1), scheduled_at=datetime.now(UTC)
    )

    order = child_order_proposed(child=child, now=datetime.now(UTC))

    assert (order.strategy, order.book) == ("basis", "desk")


# --- dealer exposure --------------------------------------------------------------------------------------------


def test_dealer_exposure_is_open_orders_plus_todays_fills(trader, instrument, dealer, other_dealer) -> None:  # noqa: ANN001
    prices = {"open": "100", "filled-today": "102", "filled-yesterday": "104", "rejected": "106", "other": "108"}
    orders = {}
    for name, offer in prices.items():
        rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer, other_dealer], quantity="2")
        who = other_dealer if name == "other" else dealer
        orders[name] = quote_accept(quote=factories.quote_create(rfq=rfq, dealer=who, offer=offer), actor=trader)
    DealerOrder.objects.filter(pk__in=[orders["filled-today"].pk, orders["filled-yesterday"].pk]).update(
        status=DealerOrderStatus.FILLED
    )
    DealerOrder.objects.filter(pk=orders["rejected"].pk).update(status=DealerOrderStatus.REJECTED)
    now = datetime.now(UTC)

    exposure = dealer_exposure(dealer="ALPHA", now=now)
    tomorrow = dealer_exposure(dealer="ALPHA", now=now + timedelta(days=1))

    assert exposure == 2 * 100 + 2 * 102 + 2 * 104  # all three filled or open today
    assert tomorrow == 2 * 100  # only the open order is still exposed
    assert dealer_exposure(dealer="BRAVO", now=now) == 2 * 108


def test_the_dealer_exposure_limit_names_the_figures_and_skips_orders_to_no_dealer() -> None:
    limit_create(scope=LimitScope.FIRM, kind=LimitKind.MAX_DEALER_EXPOSURE, value="1000")

    refused = _check(quantity="3", dealer="ALPHA", market=market_state(dealer_exposure="750"))
    passed = _check(quantity="2", dealer="ALPHA", market=market_state(dealer_exposure="800"))

    assert refused.limits == ["max_dealer_exposure"]
    assert (refused.refusals[0].observed, refused.refusals[0].threshold) == (1050.0, 1000.0)
    assert "exposure 750 + order 300 = 1050 [firm]" in refused.message
    assert passed.passed  # exactly at the limit
    assert _check(quantity="300").passed  # a child order goes to no dealer


def test_the_participation_cap_does_not_apply_to_a_block_from_a_dealer() -> None:
    limit_create(scope=LimitScope.DESK, kind=LimitKind.PARTICIPATION_CAP, value="0.1")

    assert _check(quantity="200").limits == ["participation_cap"]
    assert _check(quantity="200", dealer="ALPHA", market=market_state(dealer_exposure="0")).passed


# --- order rate -------------------------------------------------------------------------------------------------


def _per_window(orders: int) -> str:
    return str(Decimal(orders) / 60)


def test_the_order_rate_refuses_the_order_over_it_and_gives_its_slot_back() -> None:
    limit_create(scope=LimitScope.DESK, kind=LimitKind.MAX_ORDER_RATE, value=_per_window(2))

    first, second, third, fourth = (_check(reference=f"CO-{n}") for n in range(4))

    assert first.passed
    assert second.passed
    assert third.limits == fourth.limits == ["max_order_rate"]
    refusal = fourth.refusals[0]
    # the refused third order gave its slot back: the fourth is the third order of the window again
    assert refusal.observed == pytest.approx(3 / 60)
    assert refusal.threshold == pytest.approx(2 / 60)
    assert "max_order_rate: limit 0.033333/s, 3 orders in 60 s = 0.05/s [desk]" in refusal.message
    assert AuditEvent.objects.filter(action="risk.refused", after__limit="max_order_rate").count() == 2


def test_an_order_refused_by_another_limit_takes_no_slot() -> None:
    limit_create(scope=LimitScope.DESK, kind=LimitKind.MAX_ORDER_RATE, value=_per_window(2))
    limit_create(scope=LimitScope.DESK, kind=LimitKind.MAX_ORDER_NOTIONAL, value="500")

    assert _check(quantity="9").limits == ["max_order_notional"]
    assert _check().passed
    assert _check().passed
    assert _check().limits == ["max_order_rate"]


def test_each_scope_counts_its_own_orders_and_a_refusal_gives_back_every_slot() -> None:
    limit_create(scope=LimitScope.DESK, kind=LimitKind.MAX_ORDER_RATE, value=_per_window(3))
    limit_create(scope=LimitScope.INSTRUMENT, scope_key="BTC-USD", kind=LimitKind.MAX_ORDER_RATE, value=_per_window(1))
    eth = {"instrument": "ETH-USD", "underlying": "ETH"}

    assert _check().passed  # desk 1, BTC-USD 1
    second_btc = _check()
    assert second_btc.limits == ["max_order_rate"]  # BTC-USD's own counter; the desk's slot is given back
    assert second_btc.refusals[0].scope == LimitScope.INSTRUMENT
    assert _check(**eth).passed
    assert _check(**eth).passed
    fourth = _check(**eth)
    assert (fourth.limits, fourth.refusals[0].scope) == (["max_order_rate"], LimitScope.DESK)


def test_the_counter_is_atomic_under_concurrency() -> None:
    # 8 threads take 25 slots each at once against a limit of 50 in the window: exactly 50 pass, whatever the
    # interleaving (a read-compare-write counter lets more through).
    limit = 50 / 60
    passed: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        for _ in range(25):
            result, give_back = rate.rate_take(scope="desk", scope_key="", limit=limit)
            if not result.passed:
                give_back()
            with lock:
                passed.append(result.passed)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(passed) == 200
    assert sum(passed) == 50


def test_the_window_slides_second_by_second(settings: Any) -> None:
    settings.RISK_ORDER_RATE_WINDOW_S = 3
    now = [1_000_000.0]

    def take() -> bool:
        result, give_back = rate.rate_take(scope="book", scope_key="B1", limit=1.0, clock=lambda: now[0])
        if not result.passed:
            give_back()
        return result.passed

    # 3 orders in 3 s: the first three seconds fill the window
    assert [take(), take(), take(), take()] == [True, True, True, False]
    now[0] += 2.5  # 1 000 002.5: the window is seconds 1 000 000..1 000 002, still full
    assert take() is False
    now[0] += 0.5  # 1 000 003: second 1 000 000 left the window, its 3 orders with it
    assert [take(), take(), take(), take()] == [True, True, True, False]


def test_limit_usage_shows_a_dealers_exposure(trader, instrument, dealer) -> None:  # noqa: ANN001
    limit_create(scope=LimitScope.DEALER, scope_key="ALPHA", kind=LimitKind.MAX_DEALER_EXPOSURE, value="2000")
    rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer], quantity="5")
    quote_accept(quote=factories.quote_create(rfq=rfq, dealer=dealer, offer="100"), actor=trader)

    (usage,) = selectors.limit_usage(scope=LimitScope.DEALER)

    assert (usage.used, usage.ratio) == (Decimal(500), Decimal("0.25"))
