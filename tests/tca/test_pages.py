"""The TCA page ``/desk/tca/``: desk roles only, the report of a period with its charts and downloads, the estimator."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from desk.roles import Role
from tests import factories
from tests.tca import factories as tca_factories

pytestmark = pytest.mark.django_db

URL = "/desk/tca/"
TODAY = datetime.now(UTC).date()
PERIOD = {"start": (TODAY - timedelta(days=1)).isoformat(), "end": (TODAY + timedelta(days=1)).isoformat()}
VENDOR = Path(settings.BASE_DIR) / "desk" / "static" / "desk" / "vendor"


@pytest.fixture
def desk_fills(trader, instrument, dealer):  # noqa: ANN001, ANN201
    """ALPHA sells the desk 5 at 101 (mid 100, half spread 1); a TWAP plan buys 4 at 100.20 and 6 at 100.10 against
    its first child's limit 100.00, fees 0.40 and 0.60: 5.00 + 2.40 = 7.40 paid in all."""
    tca_factories.dealer_fill_create(trader=trader, instrument=instrument, dealer=dealer)
    plan = tca_factories.plan_create(trader=trader, instrument=instrument)
    tca_factories.algo_fill_create(plan=plan, seq=1, quantity="4", price="100.20", fee="0.40")
    tca_factories.algo_fill_create(plan=plan, seq=2, quantity="6", price="100.10", fee="0.60")
    return plan


def test_trader_sees_the_report_with_its_waterfall_and_downloads(client_for, trader, desk_fills) -> None:  # noqa: ANN001
    # when a trader opens the period by dealer
    response = client_for(trader).get(URL, {**PERIOD, "group_by": "dealer", "benchmark": "decision"})

    # then the table has a row per dealer and the total of the period
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="tca-table"' in html
    assert "<td>ALPHA</td>" in html
    assert "<td>venue</td>" in html
    assert 'id="total-cost">7.40<' in html
    # and the waterfall's bars are the parts, adding up to the total
    data = json.loads(_json_script(html, "tca-chart-data"))
    values = dict(zip(data["waterfall"]["labels"], data["waterfall"]["values"], strict=True))
    assert values["total"] == pytest.approx(7.40)
    assert sum(v for k, v in values.items() if k != "total") == pytest.approx(values["total"])
    assert data["by_group"]["groups"] == ["ALPHA", "venue"]
    # and the downloads, the chart library served from the desk, and the estimator are there
    assert 'id="download-csv"' in html
    assert 'id="download-json"' in html
    assert "/static/desk/vendor/chart.umd.min.js" in html
    # Served from the desk itself, never from a CDN (no script or stylesheet from another origin).
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert 'data-api="/api/v1/tca/pretrade/"' in html
    assert '<option value="BTC-USD">' in html


def _json_script(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    body = html[html.index(">", start) + 1 :]
    return body[: body.index("</script>")]


def test_an_empty_period_says_so(client_for, trader) -> None:  # noqa: ANN001
    response = client_for(trader).get(URL, {**PERIOD, "group_by": "algo", "benchmark": "decision"})

    assert response.status_code == 200
    html = response.content.decode()
    assert "nothing to report" in html
    assert 'id="tca-table"' not in html
    assert 'id="waterfall-chart"' not in html


def test_the_page_opens_on_the_last_week_by_dealer(client_for, trader, desk_fills) -> None:  # noqa: ANN001
    response = client_for(trader).get(URL)

    assert response.status_code == 200
    report = response.context["report"]
    assert report["group_by"] == "dealer"
    assert report["to"] == TODAY.isoformat()
    assert report["fills"] == 3
    assert f"start={(TODAY - timedelta(days=6)).isoformat()}" in response.context["query"]


def test_csv_and_json_downloads_use_the_report_renderers(client_for, trader, desk_fills) -> None:  # noqa: ANN001
    client = client_for(trader)
    params = {**PERIOD, "group_by": "algo", "benchmark": "decision"}

    csv = client.get(URL, {**params, "format": "csv"})
    as_json = client.get(URL, {**params, "format": "json"})

    assert csv.status_code == 200
    assert csv["Content-Type"].startswith("text/csv")
    assert "attachment" in csv["Content-Disposition"]
    lines = csv.content.decode().splitlines()
    assert lines[0].startswith("group,quantity,notional,total_cost,delay,")
    assert {line.split(",")[0] for line in lines[1:]} == {"rfq", "twap"}
    rows = {row["group"]: row for row in json.loads(as_json.content)["rows"]}
    assert rows["twap"]["total_cost"] == 2.4
    assert sum(Decimal(str(v)) for v in rows["twap"]["parts"].values()) == Decimal("2.4")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "2026-11-10", "end": "2026-11-01", "group_by": "dealer", "benchmark": "decision"}, "swap them"),
        ({"start": "2026-11-01", "end": "2026-11-10", "group_by": "colour", "benchmark": "decision"}, "colour"),
        ({"start": "yesterday", "end": "2026-11-10", "group_by": "dealer", "benchmark": "decision"}, "valid date"),
    ],
)
def test_bad_periods_are_explained(client_for, trader, params, message) -> None:  # noqa: ANN001
    client = client_for(trader)

    page = client.get(URL, params)
    download = client.get(URL, {**params, "format": "csv"})

    assert page.status_code == 400
    assert message in page.content.decode()
    assert download.status_code == 400
    assert message in download.content.decode()


def test_a_link_without_a_benchmark_uses_the_decision_price(client_for, trader, desk_fills) -> None:  # noqa: ANN001
    response = client_for(trader).get(URL, {**PERIOD, "group_by": "trader"})

    assert response.status_code == 200
    assert response.context["report"]["benchmark"] == "decision"
    assert [row["group"] for row in response.context["report"]["rows"]] == ["trader-t"]


def test_an_unknown_download_format_is_refused(client_for, trader) -> None:  # noqa: ANN001
    response = client_for(trader).get(URL, {**PERIOD, "group_by": "dealer", "format": "xlsx"})

    assert response.status_code == 400
    assert b"format" in response.content


@pytest.mark.parametrize("role", [Role.TRADER, Role.RISK_OFFICER, Role.COMPLIANCE])
def test_desk_roles_see_the_page_and_its_nav_link(client_for, role) -> None:  # noqa: ANN001
    response = client_for(factories.user_create(role=role)).get(URL)

    assert response.status_code == 200
    assert b'href="/desk/tca/" aria-current="page">TCA</a>' in response.content


def test_dealers_get_403_and_strangers_the_login(client, client_for) -> None:  # noqa: ANN001
    assert client_for(factories.user_create(role=Role.DEALER)).get(URL).status_code == 403
    response = client.get(URL)
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_the_chart_library_is_vendored_with_its_licence() -> None:
    script = (VENDOR / "chart.umd.min.js").read_text()
    assert script.startswith("/*!\n * Chart.js v4.")
    assert "MIT" in (VENDOR / "chart.js.LICENSE.md").read_text()
