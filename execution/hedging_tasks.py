"""Celery task of the delta hedger: a thin wrapper over :func:`execution.hedging_services.delta_hedge_book`.

Safe to run twice and from several workers at once: the service creates no hedge while one is open for the book and
underlying, and serializes hedgers on the hedge instrument's row.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import OperationalError

from execution import hedging_services
from execution.errors import ExecutionPermissionDenied, ExecutionRefused
from execution.selectors import option_books

# The beat hedger's plans belong to a person (a plan has a trader; see ``plan_create``): the user named by the
# ``EXECUTION_HEDGE_USERNAME`` setting, by default the demo desk's ``trader``. No such active user: nothing is hedged,
# and each run logs a warning.
HEDGE_USERNAME_SETTING = "EXECUTION_HEDGE_USERNAME"
DEFAULT_HEDGE_USERNAME = "trader"

logger = logging.getLogger(__name__)


@shared_task(
    name="execution.hedging_tasks.delta_hedge",
    acks_late=True,
    autoretry_for=(OperationalError,),
    max_retries=3,
    retry_backoff=True,
    retry_backoff_max=10,
)
def delta_hedge(book: str, underlying: str, username: str) -> int | None:
    """Hedge ``book``'s delta on ``underlying`` for the trader ``username`` when it is outside the band. Returns
    the hedge plan's id, or None (inside the band, a hedge already open, or refused: logged, not retried, as the
    same inputs would be refused again)."""
    trader = get_user_model().objects.filter(username=username, is_active=True).first()
    if trader is None:
        logger.warning("delta hedge of %s %s: no active user %r to own the hedge", book, underlying, username)
        return None
    try:
        plan = hedging_services.delta_hedge_book(book=book, underlying=underlying, actor=trader)
    except (ExecutionRefused, ExecutionPermissionDenied) as error:
        logger.warning("delta hedge of %s %s refused: %s", book, underlying, error)
        return None
    return plan.pk if plan is not None else None


def hedge_username() -> str:
    """The user the beat hedger's plans belong to (see :data:`HEDGE_USERNAME_SETTING`)."""
    return str(getattr(settings, HEDGE_USERNAME_SETTING, DEFAULT_HEDGE_USERNAME))


@shared_task(name="execution.hedging_tasks.delta_hedge_all", acks_late=True)
def delta_hedge_all() -> list[list[str]]:
    """Beat: queue a hedge check for every book with options, per underlying. Returns the (book, underlying)
    pairs queued."""
    username = hedge_username()
    pairs = option_books()
    for book, underlying in pairs:
        delta_hedge.delay(book, underlying, username)
    return [list(pair) for pair in pairs]
