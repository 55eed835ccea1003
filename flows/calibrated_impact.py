"""Flow: TCA's impact calibration feeds the schedules of new plans, and its market tape the RFQ scoring features.

Trigger: :func:`execution.services.plan_create` of an Almgren-Chriss plan without its own ``impact_scale`` asks its
port :func:`execution.ports.calibrated_impact`; :func:`rfq.scoring.features.mids_from_tape_or_quotes` asks its port
:func:`rfq.ports.market_tape`. TCA reads execution and rfq, so they cannot ask it directly: :mod:`flows.subscriptions`
registers the answers below.

Reaction: :func:`plan_calibrated_impact` returns the square-root coefficient the desk's own fills gave (a stored
fit), as a scale on the schedule's impact (η, γ) against the literature prior, with the fit's id; nothing when only
the prior is known. :func:`market_tape` is TCA's :func:`tca.selectors.market_tape_frame`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from desk.models import Instrument
from tca.pretrade import DEFAULT_SQRT_COEFFICIENT
from tca.selectors import impact_params_latest, market_tape_frame


def plan_calibrated_impact(instrument: Instrument) -> dict[str, Any]:
    fit = impact_params_latest(instrument)
    if fit.is_default or fit.fit_id is None or not fit.sqrt_coefficient > 0:
        return {}
    return {"impact_scale": fit.sqrt_coefficient / DEFAULT_SQRT_COEFFICIENT, "impact_fit_id": fit.fit_id}


def market_tape(*, start: datetime, end: datetime, instruments: list[str]) -> pd.DataFrame:
    return market_tape_frame(start=start, end=end, instruments=instruments)
