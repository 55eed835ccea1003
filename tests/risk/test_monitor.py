"""The market-health service: it trips the circuit breaker once on a halt, never re-arms it, broadcasts every change
of state, and hears the real market service through the channel layer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from desk.models import AuditEvent
from execution.models import PlanStatus
from risk import monitor as monitor_module
from risk import services
from risk.feed import feed_key
from risk.market_health import Health, HealthThresholds
from risk.models import KillSwitch, LimitScope, MarketHealth
from risk.monitor import HEALTH_EVENT, MarketHealthService, market_health_for, market_health_snapshot
from sim.market import scenario_run, scenario_start
from sim.market_service import MarketService
from tests import factories
from tests.conftest import REPO_ROOT
from tests.factories import own_database_url
from tests.risk.factories import plan_create, proposed_order

ENGAGE = "risk.kill_switch.engage"


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The service's ``risk.market_health`` broadcasts, in order."""
    sent: list[dict[str, Any]] = []

    def record(*, event: str, payload: dict[str, Any], **kwargs: Any) -> None:
        sent.append({"event": event, **payload})

    monkeypatch.setattr(monitor_module, "broadcast", record)
    return sent


def replay_into(service: MarketHealthService, name: str, *, seed: int, dt_s: float = 1.0, **params: Any) -> None:
    """Feed a scenario to the service one published round (both underlyings, both feeds) at a time, on the
    simulated clock, as the live service receives ticks."""
    run = scenario_run(name, seed=seed, feed_key=feed_key(), dt_s=dt_s, warmup_s=60.0, **params)
    start = datetime.fromisoformat(run.messages[0]["ts"])
    for index in range(0, len(run.messages), 4):
        service.handle_messages(run.messages[index : index + 4], now=start + timedelta(seconds=dt_s * index / 4))


def btc_switch() -> KillSwitch | None:
    return KillSwitch.objects.filter(scope=LimitScope.UNDERLYING, scope_key="BTC").first()


@pytest.mark.django_db
def test_a_halt_trips_the_breaker_exactly_once_audited_and_halts_the_plans(
    trader: Any, events: list[dict[str, Any]]
) -> None:
    # given a running BTC plan and an ETH plan, and both BTC feeds going stale for ten minutes
    btc_plan = plan_create(instrument=factories.instrument_create(symbol="BTC-USD"), created_by=trader)
    eth_plan = plan_create(
        instrument=factories.instrument_create(symbol="ETH-USD", base_currency="ETH"), created_by=trader
    )
    service = MarketHealthService()

    # when the service sees the whole episode (595 stale rounds after the halt)
    replay_into(service, "stale-feed", seed=7)

    # then one audited engagement of the BTC switch by the circuit breaker, naming the stale feeds
    (engaged,) = AuditEvent.objects.filter(action=ENGAGE)
    assert engaged.actor == "system:circuit_breaker"
    assert engaged.object_id == str(btc_switch().pk)
    switch = btc_switch()
    assert switch.engaged
    assert switch.reason.startswith("circuit breaker: market data BTC feed A: stale, no price change for 5.0 s")
    assert not KillSwitch.objects.filter(scope_key="ETH", engaged=True).exists()
    # and the BTC plan is halted, the ETH one still running
    btc_plan.refresh_from_db()
    eth_plan.refresh_from_db()
    assert (btc_plan.status, eth_plan.status) == (PlanStatus.HALTED, PlanStatus.RUNNING)
    # and the risk page heard healthy → halted (both feeds of the round at once), the halt flagged as having
    # tripped the breaker, with the check behind it
    btc_events = [(e["previous"], e["state"], e["circuit_breaker"]) for e in events if e["symbol"] == "BTC"]
    assert btc_events == [(None, "healthy", False), ("healthy", "halted", True)]
    assert [e["checks"] for e in events if e["symbol"] == "BTC"] == [[], ["stale"]]
    assert {e["event"] for e in events} == {HEALTH_EVENT}
    assert [symbol for symbol, _ in service.trips] == ["BTC"]


@pytest.mark.django_db
def test_recovery_does_not_rearm_only_a_risk_officer_does(risk_officer: Any, events: list[dict[str, Any]]) -> None:
    # given a stale episode followed by 200 s of a clean market (a feed stale for ten minutes is trusted again once
    # its failure penalty has decayed: 150 s after its last stale message)
    service = MarketHealthService()

    # when the service sees it all
    replay_into(service, "stale-feed", seed=7, duration_s=800.0)

    # then BTC is healthy again, yet its switch stays engaged and an order on BTC is still refused
    assert service.health("BTC").state == Health.HEALTHY
    btc_states = [e["state"] for e in events if e["symbol"] == "BTC"]
    assert btc_states[btc_states.index("halted") :] == ["halted", "healthy"]
    assert btc_switch().engaged
    report = services.limit_check(order=proposed_order(), actor="system:test")
    assert report.limits == ["kill_switch"]
    assert AuditEvent.objects.filter(action="risk.kill_switch.rearm").count() == 0
    # and once a risk officer re-arms, the same order passes
    services.kill_switch_rearm(scope="underlying", scope_key="BTC", reason="feeds back", actor=risk_officer)
    assert services.limit_check(order=proposed_order(), actor="system:test").passed


@pytest.mark.django_db
def test_a_corrupt_feed_b_degrades_without_tripping(events: list[dict[str, Any]]) -> None:
    service = MarketHealthService()

    replay_into(service, "corrupt-feed", seed=7, dt_s=1.0)

    assert service.health("BTC").state == Health.DEGRADED
    assert service.health("BTC").source_feed == "A"
    assert "halted" not in {e["state"] for e in events}
    assert not KillSwitch.objects.exists()
    assert service.trips == []


@pytest.mark.django_db
def test_a_trip_the_database_refuses_is_retried_while_halted(monkeypatch: pytest.MonkeyPatch, events: list) -> None:
    # given a breaker whose first call fails (database locked)
    calls: list[str] = []
    real = monitor_module.circuit_breaker_trip

    def flaky(*, underlying: str, reason: str) -> KillSwitch:
        calls.append(underlying)
        if len(calls) == 1:
            raise RuntimeError("database is locked")
        return real(underlying=underlying, reason=reason)

    monkeypatch.setattr(monitor_module, "circuit_breaker_trip", flaky)
    service = MarketHealthService()

    # when BTC halts and the stale episode goes on
    replay_into(service, "stale-feed", seed=7, duration_s=30.0)

    # then the second attempt, at the next round, engaged the switch; once
    assert calls == ["BTC", "BTC"]
    assert btc_switch().engaged
    assert AuditEvent.objects.filter(action=ENGAGE).count() == 1


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def live_market() -> Iterator[tuple[MarketHealthService, MarketService]]:
    """The monitor subscribed first, then the real market service ticking every 50 ms on the channel layer."""
    health = MarketHealthService(thresholds=HealthThresholds(stale_after_s=0.5), tick_s=0.05).start()
    market = MarketService(seed=5, tick_s=0.05, persist_every_s=None).start()
    try:
        yield health, market
    finally:
        # The monitor first: a market that stops publishing is, to it, a market gone stale.
        health.stop()
        market.stop()


@pytest.mark.django_db(transaction=True)
def test_the_service_hears_the_real_market_and_halts_only_the_stale_underlying(
    live_market: tuple[MarketHealthService, MarketService],
) -> None:
    health, market = live_market

    # given both underlyings healthy from the market service's signed ticks
    assert wait_for(
        lambda: {s: h["state"] for s, h in market_health_snapshot().items()} == dict.fromkeys(("BTC", "ETH"), "healthy")
    )
    assert market_health_for(underlying="BTC").source_feed == "A"

    # when both BTC feeds go stale in the running world
    with market.lock:
        scenario_start(market.simulator, "stale-feed", underlying="BTC")

    # then the breaker trips for BTC, audited, and ETH carries on healthy
    assert wait_for(lambda: bool(health.trips))
    assert btc_switch().engaged
    assert market_health_for(underlying="BTC").state == Health.HALTED
    assert market_health_for(underlying="BTC").price is None
    assert AuditEvent.objects.filter(action=ENGAGE, actor="system:circuit_breaker").count() == 1
    assert market_health_for(underlying="ETH").state == Health.HEALTHY
    assert not KillSwitch.objects.filter(scope_key="ETH").exists()
    assert [symbol for symbol, _ in health.trips] == ["BTC"]


@pytest.mark.django_db(transaction=True)
def test_a_silent_market_halts_everything() -> None:
    # given the monitor listening and a market that publishes a few ticks then stops
    health = MarketHealthService(thresholds=HealthThresholds(stale_after_s=0.5), tick_s=0.05).start()
    market = MarketService(seed=6, tick_s=0.05, persist_every_s=None).start()
    try:
        assert wait_for(lambda: len(market_health_snapshot()) == 2)
        market.stop()

        # then silence halts both underlyings and trips both breakers
        assert wait_for(lambda: KillSwitch.objects.filter(engaged=True).count() == 2)
    finally:
        health.stop()
        market.stop()
    assert sorted(KillSwitch.objects.values_list("scope_key", flat=True)) == ["BTC", "ETH"]
    assert all("silent" in reason for reason in KillSwitch.objects.values_list("reason", flat=True))
    # and a stopped monitor no longer answers the selectors
    assert market_health_snapshot() == {}


# ------------------------------------------------------------------------------------------------ stored verdicts
@pytest.mark.django_db
def test_each_change_of_state_is_stored_once_and_audited(events: list[dict[str, Any]]) -> None:
    # given the service hearing 30 s of calm market, then both BTC feeds stale for a minute
    service = MarketHealthService()
    replay_into(service, "stale-feed", seed=7, duration_s=60.0)

    # then one row per underlying holds the latest verdict: BTC halted by the stale check, with its figures
    btc, eth = MarketHealth.objects.get(underlying="BTC"), MarketHealth.objects.get(underlying="ETH")
    assert (btc.state, btc.checks, btc.source_feed) == ("halted", ["stale"], "")
    assert btc.reason.startswith("BTC feed A: stale")
    assert {finding["feed"] for finding in btc.findings} == {"A", "B"}
    assert all(finding["figures"]["threshold_s"] == 5.0 for finding in btc.findings)
    assert btc.since == service.health("BTC").since
    assert (eth.state, eth.checks, eth.source_feed) == ("healthy", [], "A")
    # and it was written on the changes only (ETH's first verdict, BTC's first and its halt), not at every round
    stored = AuditEvent.objects.filter(action="risk.market_health").order_by("id")  # as written
    assert [(e.after["underlying"], e.after["state"]) for e in stored] == [
        ("BTC", "healthy"),
        ("ETH", "healthy"),
        ("BTC", "halted"),
    ]
    assert stored.last().actor == "system:market_health"
    assert stored.last().before["state"] == "healthy"


@pytest.mark.django_db
def test_a_verdict_the_database_refuses_is_written_at_the_next_round(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a database that refuses the first write of the halt
    real = monitor_module.market_health_record
    refused: list[str] = []

    def flaky(**fields: Any) -> MarketHealth:
        if fields["state"] == "halted" and not refused:
            refused.append(fields["underlying"])
            raise RuntimeError("database is locked")
        return real(**fields)

    monkeypatch.setattr(monitor_module, "market_health_record", flaky)
    monkeypatch.setattr(monitor_module, "broadcast", lambda **kwargs: None)
    service = MarketHealthService()

    # when BTC halts and the episode goes on
    replay_into(service, "stale-feed", seed=7, duration_s=30.0)

    # then the halt was stored all the same, once
    assert refused == ["BTC"]
    assert MarketHealth.objects.get(underlying="BTC").state == "halted"
    assert AuditEvent.objects.filter(action="risk.market_health", after__state="halted").count() == 1


READER = """
import json, django
django.setup()
from desk.metrics import metrics_text
from risk.selectors import market_health_board
board = {
    row.underlying: {
        "state": row.health.state if row.health else None,
        "checks": row.health.checks if row.health else None,
        "circuit_breaker": row.circuit_breaker,
    }
    for row in market_health_board()
}
prefixes = ("desk_market_health", "desk_circuit", "desk_kill")
lines = [line for line in metrics_text().splitlines() if line.startswith(prefixes)]
print(json.dumps({"board": board, "metrics": lines}))
"""


@pytest.mark.django_db(transaction=True)
def test_another_process_reads_the_same_verdict_and_breaker(monkeypatch: pytest.MonkeyPatch) -> None:
    # given the monitor in this process halting BTC on a stale feed (the breaker tripped)
    monkeypatch.setattr(monitor_module, "broadcast", lambda **kwargs: None)
    service = MarketHealthService()
    replay_into(service, "stale-feed", seed=7, duration_s=30.0)
    assert service.trips

    # when another process, which runs no monitor, reads the desk's database
    env = {**os.environ, "DATABASE_URL": own_database_url(), "DJANGO_SETTINGS_MODULE": "desk.settings"}
    done = subprocess.run(
        [sys.executable, "-c", READER], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    # then it sees what this one decided: BTC halted by the stale check, its breaker engaged; ETH healthy
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["board"] == {
        "BTC": {"state": "halted", "checks": ["stale"], "circuit_breaker": True},
        "ETH": {"state": "healthy", "checks": [], "circuit_breaker": False},
    }
    # and its /metrics carry the same, per underlying
    assert 'desk_market_health_state{underlying="BTC",state="halted"} 1.0' in seen["metrics"]
    assert 'desk_market_health_check{underlying="BTC",check="stale"} 1.0' in seen["metrics"]
    assert 'desk_circuit_breaker_engaged{underlying="BTC"} 1.0' in seen["metrics"]
    assert 'desk_circuit_breaker_engaged{underlying="ETH"} 0.0' in seen["metrics"]
    assert 'desk_kill_switch_engaged{scope="underlying",scope_key="BTC"} 1.0' in seen["metrics"]
