"""Domain events: how an app announces what happened without knowing who reacts.

A lower layer (``rfq``, ``execution``, ``risk``) calls :func:`publish` inside its service's transaction; the
cross-domain workflows in ``flows`` subscribe with :func:`subscribe` when their app is ready. Nothing here imports
an app: the dependency points from ``flows`` down to the apps, never back.

Two phases, chosen by the subscriber:

- ``IN_TRANSACTION``: the handler runs at once, inside the publisher's transaction. Use it only where the reaction
  must commit or roll back with the fact (a dealer fill and the position it books: a fill without its position is
  exactly what a crash must never leave behind). An exception in the handler rolls the publisher's write back.
- ``AFTER_COMMIT``: the handler runs when the transaction commits (never if it rolls back). Work that must survive a
  crash queues a Celery task from here (``acks_late``: a killed worker's task is redelivered, and every task is
  safe to run twice).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)


class Phase(StrEnum):
    IN_TRANSACTION = "in_transaction"
    AFTER_COMMIT = "after_commit"


@dataclass(frozen=True)
class Event:
    """One fact: ``name`` as ``<app>.<what happened>`` (``rfq.dealer_fill``), ``data`` its plain values and rows."""

    name: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]


Handler = Callable[[Event], None]
_SUBSCRIBERS: dict[str, list[tuple[Phase, Handler]]] = {}


def subscribe(name: str, handler: Handler, *, phase: Phase = Phase.AFTER_COMMIT) -> None:
    """Register ``handler`` for events called ``name``. Registering the same handler twice has no effect."""
    handlers = _SUBSCRIBERS.setdefault(name, [])
    if (phase, handler) not in handlers:
        handlers.append((phase, handler))


def subscribers(name: str) -> list[tuple[Phase, Handler]]:
    """The handlers registered for ``name``, in registration order (for tests and the docs)."""
    return list(_SUBSCRIBERS.get(name, []))


def publish(name: str, **data: Any) -> Event:
    """Announce ``name``: in-transaction handlers run now, after-commit handlers when the transaction commits."""
    event = Event(name=name, data=MappingProxyType(dict(data)))
    for phase, handler in _SUBSCRIBERS.get(name, []):
        if phase is Phase.IN_TRANSACTION:
            handler(event)
        else:
            transaction.on_commit(_guarded(handler, event))
    return event


def _guarded(handler: Handler, event: Event) -> Callable[[], None]:
    def run() -> None:
        try:
            handler(event)
        except Exception:
            # The fact is committed; a failed reaction is logged, never raised into the publisher's caller.
            logger.exception("handler %s of %s failed", getattr(handler, "__qualname__", handler), event.name)

    return run
