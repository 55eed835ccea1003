"""Bad plan input is refused with a message naming the field or the parameter, and nothing is stored (service and
API). Complements ``test_services.test_bad_plans_are_refused_with_a_message_and_nothing_stored``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from desk.models import AuditEvent
from execution import services
from execution.models import ChildOrder, ExecutionPlan

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("overrides", "field", "named"),
    [
        ({"parameters": {"horizon_s": -5, "slices": 4}}, "parameters", "horizon_s"),
        ({"parameters": {"horizon_s": "nan", "slices": 4}}, "parameters", "horizon_s"),
        ({"parameters": {"horizon_s": 60, "slices": 0}}, "parameters", "slices"),
        ({"parameters": {"horizon_s": 60, "max_child": "0.1", "slices": 4}}, "parameters", "max_child"),
        ({"parameters": {"horizon_s": 60, "replan_vol_ratio": 0.5}}, "parameters", "replan_vol_ratio"),
        ({"quantity": Decimal("NaN")}, "quantity", "quantity"),
        ({"quantity": Decimal("0")}, "quantity", "quantity"),
        ({"algorithm": "iceberg"}, "algorithm", "iceberg"),
        # POV at a participation of zero would divide the parent by zero forecast volume
        ({"algorithm": "pov", "parameters": {"horizon_s": 60, "participation": 0}}, "parameters", "participation"),
        # Almgren-Chriss with no temporary impact: eta-tilde = 0 divides the trajectory's kappa by zero
        ({"algorithm": "almgren_chriss", "parameters": {"horizon_s": 60, "eta": 0}}, "parameters", "eta"),
    ],
)
def test_bad_input_names_what_is_wrong_and_stores_nothing(trader, instrument, overrides, field, named) -> None:  # noqa: ANN001
    fields: dict[str, Any] = {
        "instrument": instrument,
        "side": "buy",
        "quantity": Decimal("1"),
        "algorithm": "twap",
        "parameters": {"horizon_s": 60, "slices": 4},
        "actor": trader,
    }

    with pytest.raises(services.ExecutionRefused) as refused:
        services.plan_create(**(fields | overrides))

    assert named in " ".join(refused.value.message_dict[field])
    assert not ExecutionPlan.objects.exists()
    assert not ChildOrder.objects.exists()
    assert not AuditEvent.objects.filter(action="execution_plan.create").exists()


def test_the_api_answers_400_naming_the_parameter(client_for, trader, instrument) -> None:  # noqa: ANN001
    body = {"instrument": instrument.symbol, "side": "buy", "quantity": "1", "algorithm": "twap"}

    zero = client_for(trader).post(
        "/api/v1/execution/plans/create/", body | {"parameters": {"horizon_s": 0}}, content_type="application/json"
    )

    assert zero.status_code == 400
    assert "horizon_s" in str(zero.json()["parameters"])
    assert not ExecutionPlan.objects.exists()
