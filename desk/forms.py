"""Forms of the desk's pages: they parse and name the field that is wrong; the services decide the rest."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django import forms
from django.db import models

from desk.fields import DECIMAL_PLACES, MAX_DIGITS
from desk.models import Instrument, InstrumentKind, OptionType
from desk.selectors import AuditFilter, ticket_instruments
from execution.models import PlanStatus
from rfq.models import (
    Counterparty,
    CounterpartyStatus,
    DeskOrderStatus,
    PackageType,
    RFQStatus,
    Side,
    TradingMode,
    Urgency,
)
from rfq.scoring.scores import Context
from rfq.services import LegInput
from risk.models import LimitKind, LimitScope

MAX_LEGS = 4

ANY_OPTION = "option"
"""A leg that may be a call or a put (both legs of a calendar share the type)."""

# The packages the ticket builds, with the legs each needs: (option type or "" for any instrument, side).
PACKAGE_LEGS: dict[str, list[tuple[str, str]]] = {
    PackageType.SINGLE: [("", Side.BUY)],
    PackageType.STRADDLE: [(OptionType.CALL, Side.BUY), (OptionType.PUT, Side.BUY)],
    PackageType.STRANGLE: [(OptionType.CALL, Side.BUY), (OptionType.PUT, Side.BUY)],
    PackageType.COLLAR: [(OptionType.PUT, Side.BUY), (OptionType.CALL, Side.SELL)],
    PackageType.CALL_SPREAD: [(OptionType.CALL, Side.BUY), (OptionType.CALL, Side.SELL)],
    PackageType.PUT_SPREAD: [(OptionType.PUT, Side.BUY), (OptionType.PUT, Side.SELL)],
    # The near expiry sold, the far one bought: calls or puts, one strike.
    PackageType.CALENDAR: [(ANY_OPTION, Side.SELL), (ANY_OPTION, Side.BUY)],
}
TICKET_PACKAGES = [(value, label) for value, label in PackageType.choices if value in PACKAGE_LEGS]


class InstrumentChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Instrument) -> str:
        return obj.symbol


class DealerSelection(models.TextChoices):
    DESK = "desk", "Let the desk choose (waves)"
    MANUAL = "manual", "Pick the dealers myself"


MAX_RISK_AVERSION = 10.0
DEFAULT_RISK_AVERSION = 0.05


class RFQTicketForm(forms.Form):
    """One RFQ: a package type, up to ``MAX_LEGS`` legs (instrument, side, ratio, quantity), who picks the dealers
    (the desk in waves, or the trader's own ticks), the trading mode and the urgency (risk aversion).

    ``auto_allowed``: whether automatic mode may be chosen (the user's automatic-mode limit is enabled); when it is
    not, choosing it is refused on ``mode``. A post without ``selection`` (an older client) is a manual pick."""

    package_type = forms.ChoiceField(choices=TICKET_PACKAGES, initial=PackageType.SINGLE)
    selection = forms.ChoiceField(
        label="Dealers asked",
        choices=DealerSelection.choices,
        initial=DealerSelection.DESK,
        required=False,
        widget=forms.RadioSelect,
    )
    dealers = forms.ModelMultipleChoiceField(
        queryset=Counterparty.objects.filter(status=CounterpartyStatus.ACTIVE).order_by("code"),
        to_field_name="code",
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    expires_in_s = forms.IntegerField(label="Expires in (s)", min_value=5, max_value=3600, initial=60)
    mode = forms.ChoiceField(label="Mode", choices=TradingMode.choices, initial=TradingMode.MANUAL, required=False)
    risk_aversion = forms.FloatField(
        label="Urgency",
        min_value=0.0,
        max_value=MAX_RISK_AVERSION,
        initial=DEFAULT_RISK_AVERSION,
        required=False,
        help_text="higher: take the quotes there are rather than wait for better ones",
        widget=forms.NumberInput(
            attrs={"step": "0.01", "title": "risk aversion λ (1/bps) of the wait-or-split decision; 0.05 by default"}
        ),
    )

    def __init__(self, *args: Any, auto_allowed: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.auto_allowed = auto_allowed
        instruments = ticket_instruments()
        for number in range(1, MAX_LEGS + 1):
            self.fields[f"leg{number}_instrument"] = InstrumentChoiceField(
                queryset=instruments, to_field_name="symbol", required=False, label=f"Leg {number} instrument"
            )
            self.fields[f"leg{number}_side"] = forms.ChoiceField(
                choices=Side.choices, required=False, label=f"Leg {number} side"
            )
            self.fields[f"leg{number}_ratio"] = forms.IntegerField(
                min_value=1, max_value=100, required=False, initial=1, label=f"Leg {number} ratio"
            )
            # One message for a quantity not above 0 (clean's), no validator's second one; the browser checks the same.
            self.fields[f"leg{number}_quantity"] = forms.DecimalField(
                max_digits=28,
                decimal_places=12,
                required=False,
                label=f"Leg {number} quantity",
                widget=forms.NumberInput(attrs={"min": "0", "step": "any"}),
            )

    def leg_rows(self) -> list[dict[str, Any]]:
        """The legs' bound fields, one dict per leg, for the template."""
        return [
            {
                "number": number,
                **{part: self[f"leg{number}_{part}"] for part in ("instrument", "side", "ratio", "quantity")},
            }
            for number in range(1, MAX_LEGS + 1)
        ]

    def clean_mode(self) -> str:
        mode = self.cleaned_data.get("mode") or TradingMode.MANUAL
        if mode == TradingMode.AUTO and not self.auto_allowed:
            raise forms.ValidationError("automatic mode is not enabled for you: a risk officer sets its limits")
        return mode

    def clean_risk_aversion(self) -> float:
        value = self.cleaned_data.get("risk_aversion")
        return DEFAULT_RISK_AVERSION if value is None else value

    def clean_selection(self) -> str:
        return self.cleaned_data.get("selection") or DealerSelection.MANUAL

    def _clean_dealers_choice(self, data: dict[str, Any]) -> None:
        dealers = data.get("dealers")
        if "dealers" in self.errors:
            return
        if data.get("selection") == DealerSelection.MANUAL and not dealers:
            self.add_error("dealers", "choose at least one dealer")
        elif data.get("selection") == DealerSelection.DESK and dealers:
            self.add_error("dealers", "untick them to let the desk choose, or pick the dealers yourself")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        package = data.get("package_type")
        legs: list[tuple[int, LegInput]] = []
        for number in range(1, MAX_LEGS + 1):
            parts = {part: data.get(f"leg{number}_{part}") for part in ("instrument", "side", "ratio", "quantity")}
            if parts["instrument"] is None and parts["quantity"] is None:
                continue
            if parts["instrument"] is None:
                if f"leg{number}_instrument" not in self.errors:
                    self.add_error(f"leg{number}_instrument", "choose the instrument of this leg")
                continue
            if f"leg{number}_quantity" in self.errors:
                continue  # not a number: the field said so
            if not parts["side"]:
                self.add_error(f"leg{number}_side", "choose buy or sell")
                continue
            quantity = parts["quantity"]
            if quantity is None or quantity <= 0:
                self.add_error(f"leg{number}_quantity", "enter a quantity above 0")
                continue
            lot = parts["instrument"].lot_size
            if quantity % lot != 0:
                self.add_error(f"leg{number}_quantity", f"must be a whole number of lots of {lot.normalize()}")
                continue
            legs.append(
                (number, LegInput(parts["instrument"], parts["side"], quantity, parts["ratio"] or 1)),
            )
        if package and not self.errors:
            self._package_check(package, legs)
        self._clean_dealers_choice(data)
        data["legs"] = [leg for _, leg in legs]
        # The ticket's leg number of each leg (a refusal of the n-th leg names its row's quantity field).
        data["leg_numbers"] = [number for number, _ in legs]
        return data

    def _package_check(self, package: str, legs: list[tuple[int, LegInput]]) -> None:
        needed = PACKAGE_LEGS[package]
        label = dict(TICKET_PACKAGES)[package].lower()
        if not legs:
            self.add_error("leg1_instrument", "choose the instrument of this leg")
            return
        if len(legs) != len(needed):
            field = f"leg{legs[-1][0] + 1}_instrument" if len(legs) < len(needed) else f"leg{legs[-1][0]}_instrument"
            self.add_error(field, f"a {label} has {len(needed)} leg{'s' if len(needed) > 1 else ''}")
            return
        if package == PackageType.SINGLE:
            return
        for (number, leg), (option_type, _) in zip(legs, needed, strict=True):
            kind = leg.instrument.option_type if leg.instrument.kind == InstrumentKind.OPTION else ""
            if not kind or (option_type != ANY_OPTION and kind != option_type):
                self.add_error(f"leg{number}_instrument", f"a {label} needs a {option_type} here")
                return
        (n1, first), (n2, second) = legs
        calendar = package == PackageType.CALENDAR
        if first.instrument.underlying_id != second.instrument.underlying_id:
            self.add_error(f"leg{n2}_instrument", "both legs must be on the same underlying")
        elif calendar and first.instrument.option_type != second.instrument.option_type:
            self.add_error(f"leg{n2}_instrument", "a calendar's legs are both calls or both puts")
        elif calendar and first.instrument.strike != second.instrument.strike:
            self.add_error(f"leg{n2}_instrument", "a calendar's legs share one strike")
        elif calendar and first.instrument.expiry == second.instrument.expiry:
            self.add_error(f"leg{n2}_instrument", "a calendar's legs have different expiries")
        elif not calendar and first.instrument.expiry != second.instrument.expiry:
            self.add_error(f"leg{n2}_instrument", "both legs must have the same expiry")
        elif package == PackageType.STRADDLE and first.instrument.strike != second.instrument.strike:
            self.add_error(f"leg{n2}_instrument", "a straddle's call and put share one strike")
        elif package == PackageType.STRANGLE and not ((second.instrument.strike or 0) < (first.instrument.strike or 0)):
            self.add_error(f"leg{n2}_instrument", "a strangle's put strike is below its call strike")
        elif package in (PackageType.CALL_SPREAD, PackageType.PUT_SPREAD) and (
            first.instrument.strike == second.instrument.strike
        ):
            self.add_error(f"leg{n2}_instrument", "a spread's legs have different strikes")
        elif package in (PackageType.STRADDLE, PackageType.STRANGLE) and first.side != second.side:
            self.add_error(f"leg{n2}_side", f"a {label} buys or sells both legs")
        elif package not in (PackageType.STRADDLE, PackageType.STRANGLE) and first.side == second.side:
            self.add_error(f"leg{n2}_side", f"a {label} buys one leg and sells the other")


class KillSwitchForm(forms.Form):
    """Engage or re-arm a kill switch."""

    scope = forms.ChoiceField(choices=LimitScope.choices, initial=LimitScope.DESK)
    scope_key = forms.CharField(
        max_length=64, required=False, help_text="empty for the desk; a book, username, underlying or symbol"
    )
    reason = forms.CharField(max_length=255, error_messages={"required": "say why"})


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class AuditFilterForm(forms.Form):
    """The compliance filters (GET). Times are UTC."""

    start = forms.DateTimeField(
        label="From (UTC)", required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1})
    )
    end = forms.DateTimeField(
        label="To (UTC)", required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1})
    )
    actor = forms.CharField(
        max_length=150,
        required=False,
        help_text="exact, e.g. user:trader or dealer:ALPHA",
        widget=forms.TextInput(attrs={"list": "actor-choices"}),
    )
    object_type = forms.CharField(
        max_length=64,
        required=False,
        help_text="exact, e.g. rfq.rfq",
        widget=forms.TextInput(attrs={"list": "object_type-choices"}),
    )
    action = forms.CharField(
        max_length=64,
        required=False,
        help_text="prefix, e.g. rfq. or quote.accept",
        widget=forms.TextInput(attrs={"list": "action-choices"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = _utc(data.get("start")), _utc(data.get("end"))
        if start and end and end <= start:
            self.add_error("end", "must be after From")
        data["start"], data["end"] = start, end
        return data

    def audit_filter(self) -> AuditFilter:
        data = self.cleaned_data
        return AuditFilter(
            start=data["start"],
            end=data["end"],
            actor=data["actor"].strip(),
            object_type=data["object_type"].strip(),
            action=data["action"].strip(),
        )


class PlanActionForm(forms.Form):
    """Pause, resume or cancel a plan: an optional reason, and the version the user saw (refused if it moved)."""

    reason = forms.CharField(max_length=200, required=False)
    version = forms.IntegerField(min_value=0, required=False, widget=forms.HiddenInput)


class PlanStatusFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "any status"), *PlanStatus.choices], required=False)


def _blotter_statuses() -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for choices in (DeskOrderStatus.choices, RFQStatus.choices, PlanStatus.choices):
        for value, label in choices:
            seen.setdefault(value, label)
    return [("", "any status"), *sorted(seen.items())]


class BlotterFilterForm(forms.Form):
    """The blotter's filters (GET, kept in the query string). The day is a UTC date."""

    status = forms.ChoiceField(choices=_blotter_statuses, required=False)
    instrument = forms.CharField(max_length=64, required=False, widget=forms.TextInput(attrs={"list": "symbols"}))
    side = forms.ChoiceField(choices=[("", "either side"), *Side.choices], required=False)
    trader = forms.CharField(max_length=150, required=False, help_text="username")
    day = forms.DateField(label="Day (UTC)", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean_instrument(self) -> str:
        symbol = self.cleaned_data["instrument"].strip()
        if symbol and not Instrument.objects.filter(symbol=symbol).exists():
            raise forms.ValidationError(f"no instrument {symbol!r}")
        return symbol

    def filters(self) -> dict[str, Any]:
        """The cleaned filters as keyword arguments of :class:`desk.pages.queries.BlotterFilter`."""
        data = self.cleaned_data
        return {
            "status": data["status"],
            "instrument": data["instrument"],
            "side": data["side"],
            "trader": data["trader"].strip(),
            "day": data["day"],
        }


class ScorecardContextForm(forms.Form):
    """The RFQ the scorecards score dealers for: instrument class and notional (quote currency)."""

    kind = forms.ChoiceField(choices=InstrumentKind.choices, initial=InstrumentKind.SPOT, required=False)
    notional = forms.DecimalField(
        min_value=Decimal(1_000), max_value=Decimal(1_000_000_000), decimal_places=2, initial=1_000_000, required=False
    )

    def scoring_context(self) -> Context:
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        return Context(kind=data.get("kind") or InstrumentKind.SPOT, notional=float(data.get("notional") or 1_000_000))


class DeskOrderForm(forms.Form):
    """A desk order as the orders page enters it: the instrument (its symbol), the side, the quantity, a client
    account or one of the desk's books, an optional limit and the urgency. It parses; the service
    (:func:`rfq.services.desk_order_enter`) checks the rest and names the field at fault."""

    instrument = forms.CharField(max_length=64, widget=forms.TextInput(attrs={"list": "order-symbols"}))
    side = forms.ChoiceField(choices=Side.choices, initial=Side.BUY)
    quantity = forms.DecimalField(
        max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, widget=forms.NumberInput(attrs={"step": "any"})
    )
    account = forms.CharField(
        max_length=64, required=False, widget=forms.TextInput(attrs={"list": "order-accounts"}), help_text="a client's"
    )
    book = forms.CharField(max_length=64, required=False, help_text="or one of the desk's books")
    limit_price = forms.DecimalField(
        label="Limit",
        max_digits=MAX_DIGITS,
        decimal_places=DECIMAL_PLACES,
        required=False,
        widget=forms.NumberInput(attrs={"step": "any"}),
        help_text="empty: none",
    )
    urgency = forms.ChoiceField(choices=Urgency.choices, initial=Urgency.NORMAL)

    def order_input(self) -> dict[str, Any]:
        """The cleaned fields as the service's keyword arguments."""
        data = self.cleaned_data
        return {
            "instrument": data["instrument"].strip(),
            "side": data["side"],
            "quantity": data["quantity"],
            "account": data["account"].strip(),
            "book": data["book"].strip(),
            "limit_price": data["limit_price"],
            "urgency": data["urgency"],
        }


LIMIT_CEILINGS: dict[str, Decimal] = {
    LimitKind.MAX_ORDER_NOTIONAL: Decimal(10) ** 12,
    LimitKind.MAX_POSITION: Decimal(10) ** 9,
    LimitKind.MAX_DAILY_LOSS: Decimal(10) ** 12,
    LimitKind.PRICE_COLLAR_BPS: Decimal(10_000),
    LimitKind.PARTICIPATION_CAP: Decimal(1),
    LimitKind.MAX_DEALER_EXPOSURE: Decimal(10) ** 12,
    LimitKind.MAX_ORDER_RATE: Decimal(10_000),
}
"""The largest value a limit of each kind may take in the browser: beyond it a limit limits nothing (a collar of 100 %,
a participation above all of the volume) or is a typing slip."""


class LimitForm(forms.Form):
    """Set one limit (create or change): scope, key, kind and a value above 0 and below the kind's ceiling. Zero is
    refused: stopping a scope is the kill switch's job, not a limit's."""

    scope = forms.ChoiceField(choices=LimitScope.choices, initial=LimitScope.DESK)
    scope_key = forms.CharField(max_length=64, required=False, help_text="empty for the firm and the desk")
    kind = forms.ChoiceField(choices=LimitKind.choices)
    value = forms.DecimalField(max_digits=28, decimal_places=12, widget=forms.NumberInput(attrs={"step": "any"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        kind, value = data.get("kind"), data.get("value")
        if kind is None or value is None:
            return data
        if value <= 0:
            self.add_error("value", "enter a value above 0 (to stop a scope, engage its kill switch)")
        elif value > LIMIT_CEILINGS.get(kind, Decimal(10) ** 12):
            ceiling = LIMIT_CEILINGS.get(kind, Decimal(10) ** 12)
            self.add_error("value", f"at most {ceiling.normalize():f} for {dict(LimitKind.choices)[kind].lower()}")
        return data
