"""The delta hedger's service and task: an options book hedged with a short TWAP on the perpetual, through risk."""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from desk.audit import chain_verify
from desk.decisions import decision_replay
from desk.marks import mark_surface
from desk.models import AuditEvent, DecisionKind, DecisionRecord, Instrument, InstrumentKind, VenueBook
from desk.pricing import black_scholes
from execution import hedging_services, services
from execution.errors import ExecutionRefused
from execution.hedging_tasks import delta_hedge
from execution.models import ChildOrder, ChildOrderStatus, ExecutionPlan, PlanStatus, Position
from risk.models import LimitScope
from risk.services import kill_switch_engage
from tests import factories

pytestmark = pytest.mark.django_db

BOOK = "hedge-t"
EDGE: dict[str, Any] = {"target": "edge", "min_trade_fraction": Decimal(0)}
PERP_LOT = Decimal("0.001")


@pytest.fixture
def perp(db) -> Instrument:  # noqa: ANN001
    return factories.instrument_create(symbol="BTC-PERP-H", kind=InstrumentKind.PERPETUAL, lot_size=PERP_LOT)


@pytest.fixture
def broadcasts(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(hedging_services, "broadcast", lambda **kwargs: sent.append(kwargs))
    return sent


def _call(perp: Instrument, *, strike: str = "100000", kind: str = "call", days: float = 30) -> Instrument:
    return factories.instrument_create(
        symbol=f"BTC-{strike}-{kind[0].upper()}-{days}",
        kind=InstrumentKind.OPTION,
        underlying=perp,
        strike=Decimal(strike),
        expiry=datetime.now(UTC) + timedelta(days=days),
        option_type=kind,
        lot_size=Decimal("0.1"),
    )


def _hold(instrument: Instrument, quantity: str, book: str = BOOK) -> Position:
    return Position.objects.create(book=book, instrument=instrument, quantity=Decimal(quantity))


def _vol(strike: float, days: float) -> float:
    """The volatility the desk marks an option with now (the surface fitted in the test, or the reference one)."""
    return float(mark_surface("BTC").vol(spot=100_000.0, strike=strike, t_years=days / 365))


def _hedge(trader, **kwargs: Any) -> ExecutionPlan | None:  # noqa: ANN001
    return hedging_services.delta_hedge_book(book=BOOK, underlying="BTC", actor=trader, **kwargs)


def _work(plan: ExecutionPlan) -> None:
    for child in ChildOrder.objects.filter(plan=plan).order_by("seq"):
        services.child_order_send(child_order_id=child.pk)


def test_a_book_long_ten_calls_is_hedged_with_a_short_perp_to_mid_band(trader, perp, broadcasts) -> None:  # noqa: ANN001
    # given a book long 10 BTC calls at the money, 30 days (venue mid 100 000), and the desk's surface fitted to the
    # market's quotes
    surface = factories.vol_surface_fitted()
    _hold(_call(perp), "10")

    # when the hedger runs
    plan = _hedge(trader)

    # then a running 2-slice TWAP sells the perp down to mid-band (half the 1-coin band), in whole lots, the call
    # valued at the fitted surface's volatility
    assert plan is not None
    event = AuditEvent.objects.get(action="hedge.delta")
    inputs = event.after
    vol = _vol(100_000.0, 30)
    assert vol == pytest.approx(
        float(factories.SURFACE.vol(-0.04 * 30 / 365, 30 / 365, base=mark_surface("BTC").base)), 1e-3
    )
    delta = 10 * black_scholes(100_000.0, 100_000.0, 30 / 365, 0.04, vol, "call").delta  # 10 × N(d1) ≈ 5.6
    assert float(inputs["net_delta_before"]) == pytest.approx(delta, rel=1e-6)
    expected = math.ceil((float(inputs["net_delta_before"]) - 0.5) / float(PERP_LOT)) * PERP_LOT
    assert (plan.instrument, plan.side, plan.quantity) == (perp, "sell", expected)
    assert plan.status == PlanStatus.RUNNING
    assert plan.parameters["purpose"] == "delta_hedge"
    assert plan.parameters["book"] == BOOK
    children = list(ChildOrder.objects.filter(plan=plan).order_by("seq"))
    assert len(children) == 2
    assert sum(c.quantity for c in children) == plan.quantity
    assert (children[1].scheduled_at - children[0].scheduled_at) == timedelta(seconds=1)
    # audited with its inputs, and broadcast
    assert event.object_id == str(plan.pk)
    assert event.actor == f"user:{trader.username}"
    assert inputs["target_rule"] == "inside"
    assert inputs["target"] == pytest.approx(0.5)
    assert inputs["min_trade_coins"] == pytest.approx(0.1)
    order = inputs["order"]
    assert (order["instrument"], order["side"], Decimal(order["quantity"])) == (perp.symbol, "sell", expected)
    assert inputs["spot"] == 100_000.0
    assert inputs["vol_surface"] == surface.pk
    assert [b["event"] for b in broadcasts] == ["hedge.delta"]
    assert broadcasts[0]["payload"]["plan"] == plan.pk
    assert chain_verify().ok


def test_each_hedge_is_a_decision_record_that_replays(trader, perp, broadcasts) -> None:  # noqa: ANN001
    # given a hedge placed on the fitted surface
    surface = factories.vol_surface_fitted()
    _hold(_call(perp), "10")
    _hold(_call(perp, strike="90000", kind="put", days=10), "-4")
    plan = _hedge(trader)
    assert plan is not None

    # when a risk officer replays its decision record
    record = DecisionRecord.objects.get(kind=DecisionKind.HEDGE)
    replay = decision_replay(record)

    # then the record names the plan, the surface and the rule; its inputs hold each option's volatility; it replays
    assert (record.object_type, record.object_id) == ("execution.executionplan", str(plan.pk))
    assert record.model_versions == {"vol_surface": surface.pk, "vol_surface_source": "fitted", "rule": "inside"}
    assert [o["vol"] for o in record.inputs["options"]] == pytest.approx(
        [_vol(100_000.0, 30), _vol(90_000.0, 10)], 1e-4
    )
    assert record.output["order"]["quantity"] == str(plan.quantity)
    assert replay.matches, replay
    assert replay.inputs_intact
    assert AuditEvent.objects.get(action="hedge.delta").after["decision"] == record.pk
    # and a changed input replays to a different order: the replay recomputes, it does not echo
    changed = dict(record.inputs) | {"linear_coins": -3.0}
    from execution.hedging_services import hedge_compute

    assert hedge_compute(changed)["order"] != record.output["order"]


def test_after_a_hedge_to_mid_band_the_next_small_move_trades_nothing(trader, perp, broadcasts) -> None:  # noqa: ANN001
    # given 5 calls (the fill) in two books, one hedged to mid-band (the default), one as the desk did before:
    # to the band's edge with no minimum trade; both hedges worked to completion
    factories.vol_surface_fitted()
    option = _call(perp)
    _hold(option, "5")
    _hold(option, "5", book="edge-book")
    for plan in (
        _hedge(trader),
        hedging_services.delta_hedge_book(book="edge-book", underlying="BTC", actor=trader, **EDGE),
    ):
        assert plan is not None
        _work(plan)
        plan.refresh_from_db()
        assert plan.status == PlanStatus.COMPLETED

    # when the underlying rises 0.05 % (each book's delta grows by a few thousandths of a coin) and the hedger runs
    VenueBook.objects.filter(underlying="BTC").update(mid=Decimal("100050"))
    again = _hedge(trader)
    churn = hedging_services.delta_hedge_book(book="edge-book", underlying="BTC", actor=trader, **EDGE)

    # then the mid-band book is left alone, half a band inside; the edge book trades a sliver (the churn)
    assert again is None
    assert churn is not None
    assert churn.quantity * churn.instrument.multiplier < Decimal("0.01")
    assert ExecutionPlan.objects.filter(parameters__book=BOOK).count() == 1


def test_once_the_hedge_is_filled_the_book_is_inside_the_band(trader, perp, broadcasts) -> None:  # noqa: ANN001
    # given a hedge worked to completion through the pre-trade checks and the venues
    _hold(_call(perp), "10")
    plan = _hedge(trader)
    assert plan is not None
    _work(plan)
    plan.refresh_from_db()
    assert plan.status == PlanStatus.COMPLETED
    assert Position.objects.get(book=BOOK, instrument=perp).quantity == -plan.quantity

    # when the hedger runs again
    again = _hedge(trader)

    # then nothing more is done
    assert again is None
    assert ExecutionPlan.objects.count() == 1
    assert AuditEvent.objects.filter(action="hedge.delta").count() == 1


def test_inside_the_band_nothing_happens(trader, perp, broadcasts) -> None:  # noqa: ANN001
    # given a book whose calls (≈ 5.6 coins of delta) are mostly offset by a short perp of 5 coins
    _hold(_call(perp), "10")
    _hold(perp, "-5")

    plan = _hedge(trader)

    assert plan is None
    assert not ExecutionPlan.objects.exists()
    assert not AuditEvent.objects.filter(action="hedge.delta").exists()
    assert broadcasts == []


def test_a_running_hedge_is_not_stacked(trader, perp, broadcasts) -> None:  # noqa: ANN001
    # given a hedge already running for the book
    option = _call(perp)
    position = _hold(option, "10")
    first = _hedge(trader)
    assert first is not None

    # when the book's delta grows and the hedger runs again
    Position.objects.filter(pk=position.pk).update(quantity=Decimal("30"))
    second = _hedge(trader)

    # then no second hedge is stacked on the first; another book is hedged on its own
    assert second is None
    assert list(ExecutionPlan.objects.values_list("pk", flat=True)) == [first.pk]
    _hold(option, "10", book="other-book")
    other = hedging_services.delta_hedge_book(book="other-book", underlying="BTC", actor=trader)
    assert other is not None
    assert other.parameters["book"] == "other-book"


def test_a_hedge_passes_the_same_risk_checks_and_a_halted_one_still_blocks(
    trader,  # noqa: ANN001
    risk_officer,  # noqa: ANN001
    perp,  # noqa: ANN001
    broadcasts,  # noqa: ANN001
) -> None:
    # given the desk's kill switch engaged
    _hold(_call(perp), "10")
    kill_switch_engage(scope=LimitScope.DESK, scope_key="", reason="test halt", actor=risk_officer)

    # when a hedge is created and its first child is sent
    plan = _hedge(trader)
    assert plan is not None
    first = ChildOrder.objects.filter(plan=plan).order_by("seq").first()
    sent = services.child_order_send(child_order_id=first.pk)

    # then the child is refused, the hedge halts and waits for a person, and no new hedge is stacked meanwhile
    plan.refresh_from_db()
    assert sent.status == ChildOrderStatus.REJECTED
    assert plan.status == PlanStatus.HALTED
    assert not Position.objects.filter(book=BOOK, instrument=perp).exclude(quantity=0).exists()
    assert _hedge(trader) is None


def test_to_zero_with_a_notional_band_and_puts(trader, perp, broadcasts) -> None:  # noqa: ANN001
    # given a book short 20 puts (long delta) and long 2 coins of perp; a band of 5 % of the options' notional
    _hold(_call(perp, strike="95000", kind="put", days=10), "-20")
    _hold(perp, "2")

    plan = _hedge(trader, band_fraction=Decimal("0.05"), target="zero")

    # then the whole delta is sold, rounded down to the lot (the residual stays long, under one lot)
    assert plan is not None
    inputs = AuditEvent.objects.get(action="hedge.delta").after
    before = float(inputs["net_delta_before"])
    put_delta = -20 * black_scholes(100_000.0, 95_000.0, 10 / 365, 0.04, _vol(95_000.0, 10), "put").delta
    assert before == pytest.approx(put_delta + 2, rel=1e-6)
    assert Decimal(inputs["band_coins"]) == Decimal(1)
    assert plan.side == "sell"
    assert plan.quantity == math.floor(before / float(PERP_LOT)) * PERP_LOT
    assert 0 <= float(inputs["net_delta_after"]) < float(PERP_LOT)


def test_expired_options_and_other_underlyings_carry_no_delta(trader, perp, broadcasts) -> None:  # noqa: ANN001
    expired = _call(perp, days=-1)
    eth = factories.instrument_create(symbol="ETH-PERP-H", kind=InstrumentKind.PERPETUAL, base_currency="ETH")
    _hold(expired, "100")
    _hold(eth, "50")

    assert _hedge(trader) is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"target": "middle"}, "target"), ({"band_coins": Decimal("0.0001")}, "band")],
)
def test_bad_hedge_settings_are_refused(trader, perp, kwargs, field) -> None:  # noqa: ANN001
    _hold(_call(perp), "10")

    with pytest.raises(ExecutionRefused) as refused:
        _hedge(trader, **kwargs)

    assert field in refused.value.message_dict
    assert not ExecutionPlan.objects.exists()


def test_a_hedge_needs_a_person_and_an_instrument(trader, perp) -> None:  # noqa: ANN001
    with pytest.raises(ExecutionRefused):
        hedging_services.delta_hedge_book(book=BOOK, underlying="BTC", actor="system:hedger")
    with pytest.raises(ExecutionRefused, match="no active perpetual or spot"):
        hedging_services.delta_hedge_book(book=BOOK, underlying="SOL", actor=trader)


def test_the_task_is_safe_to_run_twice(trader, perp, broadcasts) -> None:  # noqa: ANN001
    _hold(_call(perp), "10")

    first = delta_hedge(BOOK, "BTC", trader.username)
    second = delta_hedge(BOOK, "BTC", trader.username)

    assert first == ExecutionPlan.objects.get().pk
    assert second is None
    assert delta_hedge(BOOK, "BTC", "nobody") is None


def test_an_option_fill_queues_a_hedge_check(trader, perp, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    queued: list[tuple[Any, ...]] = []
    monkeypatch.setattr(delta_hedge, "delay_on_commit", lambda *args: queued.append(args))

    assert hedging_services.delta_hedge_after_fill(instrument=_call(perp), book=BOOK, trader=trader)
    assert not hedging_services.delta_hedge_after_fill(instrument=perp, book=BOOK, trader=trader)
    assert not hedging_services.delta_hedge_after_fill(instrument=_call(perp, days=5), book=BOOK, trader="dealer:X")

    assert queued == [(BOOK, "BTC", trader.username)]


@pytest.mark.django_db(transaction=True)
def test_two_hedgers_at_once_create_one_hedge(trader, perp, broadcasts, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    # given a book outside its band, and no worker to tick the plan (the test only counts plans)
    from execution import tasks

    monkeypatch.setattr(tasks.plan_tick, "delay_on_commit", lambda *args: None)
    _hold(_call(perp), "10")
    barrier = threading.Barrier(2)
    results: list[ExecutionPlan | None | BaseException] = []

    def hedger() -> None:
        try:
            barrier.wait(5)
            results.append(_hedge(trader))
        except BaseException as error:
            results.append(error)
        finally:
            connection.close()

    # when beat and a post-fill trigger hedge the book at the same moment
    threads = [threading.Thread(target=hedger) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    # then exactly one hedge plan exists
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert sum(isinstance(r, ExecutionPlan) for r in results) == 1
    assert ExecutionPlan.objects.count() == 1
    assert AuditEvent.objects.filter(action="hedge.delta").count() == 1
