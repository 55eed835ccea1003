"""Dealer scoring judged against a measured truth: populations, learned weights, ``scoring_eval`` and its refusals."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from io import StringIO

import pandas as pd
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import override_settings

import sim.management.commands.scoring_eval as scoring_eval_command
from desk.models import AuditEvent, Instrument
from rfq.models import RFQ, Counterparty, ScoringModelVersion
from rfq.scoring.models import Hyperparameters
from rfq.scoring.services import scoring_model_train
from sim.database import database_use, run_database_config
from sim.dealers.population import POPULATIONS, MarketBehaviour, population_draw
from sim.market import MarketSimulator
from sim.scoring import ANSWER_WINDOW_S, scoring_simulate
from sim.scoring_eval import Evaluation, evaluation_world_create
from tests.factories import own_database_url

# The population and seed of the held-out evaluation below: the figures reported for the goal use other seeds.
TEST_POPULATION, TEST_SEED = "balanced", 90_001


def test_a_population_is_drawn_from_its_seed() -> None:
    first, again, other = (population_draw("balanced", s) for s in (5, 5, 6))

    assert first == again
    assert first.profiles != other.profiles
    assert len(population_draw("wide", 5).profiles) == 16
    with pytest.raises(KeyError, match="unknown population"):
        population_draw("nope", 5)


def test_no_truth_constant_is_a_knob_of_the_score() -> None:
    knobs = {f.name for f in fields(Hyperparameters)}

    assert not knobs & {"noise_weight", "requote_cost_bps"}


def _learned_weights(*, drift: float) -> dict[str, float]:
    """Book 250 RFQs of one population in a world whose informed flow moves ``drift`` bps/s; the learned weights."""
    population = replace(
        population_draw("balanced", 21), market=MarketBehaviour(flow_drift_bps_per_s=drift, requote_delay_s=10.0)
    )
    with transaction.atomic():
        trader, dealers, instruments = evaluation_world_create(population)
        result = scoring_simulate(
            n_rfqs=250,
            seed=21,
            dealers=dealers,
            profiles=population.profiles,
            instruments=instruments,
            actor=trader,
            market=MarketSimulator(21),
            flow_drift_bps_per_s=drift,
        )
        hp = Hyperparameters(answer_window_s=ANSWER_WINDOW_S, fallback_delay_s=10.0)
        version = scoring_model_train(actor=trader, mids=result.mids, hp=hp, thresholds={"min_holdout_fills": 0})
        transaction.set_rollback(True)
    return dict(version.artifact["weights"])


@pytest.mark.django_db
@pytest.mark.timeout(180)
def test_the_weights_are_learned_from_outcomes_and_follow_the_worlds_cost_of_failure() -> None:
    # Given the same dealers in a calm market and in one where informed flow moves 1.5 bps/s against the desk
    calm = _learned_weights(drift=0.0)
    informed = _learned_weights(drift=1.5)

    # Then a silence (the desk falls back 8 s + 10 s later) costs about the drift over that time more, and so does
    # each second a dealer takes to answer
    assert informed["silent_bps"] - calm["silent_bps"] == pytest.approx(1.5 * (ANSWER_WINDOW_S + 10.0), rel=0.35)
    assert informed["decline_bps"] > calm["decline_bps"] + 8.0
    assert informed["wait_s"] > calm["wait_s"] + 0.5
    # And in the calm market a failure costs little more than the venue's half-spread
    assert abs(calm["silent_bps"]) < 4.0


@pytest.mark.django_db
@pytest.mark.timeout(300)
@pytest.mark.own_database
@override_settings(DEBUG=True)
def test_scoring_eval_ranks_and_calibrates_on_a_held_out_window_and_books_nothing() -> None:
    audit_before = AuditEvent.objects.count()
    out = StringIO()

    call_command(
        "scoring_eval",
        "--rfqs",
        "700",
        "--seed",
        str(TEST_SEED),
        "--population",
        TEST_POPULATION,
        "--truth-rfqs",
        "400",
        "--json",
        stdout=out,
    )

    result = json.loads(out.getvalue())
    assert set(result) == {"spearman", "auc_answer", "auc_fill", "dealers", "rfqs"}
    assert result["dealers"] >= 12
    assert result["rfqs"] == 700
    assert result["spearman"] >= 0.8, result
    assert result["auc_answer"] >= 0.75, result
    # The held-out quarter of 700 RFQs holds about 170 accepted quotes and a score of last-look rejects: the fill AUC's
    # standard error is about 0.07 there, and on this seed it comes out near 0.69 (the goal's 0.75 is reported on
    # 2,000 RFQs per population). What holds here: the model separates rejects from fills clearly better than chance.
    assert result["auc_fill"] >= 0.65, result
    # The simulated booking was rolled back: nothing of it is left in the database.
    assert RFQ.objects.count() == 0
    assert ScoringModelVersion.objects.count() == 0
    assert AuditEvent.objects.count() == audit_before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--population", "nope"], "--population: unknown population 'nope'"),
        (["--rfqs", "0"], "--rfqs: must be between 1"),
        (["--rfqs", "-5"], "--rfqs: must be between 1"),
        (["--truth-rfqs", "0"], "--truth-rfqs: must be between 1"),
        (["--seed", "-1"], "--seed: must be between 0 and 4294967295"),
        (["--seed", str(2**32)], "--seed: must be between 0 and 4294967295"),
    ],
)
def test_scoring_eval_refuses_bad_input_with_one_line_and_books_nothing(arguments: list[str], message: str) -> None:
    options = {"--rfqs": "10", "--seed": "1", "--population": "balanced"}
    for flag, value in zip(arguments[::2], arguments[1::2], strict=True):
        options[flag] = value
    argv = [item for pair in options.items() for item in pair]

    with pytest.raises(CommandError) as refused:
        call_command("scoring_eval", *argv, "--json", stdout=StringIO())

    assert message in str(refused.value)
    assert "\n" not in str(refused.value)
    assert RFQ.objects.count() == 0
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_scoring_eval_is_refused_when_desk_debug_is_off() -> None:
    with override_settings(DEBUG=False), pytest.raises(CommandError, match="refused when DESK_DEBUG=0"):
        call_command("scoring_eval", "--rfqs", "10", "--seed", "1", "--json", stdout=StringIO())

    assert RFQ.objects.count() == 0


def test_every_population_has_at_least_twelve_dealers() -> None:
    assert all(spec.dealers >= 12 for spec in POPULATIONS.values())


def _world_only(*, population: object, n_rfqs: int, seed: int, truth_rfqs: int) -> Evaluation:
    """A stand-in for the evaluation that books only its world (trader, instruments, dealers) where it runs."""
    _, dealers, _ = evaluation_world_create(population)
    return Evaluation(
        spearman=1.0,
        auc_answer=1.0,
        auc_fill=1.0,
        dealers=len(dealers),
        rfqs=n_rfqs,
        truth=pd.DataFrame(),
        expected_cost_bps=pd.Series(dtype=float),
        weights={},
    )


@pytest.mark.django_db
@override_settings(DEBUG=True)
def test_by_default_scoring_eval_books_nothing_into_the_desks_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scoring_eval_command, "scoring_evaluate", _world_only)
    users = get_user_model().objects.count()
    out = StringIO()

    call_command("scoring_eval", "--rfqs", "10", "--seed", "1", "--json", stdout=out)

    assert json.loads(out.getvalue())["dealers"] >= 12
    assert not Counterparty.objects.exists()
    assert not Instrument.objects.filter(symbol__startswith="SIMEVAL-").exists()
    assert get_user_model().objects.count() == users
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
@override_settings(DEBUG=True)
def test_scoring_eval_books_into_the_database_url_it_is_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setattr(scoring_eval_command, "scoring_evaluate", _world_only)
    url = f"sqlite:///{tmp_path}/run.sqlite3"

    call_command("scoring_eval", "--rfqs", "10", "--seed", "1", "--database-url", url, "--json", stdout=StringIO())

    with database_use(run_database_config(url)):
        assert Counterparty.objects.count() == len(population_draw("balanced", 1).profiles)
        assert Instrument.objects.filter(symbol__startswith="SIMEVAL-").exists()
    assert not Counterparty.objects.exists()


@pytest.mark.django_db
@override_settings(DEBUG=True)
def test_scoring_eval_refuses_the_desks_own_database() -> None:
    own = own_database_url()

    with pytest.raises(CommandError, match="desk's own database"):
        call_command("scoring_eval", "--rfqs", "10", "--database-url", own, "--json", stdout=StringIO())

    assert RFQ.objects.count() == 0
