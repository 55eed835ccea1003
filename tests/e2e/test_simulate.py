"""`manage.py simulate`: the simulated world as its own process, beside a desk started without it (the scaled
mode's layout on one machine), stopping cleanly on SIGTERM as a process manager stops it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, free_port
from tests.e2e.conftest import wait_for_url

pytestmark = [pytest.mark.e2e, pytest.mark.own_database]


@pytest.fixture
def bare_env(tmp_path: Path) -> dict[str, str]:
    # The refusals come before the database is touched: an empty database file is enough.
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DESK_DEBUG"}}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    return env


def _ticked(database: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(database) as db:
        return db.execute(
            "SELECT underlying, ticked_at FROM execution_venuebook WHERE ticked_at IS NOT NULL"
        ).fetchall()


def _until(condition, seconds: float) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_the_simulated_world_runs_apart_from_the_desk_and_stops_on_sigterm(desk_env: dict[str, str]) -> None:
    # given a desk serving the web and the FIX gateway, with no simulated world of its own
    database = Path(desk_env["DATABASE_URL"].removeprefix("sqlite:///"))
    port, fix_port = free_port(), free_port()
    desk = subprocess.Popen(
        [sys.executable, "manage.py", "rundesk", "--no-sim", "--port", str(port), "--fix-port", str(fix_port)],
        cwd=REPO_ROOT,
        env=desk_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    world = None
    try:
        wait_for_url(f"http://127.0.0.1:{port}/healthz", seconds=60)
        assert _ticked(database) == []
        # when the simulated world starts as its own process
        world = subprocess.Popen(
            [sys.executable, "manage.py", "simulate", "--url", f"http://127.0.0.1:{port}", "--fix-port", str(fix_port)],
            cwd=REPO_ROOT,
            env=desk_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        # then its market ticks the venue books the desk trades against, and keeps ticking
        assert _until(lambda: len(_ticked(database)) > 0, seconds=60)
        first = dict(_ticked(database))
        assert _until(lambda: any(first.get(u) != t for u, t in _ticked(database)), seconds=30)
        # and SIGTERM stops it cleanly
        world.send_signal(signal.SIGTERM)
        out, _ = world.communicate(timeout=30)
        assert world.returncode == 0, out
        assert "simulated world stopped" in out
        assert "Traceback" not in out
    finally:
        for process in (world, desk):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.communicate(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--seed", "-1"], "--seed must be in 0.."), (["--seed", str(2**32)], "--seed must be in 0..")],
)
def test_simulate_refuses_a_seed_out_of_range_in_one_line(
    bare_env: dict[str, str], args: list[str], message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "simulate", *args], cwd=REPO_ROOT, env=bare_env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_simulate_is_refused_in_production(bare_env: dict[str, str]) -> None:
    env = {
        **bare_env,
        "DESK_DEBUG": "0",
        "DJANGO_SECRET_KEY": "production-key-" + "0123456789abcdef" * 4,
        "DESK_AUDIT_KEY": "production-audit-key-" + "fedcba9876543210" * 2,
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "simulate"], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "refused when DESK_DEBUG=0" in result.stderr
