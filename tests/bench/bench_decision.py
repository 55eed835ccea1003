"""One wait-or-split decision over 20 live quotes (and 4 dealers still to answer) against the best-now rule on the
same book, in the same run: the goal is a median under 2 ms per decision."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from tests.bench.django_env import django_ready

QUOTES = 20
PENDING = ("ALPHA", "BRAVO", "DELTA", "HOTEL")
SAMPLES = 300


def _median_per_call(func: Callable[[], Any], samples: int = SAMPLES) -> float:
    """Median of ``samples`` single calls, seconds (after one warm-up call)."""
    func()
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _interleaved(name: str, candidate: Callable[[], Any], baseline: Callable[[], Any]) -> dict[str, Any]:
    value, base = [], []
    for _ in range(3):
        value.append(_median_per_call(candidate))
        base.append(_median_per_call(baseline))
    value_s, base_s = min(value), min(base)
    return {"bench": name, "value": value_s, "baseline": base_s, "ratio": base_s / value_s, "unit": "s/call (median)"}


def benchmarks() -> Iterator[dict[str, Any]]:
    django_ready()
    from rfq.decision import wait_or_split
    from sim.backtest.core import LiveQuote, View, WaitOrSplitPolicy, best_now
    from sim.backtest.episodes import InstrumentSpec, episodes_generate
    from sim.backtest.impact import executions_observe, impact_model_fit
    from sim.backtest.model import dealer_model_fit, history_observe
    from sim.dealers.profiles import DEMO_PROFILES

    model = dealer_model_fit(history_observe(episodes_generate(n=100, seed=1, profiles=DEMO_PROFILES)))
    impact = impact_model_fit(executions_observe(seed=1, n=100))
    mid = 100_000.0
    view = View(
        t=1.2,
        instrument=InstrumentSpec("BTC-USD", "spot", "BTC", 0.01, Decimal("0.0001")),
        side="buy",
        quantity=20.0,
        remaining=20.0,
        notional=20.0 * mid,
        arrival_mid=mid,
        asked=tuple(f"Q{i:02d}" for i in range(QUOTES)) + PENDING,
        book=tuple(
            LiveQuote(f"Q{i:02d}", mid * (1 + (3.0 + 0.6 * ((7 * i) % QUOTES)) / 1e4), 20.0, 0.1 * i, 12.0 + 0.1 * i)
            for i in range(QUOTES)
        ),
        pending=PENDING,
        mid=mid * (1 + 1e-4),
        half_spread_bps=1.6,
        volatility=0.65,
        liquidity=1.0,
        drift_bps_per_s=0.05,
    )
    policy = WaitOrSplitPolicy(model=model, impact=impact)
    inputs = policy.inputs(view)
    assert len(inputs["book"]) == QUOTES
    yield _interleaved(
        f"wait_or_split decision, {QUOTES} quotes + {len(PENDING)} pending vs best-now rule",
        lambda: wait_or_split(**inputs),
        lambda: best_now(view),
    )
    yield _interleaved(
        f"wait-or-split policy on a view (inputs + decision), {QUOTES} quotes vs best-now rule",
        lambda: policy(view),
        lambda: best_now(view),
    )
