"""Flow: desk orders, between rfq (the orders, their aggregation and allocation), risk (the pre-trade check) and
execution (positions and plans).

| trigger                                              | reaction                                                  |
|------------------------------------------------------|-----------------------------------------------------------|
| port ``rfq.ports.desk_order_check`` (an order's      | its book is one the desk knows; the pre-trade check       |
| entry, :func:`rfq.services.desk_order_create`)       | (:func:`risk.services.limit_check`) of the order as the    |
|                                                      | desk would trade it: its refusals by field                |
| event ``rfq.desk_order_fill`` (IN_TRANSACTION)       | the position moves from the desk's book to the order's    |
|                                                      | account or book, at the fill's price                      |
| event ``execution.plan_fill`` (IN_TRANSACTION)       | a plan working an RFQ's rest: its fill is allocated to    |
|                                                      | the RFQ's desk orders (:func:`rfq_algo_fill_allocate`)    |
| event ``execution.plan_end`` (IN_TRANSACTION)        | the RFQ's desk orders are settled (their rest back to     |
|                                                      | ``new``); a plan switched to an RFQ hands them to it      |
| port ``rfq.ports.residual_working``                  | whether a plan not yet ended works part of the RFQ        |

The pre-trade check of an entry is risk's own, :func:`~risk.services.limit_check` (kill switches and reducing
scopes, the validated price when required, the price collar, the order's notional and size, the book's position
and loss): the order in the book it is for, priced at its limit (else at the validated price), ``off_venue`` (the
desk crosses it or asks dealers: the venues' participation cap does not concern it), not counted toward the order
rate (an entry sends nothing). Each refusal names the field it concerns: size limits the quantity, the collar the
limit price, a switch or a loss limit the scope it is set on (the account or book, the trader, else the
instrument).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from django.conf import settings

from desk import clock
from desk.audit import Actor
from desk.bus import Event
from desk.models import Account
from execution.models import ExecutionPlan, PlanStatus, Position
from execution.selectors import rfq_plans_open
from execution.services import position_book_fill
from flows.acceptance import market_state
from rfq.aggregation import rfq_algo_fill_allocate
from rfq.engine.lifecycle import rfq_orders_settle_by_id, rfq_orders_transfer
from rfq.models import RFQ
from rfq.ports import DeskOrderTerms
from rfq.services.desk_orders import instrument_underlying
from risk.models import LimitScope
from risk.orders import DEFAULT_BOOK, ProposedOrder
from risk.services import Refusal, RiskRefused, limit_check

# The input a refusal of each limit kind concerns (the rest: the scope it is set on).
FIELD_OF_LIMIT = {
    "max_order_notional": "quantity",
    "max_order_quantity": "quantity",
    "max_position": "quantity",
    "participation_cap": "quantity",
    "price_collar_bps": "limit_price",
    "validated_price": "instrument",
}
OPPOSITE = {"buy": "sell", "sell": "buy"}


def books_known() -> list[str]:
    """The desk's declared books (``settings.RISK_BOOKS``), then those positions use, without client accounts'."""
    used = Position.objects.exclude(book__in=Account.objects.values("code")).values_list("book", flat=True)
    return list(dict.fromkeys([*settings.RISK_BOOKS, *sorted(set(used))]))


def _book_problem(book: str) -> str | None:
    if Account.objects.filter(code=book).exists():
        return f"{book!r} is a client account's code: enter it as the account"
    if book not in books_known():
        declared = ", ".join(name for name in books_known() if name != DEFAULT_BOOK) or "none but the desk's own"
        return f"unknown book {book!r} (the desk's books: {declared}; declare a new one in DESK_BOOKS)"
    return None


def _refusal_field(refusal: Refusal, terms: DeskOrderTerms) -> str:
    if refusal.limit in FIELD_OF_LIMIT:
        return FIELD_OF_LIMIT[refusal.limit]
    if refusal.scope in (LimitScope.BOOK, LimitScope.STRATEGY):
        return terms.book_field
    if refusal.scope == LimitScope.TRADER:
        return "trader"
    return "instrument"


def desk_order_proposed(*, terms: DeskOrderTerms) -> ProposedOrder | None:
    """The desk order as the pre-trade check sees it (see the module); None when nothing prices it (no limit, no
    validated price and no market)."""
    instrument = terms.instrument
    market, on_underlying = market_state(instrument=instrument, book=terms.book, now=clock.now())
    if terms.reference_price is not None:
        # The validated price, never the venue's: the check centres its collar on it.
        market = replace(market, mid=terms.reference_price)
    price = terms.limit_price or terms.reference_price or market.mid
    if price is None or price <= 0:
        return None
    return ProposedOrder(
        book=terms.book,
        trader=terms.trader,
        instrument=instrument.symbol,
        underlying=instrument_underlying(instrument),
        side=terms.side,
        quantity=terms.quantity,
        limit_price=price,
        market=market,
        multiplier=Decimal(instrument.multiplier),
        reference=f"desk-order:{terms.book}:{instrument.symbol}",
        mid_is_underlying=on_underlying,
        counts_toward_rate=False,
        off_venue=True,
    )


def desk_order_check(*, terms: DeskOrderTerms, actor: Actor) -> dict[str, str]:
    """Answer of :func:`rfq.ports.desk_order_check`: the refusals of a desk order's entry, by field."""
    if terms.book_field == "book" and (problem := _book_problem(terms.book)):
        return {"book": problem}
    order = desk_order_proposed(terms=terms)
    if order is None:
        return {
            "instrument": (
                f"no price to check the order against: no validated price and no market for {terms.instrument.symbol}"
            )
        }
    try:
        report = limit_check(order=order, actor=actor)
    except RiskRefused as error:
        # A malformed order the risk check would not even judge: the fields are checked before, so not expected.
        return {name: " ".join(problems) for name, problems in error.message_dict.items()}
    errors: dict[str, str] = {}
    for refusal in report.refusals:
        name = _refusal_field(refusal, terms)
        errors[name] = f"{errors[name]}; {refusal.message}" if name in errors else refusal.message
    return errors


def desk_order_fill_booked(event: Event) -> None:
    """``rfq.desk_order_fill``: the desk's book gives the fill to the order's account or book at its price (an
    internal cross comes from no book of the desk's), in the fill's transaction."""
    quantity: Decimal = event["quantity"]
    if event["from_book"]:
        position_book_fill(
            book=event["from_book"],
            instrument=event["instrument"],
            side=OPPOSITE[event["side"]],
            quantity=quantity,
            price=event["price"],
        )
    position_book_fill(
        book=event["to_book"],
        instrument=event["instrument"],
        side=event["side"],
        quantity=quantity,
        price=event["price"],
    )


def plan_fill_allocated(event: Event) -> None:
    """``execution.plan_fill``: a plan working part of an RFQ's leg has its fill allocated to the RFQ's orders."""
    plan: ExecutionPlan = event["plan"]
    if plan.rfq_leg_id is None:
        return
    fill = event["fill"]
    rfq_algo_fill_allocate(
        leg=plan.rfq_leg,
        exec_id=fill.exec_id,
        quantity=fill.quantity,
        price=fill.price,
        from_book=event["book"],
        plan=plan.pk,
    )


def plan_ended(event: Event) -> None:
    """``execution.plan_end``: the orders of the RFQ the plan worked are settled; a plan switched to an RFQ hands
    them to that RFQ first (its fills are theirs now)."""
    plan: ExecutionPlan = event["plan"]
    if plan.rfq_leg_id is None:
        return
    rfq_id = RFQ.objects.filter(legs__plans=plan).values_list("pk", flat=True).get()
    actor = event["actor"]
    if plan.status == PlanStatus.SWITCHED and plan.fallback_rfq_id is not None:
        rfq_orders_transfer(from_rfq_id=rfq_id, to_rfq_id=plan.fallback_rfq_id, actor=actor)
    rfq_orders_settle_by_id(rfq_id=rfq_id, actor=actor)


def residual_working(*, rfq: RFQ) -> bool:
    """Answer of :func:`rfq.ports.residual_working`."""
    return rfq_plans_open(rfq_id=rfq.pk)
