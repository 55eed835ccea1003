"""Factories for the risk tests: proposed orders, limits, plans and positions with sensible defaults."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User

from desk.models import Instrument
from execution.models import Algorithm, ExecutionPlan, PlanStatus, Position
from rfq.models import Side
from risk.models import Limit
from risk.orders import MarketState, ProposedOrder


def market_state(**overrides: Any) -> MarketState:
    """Calm market: mid 100, flat, 1 000 contracts of recent volume, no P&L."""
    fields: dict[str, Any] = {
        "mid": Decimal("100"),
        "position": Decimal("0"),
        "recent_volume": Decimal("1000"),
        "realized_pnl_today": Decimal("0"),
        "unrealized_pnl_today": Decimal("0"),
        "volatility_ratio": Decimal("1"),
    }
    fields.update({key: Decimal(str(value)) if value is not None else None for key, value in overrides.items()})
    return MarketState(**fields)


def proposed_order(*, market: MarketState | None = None, **overrides: Any) -> ProposedOrder:
    """A buy of 1 BTC-USD at 100 in the desk book, by ``trader-t``."""
    fields: dict[str, Any] = {
        "book": "desk",
        "trader": "trader-t",
        "instrument": "BTC-USD",
        "underlying": "BTC",
        "side": "buy",
        "quantity": Decimal("1"),
        "limit_price": Decimal("100"),
        "reference": "CO-TEST-1",
    }
    fields.update(overrides)
    for name in ("quantity", "limit_price", "multiplier"):
        if name in fields and not isinstance(fields[name], Decimal):
            fields[name] = Decimal(str(fields[name]))
    return ProposedOrder(market=market or market_state(), **fields)


def limit_create(*, scope: str, kind: str, value: str, scope_key: str = "", is_active: bool = True) -> Limit:
    """A limit row straight in the table: test set-up, not the audited service path."""
    return Limit.objects.create(scope=scope, scope_key=scope_key, kind=kind, value=Decimal(value), is_active=is_active)


def plan_create(
    *,
    instrument: Instrument,
    created_by: User,
    status: str = PlanStatus.RUNNING,
    parameters: dict[str, Any] | None = None,
    quantity: str = "10",
) -> ExecutionPlan:
    return ExecutionPlan.objects.create(
        instrument=instrument,
        side=Side.BUY,
        quantity=Decimal(quantity),
        algorithm=Algorithm.TWAP,
        parameters=parameters or {},
        status=status,
        created_by=created_by,
    )


def position_create(*, instrument: Instrument, quantity: str, book: str = "desk") -> Position:
    return Position.objects.create(book=book, instrument=instrument, quantity=Decimal(quantity))
