"""A real Celery worker (and beat) as threads of the current process.

The embedded desk has one process to share: the worker consumes from the in-memory broker that the web app
publishes to, and its broadcasts reach the websocket consumers through the in-memory channel layer. With
REDIS_URL set the same threads consume from Redis, beside any separate ``celery -A desk worker`` processes.
Modelled on ``celery.contrib.testing.worker`` (same WorkController and the same stop protocol).
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from celery import Celery
from celery.beat import EmbeddedService
from celery.worker import WorkController
from celery.worker import state as worker_state

logger = logging.getLogger(__name__)


class _ReadyWorkController(WorkController):
    """A WorkController that tells when its consumer is ready to take tasks."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.ready = threading.Event()
        super().__init__(*args, **kwargs)

    def on_consumer_ready(self, consumer: object) -> None:
        self.ready.set()


@contextmanager
def embedded_worker(
    app: Celery,
    *,
    concurrency: int = 4,
    beat: bool = False,
    hostname: str = "embedded@desk",
    ready_timeout: float = 30.0,
    shutdown_timeout: float = 30.0,
) -> Iterator[WorkController]:
    """Run a Celery worker (thread pool) and optionally beat inside this process until the block exits."""
    app.set_current()
    app.loader.import_default_modules()
    app.finalize()
    worker = _ReadyWorkController(
        app=app,
        hostname=hostname,
        pool="threads",
        concurrency=concurrency,
        loglevel="INFO",
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        ready_callback=None,
    )
    thread = threading.Thread(target=worker.start, name="celery-worker", daemon=True)
    thread.start()
    if not worker.ready.wait(ready_timeout):
        raise RuntimeError(f"the embedded Celery worker was not ready within {ready_timeout:.0f} s")
    beat_service = None
    beat_dir = None
    if beat:
        beat_dir = tempfile.TemporaryDirectory(prefix="desk-beat-")
        beat_service = EmbeddedService(app, thread=True, schedule_filename=str(Path(beat_dir.name) / "schedule"))
        beat_service.start()
    logger.info("embedded Celery worker ready (%s, beat=%s)", app.conf.broker_url.split("://")[0], beat)
    try:
        yield worker
    finally:
        if beat_service is not None:
            beat_service.stop()
        # The stop protocol of celery.contrib.testing.worker: the consumer loop sees should_terminate and exits.
        worker_state.should_terminate = 0
        thread.join(shutdown_timeout)
        worker_state.should_terminate = None
        if beat_dir is not None:
            beat_dir.cleanup()
        if thread.is_alive():
            logger.error("the embedded Celery worker did not stop within %.0f s", shutdown_timeout)
