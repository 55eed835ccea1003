r"""Calibration of the pre-trade models on the desk's own fills: frames in, fits out. Pure: no ORM.

- :func:`sqrt_coefficient_fit` fits ``Y`` of the square-root law (:func:`tca.pretrade.sqrt_law_impact`) by least
  squares through the origin on one observation per parent order::

      impact_bps_i = Y · x_i + e_i,     x_i = σ_daily,i · sqrt(Q_i / ADV_i) · 10⁴

  ``Y = Σ x c / Σ x²``, its standard error ``s / sqrt(Σ x²)`` with ``s² = Σ e² / (n − 1)``, and ``R²`` against the
  mean. The Almgren–Chriss ``η`` follows from ``Y`` (:func:`tca.pretrade.almgren_chriss_parameters`).
- :func:`permanent_coefficient_fit` fits the permanent impact's coefficient ``c`` (Almgren et al. 2005: the mid's
  lasting move is ``c σ_daily Q / ADV``, so ``γ = c σ_daily mid / ADV``) the same way, on the orders the market tape
  covers: ``permanent_bps_i = c · σ_daily,i · (Q_i / ADV_i) · 10⁴ + e_i``, with ``permanent_bps`` the mid's move from
  the arrival to shortly after the last fill (:mod:`tca.sources`), signed against the desk.
- :func:`dealer_terms_fit` fits the dealers' half spread ``a + b · notional / 10⁶`` (basis points) on the desk's
  dealer fills by ordinary least squares.

Both fall back to documented defaults, flagged ``is_default``, when there are fewer than ``min_orders`` usable
observations (default :data:`MIN_ORDERS`); an observation with a missing price (NaN) is not usable and is counted.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from tca import pretrade

MIN_ORDERS = 20
"""Fewest usable parent orders for a fit; fewer give the defaults."""
DEFAULT_SQRT_COEFFICIENT_STD_ERROR = 0.25
"""Standard error given to the default ``Y`` (half of it): a 90 % band of about 0.09–0.91, the literature's spread."""
OBSERVATION_COLUMNS: tuple[str, ...] = ("quantity", "adv", "sigma_daily", "impact_bps")
"""The columns of the square-root fit's observations (optionally ``time``)."""


@dataclass(frozen=True)
class ImpactFit:
    """A fit of the square-root coefficient, with what it was fitted on.

    Attributes
    ----------
    coefficient : ``Y``, dimensionless.
    std_error : standard error of ``Y``.
    residual_bps : the residuals' standard deviation, basis points (0 for the default).
    r_squared : ``1 − SS_res / SS_tot`` (NaN for the default or a constant sample).
    n : usable observations (parent orders).
    unusable : observations left out because a price, a volume or a volatility was missing.
    window_start, window_end : ISO times of the first and last observation ("" when unknown).
    is_default : True when this is the default, not a fit.
    note : what it is, in words.
    """

    coefficient: float
    std_error: float
    residual_bps: float
    r_squared: float
    n: int
    unusable: int
    window_start: str
    window_end: str
    is_default: bool
    note: str

    def as_dict(self) -> dict[str, Any]:
        """The fit as a JSON-ready dict (NaN as None)."""
        return {key: _plain(value) for key, value in asdict(self).items()}


@dataclass(frozen=True)
class DealerFit:
    """A fit of the dealers' half spread ``a + b · notional / 10⁶`` (basis points), like :class:`ImpactFit`."""

    terms: pretrade.DealerTerms
    residual_bps: float
    r_squared: float
    n: int
    unusable: int
    window_start: str
    window_end: str
    is_default: bool
    note: str

    def as_dict(self) -> dict[str, Any]:
        """The fit as a JSON-ready dict (NaN as None)."""
        out = {key: _plain(value) for key, value in asdict(self).items() if key != "terms"}
        return out | {"terms": {key: _plain(value) for key, value in asdict(self.terms).items()}}


def _plain(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _window(frame: pd.DataFrame) -> tuple[str, str]:
    if "time" not in frame.columns or frame.empty:
        return "", ""
    times = pd.to_datetime(frame["time"], utc=True).dropna()
    if times.empty:
        return "", ""
    return times.min().isoformat(), times.max().isoformat()


def _r_squared(observed: np.ndarray, residuals: np.ndarray) -> float:
    total = float(((observed - observed.mean()) ** 2).sum())
    return float("nan") if total == 0.0 else 1.0 - float((residuals**2).sum()) / total


def default_impact_fit(*, n: int = 0, unusable: int = 0, window: tuple[str, str] = ("", "")) -> ImpactFit:
    """The default ``Y`` (:data:`tca.pretrade.DEFAULT_SQRT_COEFFICIENT`), flagged as such."""
    return ImpactFit(
        coefficient=pretrade.DEFAULT_SQRT_COEFFICIENT,
        std_error=DEFAULT_SQRT_COEFFICIENT_STD_ERROR,
        residual_bps=0.0,
        r_squared=float("nan"),
        n=n,
        unusable=unusable,
        window_start=window[0],
        window_end=window[1],
        is_default=True,
        note=(
            f"default Y = {pretrade.DEFAULT_SQRT_COEFFICIENT} (literature), not a fit: {n} usable orders, "
            f"fewer than the {MIN_ORDERS} a fit needs"
        ),
    )


def sqrt_coefficient_fit(observations: pd.DataFrame, *, min_orders: int = MIN_ORDERS) -> ImpactFit:
    """Fit the square-root law's ``Y`` on the desk's parent orders.

    Parameters
    ----------
    observations : one row per parent order: ``quantity`` (coins), ``adv`` (coins per day), ``sigma_daily``
        (fraction), ``impact_bps`` (what the order paid beyond the half spread against its arrival mid, basis
        points, positive when the desk paid) and optionally ``time`` (UTC, for the data window).
        :func:`impact_observations` builds it from the TCA frames.
    min_orders : fewest usable rows for a fit.

    Returns
    -------
    An :class:`ImpactFit`; the default (``is_default``) below ``min_orders`` usable rows.
    """
    if observations.empty:
        return default_impact_fit()
    frame = observations.loc[:, [c for c in (*OBSERVATION_COLUMNS, "time") if c in observations.columns]]
    values = frame.loc[:, list(OBSERVATION_COLUMNS)].astype(float)
    usable_mask = np.isfinite(values.to_numpy()).all(axis=1) & (values["adv"] > 0).to_numpy()
    usable_mask &= (values["quantity"] > 0).to_numpy()
    usable = frame.loc[usable_mask]
    unusable = int((~usable_mask).sum())
    window = _window(usable)
    n = len(usable)
    if n < max(min_orders, 2):
        return default_impact_fit(n=n, unusable=unusable, window=window)
    x = (
        usable["sigma_daily"].to_numpy(dtype=float)
        * np.sqrt(usable["quantity"].to_numpy(dtype=float) / usable["adv"].to_numpy(dtype=float))
        * pretrade.BPS
    )
    c = usable["impact_bps"].to_numpy(dtype=float)
    sxx = float((x * x).sum())
    if sxx == 0.0:
        return default_impact_fit(n=n, unusable=unusable, window=window)
    y = float((x * c).sum()) / sxx
    residuals = c - y * x
    s = math.sqrt(float((residuals**2).sum()) / (n - 1))
    return ImpactFit(
        coefficient=y,
        std_error=s / math.sqrt(sxx),
        residual_bps=s,
        r_squared=_r_squared(c, residuals),
        n=n,
        unusable=unusable,
        window_start=window[0],
        window_end=window[1],
        is_default=False,
        note=f"Y fitted by least squares through the origin on {n} of the desk's parent orders",
    )


def default_permanent_fit(*, n: int = 0, unusable: int = 0, window: tuple[str, str] = ("", "")) -> ImpactFit:
    """The default permanent coefficient (:data:`tca.pretrade.DEFAULT_PERMANENT_COEFFICIENT`), flagged as such."""
    return ImpactFit(
        coefficient=pretrade.DEFAULT_PERMANENT_COEFFICIENT,
        std_error=float("nan"),
        residual_bps=0.0,
        r_squared=float("nan"),
        n=n,
        unusable=unusable,
        window_start=window[0],
        window_end=window[1],
        is_default=True,
        note=(
            f"default permanent coefficient {pretrade.DEFAULT_PERMANENT_COEFFICIENT} (Almgren et al. 2005), not a "
            f"fit: {n} usable orders on the market tape, fewer than the {MIN_ORDERS} a fit needs"
        ),
    )


def permanent_coefficient_fit(observations: pd.DataFrame, *, min_orders: int = MIN_ORDERS) -> ImpactFit:
    """Fit the permanent impact's coefficient ``c`` by least squares through the origin.

    Parameters
    ----------
    observations : one row per parent order: ``quantity`` (coins), ``adv`` (coins per day), ``sigma_daily``
        (fraction), ``permanent_bps`` (the mid's move from the arrival to shortly after the last fill, basis points of
        the arrival mid, positive against the desk; NaN when the tape does not cover the order) and optionally
        ``time``.
    min_orders : fewest usable rows for a fit.

    Returns
    -------
    An :class:`ImpactFit` whose ``coefficient`` is ``c = Σ x y / Σ x²`` with ``x = σ_daily Q / ADV · 10⁴``; the
    default (``is_default``) below ``min_orders`` usable rows.
    """
    columns = ("quantity", "adv", "sigma_daily", "permanent_bps")
    if observations.empty or "permanent_bps" not in observations.columns:
        return default_permanent_fit()
    values = observations.loc[:, list(columns)].astype(float)
    mask = np.isfinite(values.to_numpy()).all(axis=1) & (values["adv"] > 0).to_numpy()
    mask &= (values["quantity"] > 0).to_numpy()
    usable = observations.loc[mask]
    unusable = int((~mask).sum())
    window = _window(usable)
    n = len(usable)
    if n < max(min_orders, 2):
        return default_permanent_fit(n=n, unusable=unusable, window=window)
    x = (
        usable["sigma_daily"].to_numpy(dtype=float)
        * usable["quantity"].to_numpy(dtype=float)
        / usable["adv"].to_numpy(dtype=float)
        * pretrade.BPS
    )
    y = usable["permanent_bps"].to_numpy(dtype=float)
    sxx = float((x * x).sum())
    if sxx == 0.0:
        return default_permanent_fit(n=n, unusable=unusable, window=window)
    c = float((x * y).sum()) / sxx
    residuals = y - c * x
    s = math.sqrt(float((residuals**2).sum()) / (n - 1))
    return ImpactFit(
        coefficient=c,
        std_error=s / math.sqrt(sxx),
        residual_bps=s,
        r_squared=_r_squared(y, residuals),
        n=n,
        unusable=unusable,
        window_start=window[0],
        window_end=window[1],
        is_default=False,
        note=f"permanent coefficient fitted by least squares through the origin on {n} orders on the market tape",
    )


def default_dealer_fit(*, n: int = 0, unusable: int = 0, window: tuple[str, str] = ("", "")) -> DealerFit:
    """The default dealer terms (:class:`tca.pretrade.DealerTerms`), flagged as such."""
    return DealerFit(
        terms=pretrade.DealerTerms(),
        residual_bps=0.0,
        r_squared=float("nan"),
        n=n,
        unusable=unusable,
        window_start=window[0],
        window_end=window[1],
        is_default=True,
        note=f"default dealer terms (the demo panel's median), not a fit: {n} usable dealer orders, fewer than "
        f"the {MIN_ORDERS} a fit needs",
    )


def dealer_terms_fit(
    observations: pd.DataFrame, *, min_orders: int = MIN_ORDERS, leakage_bps: float | None = None
) -> DealerFit:
    """Fit the dealers' half spread against the notional on the desk's dealer orders.

    Parameters
    ----------
    observations : one row per dealer order: ``notional`` (quote currency), ``cost_bps`` (the price against the
        quote's mid, basis points, positive when the desk paid) and optionally ``time``.
    min_orders : fewest usable rows for a fit.
    leakage_bps : the leakage to keep in the terms (None: the default's; measuring it needs a mid history).

    Returns
    -------
    A :class:`DealerFit` whose terms carry ``a``, ``b`` (floored at 0) and the residuals' deviation as ``std_bps``.
    """
    if observations.empty:
        return default_dealer_fit()
    values = observations.loc[:, ["notional", "cost_bps"]].astype(float)
    mask = np.isfinite(values.to_numpy()).all(axis=1)
    usable = observations.loc[mask]
    window = _window(usable)
    n, unusable = len(usable), int((~mask).sum())
    if n < max(min_orders, 3):
        return default_dealer_fit(n=n, unusable=unusable, window=window)
    millions = usable["notional"].to_numpy(dtype=float) / 1e6
    cost = usable["cost_bps"].to_numpy(dtype=float)
    design = np.column_stack([np.ones(n), millions])
    (a, b), *_ = np.linalg.lstsq(design, cost, rcond=None)
    residuals = cost - design @ np.array([a, b])
    s = math.sqrt(float((residuals**2).sum()) / (n - 2))
    default = pretrade.DealerTerms()
    terms = pretrade.DealerTerms(
        half_spread_bps=float(max(a, 0.0)),
        size_spread_bps_per_million=float(max(b, 0.0)),
        leakage_bps=default.leakage_bps if leakage_bps is None else leakage_bps,
        std_bps=s,
    )
    return DealerFit(
        terms=terms,
        residual_bps=s,
        r_squared=_r_squared(cost, residuals),
        n=n,
        unusable=unusable,
        window_start=window[0],
        window_end=window[1],
        is_default=False,
        note=f"dealer half spread fitted by least squares on {n} of the desk's dealer orders; leakage not fitted",
    )


def order_observations(fills: pd.DataFrame, orders: pd.DataFrame) -> pd.DataFrame:
    """One row per parent order from the TCA frames (:func:`tca.sources.fills_and_orders`).

    Returns
    -------
    Columns ``order_id``, ``instrument``, ``source`` (the ``algo`` column: "rfq" for dealer orders), ``quantity``
    (filled contracts), ``notional`` (quote currency), ``time`` (first fill), ``half_spread_bps`` (quantity-weighted,
    of the arrival mid), ``cost_bps`` (``s (VWAP − arrival mid) / arrival mid · 10⁴``) and ``impact_bps``
    (``cost_bps − half_spread_bps``) and ``permanent_bps`` (``s (end mid − arrival mid) / arrival mid · 10⁴``, only
    for orders priced on the market tape: NaN otherwise). NaN where the order has no arrival mid (kept, not dropped).
    """
    columns = ["order_id", "instrument", "source", "quantity", "notional", "time", "half_spread_bps", "cost_bps"]
    if fills.empty or orders.empty:
        return pd.DataFrame(columns=[*columns, "impact_bps", "permanent_bps"])
    frame = fills.assign(
        _qp=fills["quantity"].astype(float) * fills["price"].astype(float),
        _qh=fills["quantity"].astype(float) * fills["half_spread_at_fill"].astype(float),
    )
    grouped = frame.groupby("order_id", sort=False)
    out = grouped.agg(
        instrument=("instrument", "first"),
        source=("algo", "first"),
        quantity=("quantity", "sum"),
        notional=("_qp", "sum"),
        _qh=("_qh", "sum"),
        time=("time", "min"),
    ).reset_index()
    arrival = orders.set_index("order_id")["arrival_mid"].astype(float)
    side = orders.set_index("order_id")["side"].astype(float)
    mid = out["order_id"].map(arrival).astype(float)
    vwap = out["notional"] / out["quantity"]
    out["half_spread_bps"] = out["_qh"] / out["quantity"] / mid * pretrade.BPS
    out["cost_bps"] = out["order_id"].map(side).astype(float) * (vwap - mid) / mid * pretrade.BPS
    out["impact_bps"] = out["cost_bps"] - out["half_spread_bps"]
    indexed = orders.set_index("order_id")
    on_tape = (
        out["order_id"].map(indexed["benchmark_source"] == "tape").fillna(False).astype(bool)
        if "benchmark_source" in orders.columns
        else pd.Series(False, index=out.index)
    )
    end_mid = (
        out["order_id"].map(indexed["end_mid"]).astype(float)
        if "end_mid" in orders.columns
        else pd.Series(np.nan, index=out.index)
    )
    permanent = out["order_id"].map(side).astype(float) * (end_mid - mid) / mid * pretrade.BPS
    out["permanent_bps"] = permanent.where(on_tape.to_numpy())
    return out.loc[:, [*columns, "impact_bps", "permanent_bps"]]


def impact_observations(orders: pd.DataFrame, market: pd.DataFrame) -> pd.DataFrame:
    """The algorithm orders of :func:`order_observations` with their market, for :func:`sqrt_coefficient_fit`.

    Parameters
    ----------
    orders : :func:`order_observations`.
    market : one row per ``instrument``: ``multiplier`` (coins per contract), ``adv`` (coins per day) and
        ``sigma_daily`` (fraction).

    Returns
    -------
    The non-RFQ orders with ``quantity`` in coins, ``adv``, ``sigma_daily``, ``impact_bps`` and ``time``; an
    instrument without a market row gets NaN (counted as unusable by the fit).
    """
    algo = orders.loc[orders["source"] != "rfq"] if "source" in orders.columns else orders
    indexed = (
        market.set_index("instrument")
        if not market.empty
        else pd.DataFrame(columns=["multiplier", "adv", "sigma_daily"])
    )
    multiplier = algo["instrument"].map(indexed["multiplier"]).astype(float)
    return pd.DataFrame(
        {
            "quantity": algo["quantity"].astype(float) * multiplier,
            "adv": algo["instrument"].map(indexed["adv"]).astype(float),
            "sigma_daily": algo["instrument"].map(indexed["sigma_daily"]).astype(float),
            "impact_bps": algo["impact_bps"].astype(float),
            "permanent_bps": (algo["permanent_bps"].astype(float) if "permanent_bps" in algo.columns else float("nan")),
            "time": algo["time"],
        }
    ).reset_index(drop=True)


def dealer_observations(orders: pd.DataFrame) -> pd.DataFrame:
    """The RFQ orders of :func:`order_observations` (``notional``, ``cost_bps``, ``time``) for
    :func:`dealer_terms_fit`."""
    dealer = orders.loc[orders["source"] == "rfq"] if "source" in orders.columns else orders.iloc[0:0]
    return dealer.loc[:, ["notional", "cost_bps", "time"]].reset_index(drop=True)
