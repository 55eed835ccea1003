"""Plain Python/numpy twins of the numba kernels in :mod:`execution.kernels`.

Written independently from the kernels, from the rules in that module's docstring, so that the property tests
comparing the two catch a slip in either. Slow on purpose: Python integers and lists for the loop-carried
slicing, numpy for the loop-free formulas. Also holds a vectorized numpy slicer for the unconstrained case
(no child size limits), the baseline the benchmarks compare the batch kernel with.
"""

from __future__ import annotations

import math

import numpy as np

_TICK_SLACK = 1e-9


def _lots(total: int, periods: int, lot: int, min_child: int, max_child: int) -> tuple[int, int, int]:
    """Check a request and return ``(total_lots, min_lots, max_lots)`` (min rounded up, max down)."""
    if lot <= 0 or total < 0 or total % lot or periods <= 0 or min_child < 0 or max_child < 0:
        raise ValueError("invalid slicing request")
    min_lots = -(-min_child // lot)
    max_lots = max_child // lot
    if max_child and (max_lots == 0 or min_lots > max_lots or max_lots * periods < total // lot):
        raise ValueError("invalid child size limits")
    return total // lot, min_lots, max_lots


def _weights(weights: np.ndarray | list[float]) -> list[float]:
    values = [float(w) for w in weights]
    if any(not math.isfinite(w) or w < 0.0 for w in values) or sum(values) <= 0.0:
        raise ValueError("weights must be finite, non-negative, with a positive sum")
    return values


def _allocate(total_lots: int, weights: list[float], min_lots: int, max_lots: int) -> list[int]:
    """Whole-lot children under the slicing rule of :mod:`execution.kernels`."""
    n = len(weights)
    running = 0.0
    for w in weights:
        running += w
    weight_sum = running
    targets = []
    running = 0.0
    for w in weights:
        running += w
        targets.append(int(math.floor(total_lots * (running / weight_sum) + 0.5)))
    out: list[int] = []
    sent = 0
    for k, target in enumerate(targets):
        left = total_lots - sent
        if left == 0:
            out.append(0)
            continue
        later = n - k - 1
        if max_lots:
            must = max(0, left - max_lots * later)
            size = min(max(target - sent, must, 0), max_lots, left)
        else:
            must = left if later == 0 else 0
            size = min(max(target - sent, must, 0), left)
        if size < min_lots and 0 < size < left:
            # Too small to send and not the last of the parent: defer, unless finishing on time needs it now.
            size = min(min_lots, left) if must else 0
        if size and 0 < left - size < min_lots:
            # Never leave a crumb below the minimum behind: take it all, or leave exactly the minimum.
            if not max_lots or left <= max_lots:
                size = left
            elif left - min_lots >= max(min_lots, must):
                size = left - min_lots
        out.append(size)
        sent += size
    return out


def slice_by_weights(
    quantity: int, weights: np.ndarray, lot: int, min_child: int = 0, max_child: int = 0
) -> np.ndarray:
    """Twin of :func:`execution.kernels.slice_by_weights`."""
    total_lots, min_lots, max_lots = _lots(quantity, len(weights), lot, min_child, max_child)
    return np.array(_allocate(total_lots, _weights(weights), min_lots, max_lots), dtype=np.int64) * lot


def twap(quantity: int, periods: int, lot: int, min_child: int = 0, max_child: int = 0) -> np.ndarray:
    """Twin of :func:`execution.kernels.twap`."""
    total_lots, min_lots, max_lots = _lots(quantity, periods, lot, min_child, max_child)
    return np.array(_allocate(total_lots, [1.0] * periods, min_lots, max_lots), dtype=np.int64) * lot


def vwap(quantity: int, volume_profile: np.ndarray, lot: int, min_child: int = 0, max_child: int = 0) -> np.ndarray:
    """Twin of :func:`execution.kernels.vwap`."""
    return slice_by_weights(quantity, volume_profile, lot, min_child, max_child)


def pov(
    quantity: int,
    forecast_volume: np.ndarray,
    participation: float,
    cap: float,
    lot: int,
    min_child: int = 0,
    max_child: int = 0,
) -> tuple[np.ndarray, int]:
    """Twin of :func:`execution.kernels.pov`."""
    total_lots, min_lots, _ = _lots(quantity, len(forecast_volume), lot, min_child, 0)
    max_lots = max_child // lot
    if max_child and (max_lots == 0 or min_lots > max_lots):
        raise ValueError("invalid child size limits")
    if not 0.0 < participation <= cap <= 1.0:
        raise ValueError("need 0 < participation <= cap <= 1")
    volumes = [float(v) for v in forecast_volume]
    if any(not math.isfinite(v) or v < 0.0 for v in volumes):
        raise ValueError("forecast volume must be finite and non-negative")
    out: list[int] = []
    sent = 0
    seen = 0.0
    for volume in volumes:
        seen += volume
        left = total_lots - sent
        if not left:
            out.append(0)
            continue
        room = [math.floor(cap * volume / lot), left] + ([max_lots] if max_lots else [])
        limit = min(room)
        size = min(max(math.floor(participation * seen / lot) - sent, 0), limit)
        if 0 < size < min_lots and size < left:
            size = 0
        if size and 0 < left - size < min_lots and left <= limit:
            size = left
        out.append(size)
        sent += size
    return np.array(out, dtype=np.int64) * lot, (total_lots - sent) * lot


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
    """Twin of :func:`execution.kernels.almgren_chriss`, straight from the paper's formulas with numpy.

    Uses arccosh and sinh as written in the paper, so it overflows for kappa T beyond ~700 where the kernel
    does not; the tests keep to the range where both are defined.
    """
    if periods <= 0 or horizon <= 0.0:
        raise ValueError("periods and horizon must be positive")
    if min(sigma, gamma, risk_aversion, epsilon) < 0.0:
        raise ValueError("sigma, gamma, risk_aversion and epsilon must not be negative")
    tau = horizon / periods
    eta_tilde = eta - gamma * tau / 2.0
    if eta_tilde <= 0.0:
        raise ValueError("eta - gamma * tau / 2 must be positive")
    t = np.arange(periods + 1) * tau
    kappa = np.arccosh(1.0 + risk_aversion * sigma**2 * tau**2 / (2.0 * eta_tilde)) / tau
    if kappa > 0.0:
        holdings = np.sinh(kappa * (horizon - t)) / np.sinh(kappa * horizon) * total
    else:
        holdings = (horizon - t) / horizon * total
    holdings[0], holdings[-1] = total, 0.0
    trades = -np.diff(holdings)
    expected_cost = 0.5 * gamma * total**2 + epsilon * np.abs(trades).sum() + eta_tilde / tau * (trades**2).sum()
    variance = sigma**2 * tau * (holdings[1:] ** 2).sum()
    return holdings, float(expected_cost), float(variance)


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
    """Twin of :func:`execution.kernels.almgren_chriss_schedule`."""
    total_lots, min_lots, max_lots = _lots(quantity, periods, lot, min_child, max_child)
    holdings, _, _ = almgren_chriss(1.0, horizon, periods, sigma, eta, gamma, risk_aversion)
    trades = [max(float(a - b), 0.0) for a, b in zip(holdings[:-1], holdings[1:], strict=True)]
    return np.array(_allocate(total_lots, trades, min_lots, max_lots), dtype=np.int64) * lot


def reslice(
    quantity: int, filled: np.ndarray, weights: np.ndarray, lot: int, min_child: int = 0, max_child: int = 0
) -> np.ndarray:
    """Twin of :func:`execution.kernels.reslice`."""
    done = [int(f) for f in filled]
    if len(done) >= len(weights):
        raise ValueError("no periods left to re-slice over")
    if any(f < 0 for f in done) or sum(done) > quantity:
        raise ValueError("invalid fills")
    future = _weights(weights)[len(done) :]
    if sum(future) <= 0.0:
        future = [1.0] * len(future)
    total_lots, min_lots, max_lots = _lots(quantity - sum(done), len(future), lot, min_child, max_child)
    return np.array(_allocate(total_lots, future, min_lots, max_lots), dtype=np.int64) * lot


def slice_batch(
    quantities: np.ndarray, weights: np.ndarray, lot: int, min_child: int = 0, max_child: int = 0
) -> np.ndarray:
    """Twin of :func:`execution.kernels.slice_batch`."""
    profile = _weights(weights)
    rows = []
    for quantity in quantities:
        total_lots, min_lots, max_lots = _lots(int(quantity), len(profile), lot, min_child, max_child)
        rows.append(_allocate(total_lots, profile, min_lots, max_lots))
    return np.array(rows, dtype=np.int64).reshape(len(rows), len(profile)) * lot


def slice_batch_vectorized(quantities: np.ndarray, weights: np.ndarray, lot: int) -> np.ndarray:
    """Vectorized numpy slicing of many parents with no child size limits.

    Without ``min_child``/``max_child`` the rule reduces to differencing the rounded cumulative targets, which
    numpy does in whole-array operations; the limits make the rule loop-carried, which this cannot express.
    """
    profile = np.asarray(weights, dtype=np.float64)
    # np.cumsum adds in order, as the kernels do; its last element (not the pairwise np.sum) is their weight sum,
    # so the targets round the same.
    cumulative = np.cumsum(profile)
    shares = cumulative / cumulative[-1]
    total_lots = np.asarray(quantities, dtype=np.int64) // lot
    targets = np.floor(total_lots[:, None] * shares[None, :] + 0.5).astype(np.int64)
    targets[:, -1] = total_lots
    return np.diff(targets, axis=1, prepend=0) * lot


def round_to_tick(prices: np.ndarray, tick: float, side: int) -> np.ndarray:
    """Twin of :func:`execution.kernels.round_to_tick`."""
    if tick <= 0.0 or side not in (1, -1):
        raise ValueError("tick must be positive and side +1 or -1")
    ticks = np.asarray(prices, dtype=np.float64) / tick
    slack = _TICK_SLACK * np.maximum(1.0, np.abs(ticks))
    return (np.floor(ticks + slack) if side == 1 else np.ceil(ticks - slack)) * tick
