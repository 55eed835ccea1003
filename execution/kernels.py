"""Slicing kernels: child-order schedules and tick rounding, compiled with numba.

Pure functions on arrays; nothing here touches the ORM. Each kernel has an independent plain Python/numpy twin
in :mod:`execution.kernels_ref` that the tests hold it to.

Quantities are integer shares (``int64``); every schedule is built in whole lots so that it sums *exactly* to
the parent quantity, with no floating-point drift.

Slicing rule (TWAP, VWAP, Almgren-Chriss, re-slicing)
-----------------------------------------------------
Given per-period weights ``w`` the kernel walks the periods in order. The *target* after period ``k`` is the
cumulative weight share of the parent, rounded to whole lots (half up); the child is the target minus what is
already allocated, so any shortfall (rounding, size limits) is carried into the next period. Then:

1. ``max_child`` (0 = no cap) caps every child. A child never falls below the *feasibility floor*
   ``remaining - max_lots * periods_left_after_this`` so that the schedule can always finish; if even
   ``max_child * periods`` cannot hold the parent the kernel raises ``ValueError``.
2. A child smaller than ``min_child`` that would not finish the parent is deferred (set to zero, carried over),
   unless the feasibility floor forces a trade, in which case it is raised to ``min_child``.
3. A child that would leave a residual below ``min_child`` absorbs that residual when ``max_child`` allows;
   otherwise it shrinks to leave exactly ``min_child`` behind, when it can do so and still respect
   ``min_child`` and the feasibility floor itself.
4. The final period takes whatever remains.

Consequently every child is a multiple of the lot, is at most ``max_child`` and at most the remaining quantity,
and is at least ``min_child`` except for the final child of a schedule when what remains at that point is below
``min_child``: a parent smaller than ``min_child``, or (rarely, with tight ``max_child`` and ``min_child``
together) a residual that rule 3 could neither absorb nor resize.

POV never breaches its cap: when the forecast volume cannot absorb the parent, the kernel returns the residual
it could not place instead of forcing it, and the caller carries it (re-plan, fallback, or a later slice).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Slack, relative to the tick count, when dividing a price by a tick: 100.10 / 0.01 is 10009.999999999998 in binary
# floating point and must still count as on the grid. The division's own error is ~1e-16 relative, and a limit
# price within 1e-9 (relative) of a grid point is that grid point for any real venue.
_TICK_SLACK = 1e-9


@njit(cache=True)
def _child_sizes(total_lots: int, weights: np.ndarray, min_lots: int, max_lots: int) -> np.ndarray:
    """Allocate ``total_lots`` over ``len(weights)`` periods under the module's slicing rule.

    Parameters
    ----------
    total_lots : int
        Parent quantity in lots (>= 0).
    weights : numpy.ndarray
        Non-negative per-period weights (float64, dimensionless) with a positive sum.
    min_lots : int
        Minimum child size in lots (0 = none).
    max_lots : int
        Maximum child size in lots (0 = no cap).

    Returns
    -------
    numpy.ndarray
        ``int64`` child sizes in lots, summing exactly to ``total_lots``.
    """
    periods = weights.shape[0]
    children = np.zeros(periods, dtype=np.int64)
    weight_sum = 0.0
    for k in range(periods):
        weight_sum += weights[k]
    cumulative = 0.0
    allocated = 0
    for k in range(periods):
        remaining = total_lots - allocated
        cumulative += weights[k]
        if remaining == 0:
            continue
        # Aim at the cumulative share, not the period's own share: rounding and whatever the limits held back
        # are then carried into the next period instead of drifting away from the profile.
        target = int(math.floor(total_lots * (cumulative / weight_sum) + 0.5))
        child = max(target - allocated, 0)
        periods_after = periods - 1 - k
        if max_lots > 0:
            floor_lots = max(remaining - max_lots * periods_after, 0)
        elif periods_after == 0:
            floor_lots = remaining
        else:
            floor_lots = 0
        child = max(child, floor_lots)
        if max_lots > 0:
            child = min(child, max_lots)
        child = min(child, remaining)
        if 0 < child < min_lots and child < remaining:
            child = min(min_lots, remaining) if floor_lots > 0 else 0
        residual = remaining - child
        # A residual below the minimum could only go out as an undersized child later: take it now, or leave
        # exactly the minimum behind.
        if child > 0 and 0 < residual < min_lots:
            if max_lots == 0 or remaining <= max_lots:
                child = remaining
            elif remaining - min_lots >= max(min_lots, floor_lots):
                child = remaining - min_lots
        children[k] = child
        allocated += child
    return children


@njit(cache=True)
def _lot_limits(total: int, periods: int, lot: int, min_child: int, max_child: int) -> tuple[int, int, int]:
    """Validate a slicing request and convert it to lots.

    Returns
    -------
    tuple of int
        ``(total_lots, min_lots, max_lots)``; ``min_lots`` rounds up and ``max_lots`` rounds down, so a child
        in whole lots always lies within ``[min_child, max_child]`` shares.
    """
    if lot <= 0:
        raise ValueError("lot must be positive")
    if total < 0:
        raise ValueError("quantity must not be negative")
    if total % lot != 0:
        raise ValueError("quantity must be a whole number of lots")
    if periods <= 0:
        raise ValueError("periods must be positive")
    if min_child < 0 or max_child < 0:
        raise ValueError("min_child and max_child must not be negative")
    total_lots = total // lot
    min_lots = (min_child + lot - 1) // lot
    max_lots = max_child // lot
    if max_child > 0:
        if max_lots == 0:
            raise ValueError("max_child is below one lot")
        if min_lots > max_lots:
            raise ValueError("min_child exceeds max_child once rounded to lots")
        if max_lots * periods < total_lots:
            raise ValueError("max_child times periods cannot hold the parent quantity")
    return total_lots, min_lots, max_lots


@njit(cache=True)
def _check_weights(weights: np.ndarray) -> None:
    """Refuse negative, non-finite or all-zero weights (they would divide by zero or go backwards)."""
    total = 0.0
    for k in range(weights.shape[0]):
        if not math.isfinite(weights[k]) or weights[k] < 0.0:
            raise ValueError("weights must be finite and non-negative")
        total += weights[k]
    if total <= 0.0:
        raise ValueError("weights must have a positive sum")


@njit(cache=True)
def slice_by_weights(
    quantity: int, weights: np.ndarray, lot: int, min_child: int = 0, max_child: int = 0
) -> np.ndarray:
    """Slice a parent quantity over periods in proportion to ``weights``.

    Parameters
    ----------
    quantity : int
        Parent quantity in shares, a whole number of lots.
    weights : numpy.ndarray
        Per-period weights (float64, dimensionless, non-negative, positive sum).
    lot : int
        Lot size in shares.
    min_child, max_child : int
        Child size limits in shares (0 = none).

    Returns
    -------
    numpy.ndarray
        ``int64`` child quantities in shares, one per period, summing exactly to ``quantity``.
    """
    total_lots, min_lots, max_lots = _lot_limits(quantity, weights.shape[0], lot, min_child, max_child)
    _check_weights(weights)
    return _child_sizes(total_lots, weights, min_lots, max_lots) * lot


@njit(cache=True)
def twap(quantity: int, periods: int, lot: int, min_child: int = 0, max_child: int = 0) -> np.ndarray:
    """Time-weighted schedule: equal weight in every period.

    Parameters
    ----------
    quantity : int
        Parent quantity in shares, a whole number of lots.
    periods : int
        Number of slices.
    lot : int
        Lot size in shares.
    min_child, max_child : int
        Child size limits in shares (0 = none).

    Returns
    -------
    numpy.ndarray
        ``int64`` child quantities in shares summing exactly to ``quantity``.
    """
    total_lots, min_lots, max_lots = _lot_limits(quantity, periods, lot, min_child, max_child)
    return _child_sizes(total_lots, np.ones(periods), min_lots, max_lots) * lot


@njit(cache=True)
def vwap(quantity: int, volume_profile: np.ndarray, lot: int, min_child: int = 0, max_child: int = 0) -> np.ndarray:
    """Volume-weighted schedule following an expected volume profile.

    Parameters
    ----------
    quantity : int
        Parent quantity in shares, a whole number of lots.
    volume_profile : numpy.ndarray
        Expected market volume per period (float64, shares, or any positive scale: only proportions matter),
        for instance the average intraday curve from the market's history.
    lot : int
        Lot size in shares.
    min_child, max_child : int
        Child size limits in shares (0 = none).

    Returns
    -------
    numpy.ndarray
        ``int64`` child quantities in shares summing exactly to ``quantity``.
    """
    return slice_by_weights(quantity, volume_profile, lot, min_child, max_child)


@njit(cache=True)
def pov(
    quantity: int,
    forecast_volume: np.ndarray,
    participation: float,
    cap: float,
    lot: int,
    min_child: int = 0,
    max_child: int = 0,
) -> tuple[np.ndarray, int]:
    """Percent-of-volume schedule: trade ``participation`` of forecast volume, never above ``cap`` of it.

    The cumulative target is ``participation`` times the cumulative forecast volume, rounded down to lots, so a
    period that the cap, lot rounding or ``min_child`` held back is caught up later, within the cap.

    Parameters
    ----------
    quantity : int
        Parent quantity in shares, a whole number of lots.
    forecast_volume : numpy.ndarray
        Forecast market volume per period (float64, shares).
    participation : float
        Target participation rate (fraction of market volume, 0 < participation <= cap).
    cap : float
        Hard participation cap (fraction, cap <= 1): no child exceeds ``cap * forecast_volume[k]``.
    lot : int
        Lot size in shares.
    min_child, max_child : int
        Child size limits in shares (0 = none).

    Returns
    -------
    schedule : numpy.ndarray
        ``int64`` child quantities in shares.
    residual : int
        Shares the forecast volume could not absorb within the cap (``quantity - schedule.sum()``); zero when
        the parent fits. The caller carries it over rather than breach the cap.
    """
    periods = forecast_volume.shape[0]
    total_lots, min_lots, max_lots = _lot_limits(quantity, periods, lot, min_child, 0)
    if max_child > 0:
        max_lots = max_child // lot
        if max_lots == 0:
            raise ValueError("max_child is below one lot")
        if min_lots > max_lots:
            raise ValueError("min_child exceeds max_child once rounded to lots")
    if not (0.0 < participation <= cap <= 1.0):
        raise ValueError("need 0 < participation <= cap <= 1")
    for k in range(periods):
        if not math.isfinite(forecast_volume[k]) or forecast_volume[k] < 0.0:
            raise ValueError("forecast volume must be finite and non-negative")
    children = np.zeros(periods, dtype=np.int64)
    cumulative_volume = 0.0
    allocated = 0
    for k in range(periods):
        remaining = total_lots - allocated
        cumulative_volume += forecast_volume[k]
        if remaining == 0:
            continue
        target = int(math.floor(participation * cumulative_volume / lot))
        cap_lots = int(math.floor(cap * forecast_volume[k] / lot))
        limit = min(cap_lots, remaining)
        if max_lots > 0:
            limit = min(limit, max_lots)
        child = min(max(target - allocated, 0), limit)
        if 0 < child < min_lots and child < remaining:
            child = 0
        residual = remaining - child
        if child > 0 and 0 < residual < min_lots and remaining <= limit:
            child = remaining
        children[k] = child
        allocated += child
    return children * lot, (total_lots - allocated) * lot


@njit(cache=True)
def almgren_chriss(
    total: float,
    horizon: float,
    periods: int,
    sigma: float,
    eta: float,
    gamma: float,
    risk_aversion: float,
    epsilon: float = 0.0,
) -> tuple[np.ndarray, float, float]:
    """Optimal liquidation trajectory of the discrete Almgren & Chriss (2000) model.

    Parameters
    ----------
    total : float
        Shares to trade, X.
    horizon : float
        Trading horizon T (time units, e.g. days).
    periods : int
        Number of periods N; tau = T / N.
    sigma : float
        Price volatility ($/share/time^1/2).
    eta : float
        Temporary impact coefficient ($/share per share/time).
    gamma : float
        Permanent impact coefficient ($/share per share).
    risk_aversion : float
        Lambda (1/$); 0 gives the linear (TWAP) trajectory.
    epsilon : float, optional
        Fixed cost per share traded ($/share: half the spread plus fees).

    Returns
    -------
    holdings : numpy.ndarray
        x_0..x_N (float64, shares) with x_0 = X and x_N = 0.
    expected_cost : float
        E = 1/2 gamma X^2 + epsilon sum|n_k| + (eta_tilde / tau) sum n_k^2 ($).
    variance : float
        V = sigma^2 tau sum_{k=1..N} x_k^2 ($^2).

    Notes
    -----
    eta_tilde = eta - gamma tau / 2 and kappa solves 2 (cosh(kappa tau) - 1) / tau^2 = lambda sigma^2 / eta_tilde.
    The kernel takes kappa tau = 2 asinh(sqrt(lambda sigma^2 tau^2 / (4 eta_tilde))), the same root without the
    cancellation of arccosh(1 + tiny) for small lambda, and evaluates sinh(kappa (T - t_j)) / sinh(kappa T) as
    exp(-kappa t_j) expm1(-2 kappa (T - t_j)) / expm1(-2 kappa T), which neither overflows for a large kappa T
    nor cancels for a small one.
    """
    if periods <= 0:
        raise ValueError("periods must be positive")
    if not horizon > 0.0:
        raise ValueError("horizon must be positive")
    if sigma < 0.0 or gamma < 0.0 or risk_aversion < 0.0 or epsilon < 0.0:
        raise ValueError("sigma, gamma, risk_aversion and epsilon must not be negative")
    tau = horizon / periods
    eta_tilde = eta - 0.5 * gamma * tau
    if not eta_tilde > 0.0:
        raise ValueError("eta - gamma * tau / 2 must be positive")
    x = float(total)
    holdings = np.empty(periods + 1)
    kappa_tau = 2.0 * math.asinh(math.sqrt(risk_aversion * sigma * sigma * tau * tau / (4.0 * eta_tilde)))
    if kappa_tau == 0.0:
        for j in range(periods + 1):
            holdings[j] = x * (periods - j) / periods
    else:
        whole = math.expm1(-2.0 * kappa_tau * periods)
        for j in range(periods + 1):
            holdings[j] = x * math.exp(-kappa_tau * j) * math.expm1(-2.0 * kappa_tau * (periods - j)) / whole
    holdings[0] = x
    holdings[periods] = 0.0
    abs_traded = 0.0
    squared_traded = 0.0
    squared_held = 0.0
    for k in range(1, periods + 1):
        trade = holdings[k - 1] - holdings[k]
        abs_traded += abs(trade)
        squared_traded += trade * trade
        squared_held += holdings[k] * holdings[k]
    expected_cost = 0.5 * gamma * x * x + epsilon * abs_traded + eta_tilde / tau * squared_traded
    variance = sigma * sigma * tau * squared_held
    return holdings, expected_cost, variance


@njit(cache=True)
def almgren_chriss_schedule(
    quantity: int,
    horizon: float,
    periods: int,
    sigma: float,
    eta: float,
    gamma: float,
    risk_aversion: float,
    lot: int,
    min_child: int = 0,
    max_child: int = 0,
) -> np.ndarray:
    """Child-order schedule following the Almgren-Chriss trade list n_k = x_{k-1} - x_k.

    Parameters
    ----------
    quantity : int
        Parent quantity in shares, a whole number of lots.
    horizon, periods, sigma, eta, gamma, risk_aversion
        As in :func:`almgren_chriss`.
    lot : int
        Lot size in shares.
    min_child, max_child : int
        Child size limits in shares (0 = none).

    Returns
    -------
    numpy.ndarray
        ``int64`` child quantities in shares, one per period, summing exactly to ``quantity``.
    """
    total_lots, min_lots, max_lots = _lot_limits(quantity, periods, lot, min_child, max_child)
    holdings, _, _ = almgren_chriss(1.0, horizon, periods, sigma, eta, gamma, risk_aversion, 0.0)
    trades = np.empty(periods)
    for k in range(periods):
        trades[k] = max(holdings[k] - holdings[k + 1], 0.0)
    return _child_sizes(total_lots, trades, min_lots, max_lots) * lot


@njit(cache=True)
def reslice(
    quantity: int, filled: np.ndarray, weights: np.ndarray, lot: int, min_child: int = 0, max_child: int = 0
) -> np.ndarray:
    """Re-slice what is left of a parent over the periods still to come, given the fills so far.

    Parameters
    ----------
    quantity : int
        Parent quantity in shares.
    filled : numpy.ndarray
        ``int64`` shares filled in each elapsed period (length k, the number of periods gone).
    weights : numpy.ndarray
        The plan's weights for all periods (float64, length N > k); the periods k..N-1 keep their relative
        weights, and when those are all zero the residual is spread evenly.
    lot : int
        Lot size in shares; ``quantity - filled.sum()`` must be a whole number of lots.
    min_child, max_child : int
        Child size limits in shares (0 = none).

    Returns
    -------
    numpy.ndarray
        ``int64`` child quantities for periods k..N-1, summing exactly to ``quantity - filled.sum()``.
    """
    elapsed = filled.shape[0]
    periods_left = weights.shape[0] - elapsed
    if periods_left <= 0:
        raise ValueError("no periods left to re-slice over")
    done = 0
    for k in range(elapsed):
        if filled[k] < 0:
            raise ValueError("fills must not be negative")
        done += filled[k]
    if done > quantity:
        raise ValueError("fills exceed the parent quantity")
    future = weights[elapsed:].copy()
    _check_weights(weights)
    if future.sum() <= 0.0:
        future[:] = 1.0
    total_lots, min_lots, max_lots = _lot_limits(quantity - done, periods_left, lot, min_child, max_child)
    return _child_sizes(total_lots, future, min_lots, max_lots) * lot


@njit(cache=True)
def slice_batch(
    quantities: np.ndarray, weights: np.ndarray, lot: int, min_child: int = 0, max_child: int = 0
) -> np.ndarray:
    """Slice many parents over one shared weight profile (TWAP with unit weights, VWAP with a volume curve).

    Parameters
    ----------
    quantities : numpy.ndarray
        ``int64`` parent quantities in shares, each a whole number of lots.
    weights : numpy.ndarray
        Per-period weights (float64, non-negative, positive sum).
    lot : int
        Lot size in shares.
    min_child, max_child : int
        Child size limits in shares (0 = none).

    Returns
    -------
    numpy.ndarray
        ``int64`` array of shape (len(quantities), len(weights)); row i sums exactly to ``quantities[i]``.
    """
    _check_weights(weights)
    periods = weights.shape[0]
    out = np.empty((quantities.shape[0], periods), dtype=np.int64)
    for i in range(quantities.shape[0]):
        total_lots, min_lots, max_lots = _lot_limits(quantities[i], periods, lot, min_child, max_child)
        out[i, :] = _child_sizes(total_lots, weights, min_lots, max_lots) * lot
    return out


@njit(cache=True)
def round_to_tick(prices: np.ndarray, tick: float, side: int) -> np.ndarray:
    """Round limit prices to the tick grid on the passive side.

    Parameters
    ----------
    prices : numpy.ndarray
        Limit prices (float64, currency per share).
    tick : float
        Tick size (currency per share, > 0).
    side : int
        +1 for a buy (round down, never pay more than asked), -1 for a sell (round up, never sell for less).

    Returns
    -------
    numpy.ndarray
        Prices on the tick grid (float64), ``ticks * tick``.
    """
    if not tick > 0.0:
        raise ValueError("tick must be positive")
    if side != 1 and side != -1:
        raise ValueError("side must be +1 (buy) or -1 (sell)")
    out = np.empty(prices.shape[0])
    for i in range(prices.shape[0]):
        ticks = prices[i] / tick
        if side == 1:
            out[i] = math.floor(ticks + _TICK_SLACK * max(1.0, abs(ticks))) * tick
        else:
            out[i] = math.ceil(ticks - _TICK_SLACK * max(1.0, abs(ticks))) * tick
    return out
