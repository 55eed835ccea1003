"""Crash safety on Redis: two worker processes work two plans; one is killed with SIGKILL mid-plan and a new one
starts; beat's sweep picks up the ticks the dead worker held. Every child order is sent exactly once, every fill is
booked once, and the positions reconcile with the fills."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Sum

from desk.audit import chain_verify
from desk.celery import app as celery_app
from desk.models import AuditEvent
from execution import services, tasks
from execution.models import ChildOrder, ChildOrderStatus, ExecutionPlan, Fill, PlanStatus, Position
from execution.services import plans as plans_module
from tests.conftest import REPO_ROOT

pytestmark = [
    pytest.mark.skipif(
        not settings.REDIS_URL,
        reason="needs REDIS_URL: worker processes share the queue only through Redis (the memory broker is "
        "per process), so a killed worker can only be replaced by another process on a real broker",
    ),
    pytest.mark.django_db(transaction=True),
]

# Worker processes on their own queue, so that no other worker of the test session takes these plans' ticks.
QUEUE = "execution-crash-test"
WORKER = """
import sys
from desk.celery import app
queue, name = sys.argv[1], sys.argv[2]
app.conf.task_default_queue = queue
app.worker_main(["worker", "--pool=solo", "-Q", queue, "-n", name, "--loglevel=WARNING",
                 "--without-heartbeat", "--without-mingle", "--without-gossip"])
"""


def _database_url() -> str:
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings_dict['NAME']}"
    user = quote(settings_dict["USER"] or "")
    password = f":{quote(settings_dict['PASSWORD'])}" if settings_dict["PASSWORD"] else ""
    host, port = settings_dict["HOST"] or "localhost", settings_dict["PORT"] or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"


def _worker(queue: str, name: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": _database_url(), "DJANGO_SETTINGS_MODULE": "desk.settings"}
    return subprocess.Popen([sys.executable, "-c", WORKER, queue, f"{name}@crash-test"], cwd=REPO_ROOT, env=env)


def _wait(condition, timeout: float, step: object = None) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        if callable(step):
            step()
        time.sleep(0.5)


def _purge(queue: str) -> None:
    with celery_app.connection_for_write() as connection_:
        connection_.default_channel.queue_purge(queue)


def test_a_worker_killed_mid_plan_leaves_every_child_sent_once(trader, instrument, monkeypatch) -> None:  # noqa: ANN001
    queue = QUEUE
    _purge(queue)  # ticks of an earlier run's killed worker, restored after the visibility timeout
    monkeypatch.setattr(
        plans_module,
        "tick_queue",
        lambda plan: transaction.on_commit(lambda: tasks.plan_tick.apply_async((plan.pk,), queue=queue)),
    )
    workers = {"a": _worker(queue, "a"), "b": _worker(queue, "b")}
    try:
        # given two plans worked by two worker processes
        plans = [
            services.plan_create(
                instrument=instrument,
                side=side,
                quantity=Decimal(quantity),
                algorithm="twap",
                parameters={"horizon_s": 5, "slices": 10, "book": book},
                actor=trader,
            )
            for side, quantity, book in (("buy", "1", "crash-1"), ("sell", "2", "crash-2"))
        ]
        for plan in plans:
            services.plan_start(plan_id=plan.pk, actor=trader)
        _wait(lambda: Fill.objects.count() >= 4, timeout=30)

        # when one worker dies without warning mid-plan, and a new one starts
        workers["a"].send_signal(signal.SIGKILL)
        workers["a"].wait(10)
        workers["c"] = _worker(queue, "c")

        # then, with beat's sweep running (every second here), both plans are worked to the end
        def sweep() -> None:
            tasks.plans_sweep.apply_async(queue=queue)

        _wait(
            lambda: set(ExecutionPlan.objects.values_list("status", flat=True)) == {PlanStatus.COMPLETED},
            timeout=45,
            step=sweep,
        )
    finally:
        for worker in workers.values():
            if worker.poll() is None:
                worker.send_signal(signal.SIGKILL)
                worker.wait(10)
        _purge(queue)

    children = ChildOrder.objects.filter(plan__in=plans)
    assert children.count() == 20
    assert set(children.values_list("status", flat=True)) == {ChildOrderStatus.FILLED}
    per_child = Fill.objects.values("child_order").annotate(n=Count("id"))
    assert sorted(row["n"] for row in per_child) == [1] * 20  # sent exactly once, booked once
    assert AuditEvent.objects.filter(action="child_order.fill").count() == 20
    for plan, book, signed in ((plans[0], "crash-1", Decimal(1)), (plans[1], "crash-2", Decimal(-2))):
        plan.refresh_from_db()
        filled = Fill.objects.filter(child_order__plan=plan).aggregate(q=Sum("quantity"))["q"]
        assert plan.filled_quantity == filled == abs(signed)
        assert Position.objects.get(book=book, instrument=instrument).quantity == signed
    assert chain_verify().ok
