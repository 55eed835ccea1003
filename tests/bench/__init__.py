"""Benchmarks, run with ``python -m tests.bench.run``; pytest never collects them (no ``test_*.py`` here).

Each ``bench_*.py`` module exposes ``benchmarks() -> Iterable[dict]``; :func:`side_by_side` times a candidate and
its baseline in the same process, interleaved, so that both see the same machine load.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

# Per timed repetition: long enough to swamp timer resolution, short enough that a full run stays well under a
# minute on two shared cores.
_TARGET_SECONDS = 0.05


def _calls_per_repeat(func: Callable[[], Any]) -> int:
    """How many calls make one repetition last about ``_TARGET_SECONDS`` (after one warm-up call)."""
    start = time.perf_counter()
    func()
    once = time.perf_counter() - start
    return max(1, math.ceil(_TARGET_SECONDS / max(once, 1e-9)))


def _best_per_call(func: Callable[[], Any], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        func()
    return (time.perf_counter() - start) / number


def side_by_side(
    name: str, candidate: Callable[[], Any], baseline: Callable[[], Any], *, repeat: int = 5
) -> dict[str, Any]:
    """Time ``candidate`` against ``baseline``: best of ``repeat`` after warm-up, seconds per call.

    Parameters
    ----------
    name : str
        Benchmark name, saying what is compared with what.
    candidate, baseline : callable
        Zero-argument callables doing the same work. The first call of each is a warm-up (numba compiles or
        loads its cache then) and is not timed.
    repeat : int
        Timed repetitions of each, interleaved; the best (least disturbed) is kept.

    Returns
    -------
    dict
        ``{"bench", "value", "baseline", "ratio", "unit"}``: value and baseline in seconds per call, ratio =
        baseline / value (above 1 means the candidate is faster).
    """
    candidate()
    baseline()
    candidate_number = _calls_per_repeat(candidate)
    baseline_number = _calls_per_repeat(baseline)
    value = math.inf
    base = math.inf
    for _ in range(repeat):
        value = min(value, _best_per_call(candidate, candidate_number))
        base = min(base, _best_per_call(baseline, baseline_number))
    return {"bench": name, "value": value, "baseline": base, "ratio": base / value, "unit": "s/call"}
