"""Execution throughput: plans worked to completion per minute by one and by two Celery worker processes on Redis,
and the ratio two / one, in one run on the same database.

Needs ``REDIS_URL`` (worker processes share the queue only through a real broker); without it the module prints
why it is skipped on stderr and yields nothing. ``DATABASE_URL`` is used when set, through a temporary database on
that server (PostgreSQL shows the scaling; SQLite serializes writers), else a temporary SQLite file. Each plan is a
10-child TWAP whose children are all due at once, on its own book, so that the figure is the worker's throughput,
not the schedule's waiting.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.bench.django_env import django_ready

QUEUE = "execution-bench"
PLANS = 24
CHILDREN = 10
REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER = """
import sys
from desk.celery import app
queue, name = sys.argv[1], sys.argv[2]
app.conf.task_default_queue = queue
app.worker_main(["worker", "--pool=solo", "-Q", queue, "-n", name, "--loglevel=WARNING",
                 "--without-heartbeat", "--without-mingle", "--without-gossip"])
"""


def _setup() -> None:
    # The run's own database (a temporary one on the PostgreSQL server when DATABASE_URL names one); the worker
    # processes inherit it through the environment.
    django_ready()
    from desk.celery import app

    app.conf.task_default_queue = QUEUE


def _purge() -> None:
    from desk.celery import app

    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(QUEUE)


def _workers(count: int, run: str) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "desk.settings"}
    return [
        subprocess.Popen([sys.executable, "-c", WORKER, QUEUE, f"{run}-{i}@bench"], cwd=REPO_ROOT, env=env)
        for i in range(count)
    ]


def _plans(trader: Any, instrument: Any, count: int, run: str) -> list[int]:
    from execution import services

    ids = []
    for i in range(count):
        plan = services.plan_create(
            instrument=instrument,
            side="buy" if i % 2 == 0 else "sell",
            quantity=Decimal("0.1"),
            algorithm="twap",
            parameters={"horizon_s": 0.001, "slices": CHILDREN, "book": f"bench-{run}-{i}", "replan": False},
            actor=trader,
        )
        ids.append(plan.pk)
    return ids


def _work(ids: list[int], trader: Any, timeout: float) -> float:
    """Start the plans and return the seconds until none is running."""
    from execution import services
    from execution.models import ExecutionPlan, PlanStatus

    started = time.perf_counter()
    for plan_id in ids:
        services.plan_start(plan_id=plan_id, actor=trader)
    while ExecutionPlan.objects.filter(pk__in=ids, status=PlanStatus.RUNNING).exists():
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"plans still running after {timeout} s")
        time.sleep(0.05)
    return time.perf_counter() - started


def _per_minute(count: int, trader: Any, instrument: Any) -> tuple[float, int]:
    from execution.models import ExecutionPlan, PlanStatus

    run = f"w{count}-{time.monotonic_ns()}"
    _purge()
    workers = _workers(count, run)
    try:
        _work(_plans(trader, instrument, count, f"{run}-warm"), trader, timeout=120)  # imports, numba cache, pools
        ids = _plans(trader, instrument, PLANS, run)
        seconds = _work(ids, trader, timeout=600)
    finally:
        for worker in workers:
            worker.kill()
            worker.wait(10)
        _purge()
    completed = ExecutionPlan.objects.filter(pk__in=ids, status=PlanStatus.COMPLETED).count()
    return completed / seconds * 60.0, completed


def benchmarks() -> Iterator[dict[str, Any]]:
    if not os.environ.get("REDIS_URL"):
        print("bench_plans skipped: set REDIS_URL (worker processes share plans only through Redis)", file=sys.stderr)
        return
    _setup()
    from desk.models import Instrument
    from desk.roles import Role
    from tests import factories

    trader = factories.user_create(role=Role.TRADER, username=f"bench-trader-{time.monotonic_ns()}")
    instrument = Instrument.objects.filter(symbol="BTC-USD-BENCH").first() or factories.instrument_create(
        symbol="BTC-USD-BENCH"
    )
    one, done_one = _per_minute(1, trader, instrument)
    two, done_two = _per_minute(2, trader, instrument)
    yield {
        "bench": "plans_per_minute_two_workers",
        "value": round(two, 1),
        "baseline": round(one, 1),
        "ratio": round(two / one, 3),
        "unit": f"plans/min ({PLANS} plans x {CHILDREN} children; completed {done_two} vs {done_one})",
    }
