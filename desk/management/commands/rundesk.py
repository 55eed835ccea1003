"""Start the whole desk in one process: ASGI server (HTTP + websockets), Celery worker and beat."""

from __future__ import annotations

import contextlib
from typing import Any

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from desk.celery import app as celery_app
from desk.embedded import embedded_worker

DEMO_LOGINS = ["trader", "risk", "compliance", "admin"]


class Command(BaseCommand):
    help = "Run the desk: web app (HTTP and websockets), a Celery worker and beat. Ctrl-C stops every part."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--no-worker", action="store_true", help="web only: workers and beat run as separate processes"
        )

    def handle(self, *args: Any, host: str, port: int, no_worker: bool, **options: Any) -> None:
        mode = "embedded (SQLite, in-memory broker and channel layer)" if settings.EMBEDDED else "Redis"
        database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        config = uvicorn.Config(
            "desk.asgi:application",
            host=host,
            port=port,
            lifespan="off",
            ws="websockets-sansio",
            log_level="info",
            timeout_graceful_shutdown=5,
        )
        server = uvicorn.Server(config)
        self.stdout.write(f"the desk: mode {mode}, database {database}")
        self.stdout.write(f"  open http://{host}:{port}/desk/   (health: http://{host}:{port}/healthz)")
        if settings.DEBUG:
            logins = ", ".join(f"{name} / demo-{name}" for name in DEMO_LOGINS)
            self.stdout.write(f"  demo logins: {logins}")
        self.stdout.flush()
        if no_worker:
            self._serve(server)
            return
        with embedded_worker(celery_app, beat=True):
            self._serve(server)
        self.stdout.write("the desk stopped")

    def _serve(self, server: uvicorn.Server) -> None:
        # uvicorn re-raises Ctrl-C after its graceful shutdown; the worker and beat stop next, in order.
        with contextlib.suppress(KeyboardInterrupt):
            server.run()
