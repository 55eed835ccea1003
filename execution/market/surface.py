"""Implied-volatility surface with term structure, skew and smile in log-moneyness (pure functions)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from execution.market.config import VolSurfaceConfig

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
