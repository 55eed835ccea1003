"""Scope keys name what exists: a limit, a kill switch or a state on a key that names nothing is refused by name
(service, API, risk page, commands); keys that name an instrument, an underlying, a trader, a dealer, a book or a
strategy in use or declared pass; a switch stored on a bad key can still be re-armed."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from desk.models import AuditEvent
from risk import services
from risk.models import KillSwitch, Limit, LimitScope, ScopeState
from tests.risk import factories as risk_factories

pytestmark = pytest.mark.django_db


def _engage(scope: str, key: str, actor: object) -> KillSwitch:
    return services.kill_switch_engage(scope=scope, scope_key=key, reason="drill", actor=actor)


def test_the_fuzzed_instrument_switch_is_refused_naming_the_field_and_the_key(risk_officer, instrument) -> None:  # noqa: ANN001
    # given a desk that trades BTC-USD only
    # when the risk officer engages a switch on an instrument that does not exist
    with pytest.raises(services.RiskRefused) as refused:
        _engage(LimitScope.INSTRUMENT, "FUZZ-NONE", risk_officer)

    # then the refusal names scope_key and the key, and nothing is stored or audited
    assert refused.value.message_dict == {
        "scope_key": ["unknown instrument 'FUZZ-NONE' (no instrument has this symbol)"]
    }
    assert not KillSwitch.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="risk.").exists()


def test_keys_that_name_what_exists_pass(risk_officer, trader, instrument, dealer, settings) -> None:  # noqa: ANN001
    # given an instrument, its underlying, a trader, a dealer, a book used by a position, a strategy named by a plan,
    # a book and a strategy declared in the settings, and an underlying the desk has reference data for (ETH)
    risk_factories.position_create(instrument=instrument, quantity="1", book="flow")
    risk_factories.plan_create(instrument=instrument, created_by=trader, parameters={"strategy": "basis"})
    settings.RISK_BOOKS = ("desk", "declared-book")
    settings.RISK_STRATEGIES = ("declared-strategy",)
    keys = [
        (LimitScope.INSTRUMENT, instrument.symbol),
        (LimitScope.UNDERLYING, "BTC"),
        (LimitScope.UNDERLYING, "ETH"),
        (LimitScope.TRADER, trader.username),
        (LimitScope.DEALER, dealer.code),
        (LimitScope.BOOK, "desk"),
        (LimitScope.BOOK, "flow"),
        (LimitScope.BOOK, "declared-book"),
        (LimitScope.STRATEGY, "basis"),
        (LimitScope.STRATEGY, "flow"),  # a book is its own strategy
        (LimitScope.STRATEGY, "declared-strategy"),
    ]

    # when a limit is set and a switch set to reducing on each
    for scope, key in keys:
        services.limit_set(scope=scope, scope_key=key, kind="max_position", value=Decimal(10), actor=risk_officer)
        services.scope_state_set(scope=scope, scope_key=key, state="reducing", reason="drill", actor=risk_officer)

    # then every one is stored
    assert set(Limit.objects.values_list("scope", "scope_key")) == set(keys)
    assert set(KillSwitch.objects.filter(state=ScopeState.REDUCING).values_list("scope", "scope_key")) == set(keys)


def test_a_trader_key_names_an_active_user_who_trades(risk_officer, compliance, trader) -> None:  # noqa: ANN001
    trader.is_active = False
    trader.save(update_fields=["is_active"])

    with pytest.raises(services.RiskRefused, match="unknown trader 'risk-t': user 'risk-t' does not trade"):
        _engage(LimitScope.TRADER, risk_officer.username, risk_officer)
    with pytest.raises(services.RiskRefused, match="unknown trader 'trader-t': no active user 'trader-t'"):
        _engage(LimitScope.TRADER, "trader-t", risk_officer)
    assert not KillSwitch.objects.exists()


def test_a_book_in_no_plan_position_or_setting_is_refused_and_the_declared_ones_are_listed(risk_officer) -> None:  # noqa: ANN001
    with pytest.raises(services.RiskRefused) as refused:
        services.limit_set(
            scope=LimitScope.BOOK, scope_key="B9", kind="max_position", value=Decimal(1), actor=risk_officer
        )

    (message,) = refused.value.message_dict["scope_key"]
    assert message.startswith("unknown book 'B9' (declared: desk;")
    assert "DESK_BOOKS" in message
    assert not Limit.objects.exists()


def test_a_switch_stored_on_a_key_that_names_nothing_can_still_be_rearmed(risk_officer) -> None:  # noqa: ANN001
    # given a switch the fuzzing left engaged on an instrument that does not exist (stored before the check)
    KillSwitch.objects.create(scope="instrument", scope_key="FUZZ-NONE", state=ScopeState.HALTED, engaged=True)

    # when the risk officer re-arms it
    switch = services.kill_switch_rearm(
        scope=LimitScope.INSTRUMENT, scope_key="FUZZ-NONE", reason="fuzzing left it", actor=risk_officer
    )

    # then it is armed again
    assert (switch.state, switch.engaged) == (ScopeState.ACTIVE, False)


def test_the_risk_page_names_the_field_and_the_key(client_for, risk_officer, instrument) -> None:  # noqa: ANN001
    response = client_for(risk_officer).post(
        "/desk/risk/engage/", {"scope": "instrument", "scope_key": "FUZZ-NONE", "reason": "fuzz"}
    )

    assert response.status_code == 400
    assert "unknown instrument &#x27;FUZZ-NONE&#x27;" in response.content.decode()
    assert not KillSwitch.objects.exists()


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("killswitch", ["engage"]),
        ("scope_state", ["--state", "halted"]),
    ],
)
def test_the_commands_name_the_field_and_the_key(risk_officer, command, args) -> None:  # noqa: ANN001
    with pytest.raises(CommandError) as refused:
        call_command(
            command,
            *args,
            "--scope",
            "dealer",
            "--key",
            "FUZZ-DEALER",
            "--reason",
            "fuzz",
            "--user",
            risk_officer.username,
            stdout=StringIO(),
        )

    assert str(refused.value) == "scope_key: unknown dealer 'FUZZ-DEALER' (no counterparty has this code)"
    assert not KillSwitch.objects.exists()
