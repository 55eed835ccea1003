"""Every cross-domain reaction of the desk, in one table: which event, which flow, in which phase."""

from __future__ import annotations

from desk.bus import Phase, subscribe  # noqa: F401 - used as flows are added
from flows.kill_switch import kill_switch_halt
from flows.limit_usage import limit_figure
from risk.selectors import limit_figure_set
from risk.services import scope_halt_set


def flows_subscribe() -> None:
    """Register the flows' handlers (called once, from :class:`flows.apps.FlowsConfig.ready`)."""
    # risk: a kill switch halts the plans and cancels the RFQs under its scope in its own transaction (the engage
    # audit names them); a limit's usage is read where the position or dealer order lives. The telemetry breach
    # flow (flows.risk_actions) runs from the beat task flows.tasks.telemetry_sweep.
    scope_halt_set(kill_switch_halt)
    limit_figure_set(limit_figure)
