"""Fixtures of the end-to-end runs: a fresh desk database with the demo data, and waiting for a URL to answer."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT


def _manage(args: list[str], env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=env, check=True, capture_output=True)


def wait_for_url(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def desk_env(tmp_path: Path) -> dict[str, str]:
    # The desk as `make run` starts it: its default venues (over FIX), not the in-process one of the unit tests.
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DESK_DEBUG", "DESK_VENUE"}}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'desk.sqlite3'}"
    _manage(["migrate", "--noinput"], env)
    _manage(["seed_demo"], env)
    return env
