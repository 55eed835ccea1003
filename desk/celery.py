"""The Celery app: in-memory broker in the embedded mode, Redis when REDIS_URL is set."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "desk.settings")

app = Celery("desk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
def _bind_task_id(task_id: str, **_: object) -> None:
    # Audit events written by a task carry its id, as those written by a request carry the request's.
    from desk.context import request_id_var

    request_id_var.set(f"task:{task_id}")


@task_postrun.connect
def _unbind_task_id(**_: object) -> None:
    from desk.context import request_id_var

    request_id_var.set(None)
