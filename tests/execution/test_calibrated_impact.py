"""TCA feeds the plans: an Almgren–Chriss plan takes the desk's calibrated square-root coefficient as a scale on
its impact, and its schedule is the one the kernel gives with that scale; without a real fit nothing changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from execution import services
from execution.models import ChildOrder
from tca.models import CalibrationFit, FitKind
from tca.pretrade import DEFAULT_SQRT_COEFFICIENT

pytestmark = pytest.mark.django_db

AC = {"horizon_s": 600, "slices": 9, "risk_aversion": 1e-4, "seed": 3}


def _quantities(plan) -> list[Decimal]:  # noqa: ANN001
    return list(ChildOrder.objects.filter(plan=plan).order_by("seq").values_list("quantity", flat=True))


def _plan(trader, instrument, parameters: dict):  # noqa: ANN001, ANN202
    return services.plan_create(
        instrument=instrument,
        side="buy",
        quantity=Decimal(5),
        algorithm="almgren_chriss",
        parameters=parameters,
        actor=trader,
    )


def test_a_stored_fit_scales_the_plan_impact_and_changes_its_schedule(trader, instrument) -> None:  # noqa: ANN001
    prior = _plan(trader, instrument, dict(AC))
    assert "impact_scale" not in prior.parameters

    now = datetime.now(UTC)
    fit = CalibrationFit.objects.create(
        kind=FitKind.SQRT_IMPACT,
        underlying="BTC",
        window_start=now - timedelta(days=1),
        window_end=now,
        parameters={"coefficient": 4 * DEFAULT_SQRT_COEFFICIENT},
        n=40,
        created_at=now,
    )
    calibrated = _plan(trader, instrument, dict(AC))

    assert calibrated.parameters["impact_scale"] == pytest.approx(4.0)
    assert calibrated.parameters["impact_fit_id"] == fit.pk
    # The same schedule as a plan given that scale by hand: the fit only sets the scale.
    by_hand = _plan(trader, instrument, dict(AC, impact_scale=4.0))
    assert _quantities(calibrated) == _quantities(by_hand)
    # Dearer impact against the same risk aversion: a flatter schedule (the first child no larger than before).
    assert _quantities(calibrated)[0] <= _quantities(prior)[0]
    assert _quantities(calibrated) != _quantities(prior)
