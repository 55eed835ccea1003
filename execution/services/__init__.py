"""Writes of the execution domain, one module per aggregate: plans (create, start, pause, resume, cancel), child
orders sent to the simulated venues, fills and positions.

- :mod:`~execution.services.plans`: create, start, pause, resume, cancel;
- :mod:`~execution.services.children`: send a child (pre-trade check, then the venues);
- :mod:`~execution.services.venue_fills`: a child executed on the venues, or refused;
- :mod:`~execution.services.positions`: positions, and the dealer fills booked by the ``rfq.dealer_fill`` flow;
- :mod:`~execution.services.worker`: the worker's loop and the fallbacks it triggers;
- :mod:`~execution.services.common` and :mod:`~execution.services.permissions`: plan locks, progress, status
  changes, who may act.

Each function is one transaction (``child_order_send`` two: the pre-trade check's refusal audit must survive, so it
runs between them) that locks its rows, writes with ``update_fields``, records its audit event and broadcasts
``plan.progress`` after commit. Locks are always taken in the order plan, child order, venue rows, position, audit
head, so that two writers never wait on each other in a cycle.

Risk refusal rule
-----------------
A child refused by an engaged kill switch, the position limit, the daily-loss limit or a stale venue book (no market
tick for :data:`~execution.venue.MAX_BOOK_AGE_S`) is ``rejected`` and its plan ``halted``: carrying on would only
repeat the refusal, and a halted plan waits for a person (``plan_resume``). A child refused by a per-order limit
(price collar, order notional, participation, or its own limit price) is ``rejected`` and its quantity carried into
the plan's next pending child, so the parent can still complete once the market allows it; a refusal of the last
child leaves the plan ``completed`` with a shortfall.

Re-plans and fallbacks
----------------------
After sending what is due, each tick asks :func:`execution.replan.plan_replan_check` whether fills or the market
deviate from the plan's schedule beyond its tolerances; if so the residual is re-sliced (a ``replan`` decision
record). An exception while working or re-planning a plan, or :func:`plan_algo_failed` called by risk telemetry,
falls the plan back to its algorithm's last stable parameter version, else to the conservative protocol, else halts
it (:mod:`execution.fallback`, a ``fallback`` decision record). :func:`plan_fallback_to_rfq` moves the residual to an
RFQ. New plans run their algorithm's live parameter version (:mod:`execution.algo_params`).

Crash safety
------------
The venue is a database row, so sending a child, its fill, the position, the plan's progress and the audit event
commit together or not at all. A child that is no longer pending is returned as it is, and the fill's ``exec_id``
(venue and client order id) is unique: a task run twice, or by two workers, books one fill.
"""

from execution.errors import ExecutionPermissionDenied, ExecutionRefused
from execution.services.children import child_order_proposed, child_order_send
from execution.services.common import (
    DEFAULT_SLIPPAGE_BPS,
    EXECUTION_ACTOR,
    HALTING_LIMITS,
    MAX_TICK_S,
    OPEN_PLAN_STATES,
    PLAN_END,
    PLAN_FILL,
    PLAN_PROGRESS,
    plan_fill_announce,
    plan_finish_if_done,
    plan_locked,
    plan_public,
    progress,
    status_set,
    tick_queue,
)
from execution.services.permissions import STEER_PERMS, require
from execution.services.plans import (
    instrument_algo_workable,
    plan_cancel,
    plan_create,
    plan_pause,
    plan_resume,
    plan_start,
)
from execution.services.positions import dealer_fill_book, position_book_fill
from execution.services.worker import (
    TickOutcome,
    plan_algo_failed,
    plan_fallback_to_rfq,
    plan_work,
    plans_stalled_find,
)

__all__ = [
    "ExecutionPermissionDenied",
    "ExecutionRefused",
    "DEFAULT_SLIPPAGE_BPS",
    "EXECUTION_ACTOR",
    "HALTING_LIMITS",
    "MAX_TICK_S",
    "OPEN_PLAN_STATES",
    "PLAN_END",
    "PLAN_FILL",
    "PLAN_PROGRESS",
    "STEER_PERMS",
    "TickOutcome",
    "child_order_proposed",
    "child_order_send",
    "dealer_fill_book",
    "plan_algo_failed",
    "plan_cancel",
    "instrument_algo_workable",
    "plan_create",
    "plan_fallback_to_rfq",
    "plan_fill_announce",
    "plan_finish_if_done",
    "plan_locked",
    "plan_pause",
    "plan_public",
    "plan_resume",
    "plan_start",
    "plan_work",
    "plans_stalled_find",
    "position_book_fill",
    "progress",
    "require",
    "status_set",
    "tick_queue",
]
