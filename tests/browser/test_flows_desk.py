"""The desk's working day in a real browser (Debian Chromium through Playwright, real uvicorn, real websockets, a
real Celery worker): a trader from login to a filled RFQ and its TCA; a risk officer pulling the kill switch and
watching a running plan stop on the execution page; forms that name the wrong field and keep what was typed."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import expect

from execution import services as execution_services
from execution.models import ExecutionPlan, Fill, PlanStatus
from risk.models import KillSwitch
from tests.browser.conftest import shot
from tests.browser.test_flows import _dealer_call, _dealer_quotes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

ALPHA = "key-alpha:alpha-secret-123"


def _wait(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def _plan(trader, instrument, *, horizon_s: float, slices: int) -> ExecutionPlan:  # noqa: ANN001
    return execution_services.plan_create(
        instrument=instrument,
        side="buy",
        quantity=Decimal("1"),
        algorithm="twap",
        parameters={"horizon_s": horizon_s, "slices": slices},
        actor=trader,
    )


def test_trader_from_login_to_a_filled_rfq_and_its_tca(open_page, live_asgi, trader, dealer, instrument) -> None:  # noqa: ANN001
    # given a trader logged in, on the blotter
    page = open_page(trader.username)
    page.wait_for_selector("#ws-state.ok")
    shot(page, "e0_blotter")

    # when the trader sends an RFQ to ALPHA from the ticket
    page.click("nav >> text=New RFQ")
    page.select_option("#id_leg1_instrument", instrument.symbol)
    page.fill("#id_leg1_quantity", "2")
    page.check("input[name=dealers][value=ALPHA]")
    page.click("#send-rfq")
    page.wait_for_url("**/desk/rfq/RFQ-*/")
    reference = page.text_content("#rfq-reference")
    page.wait_for_selector("#ws-state.ok")

    # and ALPHA quotes, the trader accepts, and ALPHA fills the order through its REST API
    _dealer_quotes(live_asgi, reference=reference, credentials=ALPHA, quote_id="A-1", bid="99", offer="101")
    page.wait_for_selector("#quotes tr[data-dealer=ALPHA] button.accept")
    page.click("#quotes tr[data-dealer=ALPHA] button.accept")
    page.wait_for_selector("#board-message.ok")
    shot(page, "e1_rfq_accepted")
    # then, on the blotter filtered to the instrument (the filter kept in the query string), the fill arrives live
    page.goto(f"/desk/?instrument={instrument.symbol}&side=buy")
    page.wait_for_selector("#ws-state.ok")
    page.wait_for_selector("#fills tr >> text=No fills yet.")
    page.evaluate("window.sameDocument = true")
    orders = _dealer_call(live_asgi, "GET", "/api/v1/dealer/orders/", ALPHA)["results"]
    assert len(orders) == 1
    _dealer_call(
        live_asgi,
        "POST",
        f"/api/v1/dealer/orders/{orders[0]['cl_ord_id']}/fill/",
        ALPHA,
        {"exec_id": "ALPHA-X-1", "quantity": "2", "price": "101"},
    )
    assert Fill.objects.get(exec_id="ALPHA:ALPHA-X-1").quantity == Decimal("2")
    page.wait_for_selector("#fills td >> text=ALPHA:ALPHA-X-1")
    assert page.evaluate("window.sameDocument") is True
    assert page.input_value("#id_instrument") == instrument.symbol
    shot(page, "e2_blotter_with_fill")

    # and the TCA page prices it
    page.click("nav >> text=TCA")
    page.wait_for_url("**/desk/tca/**")
    page.wait_for_selector("#tca-table")
    assert "ALPHA" in page.text_content("#tca-table")
    assert page.text_content("#report-note").startswith("1 fills")
    shot(page, "e3_tca_of_the_fill")


def test_risk_officer_pulls_the_kill_switch_and_sees_a_running_plan_stop(  # noqa: ANN001
    open_page, live_asgi, celery_worker, trader, risk_officer, instrument
) -> None:
    # given a plan the real worker is working, watched by the risk officer on its execution page
    plan = _plan(trader, instrument, horizon_s=12, slices=12)
    execution_services.plan_start(plan_id=plan.pk, actor=trader)
    watcher = open_page(risk_officer.username)
    watcher.click("nav >> text=Execution")
    watcher.wait_for_selector(f"#plans tr[data-plan='{plan.pk}']")
    watcher.click(f"#plans tr[data-plan='{plan.pk}'] a")
    watcher.wait_for_url(f"**/desk/execution/{plan.pk}/")
    watcher.wait_for_selector("#ws-state.ok")
    # fills arrive over the websocket, without a reload
    watcher.evaluate("window.sameDocument = true")
    watcher.wait_for_selector("#fills tr[data-exec]")
    watcher.wait_for_function("window.planChart && window.planChart.data.datasets[1].data.length > 1")
    expect(watcher.locator("#plan-status")).to_have_text("running")
    expect(watcher.locator("#plan-pause")).to_be_visible()
    shot(watcher, "f1_plan_running")

    # and the trader's plan list, whose websocket goes through a switch the test controls, goes deaf
    listing = open_page(trader.username)
    link: dict[str, Any] = {"up": True, "routes": []}

    def route(ws: Any) -> None:
        if link["up"]:
            ws.connect_to_server()
            link["routes"].append(ws)
        else:
            ws.close(code=1011, reason="network down (test)")

    listing.route_web_socket("**/ws/desk/", route)
    listing.goto("/desk/execution/")
    listing.wait_for_selector("#ws-state.ok")
    listing.evaluate("window.sameDocument = true")
    link["up"] = False
    for ws in link["routes"]:
        ws.close(code=1011, reason="network down (test)")
    listing.wait_for_selector("#ws-state.warn")

    # when the risk officer engages the desk's kill switch from the risk page, confirming it, while the trader
    # watches the risk page's alerts
    alerts = open_page(trader.username)
    alerts.goto("/desk/risk/")
    alerts.wait_for_selector("#ws-state.ok")
    risk = open_page(risk_officer.username)
    risk.goto("/desk/risk/")
    risk.fill("#id_reason", "browser drill: stop everything")
    risk.click("#engage")
    risk.click("#engage-confirm-button")
    risk.wait_for_selector("text=Kill switch desk engaged.")
    shot(risk, "f2_kill_switch_engaged")
    # Waits for the text, not for the first element: under load the page may show the switch before the halt.
    expect(alerts.locator("#alerts-live li[data-event='risk.kill_switch']").first).to_contain_text("ENGAGED")
    expect(alerts.locator("#alerts-live")).to_contain_text(f"plans halted: {plan.pk}")
    alerts.wait_for_selector("#switches tr[data-scope=desk][data-engaged='1']")
    shot(alerts, "f3_trader_sees_the_alert")

    # then the execution page shows the plan halted, live, and offers a resume instead of a pause
    watcher.wait_for_selector("#plan-status.halted")
    watcher.wait_for_selector("#plan-resume")
    assert watcher.query_selector("#plan-pause") is None
    assert watcher.evaluate("window.sameDocument") is True
    filled = ExecutionPlan.objects.get(pk=plan.pk).filled_quantity
    assert filled < Decimal("1")
    shot(watcher, "f4_plan_halted")
    time.sleep(1.2)  # two more would-be slices: nothing more is filled
    plan.refresh_from_db()
    assert (plan.status, plan.filled_quantity) == (PlanStatus.HALTED, filled)
    assert KillSwitch.objects.get(scope="desk").engaged

    # and the deaf plan list catches up once its socket is back, without a reload
    assert listing.get_attribute(f"#plans tr[data-plan='{plan.pk}']", "data-status") == "running"
    link["up"] = True
    listing.wait_for_selector(f"#plans tr[data-plan='{plan.pk}'][data-status=halted]", timeout=15_000)
    assert listing.evaluate("window.sameDocument") is True
    shot(listing, "f5_plan_list_caught_up")


def test_forms_name_the_wrong_field_and_keep_what_was_typed(  # noqa: ANN001
    open_page, live_asgi, trader, risk_officer, instrument
) -> None:
    # given a trader on the blotter
    page = open_page(trader.username)

    # when a filter names an instrument that does not exist
    page.fill("#id_instrument", "NOPE-USD")
    page.select_option("#id_side", "sell")
    page.click("#apply-filter")
    page.wait_for_url("**instrument=NOPE-USD**")

    # then the field is named, and what was typed stays
    assert "Instrument: no instrument 'NOPE-USD'" in page.text_content("#blotter-filter")
    assert page.input_value("#id_instrument") == "NOPE-USD"
    assert page.input_value("#id_side") == "sell"
    shot(page, "g1_blotter_filter_error")

    # given a running plan on the trader's screen, paused meanwhile by the risk officer
    plan = _plan(trader, instrument, horizon_s=600, slices=4)
    execution_services.plan_start(plan_id=plan.pk, actor=trader)
    page.goto(f"/desk/execution/{plan.pk}/")
    page.wait_for_selector("#ws-state.ok")
    page.fill("#id_reason", "client asked to slow down")
    execution_services.plan_pause(plan_id=plan.pk, actor=risk_officer, reason="risk review")
    page.wait_for_timeout(500)

    # when the trader pauses it too, the server refuses and says why, keeping the reason typed
    page.click("#plan-pause")
    page.wait_for_selector("#action-error")
    assert "only a running plan can be paused" in page.text_content("#action-error")
    assert page.input_value("#id_reason") == "client asked to slow down"
    shot(page, "g2_plan_action_refused")
    assert ExecutionPlan.objects.get(pk=plan.pk).status == PlanStatus.PAUSED

    # and the scorecards' context names its field too
    page.goto("/desk/dealers/?kind=spot&notional=5")
    assert "Notional: Ensure this value is greater than or equal to 1000" in page.text_content("main")
    assert page.input_value("#id_notional") == "5"
    shot(page, "g3_scorecard_context_error")
    page.goto("/desk/models/")
    assert "No version is live." in page.text_content("#live-version")
    shot(page, "g4_models")


def test_risk_officer_promotes_and_rolls_back_a_scoring_model_and_reads_the_scorecards(  # noqa: ANN001
    open_page, live_asgi, trader, risk_officer
) -> None:
    # given two validated versions trained on a simulated history
    from rfq.models import ScoringModelStatus, ScoringModelVersion
    from rfq.scoring.models import Hyperparameters
    from rfq.scoring.services import scoring_model_train
    from tests import factories

    relaxed = factories.RELAXED_THRESHOLDS
    world, result = factories.scoring_history_book(seed=5, n_rfqs=60)
    first = scoring_model_train(actor=world.trader, mids=result.mids, thresholds=relaxed)
    second = scoring_model_train(
        actor=world.trader,
        mids=result.mids,
        thresholds=relaxed,
        owner="quant-2",
        hp=Hyperparameters(fallback_delay_s=30.0, price_ridge=50.0),
    )

    def status(version: ScoringModelVersion) -> str:
        return ScoringModelVersion.objects.values_list("status", flat=True).get(pk=version.pk)

    # when a trader looks, there is nothing to press, and forcing it is refused by the server
    trader_page = open_page(trader.username)
    trader_page.click("nav >> text=Models")
    trader_page.wait_for_selector("#versions")
    assert trader_page.query_selector("#versions button.promote") is None
    refused = trader_page.evaluate(
        f"""async () => {{
            const token = document.querySelector("meta[name='csrf-token']").content;
            const headers = {{"X-CSRFToken": token}};
            const r = await fetch("/desk/models/{first.version}/promote/", {{method: "POST", headers}});
            return r.status;
        }}"""
    )
    assert refused == 403
    assert status(first) == ScoringModelStatus.VALIDATED

    # and the risk officer promotes the first version
    page = open_page(risk_officer.username)
    page.click("nav >> text=Models")
    page.click(f"#versions tr[data-version='{first.version}'] button.promote")
    page.wait_for_selector(f"text=Scoring model version {first.version} is live.")
    assert status(first) == ScoringModelStatus.LIVE

    # then the challenger stands beside the live version
    page.wait_for_selector("#compare-scores tr[data-dealer]")
    assert f"Challenger version {second.version}" in page.text_content("#comparison")
    shot(page, "h1_models_challenger_vs_live")

    # when the second is promoted and then rolled back, the first is live again
    page.click(f"#versions tr[data-version='{second.version}'] button.promote")
    page.wait_for_selector(f"text=Scoring model version {second.version} is live.")
    page.click("#rollback")
    page.wait_for_selector(f"text=Scoring model version {first.version} is live.")
    assert (status(first), status(second)) == (ScoringModelStatus.LIVE, ScoringModelStatus.RETIRED)
    shot(page, "h2_models_rolled_back")

    # and the scorecards show the live version's scores and why
    page.click("nav >> text=Dealers")
    page.wait_for_selector("#scorecards td.score")
    assert f"version {first.version}" in page.text_content("#model-version")
    assert page.locator("#scorecards .contributions .contrib").count() >= 3
    shot(page, "h3_dealer_scorecards")
