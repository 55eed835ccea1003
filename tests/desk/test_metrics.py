"""``/metrics`` in the Prometheus text format (parsed, figures checked against the database) and its access rule;
the JSON log formatter (one object per line)."""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from desk.market import SECONDS_PER_YEAR, venue_books_ensure
from desk.marks import mark_surface
from desk.metrics import CONTENT_TYPE, json_formatter, metrics_text
from desk.models import InstrumentKind, VenueBook
from desk.roles import Role
from execution.models import ChildOrder, ChildOrderStatus, Position
from risk.market_health_services import market_health_record
from risk.models import Alert, LimitKind, LimitScope
from risk.reference import validated_price_publish
from risk.services import circuit_breaker_trip, scope_state_set
from tests import factories
from tests.risk import factories as risk_factories

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE = re.compile(rf"^({NAME})(?:\{{(.*)\}})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(,|$)')


def parse_exposition(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """A strict reader of the text format 0.0.4 (gauges): every sample's metric declared by HELP and TYPE before it,
    labels well formed, values floats. Returns metric name -> [(labels, value)]."""
    assert text.endswith("\n")
    declared: dict[str, str] = {}
    helped: set[str] = set()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            assert name not in helped, f"HELP twice for {name}"
            helped.add(name)
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("gauge", "counter", "untyped"), line
            assert name not in declared, f"TYPE twice for {name}"
            declared[name] = kind
            samples[name] = []
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, raw_labels, value = match.groups()
        assert name in declared, f"{name} sampled before its TYPE"
        labels: dict[str, str] = {}
        if raw_labels:
            position = 0
            while position < len(raw_labels):
                label = LABEL.match(raw_labels, position)
                assert label, f"bad labels in {line!r}"
                labels[label.group(1)] = label.group(2)
                position = label.end()
        samples[name].append((labels, float(value)))
    assert set(declared) == helped
    return samples


def _value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    found = [value for got, value in samples[name] if all(got.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, f"{name} {labels}: {found}"
    return found[0]


@pytest.fixture
def desk_state(trader: Any) -> dict[str, Any]:  # noqa: ANN401
    """Three decided child orders (one rejected), a half-done plan, a long position marked 10 above its cost, a
    position limit half used, an open alert and a validated price."""
    instrument = factories.instrument_create(symbol="BTC-USD")
    plan = risk_factories.plan_create(instrument=instrument, created_by=trader, quantity="4")
    plan.filled_quantity = Decimal(2)
    plan.save(update_fields=["filled_quantity"])
    now = datetime.now(UTC)
    for seq, status in enumerate(
        (ChildOrderStatus.FILLED, ChildOrderStatus.FILLED, ChildOrderStatus.REJECTED, ChildOrderStatus.PLANNED), 1
    ):
        ChildOrder.objects.create(
            plan=plan, seq=seq, client_order_id=f"M-{seq}", quantity=1, status=status, scheduled_at=now
        )
    venue_books_ensure(underlying="BTC", now=now)
    VenueBook.objects.filter(underlying="BTC").update(mid=Decimal("110"))
    Position.objects.create(
        book="desk", instrument=instrument, quantity=Decimal(5), average_price=Decimal(100), realized_pnl=Decimal(-7)
    )
    risk_factories.limit_create(scope=LimitScope.DESK, kind=LimitKind.MAX_POSITION, value="10")
    Alert.objects.create(
        kind="slippage",
        level="alert",
        value=Decimal("0.0012"),
        threshold=Decimal("0.001"),
        message="m",
        plan=plan,
        created_at=now,
    )
    validated_price_publish(underlying="BTC", price=110.0, state="healthy", source_feed="A", at=now)
    return {"plan": plan}


@pytest.mark.django_db
def test_an_option_position_is_marked_on_the_desks_surface_not_the_underlyings_mid(instrument) -> None:  # noqa: ANN001
    # given 3 calls bought at 4 000 in book "opts", the BTC book at 100 000 and the desk's fitted surface
    now = datetime.now(UTC)
    venue_books_ensure(underlying="BTC", now=now)
    factories.vol_surface_fitted()
    call = factories.instrument_create(
        symbol="BTC-M-C",
        kind=InstrumentKind.OPTION,
        underlying=instrument,
        strike=Decimal(105_000),
        expiry=now + timedelta(days=30),
        option_type="call",
    )
    Position.objects.create(book="opts", instrument=call, quantity=Decimal(3), average_price=Decimal(4_000))

    samples = parse_exposition(metrics_text(now=now))

    # then the unrealized P&L is 3 × (the call's mark − 4 000)
    t = (call.expiry - now).total_seconds() / SECONDS_PER_YEAR
    mark = mark_surface("BTC").price(spot=100_000.0, strike=105_000.0, t_years=t, kind="call").price
    assert _value(samples, "desk_pnl", book="opts", component="unrealized") == pytest.approx(3 * (mark - 4_000), 1e-9)


@pytest.mark.django_db
def test_metrics_parse_and_carry_the_desks_figures(desk_state: dict[str, Any]) -> None:
    samples = parse_exposition(metrics_text())
    plan = desk_state["plan"]
    # 1 rejected out of 3 decided (the planned one is not decided yet)
    assert _value(samples, "desk_order_rejection_ratio") == pytest.approx(1 / 3)
    assert _value(samples, "desk_child_orders", status="planned") == 1
    assert _value(samples, "desk_plan_progress_ratio", plan=str(plan.pk)) == pytest.approx(0.5)
    assert _value(samples, "desk_pnl", book="desk", component="realized") == pytest.approx(-7)
    # 5 × (110 − 100) × multiplier 1
    assert _value(samples, "desk_pnl", book="desk", component="unrealized") == pytest.approx(50)
    assert _value(samples, "desk_limit_usage_ratio", scope="desk", kind="max_position") == pytest.approx(0.5)
    assert _value(samples, "desk_risk_alerts_open", kind="slippage", level="alert") == 1
    ages = [value for _, value in samples["desk_market_data_age_seconds"]]
    assert len(ages) == VenueBook.objects.filter(underlying="BTC").count()
    assert all(0 <= age < 60 for age in ages)
    assert 0 <= _value(samples, "desk_validated_price_age_seconds", underlying="BTC") < 60


@pytest.mark.django_db
def test_metrics_carry_kill_switches_breakers_and_health_per_underlying(risk_officer: Any, settings: Any) -> None:  # noqa: ANN401
    # given BTC halted by the stale check with its breaker tripped, ETH healthy, and a book switch set to reducing
    settings.RISK_BOOKS = ("desk", "B1")
    since = datetime(2026, 1, 5, 12, tzinfo=UTC)
    fields = {"reason": "", "findings": [], "source_feed": "", "since": since, "at": since}
    market_health_record(underlying="BTC", state="halted", checks=["stale"], **fields)
    market_health_record(underlying="ETH", state="healthy", checks=[], **fields)
    circuit_breaker_trip(underlying="BTC", reason="market data BTC: stale")
    scope_state_set(scope="book", scope_key="B1", state="reducing", reason="drill", actor=risk_officer)

    samples = parse_exposition(metrics_text(now=since + timedelta(seconds=90)))

    # then every kill switch, its state one-hot
    assert _value(samples, "desk_kill_switch_engaged", scope="underlying", scope_key="BTC") == 1
    assert _value(samples, "desk_kill_switch_engaged", scope="book", scope_key="B1") == 0
    assert _value(samples, "desk_kill_switch_state", scope="book", scope_key="B1", state="reducing") == 1
    assert _value(samples, "desk_kill_switch_state", scope="book", scope_key="B1", state="active") == 0
    # and per underlying: the breaker, the state one-hot, the checks behind it and the time in the state
    assert _value(samples, "desk_circuit_breaker_engaged", underlying="BTC") == 1
    assert _value(samples, "desk_circuit_breaker_engaged", underlying="ETH") == 0
    assert _value(samples, "desk_market_health_state", underlying="BTC", state="halted") == 1
    assert _value(samples, "desk_market_health_state", underlying="BTC", state="healthy") == 0
    assert _value(samples, "desk_market_health_state", underlying="ETH", state="healthy") == 1
    assert _value(samples, "desk_market_health_check", underlying="BTC", check="stale") == 1
    assert _value(samples, "desk_market_health_check", underlying="BTC", check="spoofing") == 0
    assert {labels["check"] for labels, _ in samples["desk_market_health_check"]} >= {
        "stale",
        "outlier",
        "fast_move",
        "volatility",
        "liquidity",
        "spoofing",
    }
    assert _value(samples, "desk_market_health_state_seconds", underlying="BTC") == 90


def test_the_parser_catches_a_malformed_exposition() -> None:
    with pytest.raises(AssertionError):
        parse_exposition('desk_x{a="1"} 1\n')
    with pytest.raises(AssertionError):
        parse_exposition("# HELP desk_x x\n# TYPE desk_x gauge\ndesk_x{a=1} 1\n")


@pytest.mark.django_db
def test_metrics_access(client: Any, client_for: Any, settings: Any, trader: Any) -> None:  # noqa: ANN401
    settings.DESK_METRICS_TOKEN = "metrics-token-123"
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == "Bearer"
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    scraped = client.get("/metrics", headers={"Authorization": "Bearer metrics-token-123"})
    assert scraped.status_code == 200
    assert scraped["Content-Type"] == CONTENT_TYPE
    assert "desk_order_rejection_ratio" in parse_exposition(scraped.content.decode())
    assert client_for(trader).get("/metrics").status_code == 200
    dealer_user = factories.user_create(role=Role.DEALER, username="dealer-metrics")
    assert client_for(dealer_user).get("/metrics").status_code == 403
    settings.DESK_METRICS_TOKEN = ""
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401


def test_json_formatter_writes_one_object_per_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    logger = logging.getLogger("tests.desk.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("plan %s paused\nby risk", 7, extra={"plan": 7, "at": datetime(2026, 1, 1, tzinfo=UTC)})
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "WARNING"
    assert first["logger"] == "tests.desk.json"
    assert first["message"] == "plan 7 paused\nby risk"
    assert first["plan"] == 7
    assert first["at"] == "2026-01-01T00:00:00+00:00"
    assert datetime.fromisoformat(first["ts"]).tzinfo is not None
    assert second["message"] == "failed"
    assert "ValueError: boom" in second["exc"]


def test_settings_wire_the_json_formatter(settings: Any) -> None:
    formatter = settings.LOGGING["formatters"]["json"]
    assert formatter["()"] == "desk.metrics.json_formatter"


def test_a_refused_request_logs_one_line_without_a_traceback(client_for, trader) -> None:  # noqa: ANN001
    # given the desk's console handler (settings.LOGGING) writing into a buffer
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        # when a trader opens the compliance page, which only compliance may see
        response = client_for(trader).get("/desk/compliance/")
    finally:
        handler.setStream(previous)

    # then the refusal is logged once, as one line with no stack
    assert response.status_code == 403
    lines = [line for line in buffer.getvalue().splitlines() if "/desk/compliance/" in line]
    assert len(lines) == 1, buffer.getvalue()
    assert "Forbidden" in lines[0]
    assert "Traceback" not in buffer.getvalue()
