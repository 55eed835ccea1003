"""Position arithmetic against hand-computed cases, and positions reconciled with the fills that built them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from execution import services
from execution.models import Fill, Position
from execution.positions import PositionState, position_apply

D = Decimal


def test_opening_from_flat_takes_the_fill_price() -> None:
    state = position_apply(PositionState(), side="buy", quantity=D("2"), price=D("100"))

    assert state == PositionState(D("2"), D("100"), D("0"))


def test_adding_averages_by_quantity() -> None:
    # 2 @ 100 then 1 @ 130: (200 + 130) / 3 = 110
    state = position_apply(PositionState(D("2"), D("100")), side="buy", quantity=D("1"), price=D("130"))

    assert state.quantity == D("3")
    assert state.average_price == D("110")
    assert state.realized_pnl == 0


def test_reducing_a_long_realizes_at_the_average_and_keeps_it() -> None:
    # long 3 @ 110, sell 1 @ 120: +10 realized, 2 left @ 110
    state = position_apply(PositionState(D("3"), D("110")), side="sell", quantity=D("1"), price=D("120"))

    assert state == PositionState(D("2"), D("110"), D("10"))


def test_covering_a_short_at_a_higher_price_loses() -> None:
    # short 4 @ 50, buy 4 @ 55: (55 - 50) × 4 × -1 = -20, flat, average reset to 0
    state = position_apply(PositionState(D("-4"), D("50")), side="buy", quantity=D("4"), price=D("55"))

    assert state == PositionState(D("0"), D("0"), D("-20"))


def test_flipping_realizes_the_closed_part_and_opens_the_rest_at_the_fill() -> None:
    # long 1 @ 100, sell 3 @ 90 with multiplier 10: -10 × 1 × 10 = -100, then short 2 @ 90
    state = position_apply(
        PositionState(D("1"), D("100"), D("5")), side="sell", quantity=D("3"), price=D("90"), multiplier=D("10")
    )

    assert state == PositionState(D("-2"), D("90"), D("-95"))


def test_the_fee_is_always_deducted() -> None:
    state = position_apply(PositionState(), side="sell", quantity=D("1"), price=D("100"), fee=D("0.25"))

    assert state == PositionState(D("-1"), D("100"), D("-0.25"))


def test_average_price_is_rounded_half_even_to_the_stored_precision() -> None:
    # (1 × 1 + 2 × 2) / 3 = 1.666...: 12 places
    state = position_apply(PositionState(D("1"), D("1")), side="buy", quantity=D("2"), price=D("2"))

    assert state.average_price == D("1.666666666667")


@pytest.mark.parametrize(
    ("side", "quantity", "price"),
    [("hold", D("1"), D("1")), ("buy", D("0"), D("1")), ("buy", D("1"), D("-1"))],
)
def test_bad_fills_are_refused(side: str, quantity: Decimal, price: Decimal) -> None:
    with pytest.raises(ValueError, match="must"):
        position_apply(PositionState(), side=side, quantity=quantity, price=price)


def test_a_round_trip_realizes_the_price_difference_less_fees() -> None:
    state = PositionState()
    for side, quantity, price, fee in [
        ("buy", D("1.5"), D("100"), D("0.1")),
        ("buy", D("0.5"), D("104"), D("0.1")),
        ("sell", D("2"), D("103"), D("0.1")),
    ]:
        state = position_apply(state, side=side, quantity=quantity, price=price, fee=fee)

    # average 101, sold 2 @ 103: +4, fees 0.3
    assert state == PositionState(D("0"), D("0"), D("3.7"))


@pytest.mark.django_db
def test_stored_positions_reconcile_with_their_fills(trader, instrument) -> None:  # noqa: ANN001
    # given a buy plan then a larger sell plan, both worked to the end (the position flips short)
    for side, quantity in (("buy", "1.5"), ("sell", "2.25")):
        plan = services.plan_create(
            instrument=instrument,
            side=side,
            quantity=D(quantity),
            algorithm="twap",
            parameters={"horizon_s": 1, "slices": 3},
            actor=trader,
        )
        services.plan_start(plan_id=plan.pk, actor=trader)
        services.plan_work(plan_id=plan.pk, now=datetime.now(UTC) + timedelta(seconds=2))

    # when the fills are replayed in the order they were booked
    replayed = PositionState()
    for fill in Fill.objects.order_by("executed_at", "id"):
        replayed = position_apply(
            replayed, side=fill.side, quantity=fill.quantity, price=fill.price, multiplier=D(1), fee=fill.fee
        )

    # then the stored position is the replay: to the lot in quantity; in prices to what SQLite keeps (its NUMERIC
    # columns hold about 15 significant digits, PostgreSQL all 28)
    position = Position.objects.get(book="desk", instrument=instrument)
    assert Fill.objects.count() == 6
    assert position.quantity == replayed.quantity == D("-0.75")
    assert position.average_price == pytest.approx(replayed.average_price, abs=D("1e-6"))
    assert position.realized_pnl == pytest.approx(replayed.realized_pnl, abs=D("1e-6"))
    assert position.realized_pnl != 0
