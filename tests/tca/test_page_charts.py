"""The TCA page's tape charts: dealer markout curves and the schedule against the market's volume."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from desk.roles import Role
from execution.models import ExecutionPlan
from tca import services
from tca.services import TapeSample
from tests import factories
from tests.tca import factories as tca_factories

pytestmark = pytest.mark.django_db

URL = "/desk/tca/"
BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
PERIOD = {
    "start": (BASE.date() - timedelta(days=1)).isoformat(),
    "end": (BASE.date() + timedelta(days=1)).isoformat(),
    "group_by": "dealer",
}


def _chart_data(html: str) -> dict:
    start = html.index('id="tca-chart-data"')
    body = html[html.index(">", start) + 1 :]
    return json.loads(body[: body.index("</script>")])


@pytest.fixture
def taped_fills(trader, instrument, dealer):  # noqa: ANN001, ANN201
    """One minute of tape (a sample a second, 2 contracts traded each, mid rising 0.01 a second) around a TWAP
    plan filled 3 at +10 s and 5 at +20 s, and a dealer fill now, off the tape."""
    services.market_samples_write(
        samples=[
            TapeSample(
                instrument_id=instrument.pk,
                sampled_at=BASE + timedelta(seconds=s),
                mid=100.0 + 0.01 * s,
                volume=2.0,
                spread=0.1,
            )
            for s in range(-20, 400)
        ]
    )
    plan = tca_factories.plan_create(trader=trader, instrument=instrument, quantity="8", limits=("101", "101"))
    ExecutionPlan.objects.filter(pk=plan.pk).update(created_at=BASE, start_at=BASE + timedelta(seconds=5))
    for seq, (quantity, at) in enumerate((("3", 10), ("5", 20)), start=1):
        tca_factories.algo_fill_create(
            plan=plan, seq=seq, quantity=quantity, price="100.30", executed_at=BASE + timedelta(seconds=at)
        )
    tca_factories.dealer_fill_create(trader=trader, instrument=instrument, dealer=dealer)
    return plan


def test_a_trader_gets_the_markout_curves_and_the_schedule_from_the_tape(
    client_for, trader, dealer, taped_fills
) -> None:  # noqa: ANN001
    response = client_for(trader).get(URL, PERIOD)

    assert response.status_code == 200
    html = response.content.decode()
    data = _chart_data(html)
    # markouts: after the venue's two buys the mid rises 0.01 a second, in the desk's favour (negative markouts);
    # the dealer's fill, now, has no tape
    curves = {d["dealer"]: d for d in data["markouts"]["dealers"]}
    assert data["markouts"]["horizons_s"] == [1, 10, 60, 300]
    venue = curves["venue"]
    mid_fill_1, mid_fill_2 = 100.10, 100.20  # the samples at the fills' own seconds (+10 s, +20 s)
    assert all(value is not None and value < 0 for value in venue["markout_bps"])
    # 60 s: each fill's mid rose 0.60, quantity-weighted in bps of its mid at the fill
    expected_60 = -(3 * 0.60 / mid_fill_1 * 1e4 + 5 * 0.60 / mid_fill_2 * 1e4) / 8
    assert venue["markout_bps"][2] == pytest.approx(expected_60, rel=1e-6)
    assert curves[dealer.code]["markout_bps"] == [None] * 4
    assert curves[dealer.code]["fills_without_data"] == [1] * 4
    # schedule: the desk's 8 contracts against the market's 2 a second, in buckets
    schedule = data["schedule"]
    assert schedule["instrument"] == "BTC-USD"
    assert schedule["has_tape"] is True
    assert sum(schedule["desk_quantity"]) == pytest.approx(8.0)
    bucket = schedule["bucket_s"]
    assert max(schedule["market_volume"]) == pytest.approx(2.0 * bucket)
    assert 'id="markout-chart"' in html
    assert 'id="schedule-chart"' in html
    assert "1 fills had no market tape" in html


def test_the_json_download_carries_the_markouts_and_the_tape_count(client_for, trader, dealer, taped_fills) -> None:  # noqa: ANN001
    body = client_for(trader).get(URL, {**PERIOD, "format": "json"}).json()
    assert body["fills_without_tape"] == 1
    assert {row["dealer"] for row in body["markouts"]} == {"venue", dealer.code}
    assert len(body["markouts"]) == 8


def test_a_dealer_gets_403(client_for, taped_fills) -> None:  # noqa: ANN001
    assert client_for(factories.user_create(role=Role.DEALER)).get(URL, PERIOD).status_code == 403
