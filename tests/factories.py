"""Factories for the desk's rows. Plain functions with sensible defaults; the fixtures in conftest expose them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import Group, User

from desk.models import Account, Instrument, InstrumentKind
from desk.roles import Role
from rfq.models import RFQ, Connectivity, Counterparty, DeskOrder, QuoteRequest, RFQLeg, Side

_ids = itertools.count(1)


def user_create(*, role: str, username: str | None = None, password: str = "pw-for-tests-123") -> User:
    user = User.objects.create_user(username=username or f"{role}-{next(_ids)}", password=password)
    user.groups.add(Group.objects.get(name=role))
    if role == Role.ADMIN:
        user.is_staff = user.is_superuser = True
        user.save(update_fields=["is_staff", "is_superuser"])
    return user


def instrument_create(*, symbol: str | None = None, kind: str = InstrumentKind.SPOT, **fields: object) -> Instrument:
    defaults = {
        "base_currency": "BTC",
        "quote_currency": "USD",
        "tick_size": Decimal("0.01"),
        "lot_size": Decimal("0.0001"),
    }
    defaults.update(fields)
    return Instrument.objects.create(symbol=symbol or f"BTC-USD-{next(_ids)}", kind=kind, **defaults)


def account_create(*, code: str | None = None) -> Account:
    code = code or f"ACC-{next(_ids)}"
    return Account.objects.create(code=code, name=f"Client {code}")


def dealer_create(*, code: str | None = None, secret: str = "dealer-secret-xyz") -> Counterparty:
    code = code or f"DLR{next(_ids)}"
    user = user_create(role=Role.DEALER, username=f"dealer-{code.lower()}")
    dealer = Counterparty(
        code=code,
        name=f"Dealer {code}",
        connectivity=Connectivity.REST,
        api_key_id=f"key-{code.lower()}",
        instrument_classes=[InstrumentKind.SPOT],
        user=user,
    )
    dealer.set_api_secret(secret)
    dealer.save()
    return dealer


def desk_order_create(*, trader: User, instrument: Instrument, account: Account, quantity: str = "5") -> DeskOrder:
    return DeskOrder.objects.create(
        account=account, instrument=instrument, side=Side.BUY, quantity=Decimal(quantity), trader=trader
    )


def rfq_create(*, trader: User, instrument: Instrument, dealers: list[Counterparty], orders: list[DeskOrder]) -> RFQ:
    rfq = RFQ.objects.create(
        reference=f"RFQ-{next(_ids):06d}", created_by=trader, expires_at=datetime.now(UTC) + timedelta(minutes=1)
    )
    rfq.orders.set(orders)
    RFQLeg.objects.create(rfq=rfq, leg_no=1, instrument=instrument, side=Side.BUY, quantity=Decimal("5"))
    for dealer in dealers:
        QuoteRequest.objects.create(
            rfq=rfq, dealer=dealer, quote_req_id=f"{rfq.reference}-{dealer.code}", channel=dealer.connectivity
        )
    return rfq
