"""Decision records: every automated decision stored with its inputs, model versions, output and explanation.

A decision function registers a *replayer* for its kind (``decision_replayer_register``): given the stored
inputs it recomputes the output, so that :func:`decision_replay` can show a risk officer that the stored output
is what the inputs and the code give (or where they now differ).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import models, transaction

from desk import clock
from desk.audit import Actor, actor_label, audit_record, json_normalize
from desk.models import DecisionKind, DecisionRecord

Replayer = Callable[[dict[str, Any]], dict[str, Any]]
_REPLAYERS: dict[str, Replayer] = {}


def decision_replayer_register(kind: str, replayer: Replayer) -> None:
    """Register the function that recomputes a ``kind`` decision's output from its stored inputs."""
    if kind not in DecisionKind.values:
        raise ValueError(f"unknown decision kind {kind!r}")
    _REPLAYERS[kind] = replayer


def decision_replayer_for(kind: str) -> Replayer | None:
    """The function registered to replay ``kind`` decisions, if any."""
    return _REPLAYERS.get(kind)


def _digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def decision_record(
    *,
    kind: str,
    actor: Actor,
    inputs: Mapping[str, Any],
    output: Mapping[str, Any],
    explanation: str = "",
    model_versions: Mapping[str, Any] | None = None,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str | int = "",
) -> DecisionRecord:
    """Store one decision and its audit event (``decision.<kind>``, carrying the SHA-256 of inputs and output)
    in the caller's transaction."""
    if kind not in DecisionKind.values:
        raise ValueError(f"unknown decision kind {kind!r}")
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    stored_inputs = json_normalize(dict(inputs))
    stored_output = json_normalize(dict(output))
    versions = json_normalize(dict(model_versions or {}))
    with transaction.atomic():
        event = audit_record(
            actor=actor,
            action=f"decision.{kind}",
            object_type=object_type,
            object_id=object_id,
            after={
                "output": stored_output,
                "model_versions": versions,
                "inputs_sha256": _digest(stored_inputs),
                "explanation": explanation[:500],
            },
        )
        return DecisionRecord.objects.create(
            kind=kind,
            decided_at=clock.now(),
            actor=actor_label(actor)[:150],
            object_type=object_type,
            object_id=str(object_id),
            inputs=stored_inputs,
            model_versions=versions,
            output=stored_output,
            explanation=explanation,
            audit_event=event,
        )


@dataclass(frozen=True)
class Replay:
    """The replay of a decision: the recomputed output and whether it equals the stored one; ``inputs_intact`` is
    False when the stored inputs no longer hash to what the audit event recorded."""

    record_id: int
    kind: str
    stored_output: dict[str, Any]
    replayed_output: dict[str, Any] | None
    matches: bool
    inputs_intact: bool
    reason: str = ""


def decision_replay(record: DecisionRecord) -> Replay:
    """Recompute ``record``'s output from its stored inputs with the registered replayer."""
    after = record.audit_event.after or {}
    intact = after.get("inputs_sha256") == _digest(record.inputs)
    replayer = _REPLAYERS.get(record.kind)
    if replayer is None:
        return Replay(record.pk, record.kind, record.output, None, False, intact, f"no replayer for {record.kind}")
    try:
        replayed = json_normalize(replayer(dict(record.inputs)))
    except (KeyError, TypeError, ValueError) as error:
        # Recorded by another decision function of the same kind (the backtest's policies), or by older code.
        reason = f"the stored inputs are not what the {record.kind} replayer reads: {error!r}"
        return Replay(record.pk, record.kind, record.output, None, False, intact, reason)
    return Replay(record.pk, record.kind, record.output, replayed, replayed == record.output, intact)
