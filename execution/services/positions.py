"""The desk's positions: a fill applied to its book's position row."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from desk.models import Instrument
from execution.models import (
    Fill,
    Position,
)
from execution.positions import PositionState, position_apply
from risk.orders import DEFAULT_BOOK


def _position_locked(*, book: str, instrument: Instrument) -> Position:
    """The book's position row, locked and created when missing. Not ``desk.db.row_locked``: its ``.first()`` orders
    by ``Position.Meta.ordering``, which joins the instrument, and a plain ``FOR UPDATE`` then locks the instrument's
    row too; on PostgreSQL every fill then serialized on the instrument and deadlocked with any transaction whose
    deferred foreign-key check takes ``FOR KEY SHARE`` on it."""
    rows = Position.objects.select_for_update(of=("self",)).filter(book=book, instrument=instrument).order_by("pk")
    position = rows.first()
    if position is not None:
        return position
    try:
        with transaction.atomic():
            return Position.objects.create(book=book, instrument=instrument)
    except IntegrityError:
        return rows.get()


def dealer_fill_book(
    *,
    exec_id: str,
    quote: Any,
    instrument: Instrument,
    side: str,
    quantity: Decimal,
    price: Decimal,
    executed_at: datetime,
    book: str = DEFAULT_BOOK,
) -> Fill:
    """Book a dealer's fill of an accepted quote (one leg) and apply it to the book's position, in the caller's
    transaction (the ``rfq.dealer_fill`` flow): the fill and its position commit together or not at all."""
    fill = Fill.objects.create(
        exec_id=exec_id,
        quote=quote,
        instrument=instrument,
        side=side,
        quantity=quantity,
        price=price,
        executed_at=executed_at,
    )
    position_book_fill(book=book, instrument=instrument, side=side, quantity=quantity, price=price)
    return fill


def position_book_fill(
    *, book: str, instrument: Instrument, side: str, quantity: Decimal, price: Decimal, fee: Decimal = Decimal(0)
) -> Position:
    """Apply one fill to the book's position (call inside the transaction that books the fill)."""
    position = _position_locked(book=book, instrument=instrument)
    state = position_apply(
        PositionState(position.quantity, position.average_price, position.realized_pnl),
        side=side,
        quantity=quantity,
        price=price,
        multiplier=instrument.multiplier,
        fee=fee,
    )
    position.quantity, position.average_price, position.realized_pnl = (
        state.quantity,
        state.average_price,
        state.realized_pnl,
    )
    position.version += 1
    position.save(update_fields=["quantity", "average_price", "realized_pnl", "version", "updated_at"])
    return position
