"""What the execution services need answered by the layers above them; :mod:`flows.subscriptions` registers the
answers when the desk starts.

- :func:`calibrated_impact`: the impact calibration TCA fits from the desk's own fills (TCA reads execution, so
  execution cannot ask it directly). Default: the literature prior, no override of the schedule's impact.
- :func:`residual_rfq_dealers` and :func:`residual_rfq_open`: the RFQ desk a plan's residual switches to (rfq is a
  sibling: execution does not know it). Default: no dealer, and opening an RFQ is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from desk.audit import Actor
from desk.models import Instrument
from execution.errors import ExecutionRefused

CalibratedImpact = Callable[[Instrument], dict[str, Any]]
"""The parameters an Almgren-Chriss plan adds for its instrument (``impact_scale``, ``impact_fit_id``); ``{}``
when only the prior is known."""


def _prior(instrument: Instrument) -> dict[str, Any]:
    return {}


_calibrated_impact: CalibratedImpact = _prior


def calibrated_impact_set(source: CalibratedImpact) -> None:
    """Register where a new plan's calibrated impact comes from (``flows.calibrated_impact``)."""
    global _calibrated_impact
    _calibrated_impact = source


def calibrated_impact(instrument: Instrument) -> dict[str, Any]:
    return _calibrated_impact(instrument)


@dataclass(frozen=True)
class OpenedRfq:
    """The RFQ a plan's residual went to (the plan keeps its id)."""

    pk: int
    reference: str


ResidualRfqDealers = Callable[[], list[dict[str, Any]]]
"""Every dealer the residual could go to, by code: ``{"code", "status", "classes"}`` (instrument classes quoted)."""

ResidualRfqOpen = Callable[..., OpenedRfq]
"""``(*, instrument, side, quantity, dealers: list[str], owner) -> OpenedRfq``: create and send the RFQ, in the
caller's transaction; a refusal raises :class:`~execution.errors.ExecutionRefused`."""


def _no_dealers() -> list[dict[str, Any]]:
    return []


def _no_rfq_desk(
    *, instrument: Instrument, side: str, quantity: Decimal, dealers: list[str], owner: Actor
) -> OpenedRfq:
    raise ExecutionRefused({"rfq": "no RFQ desk is registered on this desk"})


_residual_rfq_dealers: ResidualRfqDealers = _no_dealers
_residual_rfq_open: ResidualRfqOpen = _no_rfq_desk


def residual_rfq_set(*, dealers: ResidualRfqDealers, open_rfq: ResidualRfqOpen) -> None:
    """Register the RFQ desk a plan's residual switches to (``flows.plan_fallback``)."""
    global _residual_rfq_dealers, _residual_rfq_open
    _residual_rfq_dealers, _residual_rfq_open = dealers, open_rfq


def residual_rfq_dealers() -> list[dict[str, Any]]:
    return _residual_rfq_dealers()


def residual_rfq_open(
    *, instrument: Instrument, side: str, quantity: Decimal, dealers: list[str], owner: Actor
) -> OpenedRfq:
    return _residual_rfq_open(instrument=instrument, side=side, quantity=quantity, dealers=dealers, owner=owner)
