"""Every cross-domain reaction of the desk, in one table: which event, which flow, in which phase."""

from __future__ import annotations

from desk.bus import Phase, subscribe  # noqa: F401 - used as flows are added


def flows_subscribe() -> None:
    """Register the flows' handlers (called once, from :class:`flows.apps.FlowsConfig.ready`)."""
