"""seed_demo is idempotent and refused in production; its users log in with their role."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from desk.audit import chain_verify
from desk.models import Instrument, InstrumentKind
from rfq.models import Counterparty

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_a_user_per_role_instruments_and_dealers(capsys, settings) -> None:  # noqa: ANN001
    settings.DEBUG = True  # pytest-django runs with DEBUG off; the embedded desk runs with it on
    call_command("seed_demo", "--json")
    first = json.loads(capsys.readouterr().out)
    call_command("seed_demo", "--json")
    second = json.loads(capsys.readouterr().out)

    assert first["created"]["users"] == 4
    assert first["created"]["dealers"] >= 8
    assert all(count == 0 for count in second["created"].values())
    for name, role in [("trader", "trader"), ("risk", "risk_officer"), ("compliance", "compliance")]:
        user = authenticate(username=name, password=f"demo-{name}")
        assert user is not None
        assert list(user.groups.values_list("name", flat=True)) == [role]
    assert set(Instrument.objects.values_list("base_currency", flat=True)) == {"BTC", "ETH"}
    assert Instrument.objects.filter(kind=InstrumentKind.OPTION).count() >= 20
    assert Counterparty.objects.filter(user__groups__name="dealer").count() >= 8
    assert chain_verify().ok


def test_seed_demo_is_refused_in_production(settings) -> None:  # noqa: ANN001
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DESK_DEBUG=0"):
        call_command("seed_demo")
    assert not Counterparty.objects.exists()
