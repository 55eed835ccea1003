"""The risk services: the tightest limit wins, refusals are audited with the limit named, kill switches stop their
part of the hierarchy and halt its running plans, only risk officers set limits and re-arm switches."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest

from desk import events
from desk.audit import chain_verify
from desk.models import AuditEvent, InstrumentKind
from desk.roles import Role
from execution.models import ExecutionPlan, PlanStatus
from risk import services
from risk.models import KillSwitch, Limit, LimitKind, LimitScope
from risk.orders import order_state
from tests import factories
from tests.risk import factories as risk_factories
from tests.risk.factories import limit_create, market_state, proposed_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent_events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """The events broadcast instead of the channel layer (run the on-commit callbacks to send them)."""
    sent: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(events, "event_send_now", lambda *, group, event, payload: sent.append((event, payload)))
    return sent


def _statuses(*plans: ExecutionPlan) -> list[str]:
    for plan in plans:
        plan.refresh_from_db()
    return [plan.status for plan in plans]


@pytest.fixture
def eth(db):  # noqa: ANN001, ANN201
    return factories.instrument_create(symbol="ETH-USD", base_currency="ETH")


def test_the_decimal_boundary_converts_explicitly_to_the_checks_floats() -> None:
    order = proposed_order(
        side="sell",
        quantity="2.5",
        limit_price="99.75",
        multiplier="0.1",
        market=market_state(position="-1", realized_pnl_today="-10.5", unrealized_pnl_today="4", mid=None),
    )

    state = order_state(order)

    assert (state.side_sign, state.quantity, state.price, state.multiplier) == (-1.0, 2.5, 99.75, 0.1)
    assert (state.position, state.position_after, state.pnl_today) == (-1.0, -3.5, -6.5)
    assert math.isnan(state.mid)
    assert order.signed_quantity == Decimal("-2.5")


# --- limit_check: the hierarchy of limits ---------------------------------------------------------------------


def test_an_order_within_every_limit_passes_in_two_queries_and_writes_nothing(
    django_assert_num_queries,  # noqa: ANN001
) -> None:
    limit_create(scope=LimitScope.DESK, kind=LimitKind.MAX_ORDER_NOTIONAL, value="1000")
    limit_create(scope=LimitScope.DESK, kind=LimitKind.PRICE_COLLAR_BPS, value="50")

    with django_assert_num_queries(2):
        report = services.limit_check(order=proposed_order(), actor="system:test")

    assert report.passed
    assert report.message == "passed"
    # the fat-finger default quantity holds beside the rows (its figures are reference data: no query)
    assert [r.limit for r in report.results] == ["price_collar_bps", "max_order_notional", "max_order_quantity"]
    assert not AuditEvent.objects.filter(action="risk.refused").exists()


def test_the_tightest_applicable_limit_wins_whatever_its_level() -> None:
    # Given notional limits at four levels, and a looser one at an instrument the order is not in
    limit_create(scope=LimitScope.DESK, kind=LimitKind.MAX_ORDER_NOTIONAL, value="1000000")
    limit_create(scope=LimitScope.BOOK, scope_key="desk", kind=LimitKind.MAX_ORDER_NOTIONAL, value="500000")
    limit_create(scope=LimitScope.TRADER, scope_key="trader-t", kind=LimitKind.MAX_ORDER_NOTIONAL, value="400000")
    instrument_limit = limit_create(
        scope=LimitScope.INSTRUMENT, scope_key="BTC-USD", kind=LimitKind.MAX_ORDER_NOTIONAL, value="200000"
    )
    limit_create(scope=LimitScope.INSTRUMENT, scope_key="BTC-PERP", kind=LimitKind.MAX_ORDER_NOTIONAL, value="1")
    order = proposed_order(quantity="3", limit_price="100000", market=market_state(mid="100000"))

    # When a 300 000 order is checked, then the instrument's 200 000 refuses it
    report = services.limit_check(order=order, actor="system:test")
    assert report.limits == ["max_order_notional"]
    (refusal,) = report.refusals
    assert (refusal.scope, refusal.scope_key, refusal.threshold) == ("instrument", "BTC-USD", 200_000.0)
    assert "limit 200000, order 3 × 100000 = 300000 [instrument:BTC-USD]" in refusal.message

    # When the instrument limit is loosened, the trader's 400 000 is the tightest left: 300 000 passes
    instrument_limit.value = Decimal("2000000")
    instrument_limit.save(update_fields=["value"])
    assert services.limit_check(order=order, actor="system:test").passed

    # An inactive limit does not apply
    limit_create(
        scope=LimitScope.UNDERLYING, scope_key="BTC", kind=LimitKind.MAX_ORDER_NOTIONAL, value="1", is_active=False
    )
    assert services.limit_check(order=order, actor="system:test").passed


def test_a_refused_order_is_audited_with_the_limit_named(
    trader,
    sent_events,
    django_capture_on_commit_callbacks,  # noqa: ANN001
) -> None:
    limit_create(scope=LimitScope.BOOK, scope_key="desk", kind=LimitKind.PRICE_COLLAR_BPS, value="50")
    order = proposed_order(limit_price="100.9", reference="PLAN7-0003")

    with django_capture_on_commit_callbacks(execute=True):
        report = services.limit_check(order=order, actor=trader)

    assert not report.passed
    event = AuditEvent.objects.get(action="risk.refused")
    assert event.actor == "user:trader-t"
    assert (event.object_type, event.object_id) == ("risk.order", "PLAN7-0003")
    assert event.after["limit"] == "price_collar_bps"
    assert (event.after["scope"], event.after["scope_key"]) == ("book", "desk")
    assert event.after["message"] == "price_collar_bps: limit 50 bps, order 100.9 is 90 bps from mid 100 [book:desk]"
    assert event.after["order"]["limit_price"] == "100.9"
    assert chain_verify().ok
    payload = {"reference": "PLAN7-0003", "instrument": "BTC-USD", "limits": ["price_collar_bps"]}
    assert sent_events == [("risk.refused", payload | {"message": report.message})]


def test_every_broken_limit_is_named_and_audited_once(django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    limit_create(scope=LimitScope.DESK, kind=LimitKind.PRICE_COLLAR_BPS, value="10")
    limit_create(scope=LimitScope.DESK, kind=LimitKind.PARTICIPATION_CAP, value="0.1")
    order = proposed_order(quantity="200", limit_price="101")

    with django_capture_on_commit_callbacks():
        report = services.limit_check(order=order, actor="system:test")

    assert report.limits == ["price_collar_bps", "participation_cap"]
    assert sorted(AuditEvent.objects.filter(action="risk.refused").values_list("after__limit", flat=True)) == [
        "participation_cap",
        "price_collar_bps",
    ]


def test_no_mid_is_refused_and_stored_as_null() -> None:
    limit_create(scope=LimitScope.DESK, kind=LimitKind.PRICE_COLLAR_BPS, value="50")

    report = services.limit_check(order=proposed_order(market=market_state(mid=None)), actor="system:test")

    assert report.limits == ["price_collar_bps"]
    assert AuditEvent.objects.get(action="risk.refused").after["observed"] is None


def test_the_position_limit_follows_volatility_and_lets_risk_reducing_orders_through() -> None:
    limit_create(scope=LimitScope.UNDERLYING, scope_key="BTC", kind=LimitKind.MAX_POSITION, value="10")
    stressed = market_state(position="4", volatility_ratio="2")

    assert services.limit_check(order=proposed_order(quantity="1", market=stressed), actor="system:test").passed
    refused = services.limit_check(order=proposed_order(quantity="2", market=stressed), actor="system:test")
    assert refused.limits == ["max_position"]
    assert refused.refusals[0].threshold == 5.0
    selling = proposed_order(side="sell", quantity="2", market=stressed)
    assert services.limit_check(order=selling, actor="system:test").passed


def test_beyond_the_daily_loss_only_reducing_orders_pass() -> None:
    limit_create(scope=LimitScope.DESK, kind=LimitKind.MAX_DAILY_LOSS, value="50000")
    losing = market_state(position="3", realized_pnl_today="-30000", unrealized_pnl_today="-20000.01")

    refused = services.limit_check(order=proposed_order(market=losing), actor="system:test")
    assert refused.limits == ["max_daily_loss"]
    assert "loss today 50000.01" in refused.message
    assert services.limit_check(order=proposed_order(side="sell", market=losing), actor="system:test").passed
    at_limit = market_state(position="3", realized_pnl_today="-30000", unrealized_pnl_today="-20000")
    assert services.limit_check(order=proposed_order(market=at_limit), actor="system:test").passed


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"quantity": "0"}, "quantity"), ({"limit_price": "-1"}, "limit_price"), ({"side": "hold"}, "side")],
)
def test_a_malformed_order_is_refused_and_nothing_is_stored(overrides: dict[str, str], field: str) -> None:
    with pytest.raises(services.RiskRefused) as refused:
        services.limit_check(order=proposed_order(**overrides), actor="system:test")

    assert field in refused.value.message_dict
    assert not AuditEvent.objects.exists()


def test_raise_if_refused_carries_the_message() -> None:
    limit_create(scope=LimitScope.DESK, kind=LimitKind.MAX_ORDER_NOTIONAL, value="50")
    report = services.limit_check(order=proposed_order(), actor="system:test")

    with pytest.raises(services.RiskRefused, match="max_order_notional: limit 50"):
        report.raise_if_refused()


# --- kill switches ---------------------------------------------------------------------------------------------

ORDERS = {
    "btc-desk": {},
    "btc-other-book": {"book": "B2"},
    "btc-other-trader": {"trader": "trader-2"},
    "btc-perp": {"instrument": "BTC-PERP"},
    "eth": {"instrument": "ETH-USD", "underlying": "ETH"},
}


@pytest.mark.parametrize(
    ("scope", "scope_key", "stopped"),
    [
        (LimitScope.DESK, "", set(ORDERS)),
        (LimitScope.BOOK, "B2", {"btc-other-book"}),
        (LimitScope.TRADER, "trader-2", {"btc-other-trader"}),
        (LimitScope.UNDERLYING, "BTC", {"btc-desk", "btc-other-book", "btc-other-trader", "btc-perp"}),
        (LimitScope.INSTRUMENT, "BTC-PERP", {"btc-perp"}),
    ],
)
def test_a_kill_switch_stops_its_part_of_the_hierarchy_only(risk_officer, settings, scope, scope_key, stopped) -> None:  # noqa: ANN001
    # the keys the switches name exist: a declared book, a trader, an instrument
    settings.RISK_BOOKS = ("desk", "B2")
    factories.user_create(role=Role.TRADER, username="trader-2")
    factories.instrument_create(symbol="BTC-PERP", kind=InstrumentKind.PERPETUAL)
    services.kill_switch_engage(scope=scope, scope_key=scope_key, reason="drill", actor=risk_officer)

    refused = {
        name
        for name, overrides in ORDERS.items()
        if not services.limit_check(order=proposed_order(**overrides), actor="system:test").passed
    }

    assert refused == stopped
    event = AuditEvent.objects.filter(action="risk.refused").first()
    assert event.after["limit"] == "kill_switch"
    assert "engaged by user:risk-t (drill)" in event.after["message"]


def test_engaging_halts_the_running_plans_under_the_switch_in_the_same_transaction(
    risk_officer,
    trader,
    instrument,
    eth,
    sent_events,
    django_capture_on_commit_callbacks,  # noqa: ANN001
) -> None:
    # Given running, paused and finished plans on BTC and a running plan on ETH
    running = risk_factories.plan_create(instrument=instrument, created_by=trader)
    paused = risk_factories.plan_create(instrument=instrument, created_by=trader, status=PlanStatus.PAUSED)
    done = risk_factories.plan_create(instrument=instrument, created_by=trader, status=PlanStatus.COMPLETED)
    other = risk_factories.plan_create(instrument=eth, created_by=trader)

    # When the BTC switch is engaged
    with django_capture_on_commit_callbacks(execute=True):
        switch = services.kill_switch_engage(
            scope=LimitScope.UNDERLYING, scope_key="BTC", reason="feed divergence", actor=risk_officer
        )

    # Then only the running BTC plan is halted, its version bumped, and both changes audited
    assert _statuses(running, paused, done, other) == ["halted", "paused", "completed", "running"]
    assert running.version == 1
    halt = AuditEvent.objects.get(action="execution_plan.halt")
    assert halt.object_id == str(running.pk)
    assert halt.after == {"status": "halted", "kill_switch": "underlying:BTC", "reason": "feed divergence"}
    engage = AuditEvent.objects.get(action="risk.kill_switch.engage")
    assert engage.before["engaged"] is False
    assert engage.after["engaged"] is True
    assert engage.after["halted_plans"] == [running.pk]
    assert switch.changed_by == "user:risk-t"
    assert [(name, payload["halted_plans"]) for name, payload in sent_events] == [("risk.kill_switch", [running.pk])]


def test_book_and_trader_switches_halt_their_own_plans(risk_officer, trader, instrument) -> None:  # noqa: ANN001
    other_trader = factories.user_create(role=Role.TRADER, username="trader-2")
    default_book = risk_factories.plan_create(instrument=instrument, created_by=trader)
    book_b2 = risk_factories.plan_create(instrument=instrument, created_by=trader, parameters={"book": "B2"})
    by_other = risk_factories.plan_create(instrument=instrument, created_by=other_trader, parameters={"book": "B2"})

    services.kill_switch_engage(scope=LimitScope.BOOK, scope_key="desk", reason="drill", actor=risk_officer)
    services.kill_switch_engage(scope=LimitScope.TRADER, scope_key="trader-2", reason="drill", actor=risk_officer)

    assert _statuses(default_book, book_b2, by_other) == ["halted", "running", "halted"]


def test_the_desk_switch_halts_every_running_plan(risk_officer, trader, instrument, eth) -> None:  # noqa: ANN001
    plans = [risk_factories.plan_create(instrument=i, created_by=trader) for i in (instrument, eth)]

    services.kill_switch_engage(scope=LimitScope.DESK, scope_key="", reason="desk-wide stop", actor=risk_officer)

    assert _statuses(*plans) == ["halted", "halted"]


def test_engaging_twice_changes_nothing_but_halts_a_plan_started_since(risk_officer, trader, instrument) -> None:  # noqa: ANN001
    services.kill_switch_engage(scope=LimitScope.DESK, scope_key="", reason="first", actor=risk_officer)
    late = risk_factories.plan_create(instrument=instrument, created_by=trader)

    switch = services.kill_switch_engage(scope=LimitScope.DESK, scope_key="", reason="second", actor=risk_officer)

    assert switch.reason == "first"
    assert AuditEvent.objects.filter(action="risk.kill_switch.engage").count() == 1
    late.refresh_from_db()
    assert late.status == PlanStatus.HALTED


def test_rearm_needs_the_risk_officer_permission(risk_officer, trader, compliance, settings) -> None:  # noqa: ANN001
    settings.RISK_BOOKS = ("desk", "B2")
    services.kill_switch_engage(scope=LimitScope.BOOK, scope_key="B2", reason="drill", actor=risk_officer)

    for actor in (trader, compliance, "system:circuit_breaker", None):
        with pytest.raises(services.RiskPermissionDenied, match="risk.rearm_killswitch"):
            services.kill_switch_rearm(scope=LimitScope.BOOK, scope_key="B2", reason="all clear", actor=actor)
    assert KillSwitch.objects.get(scope="book", scope_key="B2").engaged

    switch = services.kill_switch_rearm(scope=LimitScope.BOOK, scope_key="B2", reason="all clear", actor=risk_officer)

    assert not switch.engaged
    rearm = AuditEvent.objects.get(action="risk.kill_switch.rearm")
    assert (rearm.before["engaged"], rearm.after["engaged"], rearm.after["reason"]) == (True, False, "all clear")
    assert services.limit_check(order=proposed_order(book="B2"), actor="system:test").passed


def test_a_trader_cannot_engage_and_an_armed_switch_cannot_be_rearmed(risk_officer, trader) -> None:  # noqa: ANN001
    with pytest.raises(services.RiskPermissionDenied, match="risk.engage_killswitch"):
        services.kill_switch_engage(scope=LimitScope.DESK, scope_key="", reason="oops", actor=trader)
    with pytest.raises(services.RiskRefused, match="book:B9 is not engaged"):
        services.kill_switch_rearm(scope=LimitScope.BOOK, scope_key="B9", reason="x", actor=risk_officer)
    assert not KillSwitch.objects.exists()


@pytest.mark.parametrize(
    ("scope", "scope_key", "reason", "field"),
    [
        ("galaxy", "", "x", "scope"),
        (LimitScope.FIRM, "F1", "x", "scope_key"),
        (LimitScope.DESK, "B1", "x", "scope_key"),
        (LimitScope.BOOK, "", "x", "scope_key"),
        (LimitScope.BOOK, "B1", "  ", "reason"),
    ],
)
def test_bad_switch_requests_name_the_field(risk_officer, scope, scope_key, reason, field) -> None:  # noqa: ANN001
    with pytest.raises(services.RiskRefused) as refused:
        services.kill_switch_engage(scope=scope, scope_key=scope_key, reason=reason, actor=risk_officer)

    assert field in refused.value.message_dict


def test_the_circuit_breaker_engages_the_underlying_switch(risk_officer, trader, instrument) -> None:  # noqa: ANN001
    plan = risk_factories.plan_create(instrument=instrument, created_by=trader)

    switch = services.circuit_breaker_trip(underlying="BTC", reason="stale feed for 5 s")

    assert (switch.scope, switch.scope_key, switch.engaged) == ("underlying", "BTC", True)
    assert switch.changed_by == "system:circuit_breaker"
    assert AuditEvent.objects.get(action="risk.kill_switch.engage").actor == "system:circuit_breaker"
    plan.refresh_from_db()
    assert plan.status == PlanStatus.HALTED
    report = services.limit_check(order=proposed_order(), actor="system:test")
    assert "engaged by system:circuit_breaker (circuit breaker: stale feed for 5 s)" in report.message
    eth_order = proposed_order(instrument="ETH-USD", underlying="ETH")
    assert services.limit_check(order=eth_order, actor="system:test").passed
    # The breaker trips, but only a risk officer re-arms.
    with pytest.raises(services.RiskPermissionDenied):
        services.kill_switch_rearm(scope="underlying", scope_key="BTC", reason="ok", actor=trader)


# --- limit_set --------------------------------------------------------------------------------------------------


def test_setting_a_limit_is_audited_with_before_and_after_and_broadcast(
    risk_officer,
    sent_events,
    settings,
    django_capture_on_commit_callbacks,  # noqa: ANN001
) -> None:
    settings.RISK_BOOKS = ("desk", "B1")
    with django_capture_on_commit_callbacks(execute=True):
        first = services.limit_set(
            scope="book", scope_key="B1", kind="max_position", value=Decimal("25"), actor=risk_officer
        )
        second = services.limit_set(
            scope="book", scope_key="B1", kind="max_position", value=Decimal("12.5"), actor=risk_officer
        )

    assert first.pk == second.pk
    assert Limit.objects.get().value == Decimal("12.5")
    assert second.updated_by == risk_officer
    # In the order written (an event's seq comes later, when the sealer chains it)
    created, changed = AuditEvent.objects.filter(action="risk.limit.set").order_by("id")
    assert created.before is None
    assert created.after["value"] == "25.000000000000"
    assert changed.before["value"] == "25.000000000000"
    assert changed.after["value"] == "12.500000000000"
    assert [(name, payload["value"], payload["changed_by"]) for name, payload in sent_events] == [
        ("risk.limit", Decimal("25.000000000000"), "user:risk-t"),
        ("risk.limit", Decimal("12.500000000000"), "user:risk-t"),
    ]


def test_setting_a_limit_reactivates_it(risk_officer) -> None:  # noqa: ANN001
    limit_create(scope=LimitScope.DESK, kind=LimitKind.MAX_DAILY_LOSS, value="1", is_active=False)

    limit = services.limit_set(
        scope="desk", scope_key="", kind="max_daily_loss", value=Decimal("9"), actor=risk_officer
    )

    assert limit.is_active


def test_only_risk_officers_and_the_system_set_limits(trader, compliance) -> None:  # noqa: ANN001
    for actor in (trader, compliance, "dealer:ALPHA"):
        with pytest.raises(services.RiskPermissionDenied, match="risk.add_limit"):
            services.limit_set(scope="desk", scope_key="", kind="max_position", value=Decimal("1"), actor=actor)
    assert not Limit.objects.exists()

    services.limit_set(scope="desk", scope_key="", kind="max_position", value=Decimal("1"), actor="system:seed")
    assert Limit.objects.get().updated_by is None


@pytest.mark.parametrize(
    ("kind", "value", "field"),
    [
        ("max_position", Decimal("-1"), "value"),
        ("participation_cap", Decimal("1.5"), "value"),
        ("max_gamma", Decimal("1"), "kind"),
        ("max_position", Decimal("NaN"), "value"),
    ],
)
def test_bad_limits_name_the_field(risk_officer, kind, value, field) -> None:  # noqa: ANN001
    with pytest.raises(services.RiskRefused) as refused:
        services.limit_set(scope="desk", scope_key="", kind=kind, value=value, actor=risk_officer)

    assert field in refused.value.message_dict
    assert not AuditEvent.objects.exists()
