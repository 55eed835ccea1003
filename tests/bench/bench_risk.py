"""One pre-trade check: median time per call against a no-op check of the same signature, in the same run
(goal: the pure check within 20 µs). Also the Decimal boundary and the whole service (two queries) for scale."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from risk.checks import (
    MAX_DAILY_LOSS,
    MAX_ORDER_NOTIONAL,
    MAX_POSITION,
    PARTICIPATION_CAP,
    PRICE_COLLAR_BPS,
    OrderState,
    run_checks,
    validated_price_check,
)

GOAL_US = 20.0
REPEATS = 31
CALLS = 2_000
LIMITS = {
    PRICE_COLLAR_BPS: 50.0,
    MAX_ORDER_NOTIONAL: 5_000_000.0,
    MAX_POSITION: 150.0,
    PARTICIPATION_CAP: 0.25,
    MAX_DAILY_LOSS: 1_000_000.0,
}
STATE = OrderState(
    side_sign=1.0,
    quantity=2.5,
    price=100_050.0,
    mid=100_000.0,
    position=40.0,
    recent_volume=70.0,
    pnl_today=-12_000.0,
    volatility_ratio=1.4,
)


def _noop_check(state: OrderState, limits: dict[str, float]) -> list[Any]:
    return []


def _median_us(candidate: Callable[[], Any], baseline: Callable[[], Any], calls: int) -> tuple[float, float]:
    """Median over :data:`REPEATS` interleaved repetitions of ``calls`` calls each, µs per call."""
    candidate(), baseline()
    times: dict[str, list[float]] = {"candidate": [], "baseline": []}
    for _ in range(REPEATS):
        for key, func in (("candidate", candidate), ("baseline", baseline)):
            start = time.perf_counter()
            for _ in range(calls):
                func()
            times[key].append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(times["candidate"]), statistics.median(times["baseline"])


def _row(name: str, value: float, baseline: float, **extra: Any) -> dict[str, Any]:
    return {
        "bench": name,
        "value": round(value, 3),
        "baseline": round(baseline, 3),
        "ratio": round(baseline / value, 4),
        "unit": "µs per call (median)",
        "overhead_us": round(value - baseline, 3),
        **extra,
    }


def benchmarks() -> Iterator[dict[str, Any]]:
    value, base = _median_us(lambda: run_checks(STATE, LIMITS), lambda: _noop_check(STATE, LIMITS), CALLS)
    yield _row(
        "pre-trade check, 5 limits (risk.checks.run_checks) vs no-op check",
        value,
        base,
        goal_us=GOAL_US,
        within_goal=value - base <= GOAL_US,
    )

    from tests.bench.django_env import django_ready

    django_ready()
    from risk.orders import MarketState, ProposedOrder, order_state
    from risk.services import limit_check

    order = ProposedOrder(
        book="desk",
        trader="bench",
        instrument="BTC-USD",
        underlying="BTC",
        side="buy",
        quantity=Decimal("2.5"),
        limit_price=Decimal("100050"),
        market=MarketState(
            mid=Decimal("100000"),
            position=Decimal(40),
            recent_volume=Decimal(70),
            realized_pnl_today=Decimal(-2000),
            unrealized_pnl_today=Decimal(-10000),
            volatility_ratio=Decimal("1.4"),
        ),
        reference="BENCH-1",
    )

    def boundary_and_checks() -> None:
        validated_price_check(0.4, 5.0)
        run_checks(order_state(order), LIMITS)

    value, base = _median_us(boundary_and_checks, lambda: _noop_check(STATE, LIMITS), CALLS)
    yield _row("pre-trade check with the Decimal boundary and the validated-price rule vs no-op", value, base)

    value, base = _median_us(
        lambda: limit_check(order=order, actor="system:bench"), lambda: _noop_check(STATE, LIMITS), 20
    )
    yield _row("risk.services.limit_check (SQLite, two queries, passes) vs no-op", value, base)
