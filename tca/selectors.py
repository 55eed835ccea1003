"""Read queries for TCA: the fills of a period, with what the database knows around them, as a pandas frame.

Decimals become floats here, at the boundary (STYLE rule 7); everything after this module is pure pandas.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import pandas as pd
from django.db.models import Count, Max, OuterRef, Subquery, Sum

from desk.market import VOLUME_WINDOW_S, NoVenue, underlying_reference
from desk.models import Instrument, VenueKind
from execution import selectors as execution_selectors
from execution.models import ChildOrder, Fill
from rfq.models import DealerOrder, DealerOrderStatus, QuoteLeg, RFQLeg, Side
from tca import calibration, pretrade
from tca.models import CalibrationFit, FitKind, MarketSample

RAW_FILL_COLUMNS: tuple[str, ...] = (
    "exec_id",
    "source",
    "order_key",
    "instrument",
    "currency",
    "side",
    "quantity",
    "price",
    "fee",
    "executed_at",
    "dealer",
    "algo",
    "trader",
    "leg",
    "quote_bid",
    "quote_offer",
    "first_child_limit",
    "order_target",
    "order_filled_total",
    "order_last_fill_at",
    "decision_at",
    "arrival_at",
    "package",
)
"""The columns of :func:`tca_fills_frame`, one row per fill."""


def _float(value: Decimal | None) -> float:
    return float("nan") if value is None else float(value)


def _leg_label(reference: str, leg_no: int) -> str:
    return f"{reference}/{leg_no}"


def tca_fills_frame(*, start: datetime, end: datetime) -> pd.DataFrame:
    """The fills executed in ``[start, end)`` (UTC), each with its order, its grouping keys and the prices the
    database holds around it: the accepted quote's bid and offer for a dealer fill, the plan's first child's limit
    price for an algorithm's fill.

    Returns
    -------
    A frame with :data:`RAW_FILL_COLUMNS`: ``source`` "dealer" or "algo"; ``order_key`` the parent order (the
    accepted quote's leg, or the execution plan); ``side`` +1/-1; money and quantities as floats (NaN when the
    database has no value); ``order_target`` the order's quantity, ``order_filled_total`` and
    ``order_last_fill_at`` over all of its fills, in the period or not; ``decision_at`` (the RFQ's or the plan's
    creation) and ``arrival_at`` (the RFQ sent, the plan started) for pricing them on the market tape; ``package``
    the RFQ's reference when it has several legs (the package the fill belongs to), else None.
    """
    fills = list(
        Fill.objects.filter(executed_at__gte=start, executed_at__lt=end)
        .select_related(
            "instrument",
            "quote__dealer",
            "quote__rfq__created_by",
            "child_order__plan__created_by",
            "child_order__plan__rfq_leg__rfq",
        )
        .order_by("executed_at", "id")
    )
    if not fills:
        return pd.DataFrame(columns=list(RAW_FILL_COLUMNS))

    quote_ids = {fill.quote_id for fill in fills if fill.quote_id is not None}
    plan_ids = {fill.child_order.plan_id for fill in fills if fill.child_order_id is not None}
    quote_legs = {
        (leg.quote_id, leg.leg.instrument_id): leg
        for leg in QuoteLeg.objects.filter(quote_id__in=quote_ids).select_related("leg__rfq")
    }
    rfq_ids = {fill.quote.rfq_id for fill in fills if fill.quote_id is not None}
    rfq_ids |= {
        fill.child_order.plan.rfq_leg.rfq_id
        for fill in fills
        if fill.child_order_id is not None and fill.child_order.plan.rfq_leg_id
    }
    multi_leg = {
        row["rfq_id"]
        for row in RFQLeg.objects.filter(rfq_id__in=rfq_ids).values("rfq_id").annotate(legs=Count("id"))
        if row["legs"] > 1
    }
    dealer_targets: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    for order in (
        DealerOrder.objects.filter(quote_id__in=quote_ids, leg__isnull=False)
        .exclude(status=DealerOrderStatus.REJECTED)
        .select_related("leg")
    ):
        dealer_targets[(order.quote_id, order.leg.instrument_id)] += order.quantity
    first_seq = ChildOrder.objects.filter(plan_id=OuterRef("plan_id")).order_by("seq").values("seq")[:1]
    first_limits = {
        child.plan_id: child.limit_price
        for child in ChildOrder.objects.filter(plan_id__in=plan_ids, seq=Subquery(first_seq))
    }
    quote_totals = {
        (row["quote_id"], row["instrument_id"]): (row["total"], row["last"])
        for row in Fill.objects.filter(quote_id__in=quote_ids)
        .values("quote_id", "instrument_id")
        .annotate(total=Sum("quantity"), last=Max("executed_at"))
    }
    plan_totals = {
        row["child_order__plan_id"]: (row["total"], row["last"])
        for row in Fill.objects.filter(child_order__plan_id__in=plan_ids)
        .values("child_order__plan_id")
        .annotate(total=Sum("quantity"), last=Max("executed_at"))
    }

    rows = []
    for fill in fills:
        row: dict[str, object] = {
            "exec_id": fill.exec_id,
            "instrument": fill.instrument.symbol,
            "currency": fill.instrument.quote_currency,
            "side": 1 if fill.side == Side.BUY else -1,
            "quantity": _float(fill.quantity),
            "price": _float(fill.price),
            "fee": _float(fill.fee),
            "executed_at": fill.executed_at,
            "quote_bid": float("nan"),
            "quote_offer": float("nan"),
            "first_child_limit": float("nan"),
        }
        if fill.quote_id is not None:
            quote = fill.quote
            key = (quote.pk, fill.instrument_id)
            quote_leg = quote_legs.get(key)
            total, last = quote_totals[key]
            row |= {
                "source": "dealer",
                "order_key": f"quote:{quote.pk}:{fill.instrument_id}",
                "dealer": quote.dealer.code,
                "algo": "rfq",
                "trader": quote.rfq.created_by.get_username(),
                "leg": _leg_label(quote.rfq.reference, quote_leg.leg.leg_no) if quote_leg else quote.rfq.reference,
                "order_target": _float(dealer_targets.get(key) or total),
                "order_filled_total": _float(total),
                "order_last_fill_at": last,
                "decision_at": quote.rfq.created_at,
                "arrival_at": quote.rfq.sent_at or quote.rfq.created_at,
                "package": quote.rfq.reference if quote.rfq_id in multi_leg else None,
            }
            if quote_leg is not None:
                row |= {"quote_bid": _float(quote_leg.bid_price), "quote_offer": _float(quote_leg.offer_price)}
        else:
            plan = fill.child_order.plan
            total, last = plan_totals[plan.pk]
            leg = plan.rfq_leg
            row |= {
                "source": "algo",
                "order_key": f"plan:{plan.pk}",
                "dealer": "venue",
                "algo": plan.algorithm,
                "trader": plan.created_by.get_username(),
                "leg": _leg_label(leg.rfq.reference, leg.leg_no) if leg else f"plan-{plan.pk}",
                "order_target": _float(plan.quantity),
                "order_filled_total": _float(total),
                "order_last_fill_at": last,
                "first_child_limit": _float(first_limits.get(plan.pk)),
                "decision_at": plan.created_at,
                "arrival_at": plan.start_at or plan.created_at,
                "package": leg.rfq.reference if leg is not None and leg.rfq_id in multi_leg else None,
            }
        rows.append(row)
    return pd.DataFrame(rows, columns=list(RAW_FILL_COLUMNS))


# --- the market tape ----------------------------------------------------------------------------------------------

TAPE_COLUMNS: tuple[str, ...] = ("time", "instrument", "mid", "volume", "spread", "regime", "volatility")
"""The columns of :func:`market_tape_frame`."""


def market_tape_frame(
    *, start: datetime, end: datetime, instruments: Iterable[str | Instrument] | None = None
) -> pd.DataFrame:
    """The stored market tape in ``[start, end]`` (UTC), one row per sample, ordered by time then instrument.

    Parameters
    ----------
    start, end : UTC-aware bounds, both included.
    instruments : symbols or :class:`~desk.models.Instrument` rows to keep; None: every instrument.

    Returns
    -------
    Columns :data:`TAPE_COLUMNS`: ``time`` (UTC ``datetime64``), ``instrument`` (symbol), ``mid`` and ``spread``
    (quote currency per contract, floats; ``spread`` NaN when unknown), ``volume`` (contracts the market traded
    since the previous sample), ``regime`` (name, None when unknown), ``volatility`` (annualized fraction, NaN when
    unknown). Empty with these columns when nothing was recorded.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be UTC-aware datetimes")
    if start > end:
        raise ValueError(f"start {start.isoformat()} is after end {end.isoformat()}")
    rows = MarketSample.objects.filter(sampled_at__gte=start, sampled_at__lte=end)
    if instruments is not None:
        symbols = [item.symbol if isinstance(item, Instrument) else str(item) for item in instruments]
        rows = rows.filter(instrument__symbol__in=symbols)
    values = list(
        rows.order_by("sampled_at", "instrument__symbol").values_list(
            "sampled_at", "instrument__symbol", "mid", "volume", "spread", "regime", "volatility"
        )
    )
    frame = pd.DataFrame(values, columns=list(TAPE_COLUMNS))
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    for name in ("mid", "volume", "spread", "volatility"):
        frame[name] = pd.to_numeric(frame[name].map(_float), errors="coerce").astype(float)
    frame["regime"] = frame["regime"].where(frame["regime"].astype(bool), None)
    return frame


# --- the venues' market now (pre-trade inputs) ----------------------------------------------------------------------


class NoMarket(Exception):
    """The instrument's underlying has no venue book to price the estimate against."""


def market_inputs(underlying: str) -> pretrade.MarketInputs:
    """The lit venues' market for ``underlying`` now: mid, tightest half spread, volatility and a daily volume.

    Raises :class:`NoMarket` when the underlying has no venue book."""
    books = [row for row in execution_selectors.venue_books(underlying=underlying) if row.kind == VenueKind.LIT]
    if not books:
        raise NoMarket(f"no venue book for {underlying}: the simulated market has not priced it yet")
    volume_5m = float(books[0].volume_5m)
    if volume_5m > 0:
        adv, adv_source = volume_5m * 86_400.0 / VOLUME_WINDOW_S, "the last 5 minutes' market volume, scaled to a day"
    else:
        try:
            adv, adv_source = (
                underlying_reference(underlying).daily_volume,
                "the simulated market's average daily volume",
            )
        except NoVenue as error:
            raise NoMarket(str(error)) from None
    return pretrade.MarketInputs(
        mid=float(books[0].mid),
        half_spread_bps=min(float(row.half_spread_bps) for row in books),
        volatility_annual=float(books[0].volatility),
        adv=adv,
        adv_source=adv_source,
    )


# --- stored calibration fits ----------------------------------------------------------------------------------------


def calibration_fit_latest(*, kind: str, underlying: str = "") -> CalibrationFit | None:
    """The newest stored fit of ``kind`` for ``underlying`` (``""``: the desk-wide fit), or None."""
    return CalibrationFit.objects.filter(kind=kind, underlying=underlying).order_by("-created_at", "-id").first()


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def _none_to_nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def impact_fit_from_row(row: CalibrationFit | None) -> calibration.ImpactFit:
    """A stored square-root fit as the :class:`tca.calibration.ImpactFit` the estimates take (the default when
    None)."""
    if row is None:
        fit = calibration.default_impact_fit()
        return replace(fit, note=fit.note + "; no stored fit yet (tca_calibrate, or the hourly refit)")
    return calibration.ImpactFit(
        coefficient=float(row.parameters["coefficient"]),
        std_error=_none_to_nan(row.std_error),
        residual_bps=_none_to_nan(row.residual_bps) if row.residual_bps is not None else 0.0,
        r_squared=_none_to_nan(row.r_squared),
        n=row.n,
        unusable=row.unusable,
        window_start=_iso(row.data_start),
        window_end=_iso(row.data_end),
        is_default=row.is_default,
        note=f"{row.note} (stored fit {row.pk} of {row.created_at.isoformat()})",
    )


def dealer_fit_from_row(row: CalibrationFit | None) -> calibration.DealerFit:
    """A stored dealer-terms fit as a :class:`tca.calibration.DealerFit` (the default when None)."""
    if row is None:
        fit = calibration.default_dealer_fit()
        return replace(fit, note=fit.note + "; no stored fit yet (tca_calibrate, or the hourly refit)")
    return calibration.DealerFit(
        terms=pretrade.DealerTerms(**{key: float(value) for key, value in row.parameters.items()}),
        residual_bps=_none_to_nan(row.residual_bps) if row.residual_bps is not None else 0.0,
        r_squared=_none_to_nan(row.r_squared),
        n=row.n,
        unusable=row.unusable,
        window_start=_iso(row.data_start),
        window_end=_iso(row.data_end),
        is_default=row.is_default,
        note=f"{row.note} (stored fit {row.pk} of {row.created_at.isoformat()})",
    )


@dataclass(frozen=True)
class ImpactParams:
    """The impact parameters an execution plan can use for one underlying (see :mod:`tca.pretrade`).

    Attributes
    ----------
    underlying : the market code (``BTC``).
    sqrt_coefficient : ``Y`` of the square-root law, dimensionless; ``sqrt_coefficient_std_error`` its error.
    residual_bps : the fit's residual deviation, basis points.
    permanent_coefficient : permanent impact in daily standard deviations per day's volume, fitted on the orders the
        market tape covers (the literature's 0.314 until then); ``permanent_scope`` and ``permanent_fit_id`` say
        which fit, like ``scope`` and ``fit_id`` for ``Y``.
    reference_participation : ``ρ`` tying Almgren–Chriss's linear ``η`` to ``Y``
        (:func:`tca.pretrade.almgren_chriss_parameters` turns these into ``η``, ``γ`` for an order).
    fit_id, fitted_at, n, is_default, scope : which stored fit (None / "" for the default), its size, whether it is
        the literature default, and ``"underlying"``, ``"desk"`` (the desk-wide fit) or ``"default"``.
    """

    underlying: str
    sqrt_coefficient: float
    sqrt_coefficient_std_error: float
    residual_bps: float
    permanent_coefficient: float
    permanent_scope: str
    permanent_fit_id: int | None
    reference_participation: float
    fit_id: int | None
    fitted_at: str
    n: int
    is_default: bool
    scope: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def latest_fit_for(kind: str, underlying: str) -> tuple[str, CalibrationFit | None]:
    """The underlying's latest real fit of ``kind``, else the desk-wide one, else none: ``(scope, row)``."""
    row = calibration_fit_latest(kind=kind, underlying=underlying)
    if row is not None and not row.is_default:
        return "underlying", row
    row = calibration_fit_latest(kind=kind, underlying="")
    if row is not None and not row.is_default:
        return "desk", row
    return "default", None


def impact_params_latest(instrument_or_underlying: str | Instrument) -> ImpactParams:
    """The latest stored impact fits for an instrument's underlying (a symbol, an Instrument or a market code such
    as ``"BTC"``): for each of ``Y`` and the permanent coefficient, the underlying's own fit, else the desk-wide fit,
    else the literature default (flagged). A stored fit that fell back to the default (too few orders) is skipped."""
    if isinstance(instrument_or_underlying, Instrument):
        underlying = instrument_or_underlying.base_currency
    else:
        found = Instrument.objects.filter(symbol=instrument_or_underlying).values_list("base_currency", flat=True)
        underlying = found[0] if found else str(instrument_or_underlying)
    scope, row = latest_fit_for(FitKind.SQRT_IMPACT, underlying)
    fit = impact_fit_from_row(row)
    permanent_scope, permanent_row = latest_fit_for(FitKind.PERMANENT_IMPACT, underlying)
    return ImpactParams(
        underlying=underlying,
        sqrt_coefficient=fit.coefficient,
        sqrt_coefficient_std_error=fit.std_error,
        residual_bps=fit.residual_bps,
        permanent_coefficient=(
            float(permanent_row.parameters["coefficient"])
            if permanent_row is not None
            else pretrade.DEFAULT_PERMANENT_COEFFICIENT
        ),
        permanent_scope=permanent_scope,
        permanent_fit_id=None if permanent_row is None else permanent_row.pk,
        reference_participation=pretrade.DEFAULT_REFERENCE_PARTICIPATION,
        fit_id=None if row is None else row.pk,
        fitted_at="" if row is None else row.created_at.isoformat(),
        n=fit.n,
        is_default=fit.is_default,
        scope=scope,
    )
