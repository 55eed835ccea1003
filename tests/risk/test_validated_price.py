"""No order leaves on a stale or unvalidated price: with ``RISK_REQUIRE_VALIDATED_PRICE`` on, the pre-trade check
refuses (naming ``validated_price``) unless the market-health monitor published a fresh price for the underlying,
and the price collar centres on that validated price.

Tests without a running monitor set a validated price the way the monitor does::

    from risk.reference import validated_price_publish
    validated_price_publish(underlying="BTC", price=100.0, state="healthy", source_feed="A", at=datetime.now(UTC))
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.cache import cache

from desk.models import AuditEvent
from risk import monitor as monitor_module
from risk.checks import VALIDATED_PRICE
from risk.feed import feed_key
from risk.market_health import Health
from risk.models import LimitKind, LimitScope
from risk.monitor import MarketHealthService
from risk.reference import validated_price_get, validated_price_publish
from risk.services import limit_check
from tests.risk.factories import limit_create, market_state, proposed_order
from tests.risk.test_monitor import replay_into

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _rule_on(settings: Any) -> Iterator[None]:
    settings.RISK_REQUIRE_VALIDATED_PRICE = True
    settings.RISK_VALIDATED_PRICE_MAX_AGE_S = 5.0
    cache.clear()
    yield
    cache.clear()


def _publish(price: float | None, *, age_s: float = 0.0, state: str = "healthy") -> None:
    at = datetime.now(UTC) - timedelta(seconds=age_s)
    validated_price_publish(underlying="BTC", price=price, state=state, source_feed="A", at=at)


def test_no_validated_price_is_refused_naming_the_rule_and_audited() -> None:
    report = limit_check(order=proposed_order(), actor="system:execution")
    assert report.limits == [VALIDATED_PRICE]
    assert "no price validated" in report.message
    refusal = report.refusals[0]
    assert (refusal.scope, refusal.scope_key) == (LimitScope.UNDERLYING, "BTC")
    assert AuditEvent.objects.filter(action="risk.refused", after__limit=VALIDATED_PRICE).count() == 1


def test_a_fresh_validated_price_passes() -> None:
    _publish(100.0, age_s=1.0)
    assert limit_check(order=proposed_order(), actor="system:execution").passed


def test_a_stale_validated_price_is_refused_with_its_age() -> None:
    _publish(100.0, age_s=12.0)
    report = limit_check(order=proposed_order(), actor="system:execution")
    assert report.limits == [VALIDATED_PRICE]
    refusal = report.refusals[0]
    assert refusal.threshold == 5.0
    assert refusal.observed == pytest.approx(12.0, abs=1.0)


def test_a_halted_underlying_has_no_price() -> None:
    _publish(None, state="halted")
    report = limit_check(order=proposed_order(), actor="system:execution")
    assert report.limits == [VALIDATED_PRICE]
    assert "halted" in report.message


def test_the_collar_centres_on_the_validated_price_not_the_callers_mid() -> None:
    # given a 50 bps collar; the caller's (venue) mid agrees with the order at 100, the validated price is 102
    limit_create(scope=LimitScope.DESK, kind=LimitKind.PRICE_COLLAR_BPS, value="50")
    _publish(102.0)
    report = limit_check(order=proposed_order(market=market_state(mid=100)), actor="system:execution")
    # then the order is 196 bps from the validated price: refused by the collar
    assert report.limits == [LimitKind.PRICE_COLLAR_BPS]
    assert report.refusals[0].observed == pytest.approx((102 - 100) / 102 * 1e4)
    _publish(100.2)
    assert limit_check(order=proposed_order(market=market_state(mid=100)), actor="system:execution").passed


def test_the_rule_is_switchable(settings: Any) -> None:
    settings.RISK_REQUIRE_VALIDATED_PRICE = False
    assert limit_check(order=proposed_order(), actor="system:execution").passed


def test_the_monitor_publishes_what_it_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(monitor_module, "broadcast", lambda **kwargs: None)
    # given the monitor hearing a calm market (the spoofing scenario with orders of no size), then one whose feeds
    # both go stale
    service = MarketHealthService(key=feed_key())
    replay_into(service, "spoofing", seed=4, dt_s=1.0, duration_s=30.0, size=0.0)
    health = service.health("BTC")
    published = validated_price_get(underlying="BTC")
    assert health is not None
    assert published is not None
    assert published.state == Health.HEALTHY
    assert float(published.price) == pytest.approx(health.price)
    replay_into(service, "stale-feed", seed=4, dt_s=1.0, duration_s=30.0)
    published = validated_price_get(underlying="BTC")
    assert published.state == Health.HALTED
    assert published.price is None


def test_validated_price_check_boundaries() -> None:
    from risk.checks import validated_price_check

    at_limit = validated_price_check(5.0, 5.0)
    assert at_limit.passed
    assert at_limit.message == "validated_price: limit 5 s, validated price is 5 s old"
    assert not validated_price_check(5.01, 5.0).passed
    missing = validated_price_check(None, 5.0)
    assert not missing.passed
    assert "no price validated" in missing.message
    assert not validated_price_check(float("nan"), 5.0).passed
