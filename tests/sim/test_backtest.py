"""The wait-or-split backtest: paired replays of simulated RFQs, the hindsight oracle, and the booking command."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import typing
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from scipy.stats import spearmanr

from desk.demo import demo_seed
from desk.models import DecisionKind, DecisionRecord
from execution.models import Fill
from rfq.models import RFQ, Quote, RFQStatus
from sim.backtest.core import (
    BASELINES,
    Action,
    View,
    WaitOrSplitPolicy,
    best_at_window,
    best_now,
    desk_history_fit,
    episode_replay,
    first_k,
    first_k_count,
    oracle_replay,
    policy_run,
    summary,
    view_at,
)
from sim.backtest.episodes import ANSWER_WINDOW_S, Answer, Episode, InstrumentSpec, episodes_generate
from sim.backtest.impact import executions_observe, impact_model_fit
from sim.database import database_use, run_database_config
from sim.dealers.profiles import DEMO_PROFILES, DealerProfile
from sim.market import SCENARIOS, ImpactConfig, MarketSimulator
from tests.factories import own_database_url

SEEDS = range(3)
RFQS = 40
CONDITIONS: list[str | None] = [None, *SCENARIOS]
NAMES = (*BASELINES, "wait-or-split", "oracle")


def _history_model(seed: int) -> Any:
    return desk_history_fit(seed=seed, profiles=DEMO_PROFILES)


@pytest.fixture(scope="module")
def runs() -> dict[tuple[str | None, int], dict[str, Any]]:
    """Every seed × condition: every policy's outcomes on the same episodes (pure core, no database)."""
    fits = {seed: _history_model(seed) for seed in SEEDS}
    out = {}
    for condition in CONDITIONS:
        for seed in SEEDS:
            episodes = episodes_generate(n=RFQS, seed=seed, profiles=DEMO_PROFILES, scenario=condition)
            model, impact = fits[seed]
            out[(condition, seed)] = {
                name: policy_run(name, episodes, model=model, impact=impact) for name in NAMES
            } | {"rfq-oracle": [oracle_replay(e, quotes_first=True) for e in episodes]}
    return out


def _judged(runs: dict) -> dict[tuple[str | None, int], dict[str, Any]]:
    """Per seed × condition: the best baseline by mean cost, the figures, and the share of its gap to the oracle
    that wait-or-split closes."""
    out = {}
    for key, outcomes in runs.items():
        figures = {name: summary(name, outcomes[name]) for name in NAMES}
        best = min(BASELINES, key=lambda name: figures[name]["mean_cost_bps"])
        gap = figures[best]["mean_cost_bps"] - figures["oracle"]["mean_cost_bps"]
        saved = figures[best]["mean_cost_bps"] - figures["wait-or-split"]["mean_cost_bps"]
        out[key] = {"best": best, "figures": figures, "closed": saved / gap if gap > 0 else 0.0}
    return out


def test_wait_or_split_against_the_best_baseline_on_the_test_seeds(runs: dict) -> None:
    # What holds on these seeds and conditions (the report gives the figures): wait-or-split is cheaper on average
    # than best-now everywhere, than the best of the three baselines with no scenario on every seed, and than the
    # best baseline on average over every seed and condition. The goal (cheaper than the best baseline
    # everywhere, p90 no worse, 98 % of its fill ratio, half the gap to the oracle closed) is not met: the oracle's
    # edge is hindsight (the algorithms at the path's cheapest instant, the crash's rebound known in advance).
    judged = _judged(runs)
    print(json.dumps({f"{c or 'none'}/{s}": j["figures"] | {"closed": j["closed"]} for (c, s), j in judged.items()}))
    for (condition, seed), j in judged.items():
        ours, figures = j["figures"]["wait-or-split"]["mean_cost_bps"], j["figures"]
        assert ours < figures["best-now"]["mean_cost_bps"], (condition, seed)
        if condition is None:
            assert ours < figures[j["best"]]["mean_cost_bps"], seed
    ours = np.mean([j["figures"]["wait-or-split"]["mean_cost_bps"] for j in judged.values()])
    best = np.mean([j["figures"][j["best"]]["mean_cost_bps"] for j in judged.values()])
    assert ours < best, (ours, best)


def test_the_oracle_bounds_every_policy_on_every_episode(runs: dict) -> None:
    for outcomes in runs.values():
        oracle = np.array([o.cost_bps for o in outcomes["oracle"]])
        for name in (*BASELINES, "wait-or-split"):
            costs = np.array([o.cost_bps for o in outcomes[name]])
            assert (oracle <= costs + 1e-9).all(), name


# -- the core on hand-made episodes ---------------------------------------------------------------------------------

SPEC = InstrumentSpec("TEST-USD", "spot", "BTC", 0.01, Decimal("0.001"))


def profile(code: str, *, reject: float = 0.0) -> DealerProfile:
    return DealerProfile(code, 1.0, 3.0, 0.0, 1.0, 0.3, 0.0, last_look_reject_prob=reject)


def episode_make(answers: list[Answer], *, liquidity: float = 1.0, side: str = "buy") -> Episode:
    """A flat market at 100 with the given answers; the venue's impact scaled by ``liquidity``."""
    times = np.round(np.unique(np.concatenate([np.arange(0, 30.5, 0.5), [a.at_s for a in answers]])), 1)
    market = MarketSimulator(1)
    return Episode(
        index=0,
        instrument=SPEC,
        side=side,
        quantity=10.0,
        sent_at=datetime(2026, 1, 5, tzinfo=UTC),
        arrival_mid=100.0,
        notional=1_000.0,
        asked=tuple(sorted({a.dealer for a in answers} | {"SILENT"})),
        answers=tuple(sorted(answers, key=lambda a: a.at_s)),
        times=times,
        mids=np.full(len(times), 100.0),
        half_spread_bps=np.full(len(times), 2.0),
        volatility=np.full(len(times), 0.6),
        liquidity=np.full(len(times), liquidity),
        mid_before=100.0,
        impact=market.config.underlyings[0].impact,
    )


def quote_at(code: str, at_s: float, bps: float, *, reject: float = 0.0) -> Answer:
    price = 100.0 * (1 + bps / 1e4)
    return Answer(
        dealer=code,
        action="quote",
        at_s=at_s,
        profile=profile(code, reject=reject),
        last_look_seed=7,
        price=price,
        bid=Decimal("99"),
        offer=Decimal(str(round(price, 4))),
        size=10.0,
    )


def test_best_now_takes_the_first_quote_and_the_oracle_the_cheapest() -> None:
    # Vanished liquidity makes the venue dear: the quotes are the cheapest way out.
    episode = episode_make([quote_at("A", 0.5, 10.0), quote_at("B", 1.0, 3.0)], liquidity=0.0)

    best = episode_replay(episode, best_now)
    oracle = oracle_replay(episode)

    assert [(f.dealer, f.at_s) for f in best.fills] == [("A", 0.5)]
    assert best.cost_bps == pytest.approx(10.0)
    assert [f.dealer for f in oracle.fills] == ["B"]
    assert oracle.cost_bps == pytest.approx(3.0)


def test_a_last_look_reject_with_no_other_live_quote_closes_the_rfq() -> None:
    episode = episode_make([quote_at("A", 0.5, 2.0, reject=1.0), quote_at("B", 1.0, 3.0)])

    outcome = episode_replay(episode, best_now)

    assert outcome.rejects == [("A", 0.5)]
    assert outcome.fills == []
    assert outcome.algo_at_s == pytest.approx(0.5)
    # The venue's price for 10 contracts: half spread plus impact (the mid has not moved).
    assert outcome.cost_bps == pytest.approx(episode.algo_cost_bps(10.0, 0.5))


def test_the_unfilled_part_costs_what_the_simulated_venue_charges_one_child_order() -> None:
    market = MarketSimulator(3)
    market.run(120.0, 10.0)
    book = market.book("BTC")
    times = np.array([0.0, 30.0])
    episode = replace(
        episode_make([]),
        arrival_mid=book.mid,
        mids=np.full(2, book.mid),
        times=times,
        half_spread_bps=np.full(2, (book.ask - book.bid) / 2 / book.mid * 1e4),
        volatility=np.full(2, book.volatility),
        liquidity=np.full(2, market.effects("BTC").liquidity),
    )

    modelled = episode.algo_cost_bps(25.0, 0.0)
    executed = market.execute("BTC", "buy", 25.0)

    assert modelled == pytest.approx(executed.cost_bps, rel=1e-9)


def test_a_policy_sees_only_the_past() -> None:
    episode = episodes_generate(n=3, seed=5, profiles=DEMO_PROFILES)[2]
    seen: list[View] = []

    def spy(view: View) -> Action:
        seen.append(view)
        return Action(kind="wait", wait_until_s=view.t + 0.7)

    episode_replay(episode, spy)
    # The same episode with a different future: the views up to each instant must not change.
    for view in seen:
        now = view.t + 1e-9
        later = tuple(a for a in episode.answers if a.at_s > now)
        scrambled = replace(
            episode,
            answers=tuple(a for a in episode.answers if a.at_s <= now)
            + tuple(replace(a, price=a.price * 1.01) for a in later),
            mids=np.where(episode.times > now, episode.mids * 0.9, episode.mids),
        )
        gone: set[str] = set()
        assert view_at(scrambled, view.t, remaining=view.remaining, gone=gone) == view_at(
            episode, view.t, remaining=view.remaining, gone=gone
        )
        assert all(q.arrived_s <= now for q in view.book)
    assert len(seen) > 5


def test_the_same_seed_gives_the_same_episodes_for_every_policy() -> None:
    first = episodes_generate(n=8, seed=21, profiles=DEMO_PROFILES, scenario="vol-spike")
    second = episodes_generate(n=8, seed=21, profiles=DEMO_PROFILES, scenario="vol-spike")
    other = episodes_generate(n=8, seed=22, profiles=DEMO_PROFILES, scenario="vol-spike")

    assert [e.answers for e in first] == [e.answers for e in second]
    assert all(np.array_equal(a.mids, b.mids) for a, b in zip(first, second, strict=True))
    assert [e.answers for e in first] != [e.answers for e in other]


def test_the_dealer_model_learned_from_history_ranks_dealers_like_the_hidden_truth() -> None:
    model, _ = _history_model(4)
    codes = sorted(DEMO_PROFILES)

    price = [model.get(c).price_a_bps for c in codes]
    median = [model.get(c).response_median_s for c in codes]

    assert spearmanr(price, [DEMO_PROFILES[c].half_spread_bps for c in codes]).statistic >= 0.8
    assert np.allclose(median, [DEMO_PROFILES[c].response_median_s for c in codes], rtol=0.3)
    for code in ("ALPHA", "CHARLIE"):
        assert model.get(code).price_a_bps == pytest.approx(DEMO_PROFILES[code].half_spread_bps, abs=2.0)


# -- the command, booked through the services ----------------------------------------------------------------------


@pytest.fixture
def development_desk(settings: Any) -> None:
    """The command runs on a development desk only (pytest-django runs with DEBUG off, as DESK_DEBUG=0 would)."""
    settings.DEBUG = True


@pytest.fixture
def run_database_url(tmp_path: Any, development_desk: None) -> str:
    """A database of the run's own that the test reads back (the command migrates it and seeds the demo data)."""
    return f"sqlite:///{tmp_path / 'run.sqlite3'}"


@pytest.mark.django_db
def test_the_command_books_its_rfqs_and_prints_one_json_object(run_database_url: str) -> None:
    demo_seed()
    out = StringIO()

    call_command(
        "backtest",
        *("--policy", "wait-or-split", "--rfqs", "6", "--seed", "3", "--json"),
        *("--database-url", run_database_url),
        stdout=out,
    )

    result = json.loads(out.getvalue())
    assert set(result) == {"policy", "n", "mean_cost_bps", "p90_cost_bps", "fill_ratio"}
    assert result["policy"] == "wait-or-split"
    assert result["n"] == 6
    assert all(isinstance(result[k], float) for k in ("mean_cost_bps", "p90_cost_bps", "fill_ratio"))
    assert 0.0 <= result["fill_ratio"] <= 1.0
    with database_use(run_database_config(run_database_url)):
        assert RFQ.objects.count() == 6
        assert Quote.objects.exists()
        # Every accepted RFQ was filled by its dealer (a last-look reject reopens or closes it).
        filled = Fill.objects.filter(quote__rfq__in=RFQ.objects.all()).count()
        assert filled >= 1
        assert filled == RFQ.objects.filter(status=RFQStatus.ACCEPTED).count()
        assert DecisionRecord.objects.filter(kind=DecisionKind.QUOTE_DECISION).exists()


@pytest.mark.django_db
def test_the_command_without_json_prints_a_table(run_database_url: str) -> None:
    demo_seed()
    out = StringIO()

    call_command(
        "backtest",
        *("--policy", "oracle", "--rfqs", "3", "--scenario", "flash-crash", "--database-url", run_database_url),
        stdout=out,
    )

    assert "mean_cost_bps" in out.getvalue()
    assert "fill_ratio" in out.getvalue()
    with database_use(run_database_config(run_database_url)):
        assert RFQ.objects.count() == 3


@pytest.mark.django_db
def test_by_default_the_command_books_nothing_into_the_desk_s_database(development_desk: None) -> None:
    demo_seed()
    out = StringIO()

    call_command("backtest", "--policy", "best-now", "--rfqs", "3", "--seed", "2", "--json", stdout=out)

    assert json.loads(out.getvalue())["n"] == 3
    assert not RFQ.objects.exists()
    assert not Quote.objects.exists()
    assert not DecisionRecord.objects.filter(kind=DecisionKind.QUOTE_DECISION).exists()


@pytest.mark.django_db
def test_with_desk_debug_off_the_command_is_refused_in_one_line_and_books_nothing(settings: Any) -> None:
    settings.DEBUG = False
    demo_seed()

    with pytest.raises(CommandError, match="DESK_DEBUG=0") as refused:
        call_command("backtest", "--policy", "best-now", "--rfqs", "3", stdout=StringIO())

    assert len(str(refused.value).splitlines()) == 1
    assert not RFQ.objects.exists()
    assert not Quote.objects.exists()


@pytest.mark.django_db
def test_the_desk_s_own_database_is_refused_as_the_run_s_database(development_desk: None) -> None:
    own = own_database_url()

    with pytest.raises(CommandError, match="desk's own database"):
        call_command("backtest", "--policy", "best-now", "--rfqs", "3", "--database-url", own, stdout=StringIO())

    assert not RFQ.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--policy", "greedy", "--rfqs", "5"], "--policy"),
        (["--policy", "best-now", "--rfqs", "0"], "--rfqs"),
        (["--policy", "best-now", "--rfqs", "-3"], "--rfqs"),
        (["--policy", "best-now", "--rfqs", "5", "--scenario", "meteor"], "--scenario"),
        (["--policy", "first-k", "--rfqs", "5", "--seed", "-1"], "--seed"),
        (["--policy", "best-at-window", "--rfqs", "5", "--seed", str(2**32)], "--seed"),
    ],
)
def test_bad_arguments_are_refused_by_name_and_nothing_is_stored(args: list[str], named: str) -> None:
    demo_seed()

    with pytest.raises(CommandError, match=named):
        call_command("backtest", *args, stdout=StringIO())

    assert not RFQ.objects.exists()
    assert not Quote.objects.exists()
    assert not DecisionRecord.objects.filter(kind=DecisionKind.QUOTE_DECISION).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [0, 2**32 - 1])
def test_the_seed_s_bounds_are_accepted(seed: int, development_desk: None) -> None:
    demo_seed()
    out = StringIO()

    call_command("backtest", "--policy", "first-k", "--rfqs", "1", "--seed", str(seed), "--json", stdout=out)

    assert json.loads(out.getvalue())["n"] == 1


def test_a_bad_argument_exits_non_zero_with_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "backtest", "--policy", "best-now", "--rfqs", "3", "--seed", str(2**32)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode != 0
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"CommandError: --seed: must be between 0 and {2**32 - 1} (2**32-1), got {2**32}"
    ]


def test_a_policy_taking_a_quote_that_is_not_live_is_refused() -> None:
    episode = episode_make([quote_at("A", 0.5, 2.0), quote_at("B", 1.0, 3.0)])

    with pytest.raises(ValueError, match="live quotes"):
        episode_replay(episode, lambda view: Action(kind="accept", fills=(("B", 10.0),)))


# -- the baselines on hand-checkable episodes ----------------------------------------------------------------------


def test_best_at_window_waits_the_window_and_takes_the_best_live_quote() -> None:
    # A answers first and dear, B later and cheap; SILENT never answers, so the window runs to its end.
    episode = episode_make([quote_at("A", 0.5, 10.0), quote_at("B", 3.0, 3.0)])

    outcome = episode_replay(episode, best_at_window)

    assert [(f.dealer, f.at_s) for f in outcome.fills] == [("B", ANSWER_WINDOW_S)]
    assert outcome.cost_bps == pytest.approx(3.0)


def test_best_at_window_takes_the_next_best_after_a_last_look_reject() -> None:
    episode = episode_make([quote_at("A", 0.5, 10.0), quote_at("B", 3.0, 3.0, reject=1.0)])

    outcome = episode_replay(episode, best_at_window)

    assert outcome.rejects == [("B", ANSWER_WINDOW_S)]
    assert [(f.dealer, f.at_s) for f in outcome.fills] == [("A", ANSWER_WINDOW_S)]
    assert outcome.cost_bps == pytest.approx(10.0)


def test_best_at_window_acts_once_every_dealer_asked_has_answered() -> None:
    episode = replace(episode_make([quote_at("A", 0.5, 10.0), quote_at("B", 3.0, 3.0)]), asked=("A", "B"))

    outcome = episode_replay(episode, best_at_window)

    assert [(f.dealer, f.at_s) for f in outcome.fills] == [("B", 3.0)]


def test_first_k_takes_the_best_once_half_the_dealers_asked_have_answered() -> None:
    # Four asked (A, B, C, SILENT): k = 2. At 3 s A and B have answered; C's cheaper quote at 6 s is not waited for.
    episode = episode_make([quote_at("A", 0.5, 10.0), quote_at("B", 3.0, 4.0), quote_at("C", 6.0, 1.0)])

    outcome = episode_replay(episode, first_k)

    assert first_k_count(4) == 2
    assert [(f.dealer, f.at_s) for f in outcome.fills] == [("B", 3.0)]
    assert outcome.cost_bps == pytest.approx(4.0)


def test_first_k_counts_declines_as_answers_but_needs_a_live_quote() -> None:
    decline = Answer(dealer="B", action="decline", at_s=1.0, profile=profile("B"), last_look_seed=7)
    # Four asked: B's decline at 1 s makes k = 2 answers with A's quote live, so A is taken then.
    episode = episode_make([quote_at("A", 0.5, 10.0), decline, quote_at("D", 5.0, 2.0)])
    only_declines = episode_make([decline, replace(decline, dealer="A", at_s=2.0), quote_at("D", 5.0, 2.0)])

    assert [(f.dealer, f.at_s) for f in episode_replay(episode, first_k).fills] == [("A", 1.0)]
    # Two declines make k = 2 answers but no quote: it waits for the next quote.
    assert [(f.dealer, f.at_s) for f in episode_replay(only_declines, first_k).fills] == [("D", 5.0)]


def test_first_k_and_best_at_window_go_to_the_algorithms_when_no_quote_comes() -> None:
    episode = episode_make([])

    for policy in (best_at_window, first_k):
        outcome = episode_replay(episode, policy)
        assert outcome.fills == []
        assert outcome.algo_at_s == pytest.approx(ANSWER_WINDOW_S)
        assert outcome.cost_bps == pytest.approx(episode.algo_cost_bps(10.0, ANSWER_WINDOW_S))


@pytest.mark.parametrize(("asked", "k"), [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3)])
def test_first_k_is_half_the_dealers_asked_rounded_up(asked: int, k: int) -> None:
    assert first_k_count(asked) == k


# -- what a policy can know ----------------------------------------------------------------------------------------

HIDDEN = (ImpactConfig, DealerProfile, Answer, Episode, MarketSimulator)


def _types_reachable(root: type) -> set[type]:
    """Every class named in the annotations of ``root``'s dataclass fields, recursively."""
    seen: set[type] = set()
    todo = [root]
    while todo:
        cls = todo.pop()
        if cls in seen or not isinstance(cls, type):
            continue
        seen.add(cls)
        if dataclasses.is_dataclass(cls):
            for hint in typing.get_type_hints(cls).values():
                todo.extend(_classes_in(hint))
    return seen


def _classes_in(hint: Any) -> list[type]:
    args = typing.get_args(hint)
    if args:
        return [c for a in args for c in _classes_in(a)]
    if hint is Any:
        raise AssertionError("an Any field could carry anything")
    return [hint] if isinstance(hint, type) else []


def _values_reachable(value: Any, seen: set[int] | None = None) -> list[Any]:
    seen = set() if seen is None else seen
    if id(value) in seen:
        return []
    seen.add(id(value))
    out = [value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            out += _values_reachable(getattr(value, f.name), seen)
    elif isinstance(value, dict):
        for k, v in value.items():
            out += _values_reachable(k, seen) + _values_reachable(v, seen)
    elif isinstance(value, list | tuple | set | frozenset):
        for v in value:
            out += _values_reachable(v, seen)
    return out


def test_a_view_and_the_wait_or_split_policy_carry_no_hidden_parameter_of_the_simulator() -> None:
    # Structurally: nothing in the types a policy receives or holds can be the venue's impact configuration, a
    # dealer bot's profile, an answer (which carries it) or the episode.
    reachable = _types_reachable(View) | _types_reachable(WaitOrSplitPolicy)
    assert not reachable & set(HIDDEN), reachable & set(HIDDEN)
    # And on real values: a policy fitted on the desk's history and the views of a replay.
    model, impact = _history_model(2)
    policy = WaitOrSplitPolicy(model=model, impact=impact)
    episode = episodes_generate(n=2, seed=2, profiles=DEMO_PROFILES)[1]
    outcome = episode_replay(episode, policy, keep_views=True)
    values = _values_reachable(policy) + [v for _, view, _ in outcome.decisions for v in _values_reachable(view)]
    assert not [v for v in values if isinstance(v, HIDDEN)]


def test_wait_or_split_decides_the_same_whatever_the_venue_s_hidden_impact() -> None:
    # The simulator charges the algorithms with the episode's impact; the policy must not see it: with the venue's
    # impact a hundred times larger every decision is the same, only what the algorithms cost changes.
    model, impact = _history_model(2)
    policy = WaitOrSplitPolicy(model=model, impact=impact)
    for episode in episodes_generate(n=6, seed=2, profiles=DEMO_PROFILES, scenario="flash-crash"):
        dearer = replace(
            episode,
            impact=replace(
                episode.impact,
                temporary_coefficient=100 * episode.impact.temporary_coefficient,
                permanent_coefficient=100 * episode.impact.permanent_coefficient,
            ),
        )
        first, second = episode_replay(episode, policy), episode_replay(dearer, policy)
        assert first.fills == second.fills
        assert (first.algo_quantity, first.algo_at_s) == (second.algo_quantity, second.algo_at_s)


def test_the_desk_s_impact_model_is_fitted_on_its_child_orders_and_prices_them_closely() -> None:
    executions = executions_observe(seed=9, n=200)
    fitted = impact_model_fit(executions)
    # Judged on other child orders of another market against what the simulated venue charged them.
    held_out = executions_observe(seed=10, n=100)
    errors = [
        fitted.get(e.underlying).cost_bps(e.coins, volatility=e.volatility, liquidity=e.liquidity) - e.impact_bps
        for e in held_out
    ]
    paid = [abs(e.impact_bps) for e in held_out]
    assert np.median(np.abs(errors)) <= 0.2 * np.median(paid)
