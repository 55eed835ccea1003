"""A database of its own for every run that books simulated trades, so that they never land in the live desk's.

``backtest``, ``train_scoring --rfqs``, ``scoring_eval`` and ``stress`` book simulated RFQs, quotes, fills, plans,
child orders and decisions through the desk's services. They do it inside :func:`run_database_use`: for the current
context (thread) only, Django's ``default`` connection points at the run's database (a fresh SQLite file in a
temporary folder, removed afterwards, or the database named by ``--database-url``), migrated and, for the runs that
need them, loaded with the demo data of the simulated dealers. Services,
transactions and ``auto_now`` stamps work unchanged; every other thread of the process keeps the desk's database.
Such runs are refused when ``DESK_DEBUG=0``: a production desk books no simulated trades (and has no demo data).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from io import StringIO
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.utils import load_backend

from desk.env import ConfigError, parse_database_url

DATABASE_URL_HELP = (
    "the database the simulated bookings go to (postgres:// or sqlite:///path; migrated and given the demo data); "
    "default: a fresh SQLite file, removed after the run. Never the desk's own database"
)


def simulated_bookings_allowed(command: str) -> None:
    """Refuse, with one line, a run that books simulated trades on a production desk (``DESK_DEBUG=0``)."""
    if not settings.DEBUG:
        raise CommandError(
            f"{command} books simulated trades and is refused when DESK_DEBUG=0: run it on a development desk"
        )


def run_database_config(url: str | None) -> dict[str, Any] | None:
    """The settings of the database named by ``url`` (None: the default scratch file); refused by name when the URL
    is malformed or names the desk's own database."""
    if url is None:
        return None
    try:
        config = parse_database_url("--database-url", url)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    if _same_database(config, connections[DEFAULT_DB_ALIAS].settings_dict):
        raise CommandError("--database-url: that is the desk's own database; simulated bookings need one of their own")
    return config


def _same_database(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a["ENGINE"] != b["ENGINE"]:
        return False
    if a["ENGINE"] == "django.db.backends.sqlite3":
        return os.path.realpath(str(a["NAME"])) == os.path.realpath(str(b["NAME"]))
    return (a.get("HOST") or "", str(a.get("PORT") or ""), a["NAME"]) == (
        b.get("HOST") or "",
        str(b.get("PORT") or ""),
        b["NAME"],
    )


@contextmanager
def database_use(config: dict[str, Any]) -> Iterator[None]:
    """Point the current context's ``default`` connection at ``config`` until the block ends (nothing else moves)."""
    config = dict(config)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # Without WAL every commit of a booking waits for a full sync of the file (about 20 times slower).
        config.setdefault("OPTIONS", {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"})
    settings_dict = connections.configure_settings({DEFAULT_DB_ALIAS: config})[DEFAULT_DB_ALIAS]
    wrapper = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, DEFAULT_DB_ALIAS)
    previous = connections[DEFAULT_DB_ALIAS]
    # The content types are cached by alias: the run's database numbers them on its own.
    ContentType.objects.clear_cache()
    connections[DEFAULT_DB_ALIAS] = wrapper
    try:
        yield
    finally:
        wrapper.close()
        connections[DEFAULT_DB_ALIAS] = previous
        ContentType.objects.clear_cache()


@contextmanager
def run_database_use(config: dict[str, Any] | None, *, demo: bool = True) -> Iterator[None]:
    """Run the block against the run's own database (``config``, or a fresh SQLite file when None), migrated and,
    with ``demo``, given the demo data (``seed_demo``: users, instruments, the simulated dealers). Runs that create
    their own world (``stress``, ``scoring_eval``) pass ``demo=False``: migrated only, with the role groups."""
    with ExitStack() as stack:
        if config is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="desk-run-"))
            config = {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(folder, "run.sqlite3")}
        stack.enter_context(database_use(config))
        call_command("migrate", interactive=False, verbosity=0)
        if demo:
            call_command("seed_demo", stdout=StringIO())
        yield
