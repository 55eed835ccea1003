"""Governance after training: the challenger scored in shadow beside the live model on RFQs neither was trained
on, the live model's drift (PSI and calibration) alerting, and the PSI itself against a hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from desk.models import AuditEvent
from rfq.models import ScoringModelStatus
from rfq.scoring.governance import psi, scoring_drift_check, scoring_shadow_evaluate
from rfq.scoring.services import scoring_model_promote, scoring_model_train
from sim.dealers.profiles import DEMO_PROFILES
from sim.scoring import scoring_simulate
from tests.rfq.test_scoring_governance import RELAXED
from tests.rfq.test_scoring_truth import world_create

pytestmark = pytest.mark.django_db


def test_psi_matches_a_hand_computation_and_is_zero_for_the_same_sample() -> None:
    expected = np.arange(100, dtype=float)
    shifted = np.r_[np.full(50, 10.0), np.full(50, 95.0)]  # half in bin 2, half in bin 10
    t = np.full(10, 0.1)
    r = np.zeros(10)
    r[1], r[9] = 0.5, 0.5
    r = np.clip(r, 1e-4, None)
    by_hand = float(np.sum((r - t) * np.log(r / t)))

    assert psi(expected, expected) == pytest.approx(0.0, abs=1e-12)
    assert psi(expected, shifted) == pytest.approx(by_hand, rel=1e-9)
    assert math.isnan(psi(expected[:5], shifted))


def test_challenger_in_shadow_and_drift_alert_on_new_sizes(risk_officer) -> None:  # noqa: ANN001
    from django.contrib.auth.models import Permission

    risk_officer.user_permissions.add(
        Permission.objects.get(codename="promote_scoring_model", content_type__app_label="rfq")
    )
    world = world_create(seed=5)

    def book(n: int, seed: int, notional: tuple[float, float]):  # noqa: ANN202
        return scoring_simulate(
            n_rfqs=n,
            seed=seed,
            dealers=world.dealers,
            profiles=DEMO_PROFILES,
            instruments=world.instruments[:2],
            actor=world.trader,
            market=world.market,
            notional_range=notional,
        )

    first = book(120, 1, (5e4, 5e5))
    live = scoring_model_train(actor=world.trader, mids=first.mids, thresholds=RELAXED, end=first.end)
    scoring_model_promote(version=live, actor=risk_officer)
    second = book(60, 2, (5e4, 5e5))
    challenger = scoring_model_train(actor=world.trader, mids=second.mids, thresholds=RELAXED, end=second.end)
    assert challenger.status == ScoringModelStatus.VALIDATED
    third = book(80, 3, (5e6, 5e7))  # ten to a hundred times the sizes either model was trained on
    mids = __import__("pandas").concat([first.mids, second.mids, third.mids])

    shadow = scoring_shadow_evaluate(now=third.end, mids=mids)

    assert shadow["live"]["version"] == live.version
    assert shadow["challenger"]["version"] == challenger.version
    assert shadow["window"]["rfqs"] == 80
    for role in ("live", "challenger"):
        assert 0.0 <= shadow[role]["answer"]["brier"] <= 1.0
        assert shadow[role]["fill"]["n"] > 0
    live.refresh_from_db()
    challenger.refresh_from_db()
    assert live.shadow_metrics["role"] == "live"
    assert challenger.shadow_metrics["role"] == "challenger"
    assert live.shadow_metrics["challenger"]["answer"] == challenger.shadow_metrics["challenger"]["answer"]

    drift = scoring_drift_check(now=third.end, recent=third.end - third.start, mids=mids)

    assert drift["psi"]["log_notional"] > 0.25
    assert any("log_notional" in alert for alert in drift["alerts"])
    assert AuditEvent.objects.filter(action="scoring_model.drift", object_id=str(live.pk)).exists()
    live.refresh_from_db()
    assert live.drift["alerts"] == drift["alerts"]
