"""Small database helpers shared by the services."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import IntegrityError, models, transaction

M = TypeVar("M", bound=models.Model)


def row_locked(model: type[M], **lookup: Any) -> M:
    """The row matching ``lookup``, locked ``FOR UPDATE`` and created when missing.

    Call inside a transaction. Two writers may both find it missing: the loser's insert hits the unique
    constraint, and it then locks the winner's row instead of failing."""
    # ``of=("self",)`` and ``order_by("pk")``: the model's default ordering may join other tables, and a plain FOR
    # UPDATE would lock the joined rows too (a position's instrument): writers then queue, or deadlock, on them.
    row = model.objects.select_for_update(of=("self",)).filter(**lookup).order_by("pk").first()
    if row is not None:
        return row
    try:
        with transaction.atomic():
            return model.objects.create(**lookup)
    except IntegrityError:
        return model.objects.select_for_update(of=("self",)).order_by("pk").get(**lookup)
