"""seed_demo is idempotent and refused in production; its users log in with their role."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import RequestFactory

from desk.audit import chain_verify
from desk.models import AuditEvent, Instrument, InstrumentKind
from rfq.models import Counterparty
from rfq.services import LegInput, rfq_legs_guard
from risk.models import Limit

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
        # a login always has its request (the login throttle, django-axes, counts per username and address)
        user = authenticate(RequestFactory().post("/desk/login/"), username=name, password=f"demo-{name}")
        assert user is not None
        assert list(user.groups.values_list("name", flat=True)) == [role]
    assert set(Instrument.objects.values_list("base_currency", flat=True)) == {"BTC", "ETH"}
    assert Instrument.objects.filter(kind=InstrumentKind.OPTION).count() >= 20
    assert Counterparty.objects.filter(user__groups__name="dealer").count() >= 8
    # a limit hierarchy, each set through the audited service
    scopes = set(Limit.objects.filter(is_active=True).values_list("scope", flat=True))
    assert scopes == {"desk", "trader", "underlying", "instrument"}
    assert first["created"]["limits"] == Limit.objects.count()
    assert AuditEvent.objects.filter(action="risk.limit.set", actor="system:seed_demo").count() == Limit.objects.count()
    assert chain_verify().ok


def test_the_demo_limits_sit_inside_the_fat_finger_defaults_and_let_the_demo_sizes_trade(settings) -> None:  # noqa: ANN001
    # given the demo desk
    settings.DEBUG = True
    call_command("seed_demo")
    trader = User.objects.get(username="trader")
    btc, eth = Instrument.objects.get(symbol="BTC-USD"), Instrument.objects.get(symbol="ETH-PERP")
    for limit in Limit.objects.filter(kind__in=list(settings.RISK_FAT_FINGER)):
        assert limit.value < Decimal(settings.RISK_FAT_FINGER[limit.kind])  # a row can only tighten

    # when the sizes the demo trades are guarded, they pass; a fat finger is refused by the demo's own limits
    assert not rfq_legs_guard(legs=[LegInput(btc, "buy", Decimal(5)), LegInput(eth, "sell", Decimal(50))], actor=trader)
    ((number, report),) = rfq_legs_guard(legs=[LegInput(btc, "buy", Decimal(200))], actor=trader)
    assert number == 1
    assert [(r.limit, r.scope, r.scope_key) for r in report.refusals] == [
        ("max_order_notional", "trader", "trader"),
        ("max_order_quantity", "instrument", "BTC-USD"),
    ]


def test_seed_demo_is_refused_in_production(settings) -> None:  # noqa: ANN001
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DESK_DEBUG=0"):
        call_command("seed_demo")
    assert not Counterparty.objects.exists()
