"""The market tape: recorded beside the simulated market, read back as a frame, used to cost real fills."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from desk.market import RATE, SECONDS_PER_YEAR
from desk.marks import mark_surface, vol_surface_refit
from desk.models import InstrumentKind, VenueBook
from desk.pricing import black_scholes
from execution.models import ExecutionPlan
from sim.market_service import MarketService
from tca import metrics, services, sources
from tca.models import MarketSample
from tca.selectors import TAPE_COLUMNS, market_tape_frame, tca_fills_frame
from tca.services import TapeError, TapeSample
from tca.tape import LIT_VENUE, TapeRecorder
from tests import factories
from tests.tca import factories as tca_factories

BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def _at(seconds: float) -> datetime:
    return BASE + timedelta(seconds=seconds)


@pytest.mark.django_db
def test_a_seeded_sampler_call_records_the_venue_mid_regime_and_traded_volume(instrument) -> None:  # noqa: ANN001
    # given the simulated market (not running: stepped by hand) and its venue books in the database
    market = MarketService(seed=7, publish=False, persist_every_s=None)
    market.persist()
    recorder = TapeRecorder(source=market.tape_source())

    # when the recorder samples, the market moves one second, and it samples again
    recorder.sample()
    before = market.simulator.book("BTC").volume
    market.simulator.step(1.0)
    market.persist()
    recorder.sample()
    after = market.simulator.book("BTC")
    assert recorder.flush() == 2

    # then the tape holds both samples of BTC-USD: the lit venue's stored mid, its spread, the regime, and the coins
    # the market traded in between
    frame = market_tape_frame(start=BASE, end=datetime.now(UTC) + timedelta(minutes=1), instruments=["BTC-USD"])
    assert list(frame.columns) == list(TAPE_COLUMNS)
    assert len(frame) == 2
    book = VenueBook.objects.get(underlying="BTC", venue=LIT_VENUE)
    last = frame.iloc[-1]
    assert last["mid"] == pytest.approx(float(book.mid))
    assert last["spread"] == pytest.approx(2 * float(book.mid) * float(book.half_spread_bps) / 1e4)
    assert last["regime"] == after.regime_name
    assert last["volatility"] == pytest.approx(after.volatility)
    assert last["volume"] == pytest.approx(after.volume - before, rel=1e-9)
    assert frame.iloc[0]["volume"] == 0.0
    assert str(frame["time"].dt.tz) == "UTC"


@pytest.mark.django_db
def test_options_are_taped_at_the_desks_mark_on_its_fitted_surface(instrument) -> None:  # noqa: ANN001
    # given the simulated market's books and volatility quotes in the database, the desk's surface fitted to them,
    # and a 40-day call on BTC
    market = MarketService(seed=7, publish=False, persist_every_s=None)
    market.persist()
    assert vol_surface_refit(underlying="BTC").status == "fitted"
    call = factories.instrument_create(
        symbol="BTC-TAPE-C",
        kind=InstrumentKind.OPTION,
        underlying=instrument,
        strike=Decimal(105_000),
        expiry=datetime.now(UTC) + timedelta(days=40),
        option_type="call",
        multiplier=Decimal("0.5"),
    )
    recorder = TapeRecorder(source=market.tape_source())

    # when the recorder takes a sample with the options
    taken = {sample.instrument_id: sample for sample in recorder.sample()}

    # then the call's mid is the desk's mark: Black–Scholes at its fitted surface's volatility, on the lit book's mid
    book = VenueBook.objects.get(underlying="BTC", venue=LIT_VENUE)
    t = (call.expiry - taken[call.pk].sampled_at).total_seconds() / SECONDS_PER_YEAR
    surface = mark_surface("BTC")
    vol = float(surface.vol(spot=float(book.mid), strike=105_000.0, t_years=t))
    expected = 0.5 * black_scholes(float(book.mid), 105_000.0, t, RATE, vol, "call").price
    assert surface.source == "fitted"
    assert taken[call.pk].mid == pytest.approx(expected, rel=1e-9)


@pytest.mark.django_db(transaction=True)
def test_the_recorder_runs_beside_a_real_market_service_and_stops_with_it(instrument) -> None:  # noqa: ANN001
    # given a running market service and the recorder sampling it every 0.2 s, flushing every 0.4 s
    market = MarketService(seed=11, tick_s=0.1, publish=False, persist_every_s=0.2).start()
    recorder = TapeRecorder(source=market.tape_source(), sample_every_s=0.2, flush_every_s=0.4).start()
    try:
        deadline = time.monotonic() + 10
        while MarketSample.objects.count() < 4 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        # when the market stops, the recorder stops too (its last batch written)
        market.stop()
        recorder._thread.join(5)  # noqa: SLF001
    assert not recorder._thread.is_alive()  # noqa: SLF001

    # then the tape has several increasing samples with positive mids
    frame = market_tape_frame(start=BASE, end=datetime.now(UTC) + timedelta(minutes=1))
    assert len(frame) >= 4
    assert (frame["mid"] > 0).all()
    assert frame["time"].is_monotonic_increasing
    assert len(frame) == recorder.rows_written


@pytest.mark.django_db
def test_a_bad_sample_refuses_the_whole_batch(instrument) -> None:  # noqa: ANN001
    good = TapeSample(instrument_id=instrument.pk, sampled_at=_at(0), mid=100.0)
    bad = TapeSample(instrument_id=instrument.pk, sampled_at=_at(1), mid=-1.0)
    with pytest.raises(TapeError, match="mid"):
        services.market_samples_write(samples=[good, bad])
    assert not MarketSample.objects.exists()


@pytest.mark.django_db
def test_pruning_keeps_the_tape_bounded(instrument) -> None:  # noqa: ANN001
    services.market_samples_write(
        samples=[TapeSample(instrument_id=instrument.pk, sampled_at=_at(s), mid=100.0) for s in (0, 10, 20)]
    )
    assert services.market_tape_prune(before=_at(15)) == 2
    assert list(MarketSample.objects.values_list("sampled_at", flat=True)) == [_at(20)]


# --- costing fills on the tape ----------------------------------------------------------------------------------

TAPE = [(-1.0, "100.00"), (1.0, "100.10"), (2.5, "100.30"), (4.0, "100.50"), (30.0, "100.60")]
"""(seconds after BASE, mid) of the tape in the hand computation below; the spread is 0.20 throughout."""


@pytest.fixture
def taped_plan(trader, instrument):  # noqa: ANN001, ANN201
    """A TWAP plan to buy 12 decided at BASE, started at +2 s, filled 4 at 100.45 (+3 s, fee 0.40) and 6 at 100.70
    (+5 s, fee 0.60); 2 never filled."""
    services.market_samples_write(
        samples=[
            TapeSample(instrument_id=instrument.pk, sampled_at=_at(s), mid=float(mid), spread=0.20, regime="normal")
            for s, mid in TAPE
        ]
    )
    plan = tca_factories.plan_create(trader=trader, instrument=instrument, quantity="12", limits=("101", "101"))
    ExecutionPlan.objects.filter(pk=plan.pk).update(created_at=_at(0), start_at=_at(2))
    tca_factories.algo_fill_create(plan=plan, seq=1, quantity="4", price="100.45", fee="0.40", executed_at=_at(3))
    tca_factories.algo_fill_create(plan=plan, seq=2, quantity="6", price="100.70", fee="0.60", executed_at=_at(5))
    return plan


def _hand_computation() -> dict[str, Decimal]:
    """Perold's parts by hand from the tape: P_d = mid at +0 (100.00, the -1 s sample), P_a = mid at +2 (100.10);
    fill 1 at +3: m_pre 100.30 (the +2.5 s sample), m_post at +8 = 100.50; fill 2 at +5: m_pre = m_post = 100.50;
    end mid at +10 = 100.50; half spread 0.10."""
    d = Decimal
    p_d, p_a, h, end = d("100.00"), d("100.10"), d("0.10"), d("100.50")
    fills = [
        (d(4), d("100.45"), d("0.40"), d("100.30"), d("100.50")),
        (d(6), d("100.70"), d("0.60"), *[d("100.50")] * 2),
    ]
    parts = dict.fromkeys(metrics.PARTS, d(0))
    for q, p, fee, m_pre, m_post in fills:
        parts["delay"] += q * (p_a - p_d)
        parts["timing"] += q * (m_pre - p_a)
        parts["impact_permanent"] += q * (m_post - m_pre)
        parts["spread"] += q * h
        parts["impact_temporary"] += q * (p - m_post) - q * h
        parts["fees"] += fee
    parts["opportunity"] = d(2) * (end - p_d)
    return parts


@pytest.mark.django_db
def test_delay_timing_and_permanent_impact_of_a_real_fill_come_from_the_tape(taped_plan) -> None:  # noqa: ANN001
    # when the period is loaded and priced on the tape
    raw = tca_fills_frame(start=_at(-60), end=_at(60))
    tape = sources.tape_for(raw)
    fills, orders = sources.fills_and_orders(raw, tape=tape)
    ledger = metrics.cost_ledger(fills, orders)

    # then every part matches the hand computation to the cent, and none of delay, timing, permanent is zero
    expected = _hand_computation()
    got = {name: metrics.cents_to_decimal(ledger[f"{name}_cents"].sum()) for name in metrics.PARTS}
    assert got == {name: value.quantize(Decimal("0.01")) for name, value in expected.items()}
    assert all(got[name] != 0 for name in ("delay", "timing", "impact_permanent", "opportunity"))
    assert fills["on_tape"].all()
    assert set(fills["benchmark_source"]) == {sources.TAPE}


@pytest.mark.django_db
def test_the_report_costs_taped_fills_and_counts_the_others(taped_plan, trader, instrument, dealer) -> None:  # noqa: ANN001
    # given also a dealer fill now, where the tape has no sample
    tca_factories.dealer_fill_create(trader=trader, instrument=instrument, dealer=dealer)
    day = BASE.date()

    # when the report is printed as JSON by algorithm
    out = StringIO()
    call_command(
        "tca_report",
        "--from",
        (day - timedelta(days=1)).isoformat(),
        "--to",
        (day + timedelta(days=1)).isoformat(),
        "--group-by",
        "algo",
        "--format",
        "json",
        stdout=out,
    )
    report = json.loads(out.getvalue())

    # then the TWAP row carries the tape's parts, the dealer fill is reported without tape, not dropped
    rows = {row["group"]: row for row in report["rows"]}
    expected = _hand_computation()
    assert rows["twap"]["parts"] == {name: float(value) for name, value in expected.items()}
    assert rows["rfq"]["fills"] == 1
    assert report["fills_without_tape"] == 1
    assert "no market tape" in report["note"]
    for row in report["rows"]:
        assert sum(Decimal(str(v)) for v in row["parts"].values()) == Decimal(str(row["total_cost"]))
    # and the markouts at 1 s .. 5 min are there per dealer, the dealer fill counted as without data
    curves = {(m["dealer"], m["horizon_s"]): m for m in report["markouts"]}
    assert curves[("venue", 1)]["fills"] == 2
    assert curves[("venue", 1)]["fills_without_data"] == 0
    dealer_curve = [m for m in report["markouts"] if m["dealer"] == dealer.code]
    assert [m["horizon_s"] for m in dealer_curve] == [1, 10, 60, 300]
    assert all(m["fills_without_data"] == 1 and m["markout_bps"] is None for m in dealer_curve)
    # 1 s after fill 1 (+4 s) the mid is 100.50: the buy at m_pre 100.30 sees the market move 0.20 its way
    assert curves[("venue", 1)]["markout_bps"] < 0
