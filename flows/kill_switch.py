"""Kill switch -> halt the plans and cancel the RFQs under its scope.

Trigger: :func:`risk.services.kill_switch_engage` (a risk officer, the circuit breaker, the ``killswitch`` and
``scope_state`` commands) calls the halt registered with :func:`risk.services.scope_halt_set`, inside the switch's
transaction, both when it engages the switch and when it engages it again (a plan started under it since).
Reaction: the running execution plans under the scope are halted (:func:`execution.halts.plans_halt_under`) and the
open RFQs under it cancelled (:func:`rfq.engine.lifecycle.rfqs_cancel_under`), each audited by its own app. All of it
commits or rolls back with the switch: the kill switch stops everything at once.
"""

from __future__ import annotations

from desk.audit import Actor
from execution.halts import plans_halt_under
from rfq.engine.lifecycle import rfqs_cancel_under
from risk.models import KillSwitch
from risk.services import ScopeHalted, scope_label


def kill_switch_halt(*, switch: KillSwitch, actor: Actor) -> ScopeHalted:
    """Halt the running plans and cancel the open RFQs under ``switch``'s scope; what was stopped."""
    label = scope_label(switch.scope, switch.scope_key)
    plans = plans_halt_under(
        scope=switch.scope, scope_key=switch.scope_key, kill_switch=label, reason=switch.reason, actor=actor
    )
    rfqs = rfqs_cancel_under(
        scope=switch.scope, scope_key=switch.scope_key, actor=actor, reason=f"kill switch {label}: {switch.reason}"
    )
    return ScopeHalted(plans=plans, rfqs=rfqs)
