"""``manage.py tca_report``: fills from the database, grouped, costed, and printed as JSON, CSV or HTML."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from tests.tca import factories as tca_factories

pytestmark = pytest.mark.django_db

TODAY = datetime.now(UTC).date()
FROM, TO = (TODAY - timedelta(days=1)).isoformat(), (TODAY + timedelta(days=1)).isoformat()


def _run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("tca_report", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _json(*args: str) -> dict:
    out, _ = _run(*args, "--format", "json")
    return json.loads(out)


def _by_group(report: dict) -> dict[str, dict]:
    return {row["group"]: row for row in report["rows"]}


def _assert_parts_add_up(report: dict) -> None:
    for row in report["rows"]:
        parts = sum(Decimal(str(value)) for value in row["parts"].values())
        assert parts == Decimal(str(row["total_cost"])), row


@pytest.fixture
def desk_fills(trader, instrument, dealer, other_dealer):  # noqa: ANN001, ANN201
    """ALPHA sells the desk 5 at 101 (mid 100, half spread 1); BRAVO 2 of 5 at 50.5 (mid 50, half spread 0.5); a
    TWAP plan buys 4 at 100.20 and 6 at 100.10 against its first child's limit 100.00, fees 0.40 and 0.60; one
    more TWAP fill ten days ago is outside the period."""
    tca_factories.dealer_fill_create(trader=trader, instrument=instrument, dealer=dealer)
    tca_factories.dealer_fill_create(
        trader=trader, instrument=instrument, dealer=other_dealer, bid="49.5", offer="50.5", fill_quantity="2"
    )
    plan = tca_factories.plan_create(trader=trader, instrument=instrument)
    tca_factories.algo_fill_create(plan=plan, seq=1, quantity="4", price="100.20", fee="0.40")
    tca_factories.algo_fill_create(plan=plan, seq=2, quantity="6", price="100.10", fee="0.60")
    old = tca_factories.plan_create(trader=trader, instrument=instrument)
    tca_factories.algo_fill_create(
        plan=old, seq=1, quantity="1", price="999", executed_at=datetime.now(UTC) - timedelta(days=10)
    )
    return plan


def test_json_report_by_dealer_costs_each_fill_against_its_benchmark(desk_fills) -> None:  # noqa: ANN001
    # when the period's report is asked for by dealer
    report = _json("--from", FROM, "--to", TO, "--group-by", "dealer")

    # then the dealers pay their half spread, the venue its stand-in slippage plus fees, and the parts add up
    rows = _by_group(report)
    assert set(rows) == {"ALPHA", "BRAVO", "venue"}
    assert rows["ALPHA"]["total_cost"] == 5.0
    assert rows["ALPHA"]["parts"]["spread"] == 5.0
    assert rows["ALPHA"]["notional"] == 505.0
    assert rows["BRAVO"]["total_cost"] == 1.0  # 2 x 0.5
    assert rows["BRAVO"]["quantity"] == 2.0
    assert rows["venue"]["total_cost"] == 2.4  # 4 x 0.20 + 6 x 0.10 + 1.00 fees
    assert rows["venue"]["parts"]["impact_temporary"] == 1.4
    assert rows["venue"]["parts"]["fees"] == 1.0
    assert set(rows["ALPHA"]) >= {"group", "quantity", "notional", "total_cost", "parts"}
    _assert_parts_add_up(report)
    # and it says which benchmark priced what
    assert report["benchmark_sources"]["quote_mid"]["fills"] == 2
    assert report["benchmark_sources"]["first_child_limit"]["fills"] == 2
    assert report["fills"] == 4
    assert report["currency"] == "USD"


def test_grouping_by_algo_trader_and_leg(desk_fills, trader) -> None:  # noqa: ANN001
    by_algo = _by_group(_json("--from", FROM, "--to", TO, "--group-by", "algo"))
    by_trader = _by_group(_json("--from", FROM, "--to", TO, "--group-by", "trader"))
    by_leg = _by_group(_json("--from", FROM, "--to", TO, "--group-by", "leg"))

    assert by_algo["rfq"]["total_cost"] == 6.0
    assert by_algo["twap"]["total_cost"] == 2.4
    assert by_trader[trader.username]["total_cost"] == 8.4
    assert f"plan-{desk_fills.pk}" in by_leg
    assert len(by_leg) == 3
    assert all(group.endswith("/1") for group in by_leg if not group.startswith("plan-"))


def test_a_fill_without_a_benchmark_is_reported_as_unpriced(trader, instrument) -> None:  # noqa: ANN001
    plan = tca_factories.plan_create(trader=trader, instrument=instrument, limits=(None,))
    tca_factories.algo_fill_create(plan=plan, seq=1, quantity="1", price="100")

    report = _json("--from", FROM, "--to", TO, "--group-by", "algo")

    (row,) = report["rows"]
    assert row["unpriced_fills"] == 1
    assert row["total_cost"] == 0.0
    assert report["unpriced_fills"] == 1
    assert "no benchmark price" in report["note"]


def test_csv_and_html_carry_the_same_rows(desk_fills) -> None:  # noqa: ANN001
    csv_out, _ = _run("--from", FROM, "--to", TO, "--group-by", "dealer", "--format", "csv")
    html_out, _ = _run("--from", FROM, "--to", TO, "--group-by", "dealer", "--format", "html")

    lines = csv_out.strip().splitlines()
    assert lines[0].startswith("group,quantity,notional,total_cost,delay,")
    assert any(line.startswith("ALPHA,5.0,505.00,5.00,") for line in lines)
    assert len(lines) == 4
    assert "<table" in html_out
    assert "ALPHA" in html_out
    assert "first child order" in html_out  # the benchmark source is said


def test_json_flag_prints_one_object(desk_fills) -> None:  # noqa: ANN001
    out, _ = _run("--from", FROM, "--to", TO, "--json")

    report = json.loads(out)
    assert isinstance(report["rows"], list)
    assert report["group_by"] == "dealer"


def test_empty_period_gives_an_empty_report_that_says_so(desk_fills) -> None:  # noqa: ANN001
    report = _json("--from", "2001-01-01", "--to", "2001-01-31")
    html_out, _ = _run("--from", "2001-01-01", "--to", "2001-01-31", "--format", "html")
    csv_out, csv_err = _run("--from", "2001-01-01", "--to", "2001-01-31", "--format", "csv")

    assert report["rows"] == []
    assert "no fills" in report["note"]
    assert "No fills in this period" in html_out
    assert csv_out.count("\n") == 1
    assert "no fills" in csv_err


def test_date_range_the_wrong_way_round_is_refused() -> None:
    with pytest.raises(CommandError, match="--from 2026-02-01 is after --to 2026-01-01"):
        _run("--from", "2026-02-01", "--to", "2026-01-01")


def test_unknown_grouping_or_bad_date_is_refused() -> None:
    with pytest.raises(CommandError, match="invalid choice: 'desk'"):
        _run("--from", FROM, "--to", TO, "--group-by", "desk")
    with pytest.raises(CommandError, match="not a date"):
        _run("--from", "yesterday", "--to", TO)
