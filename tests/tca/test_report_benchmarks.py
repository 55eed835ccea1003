"""The report's benchmarks: each order's average fill price against arrival, interval VWAP, TWAP and close, by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command

from execution.models import ExecutionPlan
from tca import benchmarks, reports, services
from tca.services import TapeSample
from tests.tca import factories as tca_factories

BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
TAPE = [(-1, 100.00, 5.0), (2, 100.20, 1.0), (4, 100.40, 3.0), (7, 100.10, 2.0), (9, 100.60, 4.0), (12, 100.80, 10.0)]
"""(seconds after BASE, mid, contracts traded since the previous sample)."""


def _at(seconds: float) -> pd.Timestamp:
    return pd.Timestamp(BASE) + pd.Timedelta(seconds=seconds)


def _hand() -> dict[str, float]:
    """A buy of 10 arriving at +2 s and ending at +8 s: 4 at 100.50 and 6 at 100.30, average 100.38.

    VWAP over (2, 8]: the samples at +4 and +7 (the +2 s sample's volume traded before the arrival);
    TWAP over [2, 8]: 100.20 for 2 s, 100.40 for 3 s, 100.10 for 1 s; close: the +7 s mid still prevailing at +8."""
    return {
        "average": (4 * 100.50 + 6 * 100.30) / 10,
        "arrival": 100.20,
        "vwap": (100.40 * 3 + 100.10 * 2) / (3 + 2),
        "twap": (100.20 * 2 + 100.40 * 3 + 100.10 * 1) / 6,
        "close": 100.10,
    }


def _tape_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time": [_at(s) for s, _, _ in TAPE],
            "instrument": "BTC-USD",
            "mid": [mid for _, mid, _ in TAPE],
            "volume": [volume for _, _, volume in TAPE],
        }
    )


def test_each_order_against_the_four_benchmarks_by_hand_and_an_order_without_tape_is_counted() -> None:
    # given the buy of the hand computation and a sell of 2 at 100.00 (arrival mid 100.05) long after the tape ends
    fills = pd.DataFrame(
        {
            "order_id": ["A", "A", "B"],
            "side": [1, 1, -1],
            "quantity": [4.0, 6.0, 2.0],
            "price": [100.50, 100.30, 100.00],
            "instrument": "BTC-USD",
        }
    )
    orders = pd.DataFrame(
        {
            "order_id": ["A", "B"],
            "side": [1, -1],
            "arrival_mid": [100.20, 100.05],
            "instrument": "BTC-USD",
            "arrival_time": [_at(2), _at(40)],
            "end_time": [_at(8), _at(50)],
            "dealer": ["venue", "venue"],
        }
    )

    # when the orders are priced against the tape and added up
    per_order = benchmarks.order_benchmark_slippage(fills, orders, _tape_frame())
    section = reports.benchmark_section(fills, orders, _tape_frame(), group_by="dealer")

    # then the buy's four benchmarks, costs and bps are the hand computation's
    hand = _hand()
    a = per_order.loc["A"]
    assert a["average_price"] == pytest.approx(hand["average"])
    assert bool(a["has_tape"])
    for name in benchmarks.BENCHMARK_NAMES:
        assert a[f"{name}_price"] == pytest.approx(hand[name], rel=1e-12), name
        assert a[f"{name}_cost"] == pytest.approx(10 * (hand["average"] - hand[name]), abs=1e-9), name
        assert a[f"{name}_bps"] == pytest.approx((hand["average"] - hand[name]) / hand[name] * 1e4), name
    # and the sell without tape keeps its arrival slippage, the others unknown, and is counted, not dropped
    b = per_order.loc["B"]
    assert not bool(b["has_tape"])
    assert b["arrival_cost"] == pytest.approx(-1 * 2 * (100.00 - 100.05))
    assert np.isnan([b["vwap_price"], b["twap_price"], b["close_price"]]).all()
    (row,) = section["rows"]
    assert (row["orders"], row["orders_without_tape"]) == (2, 1)
    assert section["total"]["orders_without_tape"] == 1
    # the group's bps weighted by notional over the orders that have the benchmark; costs added to the cent
    notional_a, notional_b = 10 * hand["average"], 2 * 100.00
    expected_arrival = (a["arrival_bps"] * notional_a + b["arrival_bps"] * notional_b) / (notional_a + notional_b)
    assert row["arrival"]["bps"] == pytest.approx(expected_arrival)
    assert row["arrival"]["orders"] == 2
    assert row["arrival"]["cost"] == Decimal("1.80") + Decimal("0.10")
    assert row["vwap"] == {"bps": pytest.approx(a["vwap_bps"]), "cost": Decimal("1.00"), "orders": 1}
    assert row["twap"]["cost"] == Decimal("0.97")
    assert row["close"]["cost"] == Decimal("2.80")
    assert row["notional"] == Decimal("1203.80")
    by_id = {order["order_id"]: order for order in section["orders"]}
    assert by_id["B"]["vwap_bps"] is None
    assert by_id["A"]["close_cost"] == 2.8
    json.dumps(section["orders"], allow_nan=False)


def test_without_any_tape_only_the_arrival_is_measured() -> None:
    fills = pd.DataFrame({"order_id": [1], "side": [1], "quantity": [3.0], "price": [50.5]})
    orders = pd.DataFrame({"order_id": [1], "side": [1], "arrival_mid": [50.0], "dealer": ["ALPHA"]})

    section = reports.benchmark_section(fills, orders, None, group_by="dealer")

    (row,) = section["rows"]
    assert row["group"] == "ALPHA"
    assert row["arrival"]["cost"] == Decimal("1.50")
    assert row["arrival"]["bps"] == pytest.approx(100.0)
    assert row["orders_without_tape"] == 1
    assert row["vwap"] == row["twap"] == row["close"] == {"bps": None, "cost": None, "orders": 0}


def test_an_empty_period_has_an_empty_benchmarks_section() -> None:
    section = reports.benchmark_section(pd.DataFrame(), pd.DataFrame(), None, group_by="dealer")

    assert section["rows"] == []
    assert section["orders"] == []
    assert section["total"]["orders"] == 0


# --- through the database: the command and the page ---------------------------------------------------------------


@pytest.fixture
def taped_order(trader, instrument, dealer):  # noqa: ANN001, ANN201
    """The tape of :data:`TAPE`, a TWAP plan decided at BASE, started at +2 s, filled 4 at 100.50 (+5 s) and 6 at
    100.30 (+8 s); and a dealer fill now, where the tape has no sample (ALPHA sells 5 at 101, quote mid 100)."""
    services.market_samples_write(
        samples=[
            TapeSample(
                instrument_id=instrument.pk, sampled_at=_at(s).to_pydatetime(), mid=mid, volume=volume, spread=0.2
            )
            for s, mid, volume in TAPE
        ]
    )
    plan = tca_factories.plan_create(trader=trader, instrument=instrument, quantity="10", limits=("101", "101"))
    ExecutionPlan.objects.filter(pk=plan.pk).update(created_at=_at(0), start_at=_at(2))
    for seq, (quantity, price, at) in enumerate((("4", "100.50", 5), ("6", "100.30", 8)), start=1):
        tca_factories.algo_fill_create(
            plan=plan, seq=seq, quantity=quantity, price=price, executed_at=_at(at).to_pydatetime()
        )
    tca_factories.dealer_fill_create(trader=trader, instrument=instrument, dealer=dealer)
    return plan


PERIOD = ((BASE.date() - timedelta(days=1)).isoformat(), (BASE.date() + timedelta(days=1)).isoformat())


def _command(*args: str) -> str:
    out = StringIO()
    call_command("tca_report", "--from", PERIOD[0], "--to", PERIOD[1], *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_the_command_reports_the_benchmarks_and_keeps_the_json_contract(taped_order, dealer) -> None:  # noqa: ANN001
    # when the report is printed as JSON, CSV and HTML by algorithm
    report = json.loads(_command("--group-by", "algo", "--format", "json"))
    csv_lines = _command("--group-by", "algo", "--format", "csv").strip().splitlines()
    html_out = _command("--group-by", "algo", "--format", "html")

    # then the contract's keys are all there, unchanged
    assert report["rows"]
    for row in report["rows"]:
        assert {"group", "quantity", "notional", "total_cost", "parts"} <= set(row)
        assert sum(Decimal(str(v)) for v in row["parts"].values()) == Decimal(str(row["total_cost"]))
    # and the TWAP order's benchmarks are the hand computation's, from the stored tape
    rows = {row["group"]: row for row in report["benchmarks"]["rows"]}
    hand = _hand()
    twap = rows["twap"]
    for name in benchmarks.BENCHMARK_NAMES:
        assert twap[name]["cost"] == pytest.approx(round(10 * (hand["average"] - hand[name]), 2)), name
        assert twap[name]["bps"] == pytest.approx((hand["average"] - hand[name]) / hand[name] * 1e4), name
    assert twap["orders_without_tape"] == 0
    # and it ties to the shortfall: against the arrival mid, the order cost its shortfall less delay (no fees, all
    # filled)
    shortfall = {row["group"]: row for row in report["rows"]}["twap"]
    assert twap["arrival"]["cost"] == pytest.approx(shortfall["total_cost"] - shortfall["parts"]["delay"])
    # the dealer fill off the tape: counted, its arrival against the quote mid, the rest not measured
    rfq = rows["rfq"]
    assert (rfq["orders"], rfq["orders_without_tape"]) == (1, 1)
    assert rfq["arrival"]["cost"] == 5.0
    assert rfq["vwap"]["bps"] is None
    assert report["benchmarks"]["total"]["orders_without_tape"] == 1
    assert "1 orders had no market tape over their interval" in report["note"]
    (order,) = [o for o in report["benchmarks"]["orders"] if o["group"] == "twap"]
    assert order["vwap_price"] == pytest.approx(hand["vwap"])
    # the CSV carries the groups' benchmark columns after the cost columns, the HTML its table
    header = csv_lines[0].split(",")
    assert header[: len(reports.report_header())] == reports.report_header()
    assert header[-len(reports.BENCHMARK_CSV_COLUMNS) :] == list(reports.BENCHMARK_CSV_COLUMNS)
    twap_cells = dict(zip(header, next(line for line in csv_lines if line.startswith("twap,")).split(","), strict=True))
    assert twap_cells["close_cost"] == "2.80"
    assert twap_cells["vwap_cost"] == "1.00"
    assert 'class="benchmarks"' in html_out


@pytest.mark.django_db
def test_the_page_shows_the_benchmarks_table(client_for, trader, taped_order) -> None:  # noqa: ANN001
    response = client_for(trader).get(
        "/desk/tca/", {"start": PERIOD[0], "end": PERIOD[1], "group_by": "algo", "benchmark": "decision"}
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="tca-benchmarks"' in html
    table = response.context["benchmark_table"]
    assert table["names"] == list(benchmarks.BENCHMARK_NAMES)
    twap = next(row for row in table["rows"] if row["group"] == "twap")
    close = twap["cells"][benchmarks.BENCHMARK_NAMES.index("close")]
    assert close["cost"] == Decimal("2.80")
    assert table["total"]["orders_without_tape"] == 1
    assert "1 orders had no market tape over their interval" in html
