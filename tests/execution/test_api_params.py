"""Algorithm parameter versions over the API: risk officers draft, validate, promote and roll back; traders read;
a kernel-breaking draft is refused at validation, naming why."""

from __future__ import annotations

import pytest
from django.test import Client

from desk.models import AuditEvent
from execution.models import AlgoParamStatus, AlgoParamVersion

pytestmark = pytest.mark.django_db


def _post(client: Client, url: str, body: dict | None = None):  # noqa: ANN202
    return client.post(url, body or {}, content_type="application/json")


def test_risk_officer_drafts_validates_promotes_and_rolls_back(client: Client, risk_officer, trader) -> None:  # noqa: ANN001
    client.force_login(risk_officer)
    first = _post(client, "/api/v1/execution/algo-params/", {"algorithm": "twap", "params": {"slices": 12}})
    assert first.status_code == 201, first.content
    v1 = first.json()["id"]
    assert _post(client, f"/api/v1/execution/algo-params/{v1}/validate/").json()["status"] == "validated"
    assert _post(client, f"/api/v1/execution/algo-params/{v1}/promote/").json()["status"] == "live"
    v2 = _post(client, "/api/v1/execution/algo-params/", {"algorithm": "twap", "params": {"slices": 20}}).json()["id"]
    _post(client, f"/api/v1/execution/algo-params/{v2}/validate/")
    _post(client, f"/api/v1/execution/algo-params/{v2}/promote/")
    assert AlgoParamVersion.objects.get(pk=v1).status == AlgoParamStatus.RETIRED

    back = _post(client, "/api/v1/execution/algo-params/rollback/", {"algorithm": "twap", "reason": "v2 slips"})

    assert back.status_code == 200, back.content
    assert back.json()["id"] == v1
    assert back.json()["status"] == "live"
    assert AuditEvent.objects.filter(action__startswith="algo_params").count() >= 5
    client.force_login(trader)
    assert len(client.get("/api/v1/execution/algo-params/").json()) == 2
    assert _post(client, f"/api/v1/execution/algo-params/{v2}/promote/").status_code == 403


def test_a_draft_that_breaks_its_kernel_is_refused_at_validation(client: Client, risk_officer) -> None:  # noqa: ANN001
    client.force_login(risk_officer)
    draft = _post(client, "/api/v1/execution/algo-params/", {"algorithm": "pov", "params": {"participation": 0}})
    assert draft.status_code == 201  # a draft is only stored; validation runs the kernel
    refused = _post(client, f"/api/v1/execution/algo-params/{draft.json()['id']}/validate/")

    assert refused.status_code == 400
    assert "participation" in refused.content.decode()
    assert AlgoParamVersion.objects.get(pk=draft.json()["id"]).status == AlgoParamStatus.DRAFT
    assert _post(client, "/api/v1/execution/algo-params/999/validate/").status_code == 404
    assert _post(client, "/api/v1/execution/algo-params/1/explode/").status_code == 404
