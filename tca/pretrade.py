r"""Pre-trade cost estimates: the square-root law, Almgren–Chriss, and RFQ now against an algorithm or a split. Pure.

Every cost is in **basis points of the order's notional at the arrival mid** (``quantity × mid``), positive when the
desk pays, whatever the side (impact and spreads cost a buyer and a seller alike). Quantities are in units of the
underlying (coins) and ``adv`` in the same units per day; volatilities are fractions (``0.03`` is 3 % a day).

Square-root law (Torre 1997 for Barra; Almgren, Thum, Hauptmann & Li 2005; Tóth et al. 2011)::

    cost_bps = spread_bps / 2 + Y · σ_daily · sqrt(Q / ADV) · 10⁴

with ``Y`` the dimensionless impact coefficient, of order 0.5–1 in the literature and fitted on the desk's own
fills by :mod:`tca.calibration`. It prices the whole (meta-)order, whatever its horizon within the day.

Almgren–Chriss (2000), through :func:`execution.kernels.almgren_chriss` (linear temporary impact ``η v``, permanent
``γ`` per coin, fixed cost ``ε`` per coin, the risk ``λ V``). The linear model is tied to the square-root law at a
reference participation rate ``ρ`` (default 10 % of volume): ``η`` is set so that a linear (TWAP) schedule at
``ρ`` pays the temporary impact the square-root law gives the whole order (see :func:`almgren_chriss_parameters`).
Faster schedules pay more, slower ones carry more price risk; the recommended horizon minimises ``E + λ V`` over a
grid of horizons (:func:`recommended_horizon`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from execution import kernels

SECONDS_PER_DAY = 86_400.0
DAYS_PER_YEAR = 365.0
"""Crypto trades every calendar day: a year of variance is 365 days (as in :mod:`desk.market`)."""
BPS = 1e4

DEFAULT_SQRT_COEFFICIENT = 0.5
"""``Y`` of the square-root law when the desk has too few fills to fit it: the low end of the 0.5–1 range reported
for equities (Torre 1997; Tóth et al. 2011; Bouchaud et al. 2018, ch. 12), and about what the simulated market's
own impact model (temporary ``0.01 sqrt(x)`` plus permanent ``0.05 x`` of the mid at 60 % volatility,
:mod:`desk.impact`) costs an order of 1 % of the day's volume."""
DEFAULT_PERMANENT_COEFFICIENT = 0.314
"""Permanent impact in daily standard deviations per day's volume traded (Almgren et al. 2005, ``γ = 0.314``):
``γ_AC = 0.314 σ_daily · mid / ADV`` quote currency per coin per coin."""
DEFAULT_REFERENCE_PARTICIPATION = 0.10
"""Participation rate (share of market volume) at which the linear Almgren–Chriss impact equals the square-root law."""
DEFAULT_RISK_AVERSION_BPS = 0.01
"""Risk aversion per basis point: the objective in basis points is ``E_bps + k std_bps²``, so with ``k = 0.01`` a
standard deviation of 10 bps weighs as much as 1 bp of expected cost. The kernel's ``λ`` (1 / quote currency) is
``k 10⁴ / notional`` (:func:`risk_aversion_for`), the same preference for every order size."""
DEFAULT_SLICE_S = 60.0
"""Seconds per Almgren–Chriss period: the simulated market's impact half-life, so children hardly stack."""
MAX_PERIODS = 1_440
DEFAULT_HORIZONS_S: tuple[float, ...] = (
    60.0,
    300.0,
    900.0,
    1_800.0,
    3_600.0,
    7_200.0,
    14_400.0,
    28_800.0,
    57_600.0,
    86_400.0,
)
"""The grid of horizons (seconds, 1 minute to 1 day) the recommended horizon is chosen from."""
DEFAULT_LEVEL = 0.90
"""Two-sided coverage of the confidence bands."""
DEFAULT_SPLIT_SHARES: tuple[float, ...] = (0.25, 0.5, 0.75)
"""Shares of the order sent by RFQ in the split path; the cheapest one is reported."""


def daily_volatility(volatility_annual: float) -> float:
    """Daily standard deviation of returns (fraction) from an annualized volatility (fraction, 365-day year)."""
    return volatility_annual / math.sqrt(DAYS_PER_YEAR)


def sqrt_law_impact(quantity: float, adv: float, sigma_daily: float, y: float = DEFAULT_SQRT_COEFFICIENT) -> float:
    """Market impact of the square-root law, without the spread.

    Parameters
    ----------
    quantity : order size, coins, >= 0.
    adv : average daily volume, coins per day, > 0.
    sigma_daily : daily volatility, fraction (0.03 is 3 %).
    y : the dimensionless coefficient ``Y``.

    Returns
    -------
    ``Y σ_daily sqrt(Q / ADV)`` in basis points of the notional.
    """
    if quantity < 0 or not adv > 0 or sigma_daily < 0:
        raise ValueError("quantity and sigma_daily must not be negative, adv must be positive")
    return y * sigma_daily * math.sqrt(quantity / adv) * BPS


def sqrt_law_cost(
    quantity: float, adv: float, sigma_daily: float, spread_bps: float, y: float = DEFAULT_SQRT_COEFFICIENT
) -> float:
    """Expected cost of an order by the square-root law: half the quoted spread plus the impact.

    Parameters
    ----------
    quantity : order size, coins, >= 0.
    adv : average daily volume, coins per day, > 0.
    sigma_daily : daily volatility, fraction.
    spread_bps : the full quoted bid-offer spread, basis points of the mid (half of it is paid).
    y : the square-root coefficient ``Y`` (:data:`DEFAULT_SQRT_COEFFICIENT`, or a fit of :mod:`tca.calibration`).

    Returns
    -------
    ``spread_bps / 2 + Y σ_daily sqrt(Q / ADV) 10⁴``, basis points of the notional at the mid.
    """
    if spread_bps < 0:
        raise ValueError("spread_bps must not be negative")
    return spread_bps / 2.0 + sqrt_law_impact(quantity, adv, sigma_daily, y)


@dataclass(frozen=True)
class Band:
    """A two-sided confidence band of a cost, basis points; ``level`` is its coverage (0.9 is 90 %)."""

    low_bps: float
    high_bps: float
    level: float


def _z(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError("level must be in (0, 1)")
    # The normal quantile by bisection on erf: no scipy for one number.
    target = 0.5 + level / 2.0
    low, high = 0.0, 10.0
    for _ in range(80):
        mid = (low + high) / 2.0
        if 0.5 * (1.0 + math.erf(mid / math.sqrt(2.0))) < target:
            low = mid
        else:
            high = mid
    return (low + high) / 2.0


def cost_band(expected_bps: float, *, std_bps: Sequence[float], level: float = DEFAULT_LEVEL) -> Band:
    """A normal band around an expected cost from independent sources of uncertainty.

    Parameters
    ----------
    expected_bps : the expected cost, basis points.
    std_bps : standard deviations of the independent sources, basis points (the price risk of the schedule, the
        uncertainty of a fitted coefficient, a fit's residual error, the dispersion of dealer quotes).
    level : coverage, e.g. 0.9.

    Returns
    -------
    ``expected ± z_level sqrt(Σ std²)``.
    """
    half = _z(level) * math.sqrt(sum(s * s for s in std_bps))
    return Band(low_bps=expected_bps - half, high_bps=expected_bps + half, level=level)


# --- Almgren–Chriss ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlmgrenChrissParameters:
    """The kernel's inputs in its units: seconds and quote currency per coin.

    Attributes
    ----------
    sigma : price volatility, quote currency per coin per sqrt(second).
    eta : temporary impact, quote currency per coin per (coin per second).
    gamma : permanent impact, quote currency per coin per coin.
    epsilon : fixed cost, quote currency per coin (the venue's half spread).
    risk_aversion : ``λ``, 1 / quote currency.
    """

    sigma: float
    eta: float
    gamma: float
    epsilon: float
    risk_aversion: float


def almgren_chriss_parameters(
    *,
    quantity: float,
    mid: float,
    sigma_daily: float,
    adv: float,
    half_spread_bps: float,
    y: float = DEFAULT_SQRT_COEFFICIENT,
    reference_participation: float = DEFAULT_REFERENCE_PARTICIPATION,
    permanent_coefficient: float = DEFAULT_PERMANENT_COEFFICIENT,
    risk_aversion: float | None = None,
    risk_aversion_bps: float = DEFAULT_RISK_AVERSION_BPS,
) -> AlmgrenChrissParameters:
    """Almgren–Chriss parameters tied to the square-root law for this order.

    Parameters
    ----------
    quantity : order size, coins, > 0.
    mid : arrival mid, quote currency per coin, > 0.
    sigma_daily : daily volatility, fraction.
    adv : average daily volume, coins per day.
    half_spread_bps : the venue's half spread, basis points (the fixed cost ``ε``).
    y : square-root coefficient ``Y``.
    reference_participation : ``ρ``, share of market volume at which the linear impact matches the square-root law.
    permanent_coefficient : permanent impact in daily standard deviations per ADV traded.
    risk_aversion : ``λ``, 1 / quote currency; None: from ``risk_aversion_bps`` (:func:`risk_aversion_for`).
    risk_aversion_bps : ``k``, 1 / basis point (:data:`DEFAULT_RISK_AVERSION_BPS`).

    Returns
    -------
    ``σ = mid σ_daily / sqrt(86 400)``; ``η = Y σ_daily mid sqrt(Q / ADV) T_ρ / Q`` with ``T_ρ = Q / (ρ ADV)`` days
    in seconds (a TWAP over ``T_ρ`` pays ``η Q / T_ρ`` a coin, the square-root law's impact); ``γ = c σ_daily mid /
    ADV``; ``ε = mid h / 10⁴``.
    """
    if not quantity > 0 or not mid > 0 or not adv > 0 or not 0 < reference_participation <= 1:
        raise ValueError("quantity, mid and adv must be positive, reference_participation in (0, 1]")
    reference_horizon_s = quantity / (reference_participation * adv) * SECONDS_PER_DAY
    impact_fraction = sqrt_law_impact(quantity, adv, sigma_daily, y) / BPS
    return AlmgrenChrissParameters(
        sigma=mid * sigma_daily / math.sqrt(SECONDS_PER_DAY),
        eta=max(impact_fraction * mid * reference_horizon_s / quantity, 1e-18),
        gamma=permanent_coefficient * sigma_daily * mid / adv,
        epsilon=mid * half_spread_bps / BPS,
        risk_aversion=risk_aversion_for(quantity * mid, risk_aversion_bps) if risk_aversion is None else risk_aversion,
    )


def risk_aversion_for(notional: float, risk_aversion_bps: float = DEFAULT_RISK_AVERSION_BPS) -> float:
    """The kernel's ``λ`` (1 / quote currency) for an order of ``notional`` (quote currency) whose objective in basis
    points is ``E_bps + k std_bps²``: ``λ = k 10⁴ / notional``."""
    if not notional > 0 or risk_aversion_bps < 0:
        raise ValueError("notional must be positive and risk_aversion_bps not negative")
    return risk_aversion_bps * BPS / notional


@dataclass(frozen=True)
class AlmgrenChrissEstimate:
    """One Almgren–Chriss schedule and what it is expected to cost.

    Attributes
    ----------
    horizon_s, periods : the schedule's horizon (seconds) and number of periods.
    expected_bps : ``E`` over the notional, basis points.
    std_bps : ``sqrt(V)`` over the notional, basis points (the price risk of what is still held).
    objective : ``E + λ V``, quote currency.
    parts : ``E`` split into ``half_spread``, ``impact_temporary`` and ``impact_permanent``, basis points.
    holdings : ``x_0 .. x_N``, coins still to trade at the start of each period.
    """

    horizon_s: float
    periods: int
    expected_bps: float
    std_bps: float
    objective: float
    parts: dict[str, float]
    holdings: tuple[float, ...] = field(repr=False)


def periods_for(horizon_s: float, slice_s: float = DEFAULT_SLICE_S) -> int:
    """Number of periods of a schedule over ``horizon_s`` seconds with periods of about ``slice_s`` seconds."""
    return int(min(max(round(horizon_s / slice_s), 1), MAX_PERIODS))


def almgren_chriss_estimate(
    *, quantity: float, mid: float, horizon_s: float, periods: int, parameters: AlmgrenChrissParameters
) -> AlmgrenChrissEstimate:
    """Expected cost and risk of the Almgren–Chriss schedule of ``quantity`` coins over ``horizon_s`` seconds.

    Parameters
    ----------
    quantity : coins, > 0.
    mid : arrival mid, quote currency per coin.
    horizon_s : seconds, > 0.
    periods : number of periods ``N``.
    parameters : see :func:`almgren_chriss_parameters`. ``η`` is floored at ``γ τ`` (as in
        :func:`execution.schedule.plan_schedule`) so that ``η − γ τ / 2`` stays positive on long periods.

    Returns
    -------
    The kernel's ``E`` and ``sqrt(V)`` in basis points of ``quantity × mid``, with ``E`` split into its parts.
    """
    tau = horizon_s / periods
    eta = max(parameters.eta, parameters.gamma * tau)
    holdings, expected, variance = kernels.almgren_chriss(
        float(quantity),
        float(horizon_s),
        int(periods),
        parameters.sigma,
        eta,
        parameters.gamma,
        parameters.risk_aversion,
        parameters.epsilon,
    )
    notional = quantity * mid
    permanent = 0.5 * parameters.gamma * quantity * quantity
    spread = parameters.epsilon * float(np.abs(np.diff(holdings)).sum())
    return AlmgrenChrissEstimate(
        horizon_s=float(horizon_s),
        periods=int(periods),
        expected_bps=expected / notional * BPS,
        std_bps=math.sqrt(max(variance, 0.0)) / notional * BPS,
        objective=expected + parameters.risk_aversion * variance,
        parts={
            "half_spread": spread / notional * BPS,
            "impact_temporary": (expected - permanent - spread) / notional * BPS,
            "impact_permanent": permanent / notional * BPS,
        },
        holdings=tuple(float(x) for x in holdings),
    )


def recommended_horizon(
    *,
    quantity: float,
    mid: float,
    parameters: AlmgrenChrissParameters,
    horizons_s: Sequence[float] = DEFAULT_HORIZONS_S,
    slice_s: float = DEFAULT_SLICE_S,
) -> tuple[AlmgrenChrissEstimate, list[AlmgrenChrissEstimate]]:
    """The horizon that minimises ``E + λ V`` over a grid, and the estimate at every horizon of the grid.

    Parameters
    ----------
    quantity, mid, parameters : as :func:`almgren_chriss_estimate`.
    horizons_s : candidate horizons, seconds.
    slice_s : seconds per period (:func:`periods_for`).

    Returns
    -------
    ``(best, grid)``: ``best`` the grid's estimate with the least objective (the shortest on a tie).
    """
    if not horizons_s:
        raise ValueError("horizons_s must not be empty")
    grid = [
        almgren_chriss_estimate(
            quantity=quantity, mid=mid, horizon_s=h, periods=periods_for(h, slice_s), parameters=parameters
        )
        for h in sorted(horizons_s)
    ]
    best = min(grid, key=lambda estimate: estimate.objective)
    return best, grid


# --- RFQ now, algorithm, split ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DealerTerms:
    """What a dealer's price typically costs the desk, basis points of the notional.

    Defaults are the median of the demo dealer panel (:data:`sim.dealers.profiles.DEMO_PROFILES`): a half spread of
    4.5 bps plus 5.5 bps per million of notional, leakage about 1.2 bps (probability × impact, averaged over the
    panel), quote dispersion about 1 bp. :func:`tca.calibration.dealer_terms_fit` fits the spread on the desk's own
    dealer fills.

    Attributes
    ----------
    half_spread_bps : half the dealers' bid-offer at zero size.
    size_spread_bps_per_million : extra half spread per million of notional (quote currency).
    leakage_bps : adverse move of the mid caused by asking (dealers trading ahead), paid on the whole order.
    std_bps : dispersion of the cost of a dealer's price around the model.
    """

    half_spread_bps: float = 4.5
    size_spread_bps_per_million: float = 5.5
    leakage_bps: float = 1.2
    std_bps: float = 1.0

    def half_spread_for(self, notional: float) -> float:
        """Half the typical dealer spread for ``notional`` (quote currency), basis points."""
        return self.half_spread_bps + self.size_spread_bps_per_million * notional / 1e6


@dataclass(frozen=True)
class PathCost:
    """The expected cost of one way to execute the whole order.

    Attributes
    ----------
    name : ``"rfq"`` (ask dealers now), ``"algo"`` (work it on the venues) or ``"split"``.
    expected_bps : basis points of the whole order's notional.
    expected_cost : quote currency.
    band : confidence band, basis points.
    parts : the expected cost's parts, basis points of the whole order's notional; they add up to ``expected_bps``.
    horizon_s : the algorithm's horizon (0 for the RFQ).
    rfq_share : share of the order sent by RFQ (1 for the RFQ, 0 for the algorithm).
    """

    name: str
    expected_bps: float
    expected_cost: float
    band: Band
    parts: dict[str, float]
    horizon_s: float
    rfq_share: float


@dataclass(frozen=True)
class Comparison:
    """RFQ now, the algorithm and the best split side by side, with the cheapest recommended and why."""

    paths: tuple[PathCost, ...]
    recommended: str
    reason: str


def _rfq_path(*, quantity: float, mid: float, dealer: DealerTerms, level: float) -> PathCost:
    notional = quantity * mid
    parts = {"dealer_half_spread": dealer.half_spread_for(notional), "leakage": dealer.leakage_bps}
    expected = sum(parts.values())
    band = cost_band(expected, std_bps=[dealer.std_bps], level=level)
    return PathCost("rfq", expected, expected * notional / BPS, band, parts, 0.0, 1.0)


def _algo_path(
    *,
    quantity: float,
    mid: float,
    parameters: AlmgrenChrissParameters,
    parameter_rel_std: float,
    level: float,
    horizons_s: Sequence[float],
) -> tuple[PathCost, AlmgrenChrissEstimate]:
    best, _ = recommended_horizon(quantity=quantity, mid=mid, parameters=parameters, horizons_s=horizons_s)
    impact = best.parts["impact_temporary"] + best.parts["impact_permanent"]
    band = cost_band(best.expected_bps, std_bps=[best.std_bps, parameter_rel_std * impact], level=level)
    notional = quantity * mid
    path = PathCost(
        "algo", best.expected_bps, best.expected_bps * notional / BPS, band, dict(best.parts), best.horizon_s, 0.0
    )
    return path, best


def compare_paths(
    *,
    quantity: float,
    mid: float,
    adv: float,
    sigma_daily: float,
    half_spread_bps: float,
    y: float = DEFAULT_SQRT_COEFFICIENT,
    y_std_error: float = 0.0,
    dealer: DealerTerms | None = None,
    risk_aversion_bps: float = DEFAULT_RISK_AVERSION_BPS,
    reference_participation: float = DEFAULT_REFERENCE_PARTICIPATION,
    split_shares: Sequence[float] = DEFAULT_SPLIT_SHARES,
    horizons_s: Sequence[float] = DEFAULT_HORIZONS_S,
    level: float = DEFAULT_LEVEL,
) -> Comparison:
    """Expected cost of asking dealers now, of working the order by algorithm, and of a split, side by side.

    Parameters
    ----------
    quantity : order size, coins, > 0.
    mid : arrival mid, quote currency per coin.
    adv : average daily volume, coins per day.
    sigma_daily : daily volatility, fraction.
    half_spread_bps : the venues' half spread, basis points.
    y, y_std_error : the square-root coefficient and its standard error (a fit's, or the default's).
    dealer : the dealers' typical terms (:class:`DealerTerms` defaults when None).
    risk_aversion_bps : ``k`` of :func:`risk_aversion_for`, 1 / basis point (each part is judged on its own size).
    reference_participation : see :func:`almgren_chriss_parameters`.
    split_shares : candidate shares of the order sent by RFQ in the split.
    horizons_s : candidate algorithm horizons, seconds.
    level : coverage of the bands.

    Returns
    -------
    A :class:`Comparison` of three :class:`PathCost`, costs in basis points of the whole order at the mid:

    - ``rfq``: half the typical dealer spread for the size plus the leakage of asking;
    - ``algo``: Almgren–Chriss at the recommended horizon (venue half spread, temporary and permanent impact); its
      band adds the schedule's price risk and the coefficient's uncertainty;
    - ``split``: the cheapest of ``split_shares``: ``w`` by RFQ at its dealer cost, the rest by algorithm at its own
      recommended horizon; the RFQ's leakage moves the mid the algorithm then trades from, so the remainder pays it
      too. The two halves' uncertainties are taken as independent.

    The recommendation is the least risk-adjusted cost ``expected_bps + k std_bps²`` (the same ``k`` as the
    horizon's); the reason says by how much, and when the bands of the best two overlap.
    """
    dealer = dealer or DealerTerms()
    if not quantity > 0:
        raise ValueError("quantity must be positive")
    rel_std = y_std_error / y if y > 0 else 0.0

    def algo(size: float) -> PathCost:
        parameters = almgren_chriss_parameters(
            quantity=size,
            mid=mid,
            sigma_daily=sigma_daily,
            adv=adv,
            half_spread_bps=half_spread_bps,
            y=y,
            reference_participation=reference_participation,
            risk_aversion_bps=risk_aversion_bps,
        )
        path, _ = _algo_path(
            quantity=size, mid=mid, parameters=parameters, parameter_rel_std=rel_std, level=level, horizons_s=horizons_s
        )
        return path

    rfq = _rfq_path(quantity=quantity, mid=mid, dealer=dealer, level=level)
    whole_algo = algo(quantity)
    z = _z(level)
    splits: list[PathCost] = []
    for share in split_shares:
        if not 0.0 < share < 1.0:
            continue
        part_rfq = _rfq_path(quantity=quantity * share, mid=mid, dealer=dealer, level=level)
        part_algo = algo(quantity * (1.0 - share))
        parts = {
            "dealer_half_spread": share * part_rfq.parts["dealer_half_spread"],
            "leakage": dealer.leakage_bps,
            **{name: (1.0 - share) * value for name, value in part_algo.parts.items()},
        }
        expected = sum(parts.values())
        rfq_std = (part_rfq.band.high_bps - part_rfq.expected_bps) / z
        algo_std = (part_algo.band.high_bps - part_algo.expected_bps) / z
        band = cost_band(expected, std_bps=[share * rfq_std, (1.0 - share) * algo_std], level=level)
        notional = quantity * mid
        splits.append(PathCost("split", expected, expected * notional / BPS, band, parts, part_algo.horizon_s, share))
    paths = [rfq, whole_algo]
    if splits:
        paths.append(min(splits, key=lambda path: path.expected_bps))

    def score(path: PathCost) -> float:
        std = (path.band.high_bps - path.expected_bps) / z
        return path.expected_bps + risk_aversion_bps * std * std

    ranked = sorted(paths, key=score)
    best, runner_up = ranked[0], ranked[1]
    saving = score(runner_up) - score(best)
    reason = (
        f"{best.name} has the least risk-adjusted cost (expected + {risk_aversion_bps:g} x std^2): "
        f"{score(best):.2f} bps against {score(runner_up):.2f} for {runner_up.name}, {saving:.2f} bps less"
    )
    if best.band.high_bps >= runner_up.band.low_bps:
        reason += f"; their {level:.0%} bands overlap, so the difference is within the estimate's uncertainty"
    return Comparison(paths=tuple(paths), recommended=best.name, reason=reason)


# --- the whole estimate -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarketInputs:
    """The market an estimate is made against.

    Attributes
    ----------
    mid : quote currency per coin.
    half_spread_bps : the venues' half spread, basis points.
    volatility_annual : annualized volatility, fraction.
    adv : coins per day.
    adv_source : where ``adv`` comes from, in words.
    """

    mid: float
    half_spread_bps: float
    volatility_annual: float
    adv: float
    adv_source: str


def _band_dict(band: Band) -> dict[str, float]:
    return {"low_bps": band.low_bps, "high_bps": band.high_bps, "level": band.level}


def pretrade_estimate(
    *,
    quantity: float,
    market: MarketInputs,
    y: float = DEFAULT_SQRT_COEFFICIENT,
    y_std_error: float = 0.0,
    residual_bps: float = 0.0,
    dealer: DealerTerms | None = None,
    risk_aversion_bps: float = DEFAULT_RISK_AVERSION_BPS,
    level: float = DEFAULT_LEVEL,
    permanent_coefficient: float = DEFAULT_PERMANENT_COEFFICIENT,
) -> dict[str, object]:
    """Everything the ticket shows before anything is sent, as a JSON-ready dict.

    Parameters
    ----------
    quantity : order size, coins.
    market : the arrival market.
    y, y_std_error, residual_bps : the square-root coefficient, its standard error and the fit's residual
        deviation (basis points): the square-root band combines the coefficient's uncertainty and the residual.
    dealer, risk_aversion_bps, level : as :func:`compare_paths`.
    permanent_coefficient : the permanent impact's coefficient for Almgren–Chriss's ``γ``
        (:func:`almgren_chriss_parameters`; a fit of :func:`tca.calibration.permanent_coefficient_fit`).

    Returns
    -------
    ``{"notional", "participation", "sigma_daily_bps", "sqrt_law": {"cost_bps", "parts", "band"},
    "almgren_chriss": {"horizon_s", "periods", "expected_bps", "std_bps", "parts", "band", "grid"},
    "paths": [...], "recommended", "reason"}``, costs in basis points of the notional (``expected_cost`` in quote
    currency), the parts of each adding up to its cost.
    """
    sigma_daily = daily_volatility(market.volatility_annual)
    impact = sqrt_law_impact(quantity, market.adv, sigma_daily, y)
    sqrt_cost = sqrt_law_cost(quantity, market.adv, sigma_daily, 2.0 * market.half_spread_bps, y)
    rel_std = y_std_error / y if y > 0 else 0.0
    sqrt_band = cost_band(sqrt_cost, std_bps=[rel_std * impact, residual_bps], level=level)
    parameters = almgren_chriss_parameters(
        quantity=quantity,
        mid=market.mid,
        sigma_daily=sigma_daily,
        adv=market.adv,
        half_spread_bps=market.half_spread_bps,
        y=y,
        risk_aversion_bps=risk_aversion_bps,
        permanent_coefficient=permanent_coefficient,
    )
    best, grid = recommended_horizon(quantity=quantity, mid=market.mid, parameters=parameters)
    ac_impact = best.parts["impact_temporary"] + best.parts["impact_permanent"]
    ac_band = cost_band(best.expected_bps, std_bps=[best.std_bps, rel_std * ac_impact], level=level)
    comparison = compare_paths(
        quantity=quantity,
        mid=market.mid,
        adv=market.adv,
        sigma_daily=sigma_daily,
        half_spread_bps=market.half_spread_bps,
        y=y,
        y_std_error=y_std_error,
        dealer=dealer,
        risk_aversion_bps=risk_aversion_bps,
        level=level,
    )
    return {
        "notional": quantity * market.mid,
        "participation": quantity / market.adv,
        "sigma_daily_bps": sigma_daily * BPS,
        "sqrt_law": {
            "cost_bps": sqrt_cost,
            "parts": {"half_spread": market.half_spread_bps, "impact": impact},
            "band": _band_dict(sqrt_band),
            "coefficient": y,
        },
        "almgren_chriss": {
            "horizon_s": best.horizon_s,
            "periods": best.periods,
            "expected_bps": best.expected_bps,
            "std_bps": best.std_bps,
            "parts": best.parts,
            "band": _band_dict(ac_band),
            "risk_aversion": parameters.risk_aversion,
            "grid": [
                {
                    "horizon_s": g.horizon_s,
                    "expected_bps": g.expected_bps,
                    "std_bps": g.std_bps,
                    "objective": g.objective,
                }
                for g in grid
            ],
        },
        "paths": [
            {
                "name": path.name,
                "expected_bps": path.expected_bps,
                "expected_cost": path.expected_cost,
                "band": _band_dict(path.band),
                "parts": path.parts,
                "horizon_s": path.horizon_s,
                "rfq_share": path.rfq_share,
            }
            for path in comparison.paths
        ],
        "recommended": comparison.recommended,
        "reason": comparison.reason,
    }
