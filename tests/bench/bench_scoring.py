"""Dealer scoring for one RFQ: the live model's estimates and explanations for 50 dealers, and the selection over
them, median times; the baseline is the same call for one dealer (the ratio is the cost of 50 against 1).

The model is trained on a short simulated history of the eight demo dealers; its dealer table is then widened to
50 dealers (copies under new codes) so that the call does the work of a 50-dealer desk."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

from tests.bench.django_env import django_ready

REPEATS = 50


def _median_s(call: Callable[[], object], repeats: int = REPEATS) -> float:
    call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _artifact() -> dict[str, Any]:
    from rfq.scoring.services import scoring_model_train
    from tests import factories

    world, result = factories.scoring_history_book(seed=9, n_rfqs=200)
    artifact = scoring_model_train(
        actor=world.trader, mids=result.mids, thresholds=factories.RELAXED_THRESHOLDS
    ).artifact
    known = list(artifact["table"]["dealers"].items())
    artifact["table"]["dealers"] = {f"D{i:02d}": dict(known[i % len(known)][1]) for i in range(50)}
    return artifact


def benchmarks() -> Iterator[dict[str, Any]]:
    django_ready()
    import numpy as np

    from rfq.scoring.explain import dealer_explanations
    from rfq.scoring.scores import Context, dealer_estimates
    from rfq.scoring.select import SelectionPolicy, dealers_select

    artifact = _artifact()
    codes = sorted(artifact["table"]["dealers"])
    context = Context(kind="spot", notional=1e6)

    def score(dealers: list[str]) -> Callable[[], object]:
        return lambda: dealer_explanations(dealer_estimates(artifact, dealers, context))

    many, one = _median_s(score(codes)), _median_s(score(codes[:1]))
    yield {"bench": "scoring_50_dealers_one_rfq", "value": many, "baseline": one, "ratio": many / one, "unit": "s"}

    estimates = dealer_estimates(artifact, codes, context)
    statuses = dict.fromkeys(codes, "active")
    policy = SelectionPolicy(draws=1024)

    def select(frame: Any) -> Callable[[], object]:
        return lambda: dealers_select(frame, statuses=statuses, policy=policy, rng=np.random.default_rng(0))

    many = _median_s(select(estimates), repeats=10)
    one = _median_s(select(estimates.iloc[:1]), repeats=10)
    yield {"bench": "selection_50_dealers_one_rfq", "value": many, "baseline": one, "ratio": many / one, "unit": "s"}
