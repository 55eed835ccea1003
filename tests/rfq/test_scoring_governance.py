"""Scoring model governance: versions, promotion by a risk officer only, one live version, rollback, audit."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from desk.audit import chain_verify
from desk.demo import demo_seed
from desk.models import AuditEvent
from desk.roles import Role
from rfq.models import RFQ, ScoringModelStatus, ScoringModelVersion
from rfq.scoring.governance import scoring_train_scheduled
from rfq.scoring.models import Hyperparameters
from rfq.scoring.services import (
    ScoringModelRefused,
    scoring_model_promote,
    scoring_model_rollback,
    scoring_model_train,
)
from sim.dealers.profiles import DEMO_PROFILES
from tests import factories

# A short history: enough to validate against the relaxed floor below, quick to book.
RELAXED = factories.RELAXED_THRESHOLDS


@pytest.fixture
def risk_with_promotion(db):  # noqa: ANN001, ANN201
    user = factories.user_create(role=Role.RISK_OFFICER, username="risk-promoter")
    user.user_permissions.add(Permission.objects.get(codename="promote_scoring_model", content_type__app_label="rfq"))
    return user


@pytest.fixture
def history(db):  # noqa: ANN001, ANN201
    return factories.scoring_history_book(seed=3, n_rfqs=120, instruments=3)


@pytest.fixture
def two_versions(history):  # noqa: ANN001, ANN201
    world, result = history
    first = scoring_model_train(actor=world.trader, mids=result.mids, thresholds=RELAXED)
    second = scoring_model_train(actor=world.trader, mids=result.mids, thresholds=RELAXED, owner="quant-2")
    return first, second


def test_a_training_is_a_validated_version_and_is_audited(two_versions) -> None:  # noqa: ANN001
    first, second = two_versions

    assert (first.version, second.version) == (1, 2)
    assert first.status == second.status == ScoringModelStatus.VALIDATED
    assert first.training_data_sha256 == second.training_data_sha256
    assert AuditEvent.objects.filter(action="scoring_model.train").count() == 2
    assert chain_verify().ok


def test_a_version_records_who_trained_it(history, two_versions, client_for, risk_officer) -> None:  # noqa: ANN001
    # given a version trained by a person and one trained by beat
    world, _ = history
    first, _ = two_versions
    scheduled = scoring_train_scheduled(now=first.data_end + timedelta(minutes=10))
    assert scheduled is not None
    by_beat = ScoringModelVersion.objects.get(version=scheduled)

    # then each says who trained it, in the database, the audit trail, the API and the models page
    assert (first.created_by, first.trained_by) == (world.trader, f"user:{world.trader.username}")
    assert (by_beat.created_by, by_beat.trained_by) == (None, "system:beat")
    event = AuditEvent.objects.get(action="scoring_model.train", object_id=str(by_beat.pk))
    assert event.after["trained_by"] == "system:beat"
    rows = {row["version"]: row for row in client_for(risk_officer).get("/api/v1/scoring/models/").json()}
    assert rows[first.version]["trained_by"] == f"user:{first.created_by.username}"
    assert rows[scheduled]["trained_by"] == "system:beat"
    page = client_for(risk_officer).get("/desk/models/").content.decode()
    assert '<td class="muted trained-by">system:beat</td>' in page


def test_the_training_hash_covers_everything_that_changes_the_result(history, two_versions) -> None:  # noqa: ANN001
    # given the same RFQ history trained with the same inputs twice (two_versions): one hash, one result
    world, result = history
    first, second = two_versions
    assert first.training_data_sha256 == second.training_data_sha256
    assert (first.metrics, first.artifact) == (second.metrics, second.artifact)

    # when one input that changes the result changes at a time: the mids the features are measured with (the
    # quotes' consensus instead of the simulated market's), the thresholds (they decide the status), a
    # hyper-parameter
    other_mids = scoring_model_train(actor=world.trader, thresholds=RELAXED)
    strict = scoring_model_train(actor=world.trader, mids=result.mids, thresholds=RELAXED | {"fill_auc_min": 0.99})
    ridge = scoring_model_train(
        actor=world.trader, mids=result.mids, thresholds=RELAXED, hp=Hyperparameters(price_ridge=50.0)
    )

    # then each gets a hash of its own: a shared hash always means a shared result and status
    assert other_mids.metrics != first.metrics
    assert strict.status != first.status
    assert ridge.artifact != first.artifact
    hashes = {v.training_data_sha256 for v in (first, other_mids, strict, ridge)}
    assert len(hashes) == 4
    inputs = AuditEvent.objects.get(action="scoring_model.train", object_id=str(strict.pk)).after["training_inputs"]
    assert inputs["thresholds"]["fill_auc_min"] == 0.99
    assert set(inputs) == {"history_sha256", "mids_sha256", "hyperparameters", "thresholds", "features", "code_sha256"}


def test_failing_metrics_leave_the_version_a_draft(two_versions) -> None:  # noqa: ANN001
    strict = {"fill_auc_min": 0.99, "answer_auc_min": 0.99, "min_holdout_fills": 5}

    version = scoring_model_train(actor="system:test", thresholds=strict)

    assert version.status == ScoringModelStatus.DRAFT
    assert version.metrics["passed"] is False
    with pytest.raises(ScoringModelRefused):
        scoring_model_promote(version=version, actor=factories.user_create(role=Role.ADMIN))


def test_promotion_needs_the_risk_officers_permission(two_versions, trader) -> None:  # noqa: ANN001
    first, _ = two_versions

    with pytest.raises(PermissionDenied):
        scoring_model_promote(version=first, actor=trader)
    with pytest.raises(PermissionDenied):
        scoring_model_promote(version=first, actor="system:beat")

    first.refresh_from_db()
    assert first.status == ScoringModelStatus.VALIDATED
    assert not AuditEvent.objects.filter(action="scoring_model.promote").exists()


def test_one_live_version_and_rollback_restores_the_earlier_one(two_versions, risk_with_promotion) -> None:  # noqa: ANN001
    first, second = two_versions

    scoring_model_promote(version=first, actor=risk_with_promotion)
    scoring_model_promote(version=second, actor=risk_with_promotion)

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (ScoringModelStatus.RETIRED, ScoringModelStatus.LIVE)
    assert ScoringModelVersion.objects.filter(status=ScoringModelStatus.LIVE).count() == 1

    restored = scoring_model_rollback(actor=risk_with_promotion)

    second.refresh_from_db()
    assert restored.pk == first.pk
    assert restored.status == ScoringModelStatus.LIVE
    assert second.status == ScoringModelStatus.RETIRED
    assert restored.promoted_by == risk_with_promotion
    actions = list(
        AuditEvent.objects.filter(action__startswith="scoring_model.").order_by("id").values_list("action", flat=True)
    )
    assert actions[-3:] == ["scoring_model.promote", "scoring_model.promote", "scoring_model.rollback"]
    assert chain_verify().ok


def test_the_database_refuses_a_second_live_version(two_versions, risk_with_promotion) -> None:  # noqa: ANN001
    first, second = two_versions
    scoring_model_promote(version=first, actor=risk_with_promotion)

    with pytest.raises(IntegrityError), transaction.atomic():
        ScoringModelVersion.objects.filter(pk=second.pk).update(status=ScoringModelStatus.LIVE)


def test_rollback_without_an_earlier_live_version_is_refused(two_versions, risk_with_promotion) -> None:  # noqa: ANN001
    first, second = two_versions
    scoring_model_promote(version=first, actor=risk_with_promotion)

    with pytest.raises(ScoringModelRefused, match="no earlier live version"):
        scoring_model_rollback(actor=risk_with_promotion)
    with pytest.raises(ScoringModelRefused, match="never live"):
        scoring_model_rollback(actor=risk_with_promotion, to=second)


def test_train_scoring_command_prints_one_json_object(db, settings) -> None:  # noqa: ANN001
    settings.DEBUG = True  # pytest-django runs with DEBUG off; simulated bookings run on a development desk only
    demo_seed()
    out = StringIO()

    call_command("train_scoring", "--rfqs", "60", "--seed", "4", "--by", "trader", "--json", stdout=out)

    result = json.loads(out.getvalue())
    assert result["trained_by"] == "user:trader"
    assert result["version"] == 1
    assert result["status"] in (ScoringModelStatus.DRAFT, ScoringModelStatus.VALIDATED)
    assert result["rfqs_simulated"] == 60
    assert set(result["scores_bps"]) <= set(DEMO_PROFILES)
    assert {"answer", "fill", "price", "thresholds", "passed"} <= set(result["metrics"])
    assert chain_verify().ok
    # The simulated RFQs and the version trained on them live in the run's own database, not the desk's.
    assert not RFQ.objects.exists()
    assert not ScoringModelVersion.objects.exists()


def test_train_scoring_records_the_os_account_without_by_and_refuses_an_unknown_user(history) -> None:  # noqa: ANN001
    out = StringIO()

    call_command("train_scoring", "--json", stdout=out)
    with pytest.raises(CommandError, match="--by: no active desk user 'nobody'"):
        call_command("train_scoring", "--by", "nobody", "--json", stdout=StringIO())

    trained_by = json.loads(out.getvalue())["trained_by"]
    assert trained_by.startswith("system:train_scoring (os user ")
    assert ScoringModelVersion.objects.get().trained_by == trained_by


def test_train_scoring_with_simulated_rfqs_is_refused_when_desk_debug_is_off(db, settings) -> None:  # noqa: ANN001
    settings.DEBUG = False
    demo_seed()

    with pytest.raises(CommandError, match="DESK_DEBUG=0") as refused:
        call_command("train_scoring", "--rfqs", "5", "--json", stdout=StringIO())

    assert len(str(refused.value).splitlines()) == 1
    assert not RFQ.objects.exists()
    assert not ScoringModelVersion.objects.exists()
