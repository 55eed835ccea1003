"""The risk page in a real browser: an engage without a reason is stopped before the confirmation, by name."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from risk.models import KillSwitch, Limit
from tests.browser.conftest import shot

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


def test_a_risk_officer_sets_a_limit_and_changes_it_in_the_tree(open_page, risk_officer) -> None:  # noqa: ANN001
    page = open_page(risk_officer.username)
    page.goto("/desk/risk/")
    page.select_option("#id_scope", "desk")
    page.select_option("#id_kind", "max_order_notional")
    page.fill("#id_value", "5000000")
    page.click("#limit-set")
    row = page.locator("#limits-tree tr[data-scope='desk'][data-kind='max_order_notional']")
    expect(row).to_be_visible()
    expect(page.locator(".messages")).to_contain_text("Limit set: Max order notional")

    row.locator("input[name=value]").fill("2500000")
    row.locator("button").click()
    expect(page.locator(".messages")).to_contain_text("= 2500000")
    assert Limit.objects.get(scope="desk", kind="max_order_notional").value == 2_500_000
    shot(page, "risk_limit_edit")
