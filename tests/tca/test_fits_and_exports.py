"""Stored calibration fits (refit by the service, the command and the beat task) and the Parquet export."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import numpy as np
import pandas as pd
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from desk.market import venue_books_ensure
from desk.models import AuditEvent
from execution.models import ExecutionPlan
from rfq.models import RFQ, PackageType, RFQLeg, Side
from tca import calibration, pretrade, services, tasks
from tca.models import CalibrationFit, FitKind
from tca.selectors import impact_params_latest, market_inputs
from tca.services import TapeSample
from tests import factories
from tests.tca import factories as tca_factories

pytestmark = pytest.mark.django_db
TODAY = datetime.now(UTC).date()


def _algo_orders(trader, instrument, count: int = 24) -> None:  # noqa: ANN001
    venue_books_ensure(underlying="BTC", now=datetime.now(UTC))
    for size in range(1, count + 1):
        plan = tca_factories.plan_create(trader=trader, instrument=instrument, quantity=str(size), limits=("100.00",))
        tca_factories.algo_fill_create(plan=plan, seq=1, quantity=str(size), price=str(100 + 0.01 * size**0.5))


def test_without_a_stored_fit_the_plans_get_the_flagged_default(instrument) -> None:  # noqa: ANN001
    params = impact_params_latest("BTC-USD")
    assert params.is_default is True
    assert params.scope == "default"
    assert params.fit_id is None
    assert params.underlying == "BTC"


def test_a_refit_stores_its_window_parameters_error_and_size_and_is_audited(trader, instrument) -> None:  # noqa: ANN001
    # given 24 algorithm orders on BTC
    _algo_orders(trader, instrument)
    now = datetime.now(UTC) + timedelta(seconds=1)

    # when the calibration is refitted
    fits = services.calibration_refit(now=now)

    # then a desk-wide and a BTC square-root fit and the dealer terms are stored, with their window
    kinds = {(fit.kind, fit.underlying) for fit in fits}
    assert kinds == {
        (FitKind.SQRT_IMPACT, ""),
        (FitKind.SQRT_IMPACT, "BTC"),
        (FitKind.PERMANENT_IMPACT, ""),
        (FitKind.PERMANENT_IMPACT, "BTC"),
        (FitKind.DEALER_TERMS, ""),
    }
    btc = CalibrationFit.objects.get(kind=FitKind.SQRT_IMPACT, underlying="BTC")
    assert btc.n == 24
    assert btc.is_default is False
    assert btc.window_end == now
    assert btc.window_start == now - services.CALIBRATION_WINDOW
    assert btc.data_start <= btc.data_end
    assert btc.std_error is not None
    assert btc.std_error > 0
    # the stored coefficient is the pure fit's, recomputed independently from the same observations
    fits = services.calibration_fits_compute(now=now)
    assert btc.parameters["coefficient"] == pytest.approx(fits.impact["BTC"].coefficient)
    assert AuditEvent.objects.filter(action="tca.calibration.refit").count() == 1

    # and the execution side reads the latest one
    params = impact_params_latest(instrument)
    assert (params.fit_id, params.scope, params.is_default) == (btc.pk, "underlying", False)
    assert params.sqrt_coefficient == pytest.approx(btc.parameters["coefficient"])


def test_the_latest_fit_wins_and_an_unknown_underlying_falls_back_to_the_desk_fit(trader, instrument) -> None:  # noqa: ANN001
    _algo_orders(trader, instrument)
    services.calibration_refit()
    second = services.calibration_refit(now=datetime.now(UTC) + timedelta(minutes=1))
    desk_fit = next(fit for fit in second if fit.kind == FitKind.SQRT_IMPACT and fit.underlying == "")
    assert impact_params_latest("BTC").fit_id == next(
        fit.pk for fit in second if fit.kind == FitKind.SQRT_IMPACT and fit.underlying == "BTC"
    )
    eth = impact_params_latest("ETH")
    assert (eth.fit_id, eth.scope) == (desk_fit.pk, "desk")


def test_the_command_and_the_beat_task_refit(trader, instrument) -> None:  # noqa: ANN001
    out = StringIO()
    call_command("tca_calibrate", "--json", stdout=out)
    assert '"fits"' in out.getvalue()
    ids = tasks.calibration_refit.apply().get()
    # no fill at all: the desk-wide defaults (square-root, permanent) and the dealer default, flagged
    assert CalibrationFit.objects.filter(pk__in=ids, is_default=True).count() == len(ids) == 3
    assert settings.CELERY_BEAT_SCHEDULE["tca-calibration-refit"]["task"] == "tca.tasks.calibration_refit"
    with pytest.raises(CommandError, match="--days"):
        call_command("tca_calibrate", "--days", "0")


def test_a_default_fit_stored_with_too_few_orders_says_so(trader, instrument) -> None:  # noqa: ANN001
    _algo_orders(trader, instrument, count=3)
    services.calibration_refit()
    row = CalibrationFit.objects.get(kind=FitKind.SQRT_IMPACT, underlying="")
    assert row.is_default is True
    assert row.n == 3
    assert row.parameters["coefficient"] == calibration.default_impact_fit().coefficient


# --- Parquet --------------------------------------------------------------------------------------------------------


def _args(*extra: str) -> list[str]:
    return [
        "tca_report",
        "--from",
        (TODAY - timedelta(days=1)).isoformat(),
        "--to",
        (TODAY + timedelta(days=1)).isoformat(),
        *extra,
    ]


def test_parquet_round_trips_with_pandas_to_the_cent(tmp_path, trader, instrument, dealer) -> None:  # noqa: ANN001
    # given a dealer fill and two algorithm fills
    tca_factories.dealer_fill_create(trader=trader, instrument=instrument, dealer=dealer)
    plan = tca_factories.plan_create(trader=trader, instrument=instrument)
    tca_factories.algo_fill_create(plan=plan, seq=1, quantity="4", price="100.20", fee="0.40")
    tca_factories.algo_fill_create(plan=plan, seq=2, quantity="6", price="100.10", fee="0.60")
    target = tmp_path / "tca.parquet"

    # when the report is written as Parquet and as JSON
    call_command(*_args("--group-by", "algo", "--format", "parquet", "--output", str(target)), stderr=StringIO())
    json_out = StringIO()
    call_command(*_args("--group-by", "algo", "--format", "json"), stdout=json_out)

    # then pandas reads back the same rows, amounts exact, parts adding up to the total
    frame = pd.read_parquet(target)
    rows = {row["group"]: row for row in json.loads(json_out.getvalue())["rows"]}
    assert sorted(frame["group"]) == sorted(rows)
    for record in frame.to_dict("records"):
        parts = [record[name] for name in ("delay", "timing", "impact_permanent", "spread", "impact_temporary")]
        parts += [record["fees"], record["opportunity"]]
        assert all(isinstance(value, Decimal) for value in parts)
        assert sum(parts) == record["total_cost"]
        assert float(record["total_cost"]) == rows[record["group"]]["total_cost"]
        assert record["fills"] == rows[record["group"]]["fills"]


def test_parquet_needs_an_output_file_and_an_empty_period_writes_an_empty_file(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(CommandError, match="--output"):
        call_command(*_args("--format", "parquet"))
    with pytest.raises(CommandError, match="does not exist"):
        call_command(*_args("--format", "parquet", "--output", str(tmp_path / "missing" / "x.parquet")))
    target = tmp_path / "empty.parquet"
    err = StringIO()
    call_command(*_args("--format", "parquet", "--output", str(target)), stderr=err)
    assert pd.read_parquet(target).empty
    assert "no fills" in err.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--group-by", "desk"], "invalid choice"),
        (["--format", "xlsx"], "invalid choice"),
    ],
)
def test_unknown_grouping_or_format_is_a_clear_error(args, message) -> None:  # noqa: ANN001
    with pytest.raises(CommandError, match=message):
        call_command(*_args(*args))


# --- packages -------------------------------------------------------------------------------------------------------


def test_a_multi_leg_package_is_judged_as_a_package(trader, instrument) -> None:  # noqa: ANN001
    # given a two-leg RFQ worked by algorithm: buy 2 BTC-USD against 100 at 100.50, sell 2 ETH-USD against 100 at 101
    eth = factories.instrument_create(symbol="ETH-USD", base_currency="ETH")
    rfq = RFQ.objects.create(reference="RFQ-PKG-1", created_by=trader, package_type=PackageType.CUSTOM)
    legs = [
        RFQLeg.objects.create(rfq=rfq, leg_no=1, instrument=instrument, side=Side.BUY, quantity=Decimal(2)),
        RFQLeg.objects.create(rfq=rfq, leg_no=2, instrument=eth, side=Side.SELL, quantity=Decimal(2)),
    ]
    for leg, price in zip(legs, ("100.50", "101.00"), strict=True):
        plan = tca_factories.plan_create(
            trader=trader, instrument=leg.instrument, quantity="2", side=leg.side, limits=("100.00",)
        )
        ExecutionPlan.objects.filter(pk=plan.pk).update(rfq_leg=leg)
        tca_factories.algo_fill_create(plan=plan, seq=1, quantity="2", price=price, fee="0.05")

    # when the report is printed by leg
    out = StringIO()
    call_command(*_args("--group-by", "leg", "--format", "json"), stdout=out)
    report = json.loads(out.getvalue())

    # then the package is one row whose cost nets its legs: +2 (0.50) - 2 (1.00) + 0.10 fees = -0.90
    (package,) = report["packages"]
    assert package["package"] == "RFQ-PKG-1"
    assert package["legs"] == ["BTC-USD", "ETH-USD"]
    hand = 2 * (Decimal("100.50") - 100) - 2 * (Decimal("101.00") - 100) + Decimal("0.10")
    assert Decimal(str(package["total_cost"])) == hand
    legs_total = sum(Decimal(str(row["total_cost"])) for row in report["rows"] if row["group"].startswith("RFQ-PKG-1/"))
    assert legs_total == hand


def test_the_permanent_coefficient_matches_a_plain_numpy_least_squares() -> None:
    rng = np.random.default_rng(5)
    n = 40
    observations = pd.DataFrame(
        {
            "quantity": rng.uniform(1, 100, n),
            "adv": rng.uniform(1e4, 1e5, n),
            "sigma_daily": rng.uniform(0.01, 0.05, n),
        }
    )
    x = (observations["sigma_daily"] * observations["quantity"] / observations["adv"] * 1e4).to_numpy()
    observations["permanent_bps"] = 0.6 * x + rng.normal(0, 0.01, n)
    observations.loc[3, "permanent_bps"] = float("nan")  # an order off the tape: left out, counted

    fit = calibration.permanent_coefficient_fit(observations)

    keep = np.isfinite(observations["permanent_bps"].to_numpy())
    (twin,), *_ = np.linalg.lstsq(x[keep, None], observations["permanent_bps"].to_numpy()[keep], rcond=None)
    assert fit.coefficient == pytest.approx(twin, rel=1e-12)
    assert (fit.n, fit.unusable, fit.is_default) == (n - 1, 1, False)


def test_the_tape_fits_the_permanent_impact_the_plans_then_use(trader, instrument) -> None:  # noqa: ANN001
    # given 24 algorithm orders on the tape, each leaving the mid c σ Q / ADV higher 5 s after its fill (c = 0.8)
    venue_books_ensure(underlying="BTC", now=datetime.now(UTC))
    market = market_inputs("BTC")
    sigma = pretrade.daily_volatility(market.volatility_annual)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    samples = []
    for size in range(1, 25):
        at = start + timedelta(minutes=size)
        moved = 100.0 * (1 + 0.8 * sigma * size / market.adv)
        samples += [
            TapeSample(instrument_id=instrument.pk, sampled_at=at - timedelta(seconds=1), mid=100.0),
            TapeSample(instrument_id=instrument.pk, sampled_at=at + timedelta(seconds=3), mid=moved),
        ]
        plan = tca_factories.plan_create(trader=trader, instrument=instrument, quantity=str(size), limits=("101",))
        ExecutionPlan.objects.filter(pk=plan.pk).update(created_at=at, start_at=at)
        tca_factories.algo_fill_create(
            plan=plan, seq=1, quantity=str(size), price="100.05", executed_at=at + timedelta(seconds=2)
        )
    services.market_samples_write(samples=samples)

    # when the calibration is refitted
    services.calibration_refit()

    # then the BTC permanent fit recovers c, and the execution side reads it
    params = impact_params_latest("BTC-USD")
    assert params.permanent_scope == "underlying"
    assert params.permanent_coefficient == pytest.approx(0.8, rel=1e-4)
    row = CalibrationFit.objects.get(pk=params.permanent_fit_id)
    assert (row.kind, row.n, row.is_default) == (FitKind.PERMANENT_IMPACT, 24, False)
