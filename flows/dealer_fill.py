"""Flow: a dealer fill books the desk's fill and position, then queues the delta hedge.

Trigger: ``rfq.dealer_fill``, published by :func:`rfq.services.dealer_order_fill` once per leg filled (a package
fills each of its legs), inside the fill's transaction.

Reaction, in that same transaction (``IN_TRANSACTION``: a fill must never commit without its position, nor a
position without its fill; a worker killed in between rolls both back):

1. :func:`execution.services.dealer_fill_book` stores the execution fill (``exec_id`` ``<dealer>:<ExecID>[:L<n>]``,
   unique) and applies it to the book's position;
2. :func:`execution.hedging_services.delta_hedge_after_fill` queues a delta hedge of the book when the
   transaction commits (options only, and only for a person's RFQ): the hedge is a Celery task, safe to run twice.

rfq asks for the booked fill again through :func:`rfq.ports.dealer_fill_find` (:func:`dealer_fill_find` here): a
repeated ExecID returns the fill already booked, and the API / FIX callers get the fill back.
"""

from __future__ import annotations

from desk.bus import Event
from execution.hedging_services import delta_hedge_after_fill
from execution.models import Fill
from execution.selectors import fill_by_exec_id
from execution.services import dealer_fill_book


def dealer_fill_booked(event: Event) -> None:
    dealer_fill_book(
        exec_id=event["exec_id"],
        quote=event["quote"],
        instrument=event["instrument"],
        side=event["side"],
        quantity=event["quantity"],
        price=event["price"],
        executed_at=event["executed_at"],
        book=event["book"],
    )
    delta_hedge_after_fill(instrument=event["instrument"], book=event["book"], trader=event["trader"])


def dealer_fill_find(exec_id: str) -> Fill | None:
    return fill_by_exec_id(exec_id)
