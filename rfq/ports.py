"""What the RFQ services need answered by the layers above them, inside their own transaction.

rfq knows neither execution (positions, plans, fills) nor how the desk's risk reads them: it declares here the
small questions it asks, and :mod:`flows.subscriptions` registers the answers when the desk starts. Each default is
the safe one for a desk where nothing is wired: nothing is accepted (no quote, no desk order), no fill is found,
nothing goes to algorithms (nor is a split recommended), no plan works an RFQ's rest, no market tape is recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from desk.audit import Actor

if TYPE_CHECKING:
    from desk.models import Instrument
    from rfq.models import RFQ, Quote, RFQLeg


@dataclass(frozen=True)
class TakenLeg:
    """One leg of what is taken: ``quantity`` contracts on the desk's ``side`` at ``price`` (per unit)."""

    leg: RFQLeg
    side: str
    quantity: Decimal
    price: Decimal


class Refusal(Protocol):
    """Why the pre-trade check refused an acceptance (a risk check report): its message names the limit."""

    @property
    def message(self) -> str: ...


class BookedFill(Protocol):
    """A dealer fill as booked by the desk (the execution fill): what the dealer API and FIX callers get back."""

    pk: Any
    exec_id: str
    instrument: Any
    side: str
    quantity: Decimal
    price: Decimal
    executed_at: datetime


AcceptanceCheck = Callable[..., Refusal | None]
"""``(*, quote: Quote, taken: list[TakenLeg], actor: Actor) -> Refusal | None``: None lets the acceptance through."""

DealerFillFind = Callable[[str], BookedFill | None]
"""The fill already booked under a dealer's exec id (``<dealer>:<ExecID>[:L<leg>]``), or None."""

BOOKED_EXEC_ID_MAX_LENGTH = 64
"""The longest booked exec id (``<dealer>:<ExecID>[:L<leg>]``) the fills of the layers above can store."""

MarketTape = Callable[..., Any]
"""``(*, start, end, instruments: list[str]) -> pandas.DataFrame | None``: the recorded market tape (TCA's) with
columns time, instrument, mid, regime, volatility; None (or empty) when there is none."""

ResidualToAlgo = Callable[..., int | None]
"""``(*, rfq: RFQ, leg: RFQLeg, quantity: Decimal, trader: Actor) -> plan id | None``: the rest of a split RFQ
handed to the execution algorithms (called inside the acting transaction)."""

AlgoWorkable = Callable[..., bool]
"""``(*, instrument: Instrument) -> bool``: whether the algorithms can work the instrument (a split's rest)."""


@dataclass(frozen=True)
class DeskOrderTerms:
    """A desk order as entered, before it is stored: what the pre-trade check of its entry reads.

    ``book`` is the position book its fills go to (a client account's code, or one of the desk's books) and
    ``book_field`` the input that named it (``"account"`` or ``"book"``), so that a refusal names that field.
    ``reference_price`` is the validated price the desk would cross it at (None for an option: no validated price
    of its own), quote currency per contract unit."""

    instrument: Instrument
    side: str
    quantity: Decimal
    book: str
    book_field: str
    limit_price: Decimal | None
    reference_price: Decimal | None
    trader: str


DeskOrderCheck = Callable[..., dict[str, str]]
"""``(*, terms: DeskOrderTerms, actor: Actor) -> {field: problem}``: the pre-trade check of a desk order's entry
(its book known, the risk limits: fat-finger size and price, kill switches); empty lets it in. Refusals by the risk
limits are audited by the check itself."""

ResidualWorking = Callable[..., bool]
"""``(*, rfq: RFQ) -> bool``: whether an execution plan still works part of the RFQ (a split's rest)."""


@dataclass(frozen=True)
class _NotWired:
    message: str = "no pre-trade check is registered on this desk"


def _refuse_all(*, quote: Quote, taken: list[TakenLeg], actor: Actor) -> Refusal | None:
    return _NotWired()


def _find_none(exec_id: str) -> BookedFill | None:
    return None


def _nothing_workable(*, instrument: Any) -> bool:
    return False


def _no_tape(*, start: datetime, end: datetime, instruments: list[str]) -> Any:
    return None


def _no_plan(*, rfq: RFQ, leg: RFQLeg, quantity: Decimal, trader: Actor) -> int | None:
    return None


def _refuse_desk_orders(*, terms: DeskOrderTerms, actor: Actor) -> dict[str, str]:
    return {"instrument": "no pre-trade check is registered on this desk"}


def _no_plan_working(*, rfq: RFQ) -> bool:
    return False


_acceptance_check: AcceptanceCheck = _refuse_all
_desk_order_check: DeskOrderCheck = _refuse_desk_orders
_residual_working: ResidualWorking = _no_plan_working
_dealer_fill_find: DealerFillFind = _find_none
_residual_to_algo: ResidualToAlgo = _no_plan
_algo_workable: AlgoWorkable = _nothing_workable
_market_tape: MarketTape = _no_tape


def acceptance_check_set(check: AcceptanceCheck) -> None:
    """Register the pre-trade check every acceptance passes (``flows.acceptance``)."""
    global _acceptance_check
    _acceptance_check = check


def acceptance_check(*, quote: Quote, taken: list[TakenLeg], actor: Actor) -> Refusal | None:
    return _acceptance_check(quote=quote, taken=taken, actor=actor)


def dealer_fill_find_set(find: DealerFillFind) -> None:
    """Register where a dealer fill booked by the ``rfq.dealer_fill`` flow is found again (``flows.dealer_fill``)."""
    global _dealer_fill_find
    _dealer_fill_find = find


def dealer_fill_find(exec_id: str) -> BookedFill | None:
    return _dealer_fill_find(exec_id)


def residual_to_algo_set(hand_over: ResidualToAlgo) -> None:
    """Register who works the rest of a split RFQ (``flows.split_residual``)."""
    global _residual_to_algo
    _residual_to_algo = hand_over


def residual_to_algo(*, rfq: RFQ, leg: RFQLeg, quantity: Decimal, trader: Actor) -> int | None:
    return _residual_to_algo(rfq=rfq, leg=leg, quantity=quantity, trader=trader)


def algo_workable_set(workable: AlgoWorkable) -> None:
    """Register which instruments the algorithms can work (``flows.split_residual``): the decision recommends a
    split only where its rest can be worked."""
    global _algo_workable
    _algo_workable = workable


def algo_workable(*, instrument: Any) -> bool:
    return _algo_workable(instrument=instrument)


def market_tape_set(tape: MarketTape) -> None:
    """Register where the scoring features read the recorded market tape (TCA's, ``flows.subscriptions``)."""
    global _market_tape
    _market_tape = tape


def market_tape(*, start: datetime, end: datetime, instruments: list[str]) -> Any:
    return _market_tape(start=start, end=end, instruments=instruments)


def desk_order_check_set(check: DeskOrderCheck) -> None:
    """Register the pre-trade check of a desk order's entry (``flows.desk_orders``)."""
    global _desk_order_check
    _desk_order_check = check


def desk_order_check(*, terms: DeskOrderTerms, actor: Actor) -> dict[str, str]:
    return _desk_order_check(terms=terms, actor=actor)


def residual_working_set(working: ResidualWorking) -> None:
    """Register who tells whether a plan still works part of an RFQ (``flows.desk_orders``)."""
    global _residual_working
    _residual_working = working


def residual_working(*, rfq: RFQ) -> bool:
    return _residual_working(rfq=rfq)
