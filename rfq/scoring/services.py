"""Writes of dealer scoring: train a model version, promote it, roll back. Each one transaction with its audit event.

Governance: a training stores a ``draft`` version and validates it when its hold-out metrics pass; only a holder
of ``rfq.promote_scoring_model`` (the risk officer) makes a version live or rolls back, and the database keeps at
most one live version.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pandas as pd
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max

from desk import clock
from desk.audit import Actor, actor_label, audit_record
from rfq.models import ScoringModelStatus, ScoringModelVersion
from rfq.scoring.features import mids_from_tape_or_quotes, request_features
from rfq.scoring.history import scoring_history_frame
from rfq.scoring.models import Hyperparameters
from rfq.scoring.train import scoring_fit, training_manifest, training_sha256

PROMOTE_PERMISSION = "rfq.promote_scoring_model"


class ScoringModelRefused(ValidationError):
    """A governance step the rules refuse; the message says why."""


def json_clean(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None (JSON, and PostgreSQL's jsonb, have no NaN)."""
    if isinstance(value, dict):
        return {str(k): json_clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not isinstance(value, str):
        return json_clean(value.item())
    return value


def _user(actor: Actor) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


def scoring_model_train(
    *,
    actor: Actor,
    mids: pd.DataFrame | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    owner: str = "quant",
    hp: Hyperparameters | None = None,
    thresholds: dict[str, float] | None = None,
) -> ScoringModelVersion:
    """Train on the RFQ history of ``[start, end)`` and store a draft version, validated if its hold-out passes.

    The version records who trained it (``trained_by``: the actor's label; ``created_by`` too when a person) and
    ``training_data_sha256``, the hash of everything its result depends on (:func:`rfq.scoring.train.training_manifest`:
    the history, the mids actually used, the hyper-parameters, the thresholds, the features and the training code):
    two versions with the same hash have the same models, metrics and status.

    Parameters
    ----------
    actor : who trains (a user, or a system label such as ``"system:beat"``)
    mids : the market's mids (``time``, ``instrument``, ``mid``, ``regime``, ``volatility``) over the window; the
        quotes' own consensus when omitted (no markouts then)
    start, end : the training window, UTC (all history when omitted)
    owner : who answers for the model
    hp, thresholds : hyper-parameters and validation thresholds (defaults when omitted)
    """
    history = scoring_history_frame(start=start, end=end)
    if history.empty:
        raise ScoringModelRefused("no RFQ history in the training window")
    hp = hp or Hyperparameters()
    market = mids if mids is not None else mids_from_tape_or_quotes(history)
    rows = request_features(history, market, answer_window_s=hp.answer_window_s, fallback_delay_s=hp.fallback_delay_s)
    result = scoring_fit(rows, hp=hp, thresholds=thresholds)
    manifest = training_manifest(
        history=history,
        mids=market,
        hyperparameters=hp.as_dict(),
        thresholds=result.metrics["thresholds"],
        features=result.features,
    )
    sha = training_sha256(manifest)
    with transaction.atomic():
        number = (ScoringModelVersion.objects.aggregate(last=Max("version"))["last"] or 0) + 1
        version = ScoringModelVersion.objects.create(
            version=number,
            status=ScoringModelStatus.DRAFT,
            data_start=history["sent_at"].min().to_pydatetime(),
            data_end=history["sent_at"].max().to_pydatetime(),
            features=result.features,
            hyperparameters=json_clean(result.artifact["hyperparameters"]),
            metrics=json_clean(result.metrics),
            training_data_sha256=sha,
            artifact=json_clean(result.artifact),
            owner=owner,
            created_by=_user(actor),
            trained_by=actor_label(actor)[:150],
        )
        summary = {
            "version": number,
            "training_data_sha256": sha,
            "training_inputs": manifest,
            "trained_by": version.trained_by,
            "data_start": version.data_start,
            "data_end": version.data_end,
            "rows": len(history),
            "fill_auc": version.metrics["fill"].get("auc"),
            "answer_auc": version.metrics["answer"].get("auc"),
            "passed": result.passed,
        }
        audit_record(actor=actor, action="scoring_model.train", obj=version, after=summary)
        if result.passed:
            version.status = ScoringModelStatus.VALIDATED
            version.save(update_fields=["status"])
            audit_record(
                actor=actor,
                action="scoring_model.validate",
                obj=version,
                before={"status": ScoringModelStatus.DRAFT},
                after={"status": version.status, "thresholds": version.metrics["thresholds"]},
            )
    return version


def _check_permission(actor: Actor) -> None:
    if not (getattr(actor, "is_authenticated", False) and actor.has_perm(PROMOTE_PERMISSION)):
        raise PermissionDenied("promoting or rolling back a scoring model needs a risk officer")


def _make_live(*, target: ScoringModelVersion, actor: Actor, action: str) -> ScoringModelVersion:
    now = clock.now()
    current = ScoringModelVersion.objects.select_for_update().filter(status=ScoringModelStatus.LIVE).first()
    if current is not None and current.pk == target.pk:
        raise ScoringModelRefused(f"version {target.version} is already live")
    before_status = target.status
    if current is not None:
        # Retire first: the one-live constraint holds at every statement, not only at commit.
        current.status, current.retired_at = ScoringModelStatus.RETIRED, now
        current.save(update_fields=["status", "retired_at"])
    target.status, target.promoted_at, target.promoted_by, target.retired_at = (
        ScoringModelStatus.LIVE,
        now,
        _user(actor),
        None,
    )
    target.save(update_fields=["status", "promoted_at", "promoted_by", "retired_at"])
    audit_record(
        actor=actor,
        action=action,
        obj=target,
        before={"live": current.version if current else None, "status": before_status},
        after={"live": target.version, "retired": current.version if current else None},
    )
    return target


def scoring_model_promote(*, version: ScoringModelVersion, actor: Actor) -> ScoringModelVersion:
    """Make a validated version live (the live one, if any, is retired). Needs ``rfq.promote_scoring_model``."""
    _check_permission(actor)
    with transaction.atomic():
        target = ScoringModelVersion.objects.select_for_update().get(pk=version.pk)
        if target.status != ScoringModelStatus.VALIDATED:
            raise ScoringModelRefused(
                f"version {target.version} is {target.status}: only a validated version can be promoted"
            )
        return _make_live(target=target, actor=actor, action="scoring_model.promote")


def scoring_model_rollback(*, actor: Actor, to: ScoringModelVersion | None = None) -> ScoringModelVersion:
    """Put an earlier live version back (the last one retired, or ``to``); the current one is retired.

    Needs ``rfq.promote_scoring_model``; only a version that was live before can come back."""
    _check_permission(actor)
    with transaction.atomic():
        if to is not None:
            target = ScoringModelVersion.objects.select_for_update().get(pk=to.pk)
        else:
            target = (
                ScoringModelVersion.objects.select_for_update()
                .filter(status=ScoringModelStatus.RETIRED, promoted_at__isnull=False)
                .order_by("-retired_at", "-version")
                .first()
            )
            if target is None:
                raise ScoringModelRefused("no earlier live version to roll back to")
        if target.status != ScoringModelStatus.RETIRED or target.promoted_at is None:
            raise ScoringModelRefused(f"version {target.version} was never live: promote it instead")
        return _make_live(target=target, actor=actor, action="scoring_model.rollback")
