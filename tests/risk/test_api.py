"""The risk API: desk roles read limits and switches; only risk officers set limits and engage or re-arm switches
(others get 403); a bad body is a 400 that names the field."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import Client

from desk.models import AuditEvent
from execution.models import PlanStatus
from risk import services
from risk.market_health_services import market_health_record
from risk.models import KillSwitch, Limit, LimitKind, LimitScope, MarketHealth
from tests.risk import factories as risk_factories

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.risk.urls")]

BASE = "/api/v1/risk"


def _post(client: Client, path: str, body: dict) -> object:
    return client.post(f"{BASE}{path}", body, content_type="application/json")


def test_desk_roles_read_limits_and_switches(trader, compliance, risk_officer, client_for, settings) -> None:  # noqa: ANN001
    settings.RISK_BOOKS = ("desk", "B1")
    risk_factories.limit_create(scope=LimitScope.DESK, kind=LimitKind.MAX_POSITION, value="25")
    risk_factories.limit_create(
        scope=LimitScope.BOOK, scope_key="B1", kind=LimitKind.MAX_POSITION, value="9", is_active=False
    )
    services.kill_switch_engage(scope="book", scope_key="B1", reason="drill", actor=risk_officer)

    for user in (trader, compliance, risk_officer):
        client = client_for(user)
        limits = client.get(f"{BASE}/limits/")
        switches = client.get(f"{BASE}/kill-switches/", {"engaged": "true"})

        assert limits.status_code == 200
        (row,) = limits.json()["results"]  # the inactive one is not in force
        assert (row["scope"], row["kind"], Decimal(row["value"])) == ("desk", "max_position", Decimal(25))
        assert switches.status_code == 200
        (switch,) = switches.json()["results"]
        assert (switch["scope"], switch["scope_key"], switch["engaged"]) == ("book", "B1", True)


def test_anonymous_gets_nothing() -> None:
    assert Client().get(f"{BASE}/limits/").status_code in (401, 403)
    assert Client().get(f"{BASE}/kill-switches/").status_code in (401, 403)


def test_limit_usage_shows_the_largest_position_in_scope(trader, instrument, client_for) -> None:  # noqa: ANN001
    risk_factories.limit_create(scope=LimitScope.UNDERLYING, scope_key="BTC", kind=LimitKind.MAX_POSITION, value="20")
    risk_factories.limit_create(scope=LimitScope.DESK, kind=LimitKind.PRICE_COLLAR_BPS, value="50")
    risk_factories.position_create(instrument=instrument, quantity="-5")
    risk_factories.position_create(instrument=instrument, quantity="2", book="B2")

    response = client_for(trader).get(f"{BASE}/limits/usage/")

    assert response.status_code == 200
    by_kind = {row["limit"]["kind"]: row for row in response.json()}
    assert Decimal(by_kind["max_position"]["used"]) == Decimal(5)
    assert Decimal(by_kind["max_position"]["ratio"]) == Decimal("0.25")
    assert by_kind["max_position"]["detail"] == "desk BTC-USD -5.000000000000"
    assert by_kind["price_collar_bps"]["used"] is None


def test_a_risk_officer_sets_a_limit_and_a_trader_gets_403(trader, risk_officer, instrument, client_for) -> None:  # noqa: ANN001
    body = {"scope": "instrument", "scope_key": "BTC-USD", "kind": "max_order_notional", "value": "250000"}

    refused = _post(client_for(trader), "/limits/set/", body)
    response = _post(client_for(risk_officer), "/limits/set/", body)

    assert refused.status_code == 403
    assert response.status_code == 200
    assert response.json()["updated_by"] == "risk-t"
    assert Limit.objects.get().value == Decimal(250000)
    assert AuditEvent.objects.filter(action="risk.limit.set").count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scope_key": "", "kind": "max_position", "value": "1"}, "scope"),
        ({"scope": "desk", "kind": "max_vega", "value": "1"}, "kind"),
        ({"scope": "desk", "kind": "max_position", "value": "-1"}, "value"),
        ({"scope": "desk", "kind": "max_position", "value": "lots"}, "value"),
        ({"scope": "desk", "scope_key": "B1", "kind": "max_position", "value": "1"}, "scope_key"),
        ({"scope": "desk", "kind": "participation_cap", "value": "2"}, "value"),
    ],
)
def test_a_bad_limit_body_is_a_400_naming_the_field(risk_officer, client_for, body, field) -> None:  # noqa: ANN001
    response = _post(client_for(risk_officer), "/limits/set/", body)

    assert response.status_code == 400
    assert field in response.json()
    assert not Limit.objects.exists()


def test_engage_and_rearm_are_for_risk_officers_only(trader, compliance, risk_officer, instrument, client_for) -> None:  # noqa: ANN001
    plan = risk_factories.plan_create(instrument=instrument, created_by=trader)
    body = {"scope": "underlying", "scope_key": "BTC", "reason": "vol spike"}

    for user in (trader, compliance):
        assert _post(client_for(user), "/kill-switches/engage/", body).status_code == 403
    assert not KillSwitch.objects.exists()

    engaged = _post(client_for(risk_officer), "/kill-switches/engage/", body)
    assert engaged.status_code == 200
    assert engaged.json()["engaged"] is True
    assert engaged.json()["changed_by"] == "user:risk-t"
    plan.refresh_from_db()
    assert plan.status == PlanStatus.HALTED

    for user in (trader, compliance):
        assert _post(client_for(user), "/kill-switches/rearm/", body | {"reason": "calm"}).status_code == 403
    rearmed = _post(client_for(risk_officer), "/kill-switches/rearm/", body | {"reason": "calm"})
    assert rearmed.status_code == 200
    assert rearmed.json()["engaged"] is False


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/kill-switches/engage/", {"scope": "book", "scope_key": "B1"}, "reason"),
        ("/kill-switches/engage/", {"scope": "galaxy", "reason": "x"}, "scope"),
        ("/kill-switches/engage/", {"scope": "book", "reason": "x"}, "scope_key"),
        ("/kill-switches/rearm/", {"scope": "book", "scope_key": "B1", "reason": "x"}, "detail"),
    ],
)
def test_a_bad_switch_body_is_a_400_naming_the_field(risk_officer, client_for, path, body, field) -> None:  # noqa: ANN001
    response = _post(client_for(risk_officer), path, body)

    assert response.status_code == 400
    assert field in response.json()


def _verdict(underlying: str, state: str, checks: list[str], *, source_feed: str = "A") -> None:
    at = datetime(2026, 1, 5, 12, tzinfo=UTC)
    market_health_record(
        underlying=underlying,
        state=state,
        checks=checks,
        reason=f"{underlying}: {', '.join(checks) or state}",
        findings=[{"check": check, "figures": {"x": 1.0}} for check in checks],
        source_feed=source_feed,
        since=at,
        at=at,
    )


def test_market_health_lists_the_stored_verdicts_beside_the_breakers(trader, compliance, client_for) -> None:  # noqa: ANN001
    # given BTC halted by a stale feed (the breaker tripped) and ETH degraded by spoofing
    _verdict("BTC", "halted", ["stale"], source_feed="")
    _verdict("ETH", "degraded", ["spoofing"])
    services.circuit_breaker_trip(underlying="BTC", reason="market data BTC feed A: stale")

    for user in (trader, compliance):
        response = client_for(user).get(f"{BASE}/market-health/")
        assert response.status_code == 200
        rows = {row["underlying"]: row for row in response.json()}
        assert rows["BTC"]["state"] == "halted"
        assert rows["BTC"]["checks"] == ["stale"]
        assert (rows["BTC"]["circuit_breaker"], rows["BTC"]["switch_state"]) == (True, "halted")
        assert rows["BTC"]["switch_reason"].startswith("circuit breaker: market data")
        assert rows["BTC"]["findings"] == [{"check": "stale", "figures": {"x": 1.0}}]
        assert (rows["ETH"]["state"], rows["ETH"]["checks"], rows["ETH"]["source_feed"]) == (
            "degraded",
            ["spoofing"],
            "A",
        )
        assert (rows["ETH"]["circuit_breaker"], rows["ETH"]["switch_state"]) == (False, "active")
        assert rows["ETH"]["since"] == "2026-01-05T12:00:00Z"
    assert Client().get(f"{BASE}/market-health/").status_code in (401, 403)


def test_a_verdict_is_refused_when_it_is_nonsense() -> None:
    at = datetime(2026, 1, 5, tzinfo=UTC)
    fields = {"checks": [], "reason": "", "findings": [], "source_feed": "A", "since": at, "at": at}
    with pytest.raises(services.RiskRefused, match="state"):
        market_health_record(underlying="BTC", state="fine", **fields)
    with pytest.raises(services.RiskRefused, match="underlying"):
        market_health_record(underlying="", state="healthy", **fields)
    with pytest.raises(services.RiskRefused, match="UTC"):
        market_health_record(underlying="BTC", state="healthy", **(fields | {"since": datetime(2026, 1, 5)}))  # noqa: DTZ001
    # and a figure JSON cannot hold is stored as null, not refused by the database
    market_health_record(
        underlying="BTC", state="degraded", **(fields | {"findings": [{"figures": {"ratio": float("inf")}}]})
    )
    assert MarketHealth.objects.get(underlying="BTC").findings == [{"figures": {"ratio": None}}]


UNKNOWN_KEYS = [
    ("instrument", "FUZZ-NONE", "unknown instrument 'FUZZ-NONE'"),
    ("underlying", "FUZZ", "unknown underlying 'FUZZ'"),
    ("trader", "nobody-fuzz", "unknown trader 'nobody-fuzz'"),
    ("dealer", "FUZZ-DEALER", "unknown dealer 'FUZZ-DEALER'"),
    ("book", "FUZZ-BOOK", "unknown book 'FUZZ-BOOK'"),
    ("strategy", "fuzz-strategy", "unknown strategy 'fuzz-strategy'"),
]


@pytest.mark.parametrize(("scope", "key", "named"), UNKNOWN_KEYS)
@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("/limits/set/", {"kind": "max_order_notional", "value": "1000"}),
        ("/kill-switches/engage/", {"reason": "fuzz"}),
        ("/kill-switches/state/", {"state": "reducing", "reason": "fuzz"}),
    ],
)
def test_a_scope_key_that_names_nothing_is_a_400_naming_the_field_and_the_key(  # noqa: ANN001
    risk_officer, instrument, client_for, path, extra, scope, key, named
) -> None:
    # given a desk with an instrument BTC-USD, a risk officer, no dealer, plan or position
    # when a limit, a switch or a state is set on a key that names nothing there
    response = _post(client_for(risk_officer), path, {"scope": scope, "scope_key": key} | extra)

    # then it is refused under scope_key, naming the key, and nothing is stored or audited
    assert response.status_code == 400, response.content
    assert named in " ".join(response.json()["scope_key"])
    assert not Limit.objects.exists()
    assert not KillSwitch.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="risk.").exists()
