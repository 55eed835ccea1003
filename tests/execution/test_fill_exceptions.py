"""Venue execution reports: booked once on an open child order; anything else kept as an exception for review."""

from __future__ import annotations

from decimal import Decimal

import pytest

from desk.models import AuditEvent
from execution import fills, services
from execution.errors import ExecutionPermissionDenied, ExecutionRefused
from execution.fills import VenueReport, venue_fill_receive
from execution.models import (
    ChildOrder,
    ChildOrderStatus,
    ExecutionPlan,
    Fill,
    FillException,
    FillExceptionReason,
    FillExceptionStatus,
    Position,
)

pytestmark = pytest.mark.django_db

PRICE = Decimal("100000")


def _running(trader, instrument) -> ExecutionPlan:  # noqa: ANN001
    plan = services.plan_create(
        instrument=instrument,
        side="buy",
        quantity=Decimal("1"),
        algorithm="twap",
        parameters={"horizon_s": 60, "slices": 2, "seed": 1, "book": "fills-t"},
        actor=trader,
    )
    return services.plan_start(plan_id=plan.pk, actor=trader)


def _child(plan: ExecutionPlan, seq: int = 1) -> ChildOrder:
    return ChildOrder.objects.get(plan=plan, seq=seq)


def _report(client_order_id: str, exec_id: str, quantity: str = "0.5", price: Decimal = PRICE) -> VenueReport:
    return VenueReport(client_order_id=client_order_id, exec_id=exec_id, quantity=Decimal(quantity), price=price)


def _position(instrument) -> Decimal:  # noqa: ANN001
    row = Position.objects.filter(book="fills-t", instrument=instrument).first()
    return row.quantity if row else Decimal(0)


def test_a_fill_for_an_unknown_child_is_an_exception_even_when_delivered_twice(trader, instrument) -> None:  # noqa: ANN001
    first = venue_fill_receive(report=_report("P999-1", "LIT-A-X1"))
    again = venue_fill_receive(report=_report("P999-1", "LIT-A-X1"))

    assert isinstance(first, FillException)
    assert again.pk == first.pk
    assert first.reason == FillExceptionReason.UNKNOWN_CHILD
    assert first.status == FillExceptionStatus.OPEN
    assert again.deliveries == 2
    assert not Fill.objects.exists()
    assert AuditEvent.objects.filter(action="fill_exception.record").count() == 1


def test_a_fill_for_a_finished_child_is_an_exception_and_books_nothing(trader, instrument) -> None:  # noqa: ANN001
    plan = _running(trader, instrument)
    child = services.child_order_send(child_order_id=_child(plan).pk)
    assert child.status == ChildOrderStatus.FILLED
    position = _position(instrument)

    late = venue_fill_receive(report=_report(child.client_order_id, "LIT-A-LATE"))

    assert isinstance(late, FillException)
    assert late.reason == FillExceptionReason.FINISHED_CHILD
    assert late.child_order == child
    assert Fill.objects.filter(child_order=child).count() == 1
    assert _position(instrument) == position
    plan.refresh_from_db()
    assert plan.filled_quantity == Decimal("0.5")


def test_the_same_fill_delivered_twice_is_booked_once(trader, instrument) -> None:  # noqa: ANN001
    # given a child the venue holds open (sent, not yet filled)
    plan = _running(trader, instrument)
    child = _child(plan)
    ChildOrder.objects.filter(pk=child.pk).update(status=ChildOrderStatus.SENT)

    first = venue_fill_receive(report=_report(child.client_order_id, "LIT-A-1", "0.2"))
    again = venue_fill_receive(report=_report(child.client_order_id, "LIT-A-1", "0.2"))

    assert isinstance(first, Fill)
    assert again.pk == first.pk
    assert Fill.objects.count() == 1
    assert not FillException.objects.exists()
    child.refresh_from_db()
    plan.refresh_from_db()
    assert (child.status, child.filled_quantity) == (ChildOrderStatus.PARTIALLY_FILLED, Decimal("0.2"))
    assert plan.filled_quantity == _position(instrument) == Decimal("0.2")


def test_an_overfill_and_a_changed_report_are_exceptions(trader, instrument) -> None:  # noqa: ANN001
    plan = _running(trader, instrument)
    child = _child(plan)
    ChildOrder.objects.filter(pk=child.pk).update(status=ChildOrderStatus.SENT)
    venue_fill_receive(report=_report(child.client_order_id, "LIT-A-1", "0.4"))

    over = venue_fill_receive(report=_report(child.client_order_id, "LIT-A-2", "0.2"))
    changed = venue_fill_receive(report=_report(child.client_order_id, "LIT-A-1", "0.4", PRICE + 1))
    rest = venue_fill_receive(report=_report(child.client_order_id, "LIT-A-3", "0.1"))

    assert over.reason == FillExceptionReason.OVERFILL
    assert "0.1" in over.detail
    assert changed.reason == FillExceptionReason.MISMATCH
    assert isinstance(rest, Fill)
    child.refresh_from_db()
    assert (child.status, child.filled_quantity) == (ChildOrderStatus.FILLED, Decimal("0.5"))
    assert _position(instrument) == Decimal("0.5")


def test_a_malformed_report_is_refused_and_nothing_stored(trader, instrument) -> None:  # noqa: ANN001
    with pytest.raises(ExecutionRefused) as refused:
        venue_fill_receive(report=_report("P1-1", "X-1", "0"))

    assert "quantity" in refused.value.message_dict
    assert not FillException.objects.exists()
    assert not Fill.objects.exists()


def test_an_exception_is_closed_by_review(trader, risk_officer, compliance) -> None:  # noqa: ANN001
    exception = venue_fill_receive(report=_report("P999-1", "LIT-A-X1"))

    with pytest.raises(ExecutionPermissionDenied):
        fills.fill_exception_review(exception_id=exception.pk, actor=compliance, note="x")
    reviewed = fills.fill_exception_review(exception_id=exception.pk, actor=risk_officer, note="venue test order")

    assert reviewed.status == FillExceptionStatus.REVIEWED
    assert reviewed.reviewed_by == risk_officer
    with pytest.raises(ExecutionRefused, match="already reviewed"):
        fills.fill_exception_review(exception_id=exception.pk, actor=risk_officer, note="again")


def test_the_fill_exception_endpoints(client_for, trader, risk_officer) -> None:  # noqa: ANN001
    exception = venue_fill_receive(report=_report("P999-1", "LIT-A-X1"))
    url = f"/api/v1/execution/fill-exceptions/{exception.pk}/review/"

    listed = client_for(trader).get("/api/v1/execution/fill-exceptions/?status=open")
    denied = client_for(trader).post(url, {"note": "x"}, content_type="application/json")
    reviewed = client_for(risk_officer).post(url, {"note": "venue test order"}, content_type="application/json")

    assert listed.status_code == 200
    rows = listed.json()["results"] if isinstance(listed.json(), dict) else listed.json()
    assert [row["exec_id"] for row in rows] == ["LIT-A-X1"]
    assert denied.status_code == 403
    assert reviewed.status_code == 200
    assert reviewed.json()["status"] == FillExceptionStatus.REVIEWED
    assert reviewed.json()["reviewed_by"] == risk_officer.username
