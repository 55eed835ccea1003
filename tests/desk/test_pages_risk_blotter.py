"""The risk page's gauges, market health and alerts, and the blotter's filters kept in the query string."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from desk.market import venue_books_ensure
from execution import services as execution_services
from execution.models import ExecutionPlan, Position
from risk.market_health_services import market_health_record
from risk.models import LimitKind, LimitScope
from risk.services import circuit_breaker_trip
from tests import factories
from tests.risk.factories import limit_create

pytestmark = pytest.mark.django_db


# --- risk ----------------------------------------------------------------------------------------------------


def test_limit_usage_is_a_gauge_per_scope(client_for, risk_officer, instrument) -> None:  # noqa: ANN001
    # given a 40-contract position against a desk limit of 50 and a BTC limit of 160
    limit_create(scope=LimitScope.DESK, kind=LimitKind.MAX_POSITION, value="50")
    limit_create(scope=LimitScope.UNDERLYING, scope_key="BTC", kind=LimitKind.MAX_POSITION, value="160")
    limit_create(scope=LimitScope.DESK, kind=LimitKind.MAX_ORDER_NOTIONAL, value="1000000")
    Position.objects.create(book="desk", instrument=instrument, quantity=Decimal("-40"))

    response = client_for(risk_officer).get("/desk/risk/")

    assert response.status_code == 200
    scopes = {(g["scope_value"], g["key"]): g for g in response.context["gauges"]}
    desk = {item["row"].limit.kind: item for item in scopes[("desk", "")]["limits"]}
    assert desk[LimitKind.MAX_POSITION]["pct"] == pytest.approx(40 / 50 * 100)
    assert desk[LimitKind.MAX_ORDER_NOTIONAL]["pct"] is None
    btc = scopes[("underlying", "BTC")]["limits"][0]
    assert btc["pct"] == pytest.approx(40 / 160 * 100)
    text = response.content.decode()
    assert 'class="dial warm" data-kind="max_position"' in text  # 80 %: warm, not hot
    assert 'stroke-dasharray="25.0 100"' in text


def test_market_health_lists_each_underlying_and_alerts_listen_live(client_for, trader) -> None:  # noqa: ANN001
    venue_books_ensure(underlying="BTC", now=datetime.now(UTC))

    response = client_for(trader).get("/desk/risk/")

    markets = {m["underlying"]: m for m in response.context["markets"]}
    assert "BTC" in markets
    assert len(markets["BTC"]["venues"]) >= 1
    text = response.content.decode()
    assert 'tr data-underlying="BTC"' in text
    assert 'id="alerts-live"' in text
    assert "desk/risk.js" in text


def test_market_health_shows_the_stored_verdict_and_the_breaker_though_no_monitor_runs_here(
    client_for,  # noqa: ANN001
    trader,  # noqa: ANN001
) -> None:
    # given the monitor (in another process) stored BTC halted by a stale feed and tripped its breaker, and later
    # found it healthy again (the breaker stays engaged until a risk officer re-arms it)
    at = datetime(2026, 1, 5, 12, tzinfo=UTC)
    fields = {"findings": [], "source_feed": "", "since": at, "at": at}
    market_health_record(underlying="BTC", state="halted", checks=["stale"], reason="BTC feed A: stale", **fields)
    circuit_breaker_trip(underlying="BTC", reason="market data BTC feed A: stale")
    market_health_record(underlying="ETH", state="degraded", checks=["spoofing"], reason="ETH: spoofing", **fields)

    response = client_for(trader).get("/desk/risk/")

    # then the page shows what the database holds: the same in every process
    markets = {m["underlying"]: m for m in response.context["markets"]}
    assert markets["BTC"]["health"]["state"] == "halted"
    assert markets["BTC"]["health"]["reason"] == "stale: BTC feed A: stale"
    assert markets["BTC"]["circuit_breaker"] is True
    assert (markets["ETH"]["health"]["state"], markets["ETH"]["circuit_breaker"]) == ("degraded", False)
    text = response.content.decode()
    btc_row = text[text.index('tr data-underlying="BTC"') : text.index('tr data-underlying="ETH"')]
    assert '<span class="health halted">halted</span>' in btc_row
    assert "circuit breaker engaged" in btc_row
    assert "circuit breaker engaged" not in text[text.index('tr data-underlying="ETH"') :].split("</tr>")[0]

    # and when the feeds are healthy again the panel says so, beside the breaker still engaged
    market_health_record(underlying="BTC", state="healthy", checks=[], reason="", **(fields | {"source_feed": "A"}))
    text = client_for(trader).get("/desk/risk/").content.decode()
    btc_row = text[text.index('tr data-underlying="BTC"') : text.index('tr data-underlying="ETH"')]
    assert '<span class="health healthy">healthy</span>' in btc_row
    assert "circuit breaker engaged" in btc_row


def test_compliance_reads_the_risk_page_and_cannot_engage(client_for, compliance) -> None:  # noqa: ANN001
    client = client_for(compliance)
    page = client.get("/desk/risk/")
    assert page.status_code == 200
    assert b'id="engage-form"' not in page.content
    assert client.post("/desk/risk/engage/", {"scope": "desk", "reason": "x"}).status_code == 403


# --- blotter -------------------------------------------------------------------------------------------------


@pytest.fixture
def book(trader, risk_officer, instrument, account):  # noqa: ANN001, ANN201
    eth = factories.instrument_create(symbol="ETH-USD", base_currency="ETH")
    other = factories.user_create(role="trader", username="second-trader")
    orders = [
        factories.desk_order_create(trader=trader, instrument=instrument, account=account),
        factories.desk_order_create(trader=other, instrument=eth, account=account),
    ]
    plans = [
        execution_services.plan_create(
            instrument=instrument,
            side="buy",
            quantity=Decimal("1"),
            algorithm="twap",
            parameters={"horizon_s": 60, "slices": 2},
            actor=trader,
        ),
        execution_services.plan_create(
            instrument=eth,
            side="sell",
            quantity=Decimal("1"),
            algorithm="twap",
            parameters={"horizon_s": 60, "slices": 2},
            actor=other,
        ),
    ]
    return {"orders": orders, "plans": plans, "eth": eth, "other": other}


def _ids(response, table: str) -> list[int]:  # noqa: ANN001
    return sorted(row.pk for row in response.context[table])


def test_blotter_filters_by_instrument_side_trader_and_status(client_for, trader, instrument, book) -> None:  # noqa: ANN001
    client = client_for(trader)

    everything = client.get("/desk/")
    assert _ids(everything, "plans") == sorted(p.pk for p in book["plans"])

    by_instrument = client.get("/desk/?instrument=ETH-USD")
    assert _ids(by_instrument, "plans") == [book["plans"][1].pk]
    assert _ids(by_instrument, "orders") == [book["orders"][1].pk]
    assert 'value="ETH-USD"' in by_instrument.content.decode()  # the filter stays in the form

    by_side = client.get("/desk/?side=buy")
    assert _ids(by_side, "plans") == [book["plans"][0].pk]

    by_trader = client.get(f"/desk/?trader={book['other'].username}")
    assert _ids(by_trader, "plans") == [book["plans"][1].pk]
    assert _ids(by_trader, "orders") == [book["orders"][1].pk]

    ExecutionPlan.objects.filter(pk=book["plans"][0].pk).update(status="running")
    by_status = client.get("/desk/?status=running")
    assert _ids(by_status, "plans") == [book["plans"][0].pk]
    assert _ids(by_status, "orders") == []
    assert 'href="/desk/" id="clear-filter"' in by_status.content.decode()


def test_blotter_filters_by_utc_day(client_for, trader, book) -> None:  # noqa: ANN001
    client = client_for(trader)
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    assert len(_ids(client.get(f"/desk/?day={today.isoformat()}"), "plans")) == 2
    assert _ids(client.get(f"/desk/?day={yesterday.isoformat()}"), "plans") == []


def test_blotter_names_the_wrong_filter_and_keeps_what_was_typed(client_for, trader, book) -> None:  # noqa: ANN001
    response = client_for(trader).get("/desk/?instrument=DOGE-XYZ&day=2026-13-45&side=buy")
    assert response.status_code == 400
    text = response.content.decode()
    assert "Instrument: no instrument &#x27;DOGE-XYZ&#x27;" in text
    assert "Day (UTC): Enter a valid date." in text
    assert 'value="DOGE-XYZ"' in text
    assert 'value="2026-13-45"' in text


def test_dealer_gets_403_on_the_filtered_blotter(client_for, dealer) -> None:  # noqa: ANN001
    assert client_for(dealer.user).get("/desk/?status=running").status_code == 403


# --- alerts --------------------------------------------------------------------------------------------------


@pytest.fixture
def open_alert(trader, instrument):  # noqa: ANN001, ANN201
    from risk.models import Alert

    plan = execution_services.plan_create(
        instrument=instrument,
        side="buy",
        quantity=Decimal("1"),
        algorithm="twap",
        parameters={"horizon_s": 60, "slices": 2},
        actor=trader,
    )
    return Alert.objects.create(
        plan=plan,
        scope="plan",
        scope_key=str(plan.pk),
        kind="participation",
        level="action",
        value=Decimal("0.4"),
        threshold=Decimal("0.25"),
        action="halt",
        action_result="paused",
        message="participation 40 % above 25 %",
        created_at=datetime.now(UTC),
    )


def test_open_alerts_are_listed_and_acknowledged_by_desk_roles_only(  # noqa: ANN001
    client_for, trader, compliance, dealer, open_alert
) -> None:
    # compliance sees the alert but has no button, and the server refuses it
    compliance_client = client_for(compliance)
    page = compliance_client.get("/desk/risk/").content.decode()
    assert f'data-alert="{open_alert.pk}"' in page
    assert "participation 40 % above 25 %" in page
    assert 'class="secondary ack"' not in page
    assert compliance_client.post(f"/desk/risk/alerts/{open_alert.pk}/ack/").status_code == 403
    assert client_for(dealer.user).post(f"/desk/risk/alerts/{open_alert.pk}/ack/").status_code == 403
    open_alert.refresh_from_db()
    assert not open_alert.acknowledged

    # the plan's own page shows it too
    client = client_for(trader)
    plan_page = client.get(f"/desk/execution/{open_alert.plan_id}/").content.decode()
    assert f'<li class="error" data-alert="{open_alert.pk}">Risk action: participation 40 % above 25 %' in plan_page

    # the trader acknowledges it; a second time is refused, saying why
    assert 'class="secondary ack"' in client.get("/desk/risk/").content.decode()
    response = client.post(f"/desk/risk/alerts/{open_alert.pk}/ack/")
    assert response.status_code == 302
    open_alert.refresh_from_db()
    assert open_alert.acknowledged
    assert open_alert.acknowledged_by == trader
    assert f'data-alert="{open_alert.pk}"' not in client.get("/desk/risk/").content.decode()
    again = client.post(f"/desk/risk/alerts/{open_alert.pk}/ack/")
    assert again.status_code == 400
    assert "already acknowledged" in again.content.decode()


def test_a_risk_officer_sets_a_scope_to_reduce_only_and_a_trader_may_not(client, risk_officer, trader) -> None:  # noqa: ANN001
    from risk.models import KillSwitch

    client.force_login(trader)
    refused = client.post("/desk/risk/reduce/", {"scope": "underlying", "scope_key": "BTC", "reason": "x"})
    assert refused.status_code == 403
    client.force_login(risk_officer)

    done = client.post("/desk/risk/reduce/", {"scope": "underlying", "scope_key": "BTC", "reason": "vol too high"})
    page = client.get("/desk/risk/")

    assert done.status_code == 302
    assert KillSwitch.objects.get(scope="underlying", scope_key="BTC").state == "reducing"
    assert "REDUCING only" in page.content.decode()
    assert "Re-arm" in page.content.decode()
