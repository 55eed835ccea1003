"""Every cross-domain reaction of the desk, in one table: which event or port, which flow, in which phase.

| trigger (who announces / asks)                        | flow                                  | phase          |
|-------------------------------------------------------|---------------------------------------|----------------|
| ``rfq.dealer_fill`` (rfq.services.dealer_order_fill)  | :mod:`flows.dealer_fill`: fill,       | IN_TRANSACTION |
|                                                       | position, then the delta hedge queued |                |
| port rfq.ports.dealer_fill_find (repeated ExecID)     | :mod:`flows.dealer_fill`              | in the caller  |
| port rfq.ports.acceptance_check (quote_accept)        | :mod:`flows.acceptance`               | in the caller  |
| port rfq.ports.residual_to_algo (rfq_act, a split)    | :mod:`flows.split_residual`           | in the caller  |
| port rfq.ports.market_tape (scoring features)         | :mod:`flows.calibrated_impact`        | in the caller  |
| port execution.ports.calibrated_impact (plan_create)  | :mod:`flows.calibrated_impact`        | in the caller  |
| port risk.selectors.scope_key_kept (scope key checks) | :mod:`flows.scope_keys`               | in the caller  |
| ports execution.ports.residual_rfq_* (plan -> RFQ)    | :mod:`flows.plan_fallback`            | in the caller  |
| port rfq.ports.desk_order_check (a desk order enters) | :mod:`flows.desk_orders`: book known, | in the caller  |
|                                                       | pre-trade check by field              |                |
| ``rfq.desk_order_fill`` (a cross, an allocation)      | :mod:`flows.desk_orders`: the         | IN_TRANSACTION |
|                                                       | position, desk book -> account/book   |                |
| ``execution.plan_fill`` (a plan's fill)               | :mod:`flows.desk_orders`: allocated   | IN_TRANSACTION |
|                                                       | to the desk orders of its RFQ         |                |
| ``execution.plan_end`` (a plan ends or switches)      | :mod:`flows.desk_orders`: its RFQ's   | IN_TRANSACTION |
|                                                       | desk orders settled (or handed on)    |                |
| port rfq.ports.residual_working (settling orders)     | :mod:`flows.desk_orders`              | in the caller  |

A port is a question a lower app asks inside its own transaction (it needs the answer); an event is a fact it
announces (it needs no answer).
"""

from __future__ import annotations

from desk.bus import Phase, subscribe
from execution import ports as execution_ports
from execution.services import PLAN_END, PLAN_FILL
from flows import acceptance, calibrated_impact, dealer_fill, desk_orders, plan_fallback, split_residual
from flows.kill_switch import kill_switch_halt
from flows.limit_usage import limit_figure
from flows.scope_keys import scope_key_kept
from rfq import ports as rfq_ports
from rfq.services import DEALER_FILL, DESK_ORDER_FILL
from risk.selectors import limit_figure_set, scope_key_kept_set
from risk.services import scope_halt_set


def flows_subscribe() -> None:
    """Register the flows' handlers and port answers (called once, from :class:`flows.apps.FlowsConfig.ready`)."""
    # rfq: a dealer fill books the Fill and the position in the fill's own transaction, then the hedge.
    subscribe(DEALER_FILL, dealer_fill.dealer_fill_booked, phase=Phase.IN_TRANSACTION)
    rfq_ports.dealer_fill_find_set(dealer_fill.dealer_fill_find)
    rfq_ports.acceptance_check_set(acceptance.acceptance_check)
    rfq_ports.residual_to_algo_set(split_residual.residual_plan)
    rfq_ports.algo_workable_set(split_residual.residual_workable)
    rfq_ports.market_tape_set(calibrated_impact.market_tape)
    # rfq: desk orders enter through the pre-trade check; each of their fills moves the position from the desk's
    # book to the order's account or book in the fill's transaction; a plan working an RFQ's rest has its fills
    # allocated to the RFQ's orders and, when it ends, settles them.
    rfq_ports.desk_order_check_set(desk_orders.desk_order_check)
    rfq_ports.residual_working_set(desk_orders.residual_working)
    subscribe(DESK_ORDER_FILL, desk_orders.desk_order_fill_booked, phase=Phase.IN_TRANSACTION)
    subscribe(PLAN_FILL, desk_orders.plan_fill_allocated, phase=Phase.IN_TRANSACTION)
    subscribe(PLAN_END, desk_orders.plan_ended, phase=Phase.IN_TRANSACTION)
    # execution: a new plan's calibrated impact, and the switch of a failing plan to an RFQ.
    execution_ports.calibrated_impact_set(calibrated_impact.plan_calibrated_impact)
    execution_ports.residual_rfq_set(
        dealers=plan_fallback.residual_rfq_dealers, open_rfq=plan_fallback.residual_rfq_open
    )
    # risk: a kill switch halts the plans and cancels the RFQs under its scope in its own transaction (the engage
    # audit names them); a limit's usage is read where the position or dealer order lives, and a scope key (book,
    # strategy, dealer) is checked against the plans, positions and counterparties that use it. The telemetry breach
    # flow (flows.risk_actions) runs from the beat task flows.tasks.telemetry_sweep.
    scope_halt_set(kill_switch_halt)
    limit_figure_set(limit_figure)
    scope_key_kept_set(scope_key_kept)
