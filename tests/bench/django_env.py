"""One Django set-up for every benchmark module of a run, on the database and broker the environment names.

- ``DATABASE_URL`` naming PostgreSQL: a temporary database is created on that server for the run (``desk_bench_…``)
  and dropped at the end; the database the URL names is never written to.
- Otherwise: a temporary SQLite file.
- The audit anchor (``DESK_AUDIT_ANCHOR``) is a temporary file too, as new as the database.
- ``REDIS_URL`` is kept as it is: with it, the channel layer, the cache and the Celery broker are Redis, as in the
  scaled-out desk (and the plans-per-minute bench runs its worker processes on it).

Every line a bench prints carries ``"database"`` and ``"broker"`` (see :func:`setup_labels`), so a figure always
says what it was measured on.
"""

from __future__ import annotations

import atexit
import os
import secrets
import tempfile
from urllib.parse import urlsplit, urlunsplit

_ready = False
_labels: dict[str, str] = {}


def _postgres_temporary(url: str) -> str:
    """Create an empty database beside the one ``url`` names; its URL. Dropped when the run ends."""
    import psycopg

    name = f"desk_bench_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    atexit.register(drop)
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def database_url_for_run() -> str:
    """The URL the benches run on (a temporary PostgreSQL database or SQLite file); set once per process."""
    url = os.environ.get("DATABASE_URL", "")
    if urlsplit(url).scheme in ("postgres", "postgresql", "pgsql"):
        _labels["database"] = "postgresql"
        return _postgres_temporary(url)
    _labels["database"] = "sqlite"
    return f"sqlite:///{tempfile.mkdtemp(prefix='desk-bench-')}/bench.sqlite3"


def setup_labels() -> dict[str, str]:
    """``{"database": "postgresql"|"sqlite", "broker": "redis"|"memory"}`` of this run."""
    return dict(_labels)


def django_ready() -> None:
    global _ready
    if _ready:
        return
    os.environ["DATABASE_URL"] = database_url_for_run()
    # The run's database starts empty: its audit checkpoints go to an anchor of its own, not the desk's.
    os.environ["DESK_AUDIT_ANCHOR"] = os.path.join(tempfile.mkdtemp(prefix="desk-bench-anchor-"), "audit-anchor.jsonl")
    _labels["broker"] = "redis" if os.environ.get("REDIS_URL") else "memory"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "desk.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    _ready = True
