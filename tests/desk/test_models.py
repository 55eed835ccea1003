"""Invariants the database holds, and credentials stored only as hashes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from desk.models import InstrumentKind, OptionType
from rfq.models import Counterparty, DeskOrder, Side
from tests import factories

pytestmark = pytest.mark.django_db


def test_option_needs_strike_expiry_type_and_underlying(instrument) -> None:  # noqa: ANN001
    option = factories.instrument_create(
        symbol="BTC-27DEC26-100000-C",
        kind=InstrumentKind.OPTION,
        underlying=instrument,
        strike=Decimal("100000"),
        expiry=datetime(2026, 12, 27, 8, tzinfo=UTC),
        option_type=OptionType.CALL,
    )
    assert option.pk

    with pytest.raises(IntegrityError), transaction.atomic():
        factories.instrument_create(symbol="BTC-NOSTRIKE-C", kind=InstrumentKind.OPTION, underlying=instrument)


def test_spot_may_not_carry_option_terms() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.instrument_create(symbol="ETH-USD", strike=Decimal("3000"))


def test_tick_and_lot_must_be_positive() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.instrument_create(symbol="BAD-LOT", lot_size=Decimal("0"))


def test_quantities_round_trip_as_exact_decimals(trader, instrument, account) -> None:  # noqa: ANN001
    order = factories.desk_order_create(trader=trader, instrument=instrument, account=account, quantity="0.00000001")

    assert DeskOrder.objects.get(pk=order.pk).quantity == Decimal("0.00000001")


def test_desk_order_cannot_be_overfilled(trader, instrument, account) -> None:  # noqa: ANN001
    order = factories.desk_order_create(trader=trader, instrument=instrument, account=account, quantity="1")

    with pytest.raises(IntegrityError), transaction.atomic():
        DeskOrder.objects.filter(pk=order.pk).update(filled_quantity=Decimal("1.5"))


def test_negative_quantity_is_refused(trader, instrument, account) -> None:  # noqa: ANN001
    with pytest.raises(IntegrityError), transaction.atomic():
        DeskOrder.objects.create(
            account=account, instrument=instrument, side=Side.SELL, quantity=Decimal("-1"), trader=trader
        )


def test_dealer_secret_is_stored_hashed(dealer) -> None:  # noqa: ANN001
    stored = Counterparty.objects.get(pk=dealer.pk)

    assert "alpha-secret-123" not in stored.api_secret_hash
    assert stored.api_secret_hash.count("$") >= 2  # algorithm$salt$hash: salted
    assert stored.check_api_secret("alpha-secret-123")
    assert not stored.check_api_secret("alpha-secret-124")
