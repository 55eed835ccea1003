"""Desk orders worked: the aggregation window (beat, every ``DESK_ORDERS_WINDOW_S`` seconds) and the on-demand run
(the orders page's "Aggregate now", ``POST /api/v1/orders/aggregate/``).

Each run first settles the RFQs that hold desk orders but no longer ask dealers
(:func:`rfq.engine.lifecycle.rfqs_orders_settle_due`: their rest goes back to ``new``), then, per instrument with
orders waiting, aggregates them (:func:`rfq.aggregation.desk_orders_aggregate`: crossed at the validated price, the
rest in one RFQ per side) and sends each RFQ it makes to the dealers the desk chooses, in waves
(:func:`rfq.engine.selection.rfq_send_selected`). An RFQ that cannot be sent (no dealer can be asked, the instrument
was asked too recently) is cancelled at once, which releases its orders to the next window: no order waits in a
draft nobody asks. From there the RFQ is worked like any other: accept, wait, ask again or split to a plan.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser

from desk import clock
from desk.audit import Actor
from desk.models import Instrument

# A module reference, not names: rfq.services loads rfq.tasks, which loads this module, while rfq.aggregation may be
# loading (it imports rfq.services): its names are read when a run runs.
from rfq import aggregation
from rfq.engine.lifecycle import rfq_cancel, rfqs_orders_settle_due
from rfq.engine.selection import rfq_send_selected
from rfq.models import DeskOrderStatus
from rfq.services.common import QuoteRefused
from rfq.services.desk_orders import DeskOrderRefused

logger = logging.getLogger(__name__)
# Who the beat's runs act as in the audit (the RFQs they make belong to the trader of each instrument's first order).
WORK_ACTOR = "system:aggregation"


@dataclass(frozen=True)
class AggregationRun:
    """What one run did on one instrument: the aggregation (None when refused, ``refused`` says why), the RFQs sent
    and those cancelled because they could not be (reference → why)."""

    instrument: str
    result: aggregation.AggregationResult | None
    sent: list[str] = field(default_factory=list)
    cancelled: dict[str, str] = field(default_factory=dict)
    refused: str = ""


def desk_orders_work(
    *,
    instrument: Instrument,
    owner: AbstractBaseUser | None = None,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> AggregationRun:
    """Aggregate the orders waiting on ``instrument`` and send the RFQs made (see the module)."""
    try:
        result = aggregation.desk_orders_aggregate(instrument=instrument, owner=owner, actor=actor, now=now)
    except DeskOrderRefused as error:
        return AggregationRun(instrument=instrument.symbol, result=None, refused="; ".join(error.messages))
    sent, cancelled = [], {}
    for rfq in result.rfqs:
        try:
            rfq_send_selected(rfq=rfq, actor=rfq.created_by)
        except QuoteRefused as error:
            why = "; ".join(error.messages)
            rfq_cancel(rfq_id=rfq.pk, actor=actor or WORK_ACTOR, reason=f"not sent: {why}")
            cancelled[rfq.reference] = why
        else:
            sent.append(rfq.reference)
    return AggregationRun(instrument=instrument.symbol, result=result, sent=sent, cancelled=cancelled)


def desk_orders_work_all(
    *,
    owner: AbstractBaseUser | None = None,
    actor: Actor | None = None,
    instrument: Instrument | None = None,
    now: datetime | None = None,
) -> list[AggregationRun]:
    """Settle the RFQs whose orders nothing works any more, then work the orders waiting on every instrument (or on
    ``instrument`` alone), one instrument after the other: one instrument's refusal does not stop the others."""
    now = now or clock.now()
    rfqs_orders_settle_due(now=now)
    waiting = Instrument.objects.filter(desk_orders__status=DeskOrderStatus.NEW, desk_orders__created_at__lte=now)
    if instrument is not None:
        waiting = waiting.filter(pk=instrument.pk)
    runs = []
    for row in waiting.distinct().order_by("symbol"):
        run = desk_orders_work(instrument=row, owner=owner, actor=actor, now=now)
        if run.refused:
            logger.info("desk orders on %s wait: %s", row.symbol, run.refused)
        runs.append(run)
    return runs
