"""The volatility-regime chain: its generator and exact transition probabilities over any step."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from sim.market.config import UnderlyingConfig


def expm(matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Matrix exponential of a small square matrix, by scaling and squaring of a degree-15 Taylor series.

    Accurate to about machine precision for the few-state generators of a regime chain; it exists to keep
    scipy out of the dependencies.
    """
    norm = float(np.max(np.sum(np.abs(matrix), axis=1)))
    squarings = max(0, math.ceil(math.log2(norm / 0.25))) if norm > 0.25 else 0
    scaled = matrix / (2.0**squarings)
    result = np.eye(matrix.shape[0])
    term = np.eye(matrix.shape[0])
    for order in range(1, 16):
        term = term @ scaled / order
        result = result + term
    for _ in range(squarings):
        result = result @ result
    return result


def regime_generator(config: UnderlyingConfig) -> npt.NDArray[np.float64]:
    """Generator matrix Q (per second) of the regime chain of ``config``.

    Returns
    -------
    ndarray of shape (n, n)
        ``Q[i, j]`` is the rate of moving from regime i to j, per second; rows sum to 0.
    """
    n = config.regime_count
    if config.regime_jump_probabilities is not None:
        jumps = np.asarray(config.regime_jump_probabilities, dtype=np.float64)
    else:
        jumps = np.zeros((n, n))
        for i in range(n):
            neighbours = [j for j in (i - 1, i + 1) if 0 <= j < n]
            for j in neighbours:
                jumps[i, j] = 1.0 / len(neighbours)
    rates = 1.0 / np.asarray(config.regime_mean_durations_s, dtype=np.float64)
    generator = jumps * rates[:, None]
    np.fill_diagonal(generator, -rates if n > 1 else 0.0)
    return generator


def transition_cumulative(config: UnderlyingConfig, dt_seconds: float) -> npt.NDArray[np.float64]:
    """Row-wise cumulative transition probabilities of the regime chain over ``dt_seconds``.

    Returns
    -------
    ndarray of shape (n, n)
        ``C[i, j] = P(regime after dt <= j | regime i now)``; the last column is 1.
    """
    matrix = np.clip(expm(regime_generator(config) * dt_seconds), 0.0, None)
    return np.cumsum(matrix / matrix.sum(axis=1, keepdims=True), axis=1)
