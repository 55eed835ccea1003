"""The kill switch from the command line: the risk officer engages and re-arms, audited; a trader is refused."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from desk.models import AuditEvent
from risk.models import KillSwitch

pytestmark = pytest.mark.django_db


def test_a_risk_officer_engages_and_rearms_from_the_command_line(risk_officer) -> None:  # noqa: ANN001
    out = StringIO()
    call_command(
        "killswitch",
        "engage",
        scope="underlying",
        key="BTC",
        reason="feed looks wrong",
        user=risk_officer.username,
        json=True,
        stdout=out,
    )

    assert json.loads(out.getvalue())["engaged"] is True
    assert KillSwitch.objects.get(scope="underlying", scope_key="BTC").engaged
    call_command("killswitch", "rearm", scope="underlying", key="BTC", reason="feed back", user=risk_officer.username)
    assert not KillSwitch.objects.get(scope="underlying", scope_key="BTC").engaged
    actions = list(AuditEvent.objects.filter(action__startswith="risk.kill_switch").values_list("action", flat=True))
    assert actions == ["risk.kill_switch.engage", "risk.kill_switch.rearm"]


def test_a_trader_or_an_unknown_user_is_refused(trader) -> None:  # noqa: ANN001
    with pytest.raises(CommandError, match="may not|not allowed|permission|needs"):
        call_command("killswitch", "engage", scope="desk", reason="x", user=trader.username)
    with pytest.raises(CommandError, match="--user"):
        call_command("killswitch", "engage", scope="desk", reason="x", user="nobody")
    assert not KillSwitch.objects.filter(engaged=True).exists()
