"""Limits set in the browser by risk officers: through the audited service, each refusal beside its field, listed as
the hierarchy's tree; traders may not set them."""

from __future__ import annotations

import pytest

from desk.models import AuditEvent
from risk.models import Limit

pytestmark = pytest.mark.django_db


def _set(client, **fields: str):  # noqa: ANN001, ANN202
    return client.post("/desk/risk/limits/", {"scope": "desk", "scope_key": "", "kind": "max_position"} | fields)


def test_a_risk_officer_sets_and_changes_a_limit_audited(client_for, risk_officer) -> None:  # noqa: ANN001
    client = client_for(risk_officer)

    created = _set(client, value="25")
    changed = _set(client, value="30")

    assert created.status_code == changed.status_code == 302
    limit = Limit.objects.get(scope="desk", kind="max_position")
    assert limit.value == 30
    events = AuditEvent.objects.filter(action="risk.limit.set", object_id=str(limit.pk)).order_by("id")
    assert [e.after["value"] for e in events] == ["25.000000000000", "30.000000000000"]
    page = client.get("/desk/risk/").content.decode()
    assert 'data-scope="desk" data-scope-key="" data-kind="max_position"' in page
    assert 'id="limit-form"' in page


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"value": "-5"}, "Value: enter a value above 0"),
        ({"value": "0"}, "Value: enter a value above 0"),
        ({"value": "1e15"}, "Value: at most 1000000000 for max absolute position"),
        ({"kind": "participation_cap", "value": "1.5"}, "Value: at most 1 for participation cap"),
        ({"kind": "nope", "value": "1"}, "Kind: Select a valid choice"),
        ({"value": "abc"}, "Value: Enter a number."),
    ],
)
def test_a_bad_limit_is_refused_beside_its_field_and_nothing_is_stored(
    client_for, risk_officer, fields: dict, message: str
) -> None:  # noqa: ANN001
    response = _set(client_for(risk_officer), **fields)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Limit.objects.exists()


def test_a_trader_may_not_set_limits_nor_sees_the_form(client_for, trader) -> None:  # noqa: ANN001
    client = client_for(trader)
    assert _set(client, value="5").status_code == 403
    assert not Limit.objects.exists()
    page = client.get("/desk/risk/")
    if page.status_code == 200:
        assert 'id="limit-form"' not in page.content.decode()
