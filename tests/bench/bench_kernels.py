"""Slicing kernels: numba against the plain Python twins, and against numpy where numpy can do the same work."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from execution import kernels, kernels_ref
from tests.bench import side_by_side

PERIODS = 10_000
LOT = 100
# 2.5 million shares over 10,000 periods is 2.5 lots a period: min and max child sizes bind all the time, the
# loop-carried case the kernels are for.
QUANTITY = 2_500_000
MIN_CHILD = 300
MAX_CHILD = 1_000
BATCH_PARENTS = 1_000
BATCH_PARENTS_VECTORIZED = 10_000
DAY_SLICES = 390
AC_MODEL = {"horizon": 5.0, "sigma": 0.95, "eta": 2.5e-6, "gamma": 2.5e-7, "risk_aversion": 1e-6}


def intraday_profile(periods: int) -> np.ndarray:
    """A U-shaped volume curve (heavy open and close), shares per period."""
    t = np.linspace(0.0, 1.0, periods)
    return 1_000.0 * (1.0 + 3.0 * (2.0 * t - 1.0) ** 2)


def benchmarks() -> Iterator[dict[str, Any]]:
    """Each kernel against its twin on a 10,000-period parent, then batches of parents, then Almgren-Chriss."""
    profile = intraday_profile(PERIODS)
    limits = (LOT, MIN_CHILD, MAX_CHILD)
    yield side_by_side(
        "twap[10000 periods, min/max child] numba vs python twin",
        lambda: kernels.twap(QUANTITY, PERIODS, *limits),
        lambda: kernels_ref.twap(QUANTITY, PERIODS, *limits),
    )
    yield side_by_side(
        "vwap[10000 periods, min/max child] numba vs python twin",
        lambda: kernels.vwap(QUANTITY, profile, *limits),
        lambda: kernels_ref.vwap(QUANTITY, profile, *limits),
    )
    forecast = 2.0 * profile
    yield side_by_side(
        "pov[10000 periods, 10% cap 20%, min/max child] numba vs python twin",
        lambda: kernels.pov(QUANTITY, forecast, 0.10, 0.20, *limits),
        lambda: kernels_ref.pov(QUANTITY, forecast, 0.10, 0.20, *limits),
    )
    plan = kernels.vwap(QUANTITY, profile, *limits)
    filled = (plan[:3_000] * 8 // 10 // LOT * LOT).astype(np.int64)
    yield side_by_side(
        "reslice[7000 of 10000 periods left, min/max child] numba vs python twin",
        lambda: kernels.reslice(QUANTITY, filled, profile, *limits),
        lambda: kernels_ref.reslice(QUANTITY, filled, profile, *limits),
    )
    ac_args = (AC_MODEL["horizon"], PERIODS, AC_MODEL["sigma"], AC_MODEL["eta"], AC_MODEL["gamma"])
    yield side_by_side(
        "almgren_chriss_schedule[10000 periods, min/max child] numba vs python twin",
        lambda: kernels.almgren_chriss_schedule(QUANTITY, *ac_args, AC_MODEL["risk_aversion"], *limits),
        lambda: kernels_ref.almgren_chriss_schedule(QUANTITY, *ac_args, AC_MODEL["risk_aversion"], *limits),
    )
    prices = 50.0 + np.random.default_rng(7).normal(0.0, 0.5, PERIODS)
    yield side_by_side(
        "round_to_tick[10000 prices] numba vs numpy twin",
        lambda: kernels.round_to_tick(prices, 0.01, 1),
        lambda: kernels_ref.round_to_tick(prices, 0.01, 1),
    )

    rng = np.random.default_rng(11)
    day = intraday_profile(DAY_SLICES)
    parents = rng.integers(100, 5_000, BATCH_PARENTS).astype(np.int64) * LOT
    yield side_by_side(
        "slice_batch[1000 parents x 390 slices, min/max child] numba vs python twin",
        lambda: kernels.slice_batch(parents, day, LOT, MIN_CHILD, 100_000),
        lambda: kernels_ref.slice_batch(parents, day, LOT, MIN_CHILD, 100_000),
        repeat=3,
    )
    many = rng.integers(100, 5_000, BATCH_PARENTS_VECTORIZED).astype(np.int64) * LOT
    yield side_by_side(
        "slice_batch[10000 parents x 390 slices, no size limits] numba vs vectorized numpy",
        lambda: kernels.slice_batch(many, day, LOT),
        lambda: kernels_ref.slice_batch_vectorized(many, day, LOT),
        repeat=3,
    )

    for periods in (5, 390, PERIODS):
        args = (1e6, AC_MODEL["horizon"], periods, AC_MODEL["sigma"], AC_MODEL["eta"], AC_MODEL["gamma"])
        yield side_by_side(
            f"almgren_chriss[{periods} periods] numba vs numpy twin",
            lambda args=args: kernels.almgren_chriss(*args, AC_MODEL["risk_aversion"], 0.0625),
            lambda args=args: kernels_ref.almgren_chriss(*args, AC_MODEL["risk_aversion"], 0.0625),
        )
