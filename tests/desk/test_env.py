"""Settings come from the environment; a malformed variable stops start-up with one line naming it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from desk import env
from tests.conftest import REPO_ROOT

STRONG_KEY = "k3y-" + "".join(chr(ord("a") + i % 26) for i in range(60))
AUDIT_KEY = "audit-" + "".join(chr(ord("A") + i % 26) for i in range(40))


def test_embedded_defaults_are_sqlite_memory_broker_and_debug() -> None:
    loaded = env.load({}, base_dir="/srv/desk")

    assert loaded.debug is True
    assert loaded.embedded is True
    assert loaded.database["ENGINE"] == "django.db.backends.sqlite3"
    assert loaded.database["NAME"] == "/srv/desk/desk.sqlite3"
    assert loaded.fix_port == 9878


def test_database_and_redis_urls_switch_to_scale_out_mode() -> None:
    loaded = env.load(
        {"DATABASE_URL": "postgres://desk@db.internal:5432/desk", "REDIS_URL": "redis://cache:6379/2"},
        base_dir="/srv/desk",
    )

    assert loaded.database["ENGINE"] == "django.db.backends.postgresql"
    assert loaded.database["NAME"] == "desk"
    assert loaded.database["HOST"] == "db.internal"
    assert loaded.redis_url == "redis://cache:6379/2"
    assert loaded.embedded is False


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"FIX_PORT": "abc"}, "FIX_PORT"),
        ({"FIX_PORT": "70000"}, "FIX_PORT"),
        ({"DESK_DEBUG": "maybe"}, "DESK_DEBUG"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgres://host:5432/"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://cache"}, "REDIS_URL"),
        ({"REDIS_URL": "redis://cache:port/0"}, "REDIS_URL"),
        ({"DESK_DEBUG": "0"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "short"}, "DJANGO_SECRET_KEY"),
        ({"DESK_DEBUG": "0", "DJANGO_SECRET_KEY": STRONG_KEY}, "DESK_AUDIT_KEY is not set"),
        ({"DESK_AUDIT_KEY": "short"}, "DESK_AUDIT_KEY is too weak"),
        ({"DJANGO_SECRET_KEY": STRONG_KEY, "DESK_AUDIT_KEY": STRONG_KEY}, "DESK_AUDIT_KEY must differ"),
        ({"DESK_ALLOWED_HOSTS": " , "}, "DESK_ALLOWED_HOSTS"),
    ],
)
def test_malformed_variable_is_named(variables: dict[str, str], named: str) -> None:
    with pytest.raises(env.ConfigError, match=named):
        env.load(variables, base_dir="/srv/desk")


def test_audit_key_and_anchor_defaults_of_the_embedded_desk() -> None:
    embedded = env.load({}, base_dir="/srv/desk")
    server = env.load({"DATABASE_URL": "postgres://desk@db.internal:5432/desk"}, base_dir="/srv/desk")
    named = env.load({"DESK_AUDIT_KEY": AUDIT_KEY, "DESK_AUDIT_ANCHOR": "/worm/desk.jsonl"}, base_dir="/srv/desk")

    assert embedded.audit_key == env.EMBEDDED_AUDIT_KEY
    assert embedded.audit_anchor == "/srv/desk/desk.sqlite3.audit-anchor.jsonl"  # next to the SQLite file
    assert server.audit_anchor == "/srv/desk/var/audit-anchor.jsonl"
    assert (named.audit_key, named.audit_anchor) == (AUDIT_KEY, "/worm/desk.jsonl")


def _manage(*args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DESK_DEBUG", "DESK_AUDIT_KEY", "DESK_AUDIT_ANCHOR"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env={**clean, **variables},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_start_up_with_a_malformed_variable_stops_with_one_line() -> None:
    result = _manage("check", FIX_PORT="not-a-port")

    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "FIX_PORT" in lines[0]
    assert "Traceback" not in result.stderr


def test_production_without_an_audit_key_stops_with_one_line() -> None:
    result = _manage("check", DESK_DEBUG="0", DJANGO_SECRET_KEY=STRONG_KEY)

    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "DESK_AUDIT_KEY is not set (required when DESK_DEBUG=0)" in lines[0]


def test_deploy_check_is_clean_in_production_mode() -> None:
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DESK_DEBUG="0",
        DJANGO_SECRET_KEY=STRONG_KEY,
        DESK_AUDIT_KEY=AUDIT_KEY,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_deploy_check_warns_in_debug_mode() -> None:
    # Shows the check above can fail: the embedded defaults are not production settings.
    result = _manage("check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode != 0
    assert "security.W018" in result.stdout + result.stderr  # DEBUG on in deployment
