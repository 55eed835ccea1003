"""Stress replays (sim.stress) and the ``stress`` command: the scenario runs through the desk's own plan services,
limits, kill switches, monitor and telemetry, and the figures come from the rows the desk stored."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management import CommandError, call_command

import risk.services
from desk.models import AuditEvent
from execution.models import ChildOrder, ExecutionPlan, PlanStatus
from risk.checks import MAX_POSITION, VALIDATED_PRICE
from risk.models import KillSwitch, Limit, LimitKind, LimitScope
from risk.reference import KEY_PREFIX
from risk.services import CIRCUIT_BREAKER_ACTOR
from sim.database import database_use, run_database_config
from sim.market import SCENARIOS
from sim.stress import SENT_STATES, StressConfig, StressRefused, StressResult, stress_run
from tests.factories import own_database_url

pytestmark = pytest.mark.django_db

SEED = 7
PRINTED_KEYS = {
    "scenario",
    "loss",
    "daily_loss_limit",
    "max_loss_seen",
    "halted",
    "seconds_to_halt",
    "orders_after_halt",
    "breaches",
    "checks_fired",
}
# A plan short enough for the runs that go to the plan's end (about 60 steps of the desk).
SHORT = StressConfig(horizon_s=600.0)


@pytest.fixture(autouse=True)
def _debug_desk(settings: Any) -> None:
    # The test runner sets DEBUG=False; the replay runs only on a DESK_DEBUG=1 desk.
    settings.DEBUG = True


def _loss_from_orders(result: StressResult) -> float:
    """Independent mark: a buy-only book that started flat loses what it paid minus what it holds is worth."""
    paid = sum(quantity * price for _, quantity, price in result.orders)
    held = sum(quantity for _, quantity, _ in result.orders)
    return paid - held * result.final_mid


def _sent_after(plan: ExecutionPlan, event: AuditEvent) -> int:
    """The plan's children executed on the venues by a write the replay stored after ``event`` (its one transaction's
    event ids are its write order; the sealer chains them only after it commits)."""
    filled = AuditEvent.objects.filter(id__gt=event.id, action="child_order.fill").values_list("object_id", flat=True)
    return ChildOrder.objects.filter(plan=plan, status__in=SENT_STATES, pk__in=[int(pk) for pk in filled]).count()


def _sent_since(plan: ExecutionPlan, switch: KillSwitch) -> int:
    """The plan's children sent at or after the switch was engaged, on the desk's (simulated) clock."""
    return ChildOrder.objects.filter(plan=plan, status__in=SENT_STATES, sent_at__gte=switch.changed_at).count()


def test_feed_fault_trips_the_circuit_breaker_through_the_real_kill_switch() -> None:
    # given both feeds stop updating, the desk's own rows kept (the test's transaction rolls them back)
    result = stress_run("stale-feed", seed=SEED, rollback=False)
    # then the monitor tripped the breaker: the underlying's kill switch is engaged, audited, and halted the plan
    switch = KillSwitch.objects.get(scope=LimitScope.UNDERLYING, scope_key="BTC")
    assert switch.engaged
    engage = AuditEvent.objects.get(
        action="risk.kill_switch.engage", actor=CIRCUIT_BREAKER_ACTOR, after__scope_key="BTC"
    )
    # and only BTC's: ETH's feeds, judged with the same 10 s rounds, never looked silent
    assert not KillSwitch.objects.filter(scope_key="ETH").exists()
    plan = ExecutionPlan.objects.get()
    assert plan.status == PlanStatus.HALTED
    assert AuditEvent.objects.filter(action="execution_plan.halt", object_id=str(plan.pk)).exists()
    assert result.halted
    assert result.seconds_to_halt is not None
    assert result.seconds_to_halt <= 10.0
    assert ("risk.kill_switch.engage", CIRCUIT_BREAKER_ACTOR) in result.halt_events
    # and the count is the stored children sent after the halt: none
    assert result.orders_after_halt == _sent_after(plan, engage) == _sent_since(plan, switch) == 0


def test_market_moves_halt_the_plan_through_the_desks_telemetry() -> None:
    # given the vol-spike with the plan's participation rising as the market sells off
    result = stress_run("vol-spike", seed=SEED, rollback=False)
    # then the telemetry sweep (the beat's code) paused the plan, with its alert and audit event stored
    plan = ExecutionPlan.objects.get()
    assert plan.status == PlanStatus.PAUSED
    pause = AuditEvent.objects.get(action="execution_plan.pause", object_id=str(plan.pk))
    assert pause.actor == "system:risk_telemetry"
    assert result.halted
    assert result.loss_at_halt is not None
    assert result.loss_at_halt < result.daily_loss_limit
    assert result.max_loss_seen < result.daily_loss_limit
    assert result.orders_after_halt == _sent_after(plan, pause) == 0
    assert all(at_s <= result.seconds_to_halt for at_s, _, _ in result.orders)


def test_a_standing_limit_halts_the_plan_through_the_pre_trade_check() -> None:
    # given a position limit the plan reaches within a few children (in the vol-spike, which the monitor only
    # degrades: a flash crash would trip the circuit breaker before the third child)
    result = stress_run("vol-spike", seed=SEED, config=StressConfig(max_position=10.0), rollback=False)
    # then a child was refused by the real check (audited) and execution's rule halted the plan
    plan = ExecutionPlan.objects.get()
    assert plan.status == PlanStatus.HALTED
    refused = AuditEvent.objects.filter(action="risk.refused", after__limit=MAX_POSITION)
    assert refused.exists()
    halt = AuditEvent.objects.get(action="execution_plan.halt", object_id=str(plan.pk))
    assert halt.actor == "system:execution"
    assert {breach["limit"] for breach in result.breaches} >= {MAX_POSITION}
    assert result.orders_after_halt == _sent_after(plan, halt) == 0
    assert sum(quantity for _, quantity, _ in result.orders) <= 10.0


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_scenario_stays_within_the_daily_limit_and_sends_nothing_after_a_halt(scenario: str) -> None:
    result = stress_run(scenario, seed=SEED)
    assert result.max_loss_seen < result.daily_loss_limit
    assert result.orders_after_halt == 0
    if result.halted:
        # stopped by the desk's own actors: the breaker's kill switch, the telemetry sweep or execution's refusal rule
        assert {actor for _, actor in result.halt_events} <= {
            CIRCUIT_BREAKER_ACTOR,
            "system:risk_telemetry",
            "system:execution",
        }
        assert all(at_s <= result.seconds_to_halt for at_s, _, _ in result.orders)
    else:
        # the desk's telemetry only reduced the plan (liquidity withdrawal, seed 7): it ran to its end
        assert result.plan_status == PlanStatus.COMPLETED


def test_orders_after_halt_counts_stored_children_when_the_halt_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a kill switch that is engaged and audited but stops nothing (neither the plans under it nor the orders)
    monkeypatch.setattr(risk.services, "_scope_halt", lambda *, switch, actor: risk.services.ScopeHalted())
    monkeypatch.setattr(risk.services, "_state_refusal", lambda switch, order: None)
    config = StressConfig(require_validated_price=False)
    # when the breaker trips on the stale feed
    result = stress_run("stale-feed", seed=SEED, config=config, rollback=False)
    # then the halt is recorded, the worker kept sending, and the counter sees the children it stored
    engage = AuditEvent.objects.get(
        action="risk.kill_switch.engage", actor=CIRCUIT_BREAKER_ACTOR, after__scope_key="BTC"
    )
    plan = ExecutionPlan.objects.get()
    switch = KillSwitch.objects.get(scope=LimitScope.UNDERLYING, scope_key="BTC")
    assert switch.engaged
    assert result.halted
    assert result.seconds_to_halt <= 10.0
    assert result.orders_after_halt == _sent_after(plan, engage) == _sent_since(plan, switch)
    assert result.orders_after_halt > 0


@pytest.fixture(scope="module")
def guarded(django_db_setup: None, django_db_blocker: Any) -> StressResult:
    from django.conf import settings

    with django_db_blocker.unblock():
        settings.DEBUG = True
        try:
            return stress_run("vol-spike", seed=SEED, config=SHORT)
        finally:
            settings.DEBUG = False


@pytest.fixture(scope="module")
def unguarded(django_db_setup: None, django_db_blocker: Any) -> StressResult:
    from django.conf import settings

    with django_db_blocker.unblock():
        settings.DEBUG = True
        try:
            return stress_run("vol-spike", seed=SEED, config=SHORT, safeguards=False)
        finally:
            settings.DEBUG = False


def test_without_safeguards_the_plan_runs_on_and_the_breaches_are_recorded(
    guarded: StressResult, unguarded: StressResult
) -> None:
    # when the same replay runs with the checks in shadow
    # then it never halts, keeps buying into the sell-off and loses more
    assert not unguarded.halted
    assert unguarded.seconds_to_halt is None
    assert unguarded.plan_status == PlanStatus.COMPLETED
    assert len(unguarded.orders) > len(guarded.orders)
    assert unguarded.loss > guarded.loss
    assert unguarded.max_loss_seen > guarded.max_loss_seen
    # and the position limit the desk would have enforced was breached, and let through
    breached = {breach["limit"]: breach for breach in unguarded.breaches}
    assert breached[MAX_POSITION]["count"] >= 1
    assert breached[MAX_POSITION]["worst_observed"] > breached[MAX_POSITION]["threshold"]


def test_the_two_runs_share_the_market_until_the_halt(guarded: StressResult, unguarded: StressResult) -> None:
    # same seed, same children: the replays differ only by what the safeguards stopped
    before = [order for order in unguarded.orders if order[0] <= guarded.seconds_to_halt]
    assert len(before) == len(guarded.orders)
    for ours, theirs in zip(before, guarded.orders, strict=True):
        assert ours[1] == theirs[1]
        assert ours[2] == pytest.approx(theirs[2], rel=1e-5)


@pytest.mark.parametrize("which", ["guarded", "unguarded"])
def test_loss_is_the_mark_to_market_of_the_orders(which: str, request: pytest.FixtureRequest) -> None:
    result = request.getfixturevalue(which)
    assert result.loss == pytest.approx(_loss_from_orders(result), abs=0.01)
    assert result.max_loss_seen >= result.loss


def test_without_safeguards_a_stale_feed_is_recorded_not_enforced() -> None:
    result = stress_run("stale-feed", seed=SEED, config=SHORT, safeguards=False)
    assert not result.halted
    breached = {breach["limit"]: breach["count"] for breach in result.breaches}
    assert breached[VALIDATED_PRICE] >= 1


def test_the_run_leaves_nothing_behind() -> None:
    # given a validated price the live desk's monitor published
    cache.set(f"{KEY_PREFIX}BTC", {"price": "1", "state": "healthy", "source_feed": "A", "at": "2026-01-01T00:00:00"})
    audit = AuditEvent.objects.count()
    # when a replay that trips the breaker runs
    assert stress_run("stale-feed", seed=SEED).halted
    # then its plan, children, limits, kill switch and audit events were rolled back, and the cache put back
    assert not ExecutionPlan.objects.exists()
    assert not ChildOrder.objects.exists()
    assert not Limit.objects.exists()
    assert not KillSwitch.objects.exists()
    assert AuditEvent.objects.count() == audit
    assert cache.get(f"{KEY_PREFIX}BTC")["price"] == "1"


def test_refused_on_a_live_desk(settings: Any) -> None:
    settings.DEBUG = False
    with pytest.raises(StressRefused, match="DESK_DEBUG=0"):
        stress_run("vol-spike", seed=SEED)
    with pytest.raises(CommandError, match="DESK_DEBUG=0"):
        _stress("--scenario", "vol-spike", "--seed", str(SEED), "--json")
    assert not ExecutionPlan.objects.exists()


def test_config_and_run_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="quantity"):
        StressConfig(quantity=0.0)
    with pytest.raises(ValueError, match="horizon_s"):
        StressConfig(horizon_s=-5.0)
    with pytest.raises(ValueError, match="side"):
        StressConfig(side="hold")
    with pytest.raises(StressRefused, match="no-such"):
        stress_run("no-such", seed=1)
    with pytest.raises(StressRefused, match="seed"):
        stress_run("vol-spike", seed=2**32)
    with pytest.raises(StressRefused, match="duration"):
        stress_run("vol-spike", seed=1, duration_s=0.0)
    assert not ExecutionPlan.objects.exists()


def _stress(*args: str) -> str:
    out = StringIO()
    call_command("stress", *args, stdout=out)
    return out.getvalue()


def test_command_prints_exactly_the_report_keys() -> None:
    report = json.loads(_stress("--scenario", "stale-feed", "--seed", str(SEED), "--json"))
    assert set(report) == PRINTED_KEYS
    assert report["scenario"] == "stale-feed"
    assert report["halted"] is True
    assert report["orders_after_halt"] == 0
    assert report["max_loss_seen"] < report["daily_loss_limit"]
    assert all(math.isfinite(report[key]) for key in ("loss", "daily_loss_limit", "max_loss_seen"))
    # and the check that fired: stale, on BTC only, at the first step of the episode (10 s), halting it
    assert report["checks_fired"] == [
        {"underlying": "BTC", "check": "stale", "first_at_s": 10.0, "times": 1, "state": "halted"}
    ]
    assert not ExecutionPlan.objects.exists()


# The market-health check each scenario fires first in a replay (10 s steps, seed 7), and the state it brings.
FIRST_CHECK = {
    "vol-spike": ("volatility", "degraded"),
    "flash-crash": ("fast_move", "halted"),
    "liquidity-withdrawal": ("liquidity", "degraded"),
    "stale-feed": ("stale", "halted"),
    "corrupt-feed": ("outlier", "degraded"),
    "spoofing": ("spoofing", "degraded"),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_report_names_the_check_that_fired_on_the_scenarios_underlying_only(scenario: str) -> None:
    # given a replay short enough to see the episode begin (five minutes)
    result = stress_run(scenario, seed=SEED, config=SHORT, duration_s=300.0)
    fired = result.as_dict()["checks_fired"]
    # then only BTC's state moved, never in the warm-up, and the scenario's own check came first
    assert {row["underlying"] for row in fired} == {"BTC"}
    assert all(row["first_at_s"] > 0 for row in fired)
    first = min(fired, key=lambda row: (row["first_at_s"], row["check"] != FIRST_CHECK[scenario][0]))
    assert (first["check"], first["state"]) == FIRST_CHECK[scenario]
    # and no check flapped: each started to stand behind the state once
    assert all(row["times"] == 1 for row in fired)


def test_corrupt_feed_and_spoofing_no_longer_report_the_same() -> None:
    corrupt = stress_run("corrupt-feed", seed=SEED, config=SHORT, duration_s=300.0)
    spoofing = stress_run("spoofing", seed=SEED, config=SHORT, duration_s=300.0)
    assert {row["check"] for row in corrupt.checks_fired} == {"crossed", "outlier"}
    assert {row["check"] for row in spoofing.checks_fired} == {"spoofing"}


def test_command_without_safeguards_and_a_limit_of_its_own() -> None:
    report = json.loads(
        _stress(
            "--scenario", "vol-spike", "--seed", str(SEED), "--no-safeguards", "--daily-loss-limit", "500000", "--json"
        )
    )
    assert report["halted"] is False
    assert report["daily_loss_limit"] == 500000
    assert report["max_loss_seen"] > 500000


def test_command_text_output_names_the_halt() -> None:
    text = _stress("--scenario", "stale-feed", "--seed", str(SEED))
    assert "halted after" in text
    assert "circuit breaker" in text
    assert "orders after the halt: 0" in text
    assert "market health BTC halted: check stale from 10 s (1x)" in text


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--scenario", "tsunami", "--seed", "1"), "tsunami"),
        (("--scenario", "vol-spike", "--seed", "-3"), "--seed"),
        (("--scenario", "vol-spike", "--seed", str(2**32)), "--seed"),
        (("--scenario", "vol-spike", "--seed", "x"), "--seed"),
        (("--seed", "1"), "--scenario"),
        (("--scenario", "vol-spike", "--seed", "1", "--daily-loss-limit", "0"), "--daily-loss-limit"),
        (("--scenario", "vol-spike", "--seed", "1", "--daily-loss-limit", "-5"), "--daily-loss-limit"),
        (("--scenario", "vol-spike", "--seed", "1", "--duration", "0"), "--duration"),
        (("--scenario", "vol-spike", "--seed", "1", "--duration", "-60"), "--duration"),
    ],
)
def test_command_refuses_bad_arguments_and_books_nothing(args: tuple[str, ...], named: str) -> None:
    audit = AuditEvent.objects.count()
    with pytest.raises(CommandError, match=named):
        _stress(*args)
    assert not ExecutionPlan.objects.exists()
    assert AuditEvent.objects.count() == audit


def test_command_reads_the_desks_daily_loss_and_position_limits() -> None:
    # given the desk's own limits (the firm's looser position limit loses to the desk's)
    Limit.objects.create(scope=LimitScope.DESK, kind=LimitKind.MAX_DAILY_LOSS, value=Decimal(900_000))
    Limit.objects.create(scope=LimitScope.DESK, kind=LimitKind.MAX_POSITION, value=Decimal(120))
    Limit.objects.create(scope=LimitScope.FIRM, kind=LimitKind.MAX_POSITION, value=Decimal(500))
    # an inactive or book-level row is not the desk's
    Limit.objects.create(scope=LimitScope.DESK, kind=LimitKind.MAX_ORDER_NOTIONAL, value=Decimal(1), is_active=False)
    Limit.objects.create(scope=LimitScope.BOOK, scope_key="B1", kind=LimitKind.MAX_DAILY_LOSS, value=Decimal(1))

    report = json.loads(_stress("--scenario", "stale-feed", "--seed", str(SEED), "--json"))

    # then the replay ran with those limits, not the defaults
    assert report["daily_loss_limit"] == 900_000
    text = _stress("--scenario", "stale-feed", "--seed", str(SEED))
    assert "daily_loss_limit 900000 (desk limit), max_position 120 (desk limit)" in text
    # and the command line still wins over the desk's figure
    own = json.loads(_stress("--scenario", "stale-feed", "--seed", str(SEED), "--daily-loss-limit", "700000", "--json"))
    assert own["daily_loss_limit"] == 700_000
    # and the desk's rows are as they were
    assert Limit.objects.filter(is_active=True).count() == 4


def test_command_without_desk_limits_uses_the_defaults() -> None:
    text = _stress("--scenario", "stale-feed", "--seed", str(SEED))
    default = StressConfig()
    assert f"daily_loss_limit {default.daily_loss_limit:g} (default)" in text
    assert f"max_position {default.max_position:g} (default)" in text


def test_by_default_the_command_books_nothing_into_the_desks_database() -> None:
    audit = AuditEvent.objects.count()
    users = get_user_model().objects.count()

    report = json.loads(_stress("--scenario", "stale-feed", "--seed", str(SEED), "--json"))

    assert report["halted"] is True
    assert not ExecutionPlan.objects.exists()
    assert not ChildOrder.objects.exists()
    assert not Limit.objects.exists()
    assert not KillSwitch.objects.exists()
    assert AuditEvent.objects.count() == audit
    assert get_user_model().objects.count() == users


def test_command_books_into_the_database_url_it_is_given(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'run.sqlite3'}"

    report = json.loads(_stress("--scenario", "stale-feed", "--seed", str(SEED), "--database-url", url, "--json"))

    assert report["halted"] is True
    with database_use(run_database_config(url)):
        plan = ExecutionPlan.objects.get()
        assert plan.status == PlanStatus.HALTED
        assert KillSwitch.objects.get(scope=LimitScope.UNDERLYING, scope_key="BTC").engaged
        assert report["orders_after_halt"] == 0
    assert not ExecutionPlan.objects.exists()


def test_command_refuses_the_desks_own_database() -> None:
    own = own_database_url()

    with pytest.raises(CommandError, match="desk's own database"):
        _stress("--scenario", "vol-spike", "--seed", str(SEED), "--database-url", own)

    assert not ExecutionPlan.objects.exists()
