"""Intraday volume profile: a U over the UTC day, as a density and as bin fractions for VWAP slicing."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def volume_density(day_fraction: npt.ArrayLike, amplitude: float) -> npt.NDArray[np.float64]:
    """Relative volume intensity at a time of the UTC day, with mean 1 over the day.

    ``w(x) = (1 + a·(2x − 1)²) / (1 + a/3)`` for ``x`` the fraction of the day elapsed since 00:00 UTC: the
    parabola is the simplest U, and its closed-form integral keeps bin fractions exact for any bin width.

    Parameters
    ----------
    day_fraction : float or array_like
        Time of day as a fraction of 24 h; values outside [0, 1) wrap to the next or previous day.
    amplitude : float
        ``a`` >= 0: the density at the day's edges is ``1 + a`` times that at noon.

    Returns
    -------
    ndarray
        Dimensionless intensity, mean 1 over a full day.
    """
    if amplitude < 0:
        raise ValueError("amplitude must be non-negative")
    x = np.mod(np.asarray(day_fraction, dtype=np.float64), 1.0)
    return (1.0 + amplitude * (2.0 * x - 1.0) ** 2) / (1.0 + amplitude / 3.0)


def _cumulative(days: npt.NDArray[np.float64], amplitude: float) -> npt.NDArray[np.float64]:
    # Antiderivative of the unnormalized density, continued across days so that a window may straddle midnight.
    whole = np.floor(days)
    x = days - whole
    per_day = 1.0 + amplitude / 3.0
    return whole * per_day + x + amplitude * ((2.0 * x - 1.0) ** 3 + 1.0) / 6.0


def volume_profile(
    bins: int, *, amplitude: float, start_day_fraction: float = 0.0, horizon_days: float = 1.0
) -> npt.NDArray[np.float64]:
    """Expected share of a window's volume in each of ``bins`` equal sub-intervals.

    Parameters
    ----------
    bins : int
        Number of equal-width bins, >= 1.
    amplitude : float
        Height of the U, as in :func:`volume_density`.
    start_day_fraction : float
        Start of the window as a fraction of the UTC day (0.5 is 12:00 UTC); may exceed 1.
    horizon_days : float
        Window length in days (1/24 is one hour), > 0.

    Returns
    -------
    ndarray of shape (bins,)
        Non-negative fractions summing to 1.
    """
    if bins < 1:
        raise ValueError("bins must be at least 1")
    if horizon_days <= 0:
        raise ValueError("horizon_days must be positive")
    if amplitude < 0:
        raise ValueError("amplitude must be non-negative")
    edges = start_day_fraction + horizon_days * np.linspace(0.0, 1.0, bins + 1)
    mass = np.diff(_cumulative(edges, amplitude))
    return mass / mass.sum()
