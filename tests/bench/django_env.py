"""One Django set-up for every benchmark module of a run: a temporary SQLite file, migrated."""

from __future__ import annotations

import os
import tempfile

_ready = False


def django_ready() -> None:
    global _ready
    if _ready:
        return
    os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='desk-bench-')}/bench.sqlite3"
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "desk.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    _ready = True
