"""Crash safety across the wire: the desk's process (a Celery worker and the venue gateway, as ``rundesk`` runs
them) is SIGKILLed at five points of a child order's life -- before the send, after the send and before the
acknowledgement, between two partial fills, after a fill and before its booking, during the reconciliation -- and
started again. The simulated FIX venues keep running. Each run ends with every child order sent once, every fill
booked once, and the desk's position equal to the venues' own record."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.db import connection
from django.db.models import Count

from desk import clock
from desk.audit import chain_verify
from desk.market import venue_books_ensure
from execution import services
from execution.models import ChildOrder, ChildOrderStatus, ExecutionPlan, Fill, PlanStatus, Position
from sim.fix_venues import FixVenues, VenueBehaviour, fix_venues_start
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.django_db(transaction=True)

DESK = """
import os, time
import django
django.setup()
from desk.celery import app
from desk.embedded import embedded_worker
from execution import tasks
from execution.fix.gateway import VenueGatewayThread, venue_addresses
from execution.models import ExecutionPlan, PlanStatus
from django.conf import settings
with embedded_worker(app, concurrency=2):
    VenueGatewayThread(addresses=venue_addresses(settings.DESK_VENUE_FIX), status_timeout_s=1.0).start()
    while True:  # the sweep, every second: a tick run twice sends each child once
        for plan_id in ExecutionPlan.objects.filter(status=PlanStatus.RUNNING).values_list("pk", flat=True):
            tasks.plan_tick.delay(plan_id)
        time.sleep(1.0)
"""


def _database_url() -> str:
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings_dict['NAME']}"
    user = quote(settings_dict["USER"] or "")
    password = f":{quote(settings_dict['PASSWORD'])}" if settings_dict["PASSWORD"] else ""
    host, port = settings_dict["HOST"] or "localhost", settings_dict["PORT"] or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"


def _desk(venues: FixVenues, crash_at: str | None = None) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "DESK_CRASH_AT")}
    env |= {
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "desk.settings",
        "DESK_VENUE": "fix",
        "DESK_VENUE_FIX": venues.setting(),
    }
    if crash_at:
        env["DESK_CRASH_AT"] = crash_at
    return subprocess.Popen([sys.executable, "-c", DESK], cwd=REPO_ROOT, env=env)


def _wait(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def venues(settings) -> Iterator[FixVenues]:  # noqa: ANN001
    settings.DESK_VENUE = "fix"
    venue_books_ensure(underlying="BTC", now=clock.now())
    running = fix_venues_start(behaviour=VenueBehaviour(fill_latency_s=0.2, min_parts=2, max_parts=3), seed=11)
    yield running
    running.stop()


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(10)


def _plan(trader, instrument) -> ExecutionPlan:  # noqa: ANN001
    plan = services.plan_create(
        instrument=instrument,
        side="buy",
        quantity=Decimal("0.3"),
        algorithm="twap",
        parameters={"horizon_s": 2, "slices": 3, "seed": 5, "max_slippage_bps": 500},
        actor=trader,
    )
    return services.plan_start(plan_id=plan.pk, actor=trader)


def _venue_position(venues: FixVenues, symbol: str) -> Decimal:
    return sum((venue.positions().get(symbol, Decimal(0)) for venue in venues.venues.values()), Decimal(0))


def _done(plan: ExecutionPlan) -> bool:
    plan.refresh_from_db()
    return plan.status == PlanStatus.COMPLETED


def _exactly_once(plan: ExecutionPlan, venues: FixVenues, instrument) -> None:  # noqa: ANN001
    sent = ChildOrder.objects.filter(plan=plan, sent_at__isnull=False)
    assert set(sent.values_list("status", flat=True)) <= {ChildOrderStatus.FILLED, ChildOrderStatus.CANCELLED}
    venue_orders = [order for venue in venues.venues.values() for order in venue.orders.values()]
    # every child order reached a venue once, and every venue order is a child the desk sent
    assert sorted(order.cl_ord_id for order in venue_orders) == sorted(sent.values_list("client_order_id", flat=True))
    venue_fills = {f"{code}:{fill[0]}" for code, venue in venues.venues.items() for fill in venue.fills}
    booked = Fill.objects.filter(child_order__plan=plan)
    assert set(booked.values_list("exec_id", flat=True)) == venue_fills  # each fill booked, once
    assert not booked.values("exec_id").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert Position.objects.get(instrument=instrument).quantity == _venue_position(venues, instrument.symbol)
    assert chain_verify().ok


@pytest.mark.parametrize("crash_at", ["before_send", "after_send", "between_partials", "before_booking"])
def test_the_desk_killed_at_a_crash_point_books_every_fill_once(
    trader,
    instrument,
    venues,
    processes,
    crash_at,  # noqa: ANN001
) -> None:
    # given a running plan and the desk's process told to die at the crash point
    plan = _plan(trader, instrument)
    first = _desk(venues, crash_at)
    processes.append(first)

    # when it dies there (SIGKILL, no clean-up) and is started again
    assert first.wait(60) == -signal.SIGKILL
    processes.append(_desk(venues))

    # then the plan completes with every child sent once and every fill booked once
    _wait(lambda: _done(plan), timeout=90, what="the plan completed after the restart")
    _wait(
        lambda: not any(order.status in ("0", "1") for v in venues.venues.values() for order in v.orders.values()),
        timeout=10,
        what="venues idle",
    )
    _exactly_once(plan, venues, instrument)


def test_the_desk_killed_during_reconciliation_reconciles_again(trader, instrument, venues, processes) -> None:  # noqa: ANN001
    # given orders open at the venues (their fills held back) when the desk dies
    for venue in venues.venues.values():
        venue.paused = True
    plan = _plan(trader, instrument)
    first = _desk(venues)
    processes.append(first)
    _wait(
        lambda: ChildOrder.objects.filter(plan=plan, status=ChildOrderStatus.ACKNOWLEDGED).count() >= 3,
        timeout=60,
        what="three children acknowledged",
    )
    first.send_signal(signal.SIGKILL)
    first.wait(10)

    # when the next desk dies while it reconciles, and a third one starts
    second = _desk(venues, "during_reconciliation")
    processes.append(second)
    assert second.wait(60) == -signal.SIGKILL
    for venue in venues.venues.values():
        venue.paused = False
    processes.append(_desk(venues))

    # then everything is reconciled and booked once
    _wait(lambda: _done(plan), timeout=90, what="the plan completed after the restarts")
    _exactly_once(plan, venues, instrument)
