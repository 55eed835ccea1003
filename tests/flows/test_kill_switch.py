"""The kill-switch flow: engaging a switch halts the running plans and cancels the open RFQs under its scope, in the
switch's own transaction."""

from __future__ import annotations

import pytest

from desk.models import AuditEvent
from execution.models import PlanStatus
from flows import kill_switch
from rfq.models import RFQStatus
from risk.models import KillSwitch, LimitScope
from risk.services import kill_switch_engage
from tests import factories
from tests.risk import factories as risk_factories

pytestmark = pytest.mark.django_db


def test_engaging_a_switch_halts_the_running_plan_and_cancels_the_open_rfq_under_it(
    risk_officer,
    trader,
    instrument,
    dealer,
    django_capture_on_commit_callbacks,  # noqa: ANN001
) -> None:
    # given a running plan and an open RFQ on BTC, and a running plan and an open RFQ on ETH
    eth = factories.instrument_create(symbol="ETH-USD", base_currency="ETH")
    btc_plan = risk_factories.plan_create(instrument=instrument, created_by=trader)
    eth_plan = risk_factories.plan_create(instrument=eth, created_by=trader)
    btc_rfq = factories.rfq_create(trader=trader, instrument=instrument, dealers=[dealer])
    eth_rfq = factories.rfq_create(trader=trader, instrument=eth, dealers=[dealer])

    # when a risk officer engages the BTC switch
    with django_capture_on_commit_callbacks(execute=True):
        kill_switch_engage(scope=LimitScope.UNDERLYING, scope_key="BTC", reason="bad prints", actor=risk_officer)

    # then the BTC plan is halted and the BTC RFQ cancelled; ETH runs on
    for row in (btc_plan, eth_plan, btc_rfq, eth_rfq):
        row.refresh_from_db()
    assert (btc_plan.status, eth_plan.status) == (PlanStatus.HALTED, PlanStatus.RUNNING)
    assert btc_rfq.status == RFQStatus.CANCELLED
    assert eth_rfq.status != RFQStatus.CANCELLED
    # and the switch's audit event names what it stopped, after each app audited its own row
    engage = AuditEvent.objects.get(action="risk.kill_switch.engage")
    assert engage.after["halted_plans"] == [btc_plan.pk]
    assert engage.after["cancelled_rfqs"] == [btc_rfq.reference]
    halt = AuditEvent.objects.get(action="execution_plan.halt")
    assert halt.after == {"status": "halted", "kill_switch": "underlying:BTC", "reason": "bad prints"}
    assert halt.pk < engage.pk


def test_engaging_again_halts_a_plan_started_under_the_switch_since(risk_officer, trader, instrument) -> None:  # noqa: ANN001
    # given an engaged desk switch and a plan that started under it afterwards
    kill_switch_engage(scope=LimitScope.DESK, scope_key="", reason="drill", actor=risk_officer)
    late = risk_factories.plan_create(instrument=instrument, created_by=trader)

    # when the switch is engaged again
    kill_switch_engage(scope=LimitScope.DESK, scope_key="", reason="drill", actor=risk_officer)

    # then the late plan is halted too
    late.refresh_from_db()
    assert late.status == PlanStatus.HALTED


def test_a_failed_cancel_rolls_the_switch_and_the_halts_back(
    risk_officer,
    trader,
    instrument,
    monkeypatch,  # noqa: ANN001
) -> None:
    # given a running plan, and an RFQ cancel that fails
    plan = risk_factories.plan_create(instrument=instrument, created_by=trader)

    def cancel_fails(**kwargs: object) -> list[str]:
        raise RuntimeError("rfq store down")

    monkeypatch.setattr(kill_switch, "rfqs_cancel_under", cancel_fails)

    # when the switch is engaged
    with pytest.raises(RuntimeError, match="rfq store down"):
        kill_switch_engage(scope=LimitScope.UNDERLYING, scope_key="BTC", reason="drill", actor=risk_officer)

    # then nothing is committed: neither the switch nor the halt
    plan.refresh_from_db()
    assert plan.status == PlanStatus.RUNNING
    assert not KillSwitch.objects.filter(engaged=True).exists()
    assert not AuditEvent.objects.filter(action__in=["execution_plan.halt", "risk.kill_switch.engage"]).exists()
