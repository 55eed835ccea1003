"""Black–Scholes prices, greeks and implied volatility for European options, scalar or vectorized, and the
implied-volatility surface (term structure, skew and smile).

Pure functions on floats and numpy arrays: no ORM, no Decimal. Callers convert at the boundary.
Conventions: ``t`` in years, ``rate`` continuously compounded per year, ``vol`` annualized as a fraction
(0.60 is 60 %), ``vega`` per 1.00 of volatility (divide by 100 for one vol point), ``theta`` per year of
calendar time (divide by 365 for one day).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

OptionKind = Literal["call", "put"]
FloatOrArray = float | npt.NDArray[np.float64]

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
# numpy has no erfc and scipy is not a dependency; math.erfc is exact to double precision, and the arrays
# priced here (chains, surfaces) are small enough for a per-element call.
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


@dataclass(frozen=True)
class BlackScholesResult:
    """Price and greeks of a European option.

    Attributes
    ----------
    price : float or ndarray
        Option value, in the currency of ``spot``.
    delta : float or ndarray
        dV/dS, dimensionless.
    gamma : float or ndarray
        d²V/dS², per unit of spot.
    vega : float or ndarray
        dV/dσ, currency per 1.00 of volatility.
    theta : float or ndarray
        dV/d(calendar time), currency per year (negative for a long option that only decays).
    """

    price: FloatOrArray
    delta: FloatOrArray
    gamma: FloatOrArray
    vega: FloatOrArray
    theta: FloatOrArray


def norm_cdf(x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Standard normal cumulative distribution, elementwise (``±inf`` give 1 and 0)."""
    return 0.5 * _erfc(-np.asarray(x, dtype=np.float64) / _SQRT2)


def norm_pdf(x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Standard normal density, elementwise."""
    x = np.asarray(x, dtype=np.float64)
    return _INV_SQRT_2PI * np.exp(-0.5 * x * x)


def _is_call(kind: str | npt.ArrayLike) -> npt.NDArray[np.bool_]:
    kinds = np.asarray(kind)
    lowered = np.char.lower(kinds.astype(str))
    valid = (lowered == "call") | (lowered == "put")
    if not bool(np.all(valid)):
        raise ValueError(f"kind must be 'call' or 'put', got {kind!r}")
    return np.asarray(lowered == "call")


def _out(value: npt.NDArray[np.float64]) -> FloatOrArray:
    return float(value) if value.ndim == 0 else value


def black_scholes(
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    rate: npt.ArrayLike,
    vol: npt.ArrayLike,
    kind: str | npt.ArrayLike,
) -> BlackScholesResult:
    """Black–Scholes value and greeks of a European call or put on a non-dividend-paying underlying.

    Parameters
    ----------
    spot : float or array_like
        Underlying price, > 0, in currency.
    strike : float or array_like
        Strike, > 0, in currency.
    t : float or array_like
        Time to expiry in years, >= 0. At ``t == 0`` the option is worth its intrinsic value.
    rate : float or array_like
        Risk-free rate, continuously compounded, per year.
    vol : float or array_like
        Volatility, annualized, as a fraction (0.2 is 20 %), >= 0.
    kind : {'call', 'put'} or array_like of them
        Option type, broadcast against the numeric inputs.

    Returns
    -------
    BlackScholesResult
        Floats when every input is a scalar, otherwise arrays of the broadcast shape.

    Raises
    ------
    ValueError
        On a non-positive spot or strike, a negative time or volatility, or an unknown kind.
    """
    s, k, tt, r, v, call = np.broadcast_arrays(
        *(np.asarray(x, dtype=np.float64) for x in (spot, strike, t, rate, vol)), _is_call(kind)
    )
    if np.any(s <= 0) or np.any(k <= 0):
        raise ValueError("spot and strike must be positive")
    if np.any(tt < 0) or np.any(v < 0):
        raise ValueError("time to expiry and volatility must be non-negative")

    discount = np.exp(-r * tt)
    discounted_strike = k * discount
    sqrt_t = np.sqrt(tt)
    total_vol = v * sqrt_t
    # With no time or no volatility the forward is certain: d1 and d2 go to ±inf and the formulas below
    # reduce to the discounted intrinsic value, so only the 0/0 terms need guarding.
    degenerate = total_vol <= 0.0
    safe_total_vol = np.where(degenerate, 1.0, total_vol)
    log_moneyness = np.log(s / discounted_strike)
    certain_d = np.where(log_moneyness > 0, np.inf, np.where(log_moneyness < 0, -np.inf, 0.0))
    d1 = np.where(degenerate, certain_d, log_moneyness / safe_total_vol + 0.5 * safe_total_vol)
    d2 = np.where(degenerate, d1, d1 - safe_total_vol)

    pdf_d1 = np.where(degenerate, 0.0, norm_pdf(np.where(degenerate, 0.0, d1)))
    nd1 = norm_cdf(d1)
    nd2 = norm_cdf(d2)
    call_price = s * nd1 - discounted_strike * nd2
    # Put-call parity, exact by construction rather than a second set of cumulative normals.
    put_price = call_price - s + discounted_strike
    price = np.where(call, call_price, put_price)
    delta = np.where(call, nd1, nd1 - 1.0)
    gamma = np.where(degenerate, 0.0, pdf_d1 / (s * safe_total_vol))
    vega = s * pdf_d1 * sqrt_t
    decay = np.where(degenerate, 0.0, -s * pdf_d1 * v / (2.0 * np.where(degenerate, 1.0, sqrt_t)))
    carry = r * discounted_strike
    # N(-d2), not 1 - N(d2): far out of the money N(d2) rounds to 1 and the difference keeps few digits.
    theta = np.where(call, decay - carry * nd2, decay + carry * norm_cdf(-d2))
    # Parity can leave a -1e-13 for deep out-of-the-money puts; an option is never worth less than zero.
    price = np.maximum(price, 0.0)
    return BlackScholesResult(
        price=_out(price), delta=_out(delta), gamma=_out(gamma), vega=_out(vega), theta=_out(theta)
    )


def implied_volatility(
    price: npt.ArrayLike,
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    rate: npt.ArrayLike,
    kind: str | npt.ArrayLike,
    *,
    low: float = 1e-6,
    high: float = 10.0,
    tolerance: float = 1e-10,
    max_iterations: int = 200,
) -> FloatOrArray:
    """Black–Scholes implied volatility by vectorized bisection.

    Bisection rather than Newton because deep wings have a vanishing vega and must not diverge; 200 halvings
    of [1e-6, 10] reach double precision.

    Parameters
    ----------
    price : float or array_like
        Observed option price, in currency.
    spot, strike, t, rate, kind
        As in :func:`black_scholes` (``t`` > 0).
    low, high : float
        Search bracket for the annualized volatility.
    tolerance : float
        Stop when the bracket is narrower than this (in volatility units).
    max_iterations : int
        Upper bound on halvings.

    Returns
    -------
    float or ndarray
        Annualized volatility; NaN where the price lies outside the no-arbitrage bounds of the bracket.
    """
    target = np.asarray(price, dtype=np.float64)
    shape = np.broadcast_shapes(target.shape, *(np.shape(x) for x in (spot, strike, t, rate)), np.shape(kind))
    target = np.broadcast_to(target, shape)
    lo = np.full(shape, low)
    hi = np.full(shape, high)
    price_lo = np.asarray(black_scholes(spot, strike, t, rate, lo, kind).price)
    price_hi = np.asarray(black_scholes(spot, strike, t, rate, hi, kind).price)
    attainable = (target >= price_lo) & (target <= price_hi)
    for _ in range(max_iterations):
        mid = 0.5 * (lo + hi)
        too_low = np.asarray(black_scholes(spot, strike, t, rate, mid, kind).price) < target
        lo = np.where(too_low, mid, lo)
        hi = np.where(too_low, hi, mid)
        if float(np.max(hi - lo)) < tolerance:
            break
    result = np.where(attainable, 0.5 * (lo + hi), np.nan)
    return _out(result)


# --- the implied-volatility surface: term structure, skew and smile in log-moneyness ---


@dataclass(frozen=True)
class VolSurfaceConfig:
    """Implied-volatility surface: an ATM term structure, a skew and a smile in log-moneyness.

    ``σ(k, T) = atm(T) + skew(T)·k + curvature(T)·k²`` with ``k = ln(K / F)``,
    ``atm(T) = atm_long + (atm_short − atm_long)·exp(−T / term_decay)`` and skew and curvature scaled by
    ``sqrt(30 days / max(T, min_days))`` (short expiries smile more), the skew also by ``atm(T) / atm_long``
    (it steepens in a sell-off). ``atm_short`` is state: it follows the volatility regime.

    Attributes
    ----------
    atm_long : float
        Long-dated ATM implied volatility, annualized.
    term_decay_days : float
        Days over which the short end relaxes to ``atm_long``.
    skew_30d : float
        dσ/dk at 30 days (negative: puts richer than calls).
    curvature_30d : float
        d²σ/dk² / 2 at 30 days.
    min_days : float
        Expiries shorter than this are treated as this for the skew and smile scaling.
    floor, cap : float
        Bounds on any implied volatility of the surface.
    implied_vol_half_life_s : float
        Seconds for the short end to cover half the way to a new regime's level.
    half_spread_vol : float
        Half the bid-ask spread of an option, in volatility (0.01 is one vol point).
    """

    atm_long: float = 0.75
    term_decay_days: float = 45.0
    skew_30d: float = -0.15
    curvature_30d: float = 0.6
    min_days: float = 1.0
    floor: float = 0.05
    cap: float = 5.0
    implied_vol_half_life_s: float = 1_800.0
    half_spread_vol: float = 0.01


_THIRTY_DAYS_YEARS = 30.0 / 365.0


def atm_vol(t_years: npt.ArrayLike, *, atm_short: float, config: VolSurfaceConfig) -> npt.NDArray[np.float64]:
    """At-the-money implied volatility by expiry.

    Parameters
    ----------
    t_years : float or array_like
        Time to expiry in years, >= 0.
    atm_short : float
        Instantaneous short-end ATM level (set by the regime and by scenarios), annualized.
    config : VolSurfaceConfig
        Surface parameters.

    Returns
    -------
    ndarray
        Annualized ATM volatility: ``atm_short`` at T = 0 relaxing exponentially to ``config.atm_long``.
    """
    t = np.asarray(t_years, dtype=np.float64)
    decay = np.exp(-t * 365.0 / config.term_decay_days)
    return config.atm_long + (atm_short - config.atm_long) * decay


def surface_vol(
    log_moneyness: npt.ArrayLike, t_years: npt.ArrayLike, *, atm_short: float, config: VolSurfaceConfig
) -> npt.NDArray[np.float64]:
    """Implied volatility at log-moneyness ``k = ln(K / F)`` and expiry ``t_years``.

    Parameters
    ----------
    log_moneyness : float or array_like
        ``ln(strike / forward)``, dimensionless.
    t_years : float or array_like
        Time to expiry in years, broadcast against ``log_moneyness``.
    atm_short : float
        Short-end ATM level, annualized.
    config : VolSurfaceConfig
        Surface parameters.

    Returns
    -------
    ndarray
        Annualized implied volatility within ``[config.floor, config.cap]``.
    """
    k = np.asarray(log_moneyness, dtype=np.float64)
    t = np.asarray(t_years, dtype=np.float64)
    atm = atm_vol(t, atm_short=atm_short, config=config)
    # Short expiries smile more (the square-root-of-time rule for skew); a richer ATM steepens the put skew.
    scale = np.sqrt(_THIRTY_DAYS_YEARS / np.maximum(t, config.min_days / 365.0))
    skew = config.skew_30d * scale * (atm / config.atm_long)
    curvature = config.curvature_30d * scale
    return np.clip(atm + skew * k + curvature * k * k, config.floor, config.cap)
