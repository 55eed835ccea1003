"""Writes of the risk domain: the pre-trade check (and its audited refusals), limits, kill switches and the circuit
breaker.

Limits and switches form a hierarchy: desk > book > trader / underlying > instrument. An order falls under one
scope of each level; the tightest applicable limit of each kind wins, and an engaged switch at any of its scopes
stops it. The fat-finger guards (:mod:`risk.fat_finger`) hold with no limit set, and rows only tighten them; they
also check an order as it is created (:func:`fat_finger_check`: an RFQ leg, a plan). A limit or a switch is set on
a scope key that names something that exists (:func:`risk.selectors.scope_key_unknown`).

Engaging a switch halts the running execution plans and cancels the open RFQs it covers in the same transaction,
through the halt registered with :func:`scope_halt_set` (the kill-switch flow, :mod:`flows.kill_switch`: risk owns
no plan and no RFQ); re-arming leaves them halted (a trader resumes them).

Business refusals raise :class:`RiskRefused` (a ``ValidationError`` whose messages name the field or the limit);
an actor without the role's permission gets :class:`RiskPermissionDenied`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from desk import clock
from desk.audit import Actor, actor_label, audit_record
from desk.db import row_locked
from desk.events import broadcast
from desk.fields import QUANTUM
from risk import selectors
from risk.checks import MAX_ORDER_NOTIONAL, PRICE_COLLAR_BPS, CheckResult, run_checks, validated_price_check
from risk.fat_finger import FAT_FINGER_KINDS, DefaultLimit, fat_finger_defaults
from risk.models import CIRCUIT_BREAKER_ACTOR, KillSwitch, Limit, LimitKind, LimitScope, ScopeState
from risk.orders import BUY, SELL, MarketState, OrderSize, ProposedOrder, order_size_state, order_state
from risk.rate import rate_take
from risk.reference import validated_price_get

# MarketState and ProposedOrder are re-exported: callers import the check's whole boundary from here.
__all__ = [
    "CIRCUIT_BREAKER_ACTOR",
    "KILL_SWITCH_LIMIT",
    "SCOPE_REDUCING_LIMIT",
    "CheckReport",
    "GuardReport",
    "MarketState",
    "OrderSize",
    "ProposedOrder",
    "Refusal",
    "RiskPermissionDenied",
    "RiskRefused",
    "ScopeHalt",
    "ScopeHalted",
    "circuit_breaker_trip",
    "fat_finger_check",
    "kill_switch_engage",
    "kill_switch_rearm",
    "limit_check",
    "limit_set",
    "scope_halt_set",
    "scope_label",
    "scope_state_set",
]

KILL_SWITCH_LIMIT = "kill_switch"
# The refusal of a non-reducing order under a REDUCING scope.
SCOPE_REDUCING_LIMIT = "scope_reducing"
# A system component (the circuit breaker, the demo seeding) may engage switches and set limits; re-arming is a
# person's decision.
SYSTEM_PREFIX = "system:"


class RiskRefused(ValidationError):
    """A request that the risk rules refuse; the message names the field or the limit."""


class RiskPermissionDenied(PermissionDenied):
    """The actor's role does not grant the permission (the API answers 403)."""


@dataclass(frozen=True)
class Refusal:
    """One reason an order is refused: a failed check or an engaged kill switch.

    ``limit`` is the limit kind (``"price_collar_bps"``...) or ``"kill_switch"``; ``scope`` and ``scope_key`` say
    where the limit or switch is set; ``observed`` and ``threshold`` are in the kind's unit (None for a switch).
    """

    limit: str
    scope: str
    scope_key: str
    message: str
    observed: float | None = None
    threshold: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "scope": self.scope,
            "scope_key": self.scope_key,
            "observed": self.observed,
            "threshold": self.threshold,
            "message": self.message,
        }


@dataclass(frozen=True)
class _Refusals:
    """The checks that ran on an order and the refusals among them (empty when it passes)."""

    results: tuple[CheckResult, ...]
    refusals: tuple[Refusal, ...]

    @property
    def passed(self) -> bool:
        return not self.refusals

    @property
    def limits(self) -> list[str]:
        """The names of the limits (or ``kill_switch``) that refuse the order."""
        return [refusal.limit for refusal in self.refusals]

    @property
    def message(self) -> str:
        return "; ".join(refusal.message for refusal in self.refusals) or "passed"


@dataclass(frozen=True, kw_only=True)
class CheckReport(_Refusals):
    """The outcome of :func:`limit_check` on a proposed order."""

    order: ProposedOrder

    def raise_if_refused(self) -> None:
        if self.refusals:
            raise RiskRefused(self.message)


@dataclass(frozen=True, kw_only=True)
class GuardReport(_Refusals):
    """The outcome of :func:`fat_finger_check`: the fat-finger guards on an order as it is created."""

    order: OrderSize


# A threshold in force: a limit row, or a fat-finger default no row tightens.
Threshold = Limit | DefaultLimit


def _finite_or_none(value: float) -> float | None:
    # JSON (and PostgreSQL's jsonb) has no NaN: a missing mid is stored as null.
    return value if math.isfinite(value) else None


def _order_public(order: ProposedOrder) -> dict[str, Any]:
    return {
        "reference": order.reference,
        "book": order.book,
        "trader": order.trader,
        "instrument": order.instrument,
        "underlying": order.underlying,
        "side": order.side,
        "quantity": order.quantity,
        "limit_price": order.limit_price,
        "multiplier": order.multiplier,
        "mid": order.market.mid,
        "position": order.market.position,
        "recent_volume": order.market.recent_volume,
        "pnl_today": order.market.pnl_today,
        "volatility_ratio": order.market.volatility_ratio,
    }


def _order_validate(order: ProposedOrder) -> None:
    if order.side not in (BUY, SELL):
        raise RiskRefused({"side": f"side must be {BUY} or {SELL}, not {order.side!r}"})
    for name in ("quantity", "limit_price", "multiplier"):
        value = getattr(order, name)
        if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
            raise RiskRefused({name: f"{name} must be a positive Decimal, not {value!r}"})
    if not all((order.book, order.trader, order.instrument, order.underlying)):
        raise RiskRefused("an order names its book, trader, instrument and underlying")


def scope_label(scope: str, scope_key: str) -> str:
    """A scope as refusals, audit events and cancel reasons name it: ``book:FLOW``, or ``desk`` without a key."""
    return f"{scope}:{scope_key}" if scope_key else scope


def limit_check(*, order: ProposedOrder, actor: Actor) -> CheckReport:
    """Run the pre-trade checks on ``order`` against the tightest applicable limits and the scopes' states.

    Two queries when the order passes. The fat-finger guards hold with no limit row (:mod:`risk.fat_finger`): a
    maximum quantity and notional, and on a venue order priced against a market mid a price collar; a row of the same
    kind only tightens them. A HALTED scope (engaged kill switch) refuses every order, a REDUCING one
    every order that does not strictly shrink the book's position. A ``max_dealer_exposure`` limit applies to an
    order to a dealer only. Every ``max_order_rate`` limit along the hierarchy is counted (each scope has its own
    counter, :mod:`risk.rate`), last and only when nothing else refused, so that a refused order uses no slot.

    When it is refused, one ``risk.refused`` audit event per reason (naming the limit, its scope, the figures and
    the order) is written in one transaction, and a ``risk.refused`` event is broadcast after commit. Call it
    outside a transaction that the refusal would roll back: the audit of a refusal must survive it.

    Raises
    ------
    RiskRefused
        When the order itself is malformed (side, non-positive quantity or price): nothing is checked or stored.
    """
    _order_validate(order)
    scopes = selectors.order_scopes(
        book=order.book,
        trader=order.trader,
        underlying=order.underlying,
        instrument=order.instrument,
        strategy=order.strategy,
        dealer=order.dealer,
    )
    state = order_state(order)
    refusals = [_state_refusal(switch, order) for switch in selectors.scope_states_for(scopes=scopes)]
    refusals = [refusal for refusal in refusals if refusal is not None]
    checked = order
    if settings.RISK_REQUIRE_VALIDATED_PRICE:
        checked, refusal = _validated_price_apply(order)
        if refusal is not None:
            refusals.append(refusal)
    rows = selectors.limits_for(scopes=scopes)
    limits = selectors.tightest_of(row for row in rows if row.kind != LimitKind.MAX_ORDER_RATE)
    if order.dealer or order.off_venue:
        # A block taken from a dealer trades off-venue: the venues' participation cap does not concern it.
        limits.pop(LimitKind.PARTICIPATION_CAP, None)
    else:
        limits.pop(LimitKind.MAX_DEALER_EXPOSURE, None)
    if checked is not order:
        state = order_state(checked)
    # The default collar guards the prices the desk sets against a market mid: a venue order's, not a dealer's quote
    # nor an option's model mid (see risk.fat_finger).
    mid = checked.market.mid
    collar = not order.dealer and order.mid_is_underlying and mid is not None and mid > 0
    defaults = fat_finger_defaults(
        instrument=order.instrument, underlying=order.underlying, multiplier=order.multiplier, collar=collar
    )
    thresholds = _with_defaults(limits, defaults)
    results = run_checks(state, {kind: float(limit.value) for kind, limit in thresholds.items()})
    for result in results:
        if not result.passed:
            refusals.append(_limit_refusal(result, thresholds[result.limit]))
    if not refusals and order.counts_toward_rate:
        rate_results, refusal = _rates_take([row for row in rows if row.kind == LimitKind.MAX_ORDER_RATE])
        results.extend(rate_results)
        if refusal is not None:
            refusals.append(refusal)
    report = CheckReport(order=order, results=tuple(results), refusals=tuple(refusals))
    if refusals:
        _refusals_record(
            refusals=report.refusals,
            reference=order.reference,
            instrument=order.instrument,
            order=_order_public(order),
            actor=actor,
        )
    return report


def _with_defaults(limits: dict[str, Limit], defaults: dict[str, DefaultLimit]) -> dict[str, Threshold]:
    """The thresholds in force: each kind's tightest limit row, or its fat-finger default where that is tighter (or
    no row is set). A row at the default's value is the one named."""
    thresholds: dict[str, Threshold] = dict(limits)
    for kind, default in defaults.items():
        row = limits.get(kind)
        if row is None or default.value < row.value:
            thresholds[kind] = default
    return thresholds


def _order_size_validate(order: OrderSize) -> None:
    if order.side not in (BUY, SELL):
        raise RiskRefused({"side": f"side must be {BUY} or {SELL}, not {order.side!r}"})
    for name in ("quantity", "multiplier"):
        value = getattr(order, name)
        if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
            raise RiskRefused({name: f"{name} must be a positive Decimal, not {value!r}"})
    if not all((order.book, order.trader, order.instrument, order.underlying)):
        raise RiskRefused("an order names its book, trader, instrument and underlying")


def _order_size_public(order: OrderSize) -> dict[str, Any]:
    return {
        "reference": order.reference,
        "book": order.book,
        "trader": order.trader,
        "instrument": order.instrument,
        "underlying": order.underlying,
        "side": order.side,
        "quantity": order.quantity,
        "limit_price": order.limit_price,
        "multiplier": order.multiplier,
        "mid": order.mid,
        "volatility_ratio": order.volatility_ratio,
    }


def fat_finger_check(*, order: OrderSize, actor: Actor, size_rows: bool = True) -> GuardReport:
    """The fat-finger guards on an order as it is created (an RFQ leg, an execution plan): its quantity, its
    notional (valued at its limit price, else at the mid; not checked without either) and, when it has a limit price
    and a market mid, the price collar. Each threshold is the tightest of the fat-finger default
    (:mod:`risk.fat_finger`) and the limit rows of its kind along the order's scopes. One query for the limits.

    ``size_rows=False`` for a plan's parent order: its quantity and notional are bounded by the defaults alone, and
    the ``max_order_quantity`` / ``max_order_notional`` rows bound each of its child orders (the orders it sends), as
    they always have; a collar row still applies (every child is priced the same way).

    A refusal is audited and broadcast as :func:`limit_check`'s are (``risk.refused``, one event per reason, in
    its own transaction): call it outside a transaction the refusal would roll back.

    Raises
    ------
    RiskRefused
        When the order itself is malformed (side, non-positive quantity or multiplier): nothing is checked.
    """
    _order_size_validate(order)
    scopes = selectors.order_scopes(
        book=order.book,
        trader=order.trader,
        underlying=order.underlying,
        instrument=order.instrument,
        strategy=order.strategy,
    )
    rows = selectors.limits_for(scopes=scopes)
    kinds = FAT_FINGER_KINDS if size_rows else (PRICE_COLLAR_BPS,)
    limits = {kind: row for kind, row in selectors.tightest_of(rows).items() if kind in kinds}
    collar = order.limit_price is not None and order.mid is not None and order.mid > 0
    defaults = fat_finger_defaults(
        instrument=order.instrument,
        underlying=order.underlying,
        multiplier=order.multiplier,
        collar=collar and order.mid_is_underlying,
    )
    if not collar:
        limits.pop(PRICE_COLLAR_BPS, None)
    if order.price is None:
        limits.pop(MAX_ORDER_NOTIONAL, None)
        defaults.pop(MAX_ORDER_NOTIONAL, None)
    thresholds = _with_defaults(limits, defaults)
    results = run_checks(order_size_state(order), {kind: float(limit.value) for kind, limit in thresholds.items()})
    refusals = tuple(_limit_refusal(result, thresholds[result.limit]) for result in results if not result.passed)
    report = GuardReport(order=order, results=tuple(results), refusals=refusals)
    if refusals:
        _refusals_record(
            refusals=refusals,
            reference=order.reference,
            instrument=order.instrument,
            order=_order_size_public(order),
            actor=actor,
        )
    return report


def _limit_refusal(result: CheckResult, limit: Threshold) -> Refusal:
    label = limit.label if isinstance(limit, DefaultLimit) else scope_label(limit.scope, limit.scope_key)
    return Refusal(
        result.limit,
        limit.scope,
        limit.scope_key,
        f"{result.message} [{label}]",
        _finite_or_none(result.observed),
        _finite_or_none(result.threshold),
    )


def _state_refusal(switch: KillSwitch, order: ProposedOrder) -> Refusal | None:
    """The refusal a HALTED or REDUCING scope gives ``order``, or None (a risk-reducing order under REDUCING)."""
    label = scope_label(switch.scope, switch.scope_key)
    why = f" ({switch.reason})" if switch.reason else ""
    if switch.state == ScopeState.HALTED:
        message = f"{KILL_SWITCH_LIMIT}: {label} engaged by {switch.changed_by}{why}"
        return Refusal(KILL_SWITCH_LIMIT, switch.scope, switch.scope_key, message)
    position = order.market.position
    after = position + order.signed_quantity
    if abs(after) < abs(position):
        return None
    message = (
        f"{SCOPE_REDUCING_LIMIT}: {label} is REDUCING (set by {switch.changed_by}{why}): only risk-reducing orders "
        f"pass, position {position.normalize()} → {after.normalize()} after the order"
    )
    return Refusal(
        SCOPE_REDUCING_LIMIT, switch.scope, switch.scope_key, message, float(abs(after)), float(abs(position))
    )


def _rates_take(rows: list[Limit]) -> tuple[list[CheckResult], Refusal | None]:
    """Take a slot from the counter of every order-rate limit; on the first refusal give every slot back."""
    results: list[CheckResult] = []
    give_backs = []
    for limit in rows:
        result, give_back = rate_take(scope=limit.scope, scope_key=limit.scope_key, limit=float(limit.value))
        results.append(result)
        give_backs.append(give_back)
        if not result.passed:
            for undo in give_backs:
                undo()
            return results, _limit_refusal(result, limit)
    return results, None


def _validated_price_apply(order: ProposedOrder) -> tuple[ProposedOrder, Refusal | None]:
    """The order with its reference mid replaced by the monitor's fresh validated price (the collar then centres on
    it), or the refusal naming ``validated_price`` when there is no fresh one (see :mod:`risk.reference`)."""
    validated = validated_price_get(underlying=order.underlying)
    usable = validated is not None and validated.price is not None and validated.state != "halted"
    age = validated.age_s(clock.now()) if usable and validated is not None else None
    result = validated_price_check(age, settings.RISK_VALIDATED_PRICE_MAX_AGE_S)
    if not result.passed or validated is None or validated.price is None:
        state = f" (monitor: {validated.state})" if validated is not None and not usable else ""
        return order, Refusal(
            result.limit,
            LimitScope.UNDERLYING,
            order.underlying,
            f"{result.message} for {order.underlying}{state}",
            _finite_or_none(result.observed),
            result.threshold,
        )
    if not order.mid_is_underlying:
        return order, None
    return replace(order, market=replace(order.market, mid=validated.price)), None


def _refusals_record(
    *, refusals: tuple[Refusal, ...], reference: str, instrument: str, order: dict[str, Any], actor: Actor
) -> None:
    with transaction.atomic():
        for refusal in refusals:
            audit_record(
                actor=actor,
                action="risk.refused",
                object_type="risk.order",
                object_id=reference[:64],
                after=refusal.as_dict() | {"order": order},
            )
        broadcast(
            event="risk.refused",
            payload={
                "reference": reference,
                "instrument": instrument,
                "limits": [refusal.limit for refusal in refusals],
                "message": "; ".join(refusal.message for refusal in refusals),
            },
        )


def _is_system(actor: Actor) -> bool:
    return isinstance(actor, str) and actor.startswith(SYSTEM_PREFIX)


def _require(actor: Actor, perm: str, *, system_allowed: bool) -> None:
    if system_allowed and _is_system(actor):
        return
    if not isinstance(actor, AbstractBaseUser) or not actor.is_active or not actor.has_perm(perm):
        raise RiskPermissionDenied(f"{actor_label(actor)} may not do this (needs {perm})")


def _scope_validate(scope: str, scope_key: str) -> tuple[str, str]:
    if scope not in LimitScope.values:
        raise RiskRefused({"scope": f"scope must be one of {', '.join(LimitScope.values)}, not {scope!r}"})
    scope_key = (scope_key or "").strip()
    if scope in selectors.KEYLESS_SCOPES and scope_key:
        raise RiskRefused({"scope_key": f"the {scope} scope takes no key"})
    if scope not in selectors.KEYLESS_SCOPES and not scope_key:
        raise RiskRefused(
            {"scope_key": f"the {scope} scope needs a key (book, strategy, username, dealer, underlying or symbol)"}
        )
    if len(scope_key) > 64:
        raise RiskRefused({"scope_key": "at most 64 characters"})
    return scope, scope_key


def _scope_existing(scope: str, scope_key: str) -> tuple[str, str]:
    """The scope checked as :func:`_scope_validate` does, and its key against what exists: a switch or a limit on a
    key that names nothing would report itself set and cover no order. (Re-arming takes any stored key, so that a
    switch set on a mistyped key can still be re-armed.)"""
    scope, scope_key = _scope_validate(scope, scope_key)
    why = selectors.scope_key_unknown(scope=scope, scope_key=scope_key)
    if why is not None:
        raise RiskRefused({"scope_key": why})
    return scope, scope_key


def _limit_value_validate(kind: str, value: Decimal) -> Decimal:
    if kind not in LimitKind.values:
        raise RiskRefused({"kind": f"kind must be one of {', '.join(LimitKind.values)}, not {kind!r}"})
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise RiskRefused({"value": f"value must be a Decimal at least 0, not {value!r}"})
    if kind == LimitKind.PARTICIPATION_CAP and value > 1:
        raise RiskRefused({"value": f"a participation cap is a fraction of volume, at most 1, not {value}"})
    try:
        return value.quantize(QUANTUM)
    except InvalidOperation:
        raise RiskRefused({"value": f"value {value} is out of range"}) from None


def _limit_state(limit: Limit | None) -> dict[str, Any] | None:
    if limit is None:
        return None
    return {
        "scope": limit.scope,
        "scope_key": limit.scope_key,
        "kind": limit.kind,
        "value": limit.value,
        "is_active": limit.is_active,
    }


def limit_set(*, scope: str, scope_key: str, kind: str, value: Decimal, actor: Actor) -> Limit:
    """Set (create or change, and activate) the limit of ``kind`` at (``scope``, ``scope_key``).

    ``value`` is in the kind's unit: quote currency for notional and daily loss, contracts for position, bps for
    the collar, a fraction (0..1) for the participation cap. Audited with before and after; ``risk.limit`` is
    broadcast after commit. Risk officers (``risk.add_limit`` / ``risk.change_limit``) and system actors only.
    """
    value = _limit_value_validate(kind, value)
    scope, scope_key = _scope_existing(scope, scope_key)
    user = actor if isinstance(actor, AbstractBaseUser) else None
    with transaction.atomic():
        limit = Limit.objects.select_for_update().filter(scope=scope, scope_key=scope_key, kind=kind).first()
        _require(actor, "risk.change_limit" if limit else "risk.add_limit", system_allowed=True)
        before = _limit_state(limit)
        if limit is None:
            try:
                with transaction.atomic():
                    limit = Limit.objects.create(
                        scope=scope, scope_key=scope_key, kind=kind, value=value, updated_by=user
                    )
            except IntegrityError:
                # Another writer created it between our read and our insert: change theirs instead.
                limit = Limit.objects.select_for_update().get(scope=scope, scope_key=scope_key, kind=kind)
                before = _limit_state(limit)
        if before is not None:
            limit.value, limit.is_active, limit.updated_by = value, True, user
            limit.save(update_fields=["value", "is_active", "updated_by", "updated_at"])
        after = _limit_state(limit)
        audit_record(actor=actor, action="risk.limit.set", obj=limit, before=before, after=after)
        broadcast(event="risk.limit", payload={**(after or {}), "changed_by": actor_label(actor)})
    return limit


def _switch_locked(scope: str, scope_key: str) -> KillSwitch:
    return row_locked(KillSwitch, scope=scope, scope_key=scope_key)


def _switch_state(switch: KillSwitch) -> dict[str, Any]:
    return {
        "scope": switch.scope,
        "scope_key": switch.scope_key,
        "state": switch.state,
        "engaged": switch.engaged,
        "reason": switch.reason,
        "changed_by": switch.changed_by,
        "changed_at": switch.changed_at,
    }


@dataclass(frozen=True)
class ScopeHalted:
    """What engaging a kill switch stopped under its scope: the halted plans' ids and the cancelled RFQs'
    references (the engage audit event and the ``risk.kill_switch`` broadcast name them)."""

    plans: list[int] = field(default_factory=list)
    rfqs: list[str] = field(default_factory=list)


class ScopeHalt(Protocol):
    """The port through which a kill switch stops the plans and RFQs under its scope, inside the switch's
    transaction (an exception rolls the switch back with them)."""

    def __call__(self, *, switch: KillSwitch, actor: Actor) -> ScopeHalted: ...


def _halt_nothing(*, switch: KillSwitch, actor: Actor) -> ScopeHalted:
    # Without the flows app nothing runs under a scope that risk could stop; the switch still refuses every order.
    return ScopeHalted()


_scope_halt: ScopeHalt = _halt_nothing


def scope_halt_set(halt: ScopeHalt) -> None:
    """Register what engaging a kill switch stops (the kill-switch flow registers it when the desk starts)."""
    global _scope_halt
    _scope_halt = halt


def _switch_broadcast(switch: KillSwitch, halted: list[int]) -> None:
    broadcast(event="risk.kill_switch", payload=_switch_state(switch) | {"halted_plans": halted})


def kill_switch_engage(*, scope: str, scope_key: str, reason: str, actor: Actor) -> KillSwitch:
    """Engage the kill switch at (``scope``, ``scope_key``): every order under it is refused from now on, and the
    running execution plans and the open RFQs it covers are halted and cancelled in the same transaction.

    Idempotent: engaging an engaged switch changes nothing but still halts a plan that started under it since.
    Risk officers (``risk.engage_killswitch``) and system actors (``system:...``) only.
    """
    _require(actor, "risk.engage_killswitch", system_allowed=True)
    reason = (reason or "").strip()
    if not reason:
        raise RiskRefused({"reason": "say why the switch is engaged"})
    scope, scope_key = _scope_existing(scope, scope_key)
    with transaction.atomic():
        switch = _switch_locked(scope, scope_key)
        if switch.engaged:
            stopped = _scope_halt(switch=switch, actor=actor)
            if stopped.plans:
                _switch_broadcast(switch, stopped.plans)
            return switch
        before = _switch_state(switch)
        switch.state, switch.engaged, switch.reason = ScopeState.HALTED, True, reason[:255]
        switch.changed_by, switch.changed_at = actor_label(actor)[:150], clock.now()
        switch.save(update_fields=["state", "engaged", "reason", "changed_by", "changed_at"])
        stopped = _scope_halt(switch=switch, actor=actor)
        audit_record(
            actor=actor,
            action="risk.kill_switch.engage",
            obj=switch,
            before=before,
            after=_switch_state(switch) | {"halted_plans": stopped.plans, "cancelled_rfqs": stopped.rfqs},
        )
        _switch_broadcast(switch, stopped.plans)
    return switch


def kill_switch_rearm(*, scope: str, scope_key: str, reason: str, actor: Actor) -> KillSwitch:
    """Re-arm a HALTED or REDUCING scope back to ACTIVE: orders under it may pass again (other switches and limits
    still apply). Halted plans stay halted. Only a person with ``risk.rearm_killswitch`` (a risk officer), never a
    system actor.
    """
    _require(actor, "risk.rearm_killswitch", system_allowed=False)
    scope, scope_key = _scope_validate(scope, scope_key)
    reason = (reason or "").strip()
    if not reason:
        raise RiskRefused({"reason": "say why the switch is re-armed"})
    with transaction.atomic():
        switch = KillSwitch.objects.select_for_update().filter(scope=scope, scope_key=scope_key).first()
        if switch is None or switch.state == ScopeState.ACTIVE:
            raise RiskRefused(f"the kill switch {scope_label(scope, scope_key)} is not engaged")
        before = _switch_state(switch)
        switch.state, switch.engaged, switch.reason = ScopeState.ACTIVE, False, reason[:255]
        switch.changed_by, switch.changed_at = actor_label(actor)[:150], clock.now()
        switch.save(update_fields=["state", "engaged", "reason", "changed_by", "changed_at"])
        audit_record(
            actor=actor, action="risk.kill_switch.rearm", obj=switch, before=before, after=_switch_state(switch)
        )
        _switch_broadcast(switch, [])
    return switch


def scope_reducing_set(*, scope: str, scope_key: str, reason: str, actor: Actor) -> KillSwitch:
    """Put a scope in REDUCING: only orders that strictly shrink the book's position pass under it. From ACTIVE or
    from HALTED (a step back from a halt is a risk decision too). Running plans keep running: their
    position-growing children are refused (and the plan halted by the execution worker's rule).
    Risk officers (``risk.engage_killswitch``) and system actors only; audited ``risk.scope_state``."""
    _require(actor, "risk.engage_killswitch", system_allowed=True)
    reason = (reason or "").strip()
    if not reason:
        raise RiskRefused({"reason": "say why the scope is set to reducing"})
    scope, scope_key = _scope_existing(scope, scope_key)
    with transaction.atomic():
        switch = _switch_locked(scope, scope_key)
        if switch.state == ScopeState.REDUCING:
            return switch
        before = _switch_state(switch)
        switch.state, switch.engaged, switch.reason = ScopeState.REDUCING, False, reason[:255]
        switch.changed_by, switch.changed_at = actor_label(actor)[:150], clock.now()
        switch.save(update_fields=["state", "engaged", "reason", "changed_by", "changed_at"])
        audit_record(actor=actor, action="risk.scope_state", obj=switch, before=before, after=_switch_state(switch))
        _switch_broadcast(switch, [])
    return switch


def scope_state_set(*, scope: str, scope_key: str, state: str, reason: str, actor: Actor) -> KillSwitch:
    """Set a scope's state: HALTED engages its kill switch (:func:`kill_switch_engage`), REDUCING lets only
    risk-reducing orders pass (:func:`scope_reducing_set`), ACTIVE re-arms it (:func:`kill_switch_rearm`, a risk
    officer only)."""
    if state not in ScopeState.values:
        raise RiskRefused({"state": f"state must be one of {', '.join(ScopeState.values)}, not {state!r}"})
    action = {
        ScopeState.HALTED: kill_switch_engage,
        ScopeState.REDUCING: scope_reducing_set,
        ScopeState.ACTIVE: kill_switch_rearm,
    }[ScopeState(state)]
    return action(scope=scope, scope_key=scope_key, reason=reason, actor=actor)


def circuit_breaker_trip(*, underlying: str, reason: str) -> KillSwitch:
    """The market-health monitor's breaker: engage the underlying's kill switch (actor ``system:circuit_breaker``).
    ``underlying`` is the market's code, e.g. ``"BTC"``. Only a risk officer re-arms it."""
    return kill_switch_engage(
        scope=LimitScope.UNDERLYING,
        scope_key=underlying,
        reason=f"circuit breaker: {reason}",
        actor=CIRCUIT_BREAKER_ACTOR,
    )
