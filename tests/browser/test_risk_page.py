"""The risk page in a real browser: an engage without a reason is stopped before the confirmation, by name."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from risk.models import KillSwitch

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def test_engaging_without_a_reason_names_the_field_and_asks_nothing(open_page, risk_officer) -> None:  # noqa: ANN001
    page = open_page(risk_officer.username)
    page.goto("/desk/risk/")

    page.click("#engage")

    expect(page.locator("#engage-reason-missing")).to_have_text("Reason: say why the switch is engaged")
    expect(page.locator("#engage-confirm")).not_to_be_visible()
    assert not KillSwitch.objects.filter(engaged=True).exists()

    # and with a reason typed, the confirmation comes as before
    page.fill("#id_reason", "drill")
    page.click("#engage")
    expect(page.locator("#engage-confirm")).to_be_visible()
    expect(page.locator("#engage-reason-missing")).to_have_count(0)
