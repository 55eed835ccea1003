"""Halts of execution plans that risk decides: a kill switch stops the running plans under its scope, and cancels
the orders the plans under it have open at the venues (OrderCancelRequest, one by one, through the outbox; the
venue gateway sends them, and ``venue.cancels_acknowledged`` is recorded once the last is confirmed).

Called by the kill-switch flow (:mod:`flows.kill_switch`) inside the switch's transaction, so that the switch and
the plans it halts commit (or roll back) together.
"""

from __future__ import annotations

from desk.audit import Actor, audit_record
from execution import selectors
from execution.models import PlanStatus
from execution.services.venue_orders import orders_cancel


def plans_halt_under(*, scope: str, scope_key: str, kill_switch: str, reason: str, actor: Actor) -> list[int]:
    """Halt the running plans under (``scope``, ``scope_key``), each audited ``execution_plan.halt`` with the
    switch's label (``kill_switch``) and ``reason``; their ids. The version bump makes a worker's optimistic update
    of a halted plan fail."""
    plans = list(
        selectors.plans_under(scope=scope, scope_key=scope_key)
        .filter(status=PlanStatus.RUNNING)
        .select_for_update(of=("self",))
        .order_by("pk")
    )
    for plan in plans:
        plan.status, plan.version = PlanStatus.HALTED, plan.version + 1
        plan.save(update_fields=["status", "version"])
        audit_record(
            actor=actor,
            action="execution_plan.halt",
            obj=plan,
            before={"status": PlanStatus.RUNNING},
            after={"status": PlanStatus.HALTED, "kill_switch": kill_switch, "reason": reason},
        )
    under = selectors.plans_under(scope=scope, scope_key=scope_key).values_list("pk", flat=True)
    orders_cancel(plan_ids=under, reason=f"kill switch {kill_switch}", actor=actor)
    return [plan.pk for plan in plans]
