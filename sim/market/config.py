"""Parameters of the simulated market: one frozen dataclass per concern, with defaults for BTC and ETH built on
the desk's reference data (:mod:`desk.market`; the impact and surface parameters are :mod:`desk.impact`'s and
:mod:`desk.pricing`'s).

Units are in the names or the docstrings: volatilities are annualized fractions (0.65 is 65 %), times are
seconds unless named ``*_days``, spreads are in basis points of the mid, sizes are in units of the
underlying (coins).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from desk.impact import ImpactConfig
from desk.market import RATE, SECONDS_PER_DAY, UnderlyingReference, underlying_reference
from desk.pricing import VolSurfaceConfig


@dataclass(frozen=True)
class UnderlyingConfig:
    """Price process, liquidity and options of one underlying.

    The log price is a diffusion whose volatility is set by a continuous-time Markov chain of regimes, plus
    compound-Poisson jumps with normal log sizes. Regime tuples are indexed by the regime number.

    Attributes
    ----------
    symbol : str
        Underlying code, e.g. ``"BTC"``.
    spot : float
        Initial mid, in USD.
    regime_names : tuple of str
        Human names of the regimes, lowest volatility first.
    regime_vols : tuple of float
        Realized (diffusive) volatility of each regime, annualized.
    regime_mean_durations_s : tuple of float
        Mean time spent in each regime before leaving it, seconds.
    regime_jump_probabilities : tuple of tuple of float or None
        Where the chain goes when it leaves a regime (rows sum to 1, zero diagonal); ``None`` means to either
        neighbour with equal probability (calm and stressed only reach the middle one).
    regime_implied_vols : tuple of float
        Short-end ATM implied volatility that the surface relaxes to in each regime, annualized.
    regime_volume_multipliers : tuple of float
        Traded volume relative to ``daily_volume`` in each regime.
    regime_dealer_appetite : tuple of float
        Dealers' willingness to take risk in each regime, 0 to 1 (1 is normal).
    initial_regime : int
        Regime at the start.
    drift : float
        Annualized log drift of the diffusion.
    jump_intensity_per_year : tuple of float
        Expected jumps per year in each regime.
    jump_mean, jump_std : float
        Mean and standard deviation of one jump's log size.
    daily_volume : float
        Coins traded per day in an average regime.
    volume_profile_amplitude : float
        Height of the intraday U: volume density at 00:00 and 24:00 UTC is ``1 + amplitude`` times that at
        12:00.
    volume_noise : float
        Log-normal noise of the volume of one step (standard deviation of the log).
    half_spread_floor_bps : float
        Half spread at zero volatility, basis points of mid.
    half_spread_per_vol_bps : float
        Extra half spread per 1.00 of annualized volatility, basis points of mid.
    top_depth : float
        Typical size on each side of the top of book at ``volatility_reference``, coins.
    depth_noise : float
        Log-normal noise of the top-of-book sizes.
    volatility_reference : float
        Annualized volatility at which depth equals ``top_depth``.
    funding_basis_mean : float
        Long-run mean of the perpetual's premium over spot, fraction.
    funding_basis_std : float
        Stationary standard deviation of that premium, fraction.
    funding_basis_half_life_s : float
        Seconds for a deviation of the premium to halve.
    surface : VolSurfaceConfig
        Implied-volatility surface.
    impact : ImpactConfig
        Impact of the desk's orders.
    """

    symbol: str
    spot: float
    # From the desk's reference data (see underlying_simulated): no defaults, so that no number is written twice.
    daily_volume: float
    volume_profile_amplitude: float
    half_spread_floor_bps: float
    half_spread_per_vol_bps: float
    top_depth: float
    volatility_reference: float
    surface: VolSurfaceConfig
    impact: ImpactConfig
    regime_vols: tuple[float, ...]
    regime_names: tuple[str, ...] = ("calm", "normal", "stressed")
    regime_mean_durations_s: tuple[float, ...] = (3 * SECONDS_PER_DAY, SECONDS_PER_DAY, 6 * 3_600.0)
    regime_jump_probabilities: tuple[tuple[float, ...], ...] | None = None
    regime_implied_vols: tuple[float, ...] = (0.62, 0.85, 1.15)
    regime_volume_multipliers: tuple[float, ...] = (0.8, 1.0, 1.8)
    regime_dealer_appetite: tuple[float, ...] = (1.0, 0.85, 0.55)
    initial_regime: int = 1
    drift: float = 0.0
    jump_intensity_per_year: tuple[float, ...] = (10.0, 25.0, 80.0)
    jump_mean: float = -0.002
    jump_std: float = 0.012
    volume_noise: float = 0.3
    depth_noise: float = 0.4
    funding_basis_mean: float = 2e-4
    funding_basis_std: float = 3e-4
    funding_basis_half_life_s: float = 8 * 3_600.0

    def __post_init__(self) -> None:
        n = len(self.regime_names)
        per_regime = (
            self.regime_vols,
            self.regime_mean_durations_s,
            self.regime_implied_vols,
            self.regime_volume_multipliers,
            self.regime_dealer_appetite,
            self.jump_intensity_per_year,
        )
        if n == 0 or any(len(values) != n for values in per_regime):
            raise ValueError(f"{self.symbol}: every per-regime tuple needs {n} entries")
        if not 0 <= self.initial_regime < n:
            raise ValueError(f"{self.symbol}: initial_regime out of range")
        if self.spot <= 0 or min(self.regime_vols) < 0 or min(self.regime_mean_durations_s) <= 0:
            raise ValueError(f"{self.symbol}: spot and durations must be positive, volatilities non-negative")
        if self.regime_jump_probabilities is not None:
            rows = self.regime_jump_probabilities
            if len(rows) != n or any(len(row) != n for row in rows):
                raise ValueError(f"{self.symbol}: regime_jump_probabilities must be {n}x{n}")
            for i, row in enumerate(rows):
                if row[i] != 0 or abs(sum(row) - 1.0) > 1e-9 or min(row) < 0:
                    raise ValueError(f"{self.symbol}: jump row {i} must be a distribution with a zero diagonal")

    @property
    def regime_count(self) -> int:
        """Number of volatility regimes."""
        return len(self.regime_names)


def underlying_simulated(reference: UnderlyingReference, **process: Any) -> UnderlyingConfig:
    """The simulated underlying built on the desk's reference data (price, volume, liquidity, surface, impact),
    with the price process's own parameters (regimes, jumps, noise) from ``process`` or the defaults. The
    reference volatility is the volatility of the starting regime."""
    config = UnderlyingConfig(
        symbol=reference.symbol,
        spot=reference.spot,
        daily_volume=reference.daily_volume,
        volume_profile_amplitude=reference.volume_profile_amplitude,
        half_spread_floor_bps=reference.half_spread_floor_bps,
        half_spread_per_vol_bps=reference.half_spread_per_vol_bps,
        top_depth=reference.top_depth,
        volatility_reference=reference.volatility_reference,
        surface=reference.surface,
        impact=reference.impact,
        **process,
    )
    if config.regime_vols[config.initial_regime] != reference.volatility:
        raise ValueError(f"{reference.symbol}: the starting regime's volatility must be the reference volatility")
    return config


def btc_config() -> UnderlyingConfig:
    """Default BTC: spot 100 000 USD, 20 000 BTC a day, about 5 BTC at the top of book."""
    reference = underlying_reference("BTC")
    return underlying_simulated(reference, regime_vols=(0.40, reference.volatility, 1.10))


def eth_config() -> UnderlyingConfig:
    """Default ETH: spot 3 500 USD, more volatile than BTC, 300 000 ETH a day."""
    reference = underlying_reference("ETH")
    return underlying_simulated(
        reference, regime_vols=(0.50, reference.volatility, 1.30), regime_implied_vols=(0.68, 0.95, 1.18)
    )


@dataclass(frozen=True)
class MarketConfig:
    """The whole simulated market.

    Attributes
    ----------
    underlyings : tuple of UnderlyingConfig
        One entry per underlying; symbols must be unique. Their order fixes the random streams.
    rate : float
        Risk-free rate for option pricing, continuously compounded, per year.
    record_history : bool
        Keep one row per step for :meth:`MarketSimulator.history`.
    history_limit : int or None
        Most recent rows kept per underlying (``None``: all of them). The default holds about 35 days of
        one-minute steps, or 7 hours of half-second ones, in roughly 15 MB per underlying.
    """

    underlyings: tuple[UnderlyingConfig, ...] = field(default_factory=lambda: (btc_config(), eth_config()))
    rate: float = RATE
    record_history: bool = True
    history_limit: int | None = 50_000

    def __post_init__(self) -> None:
        symbols = [u.symbol for u in self.underlyings]
        if not symbols or len(set(symbols)) != len(symbols):
            raise ValueError("underlyings must be a non-empty tuple with unique symbols")
        if self.history_limit is not None and self.history_limit < 1:
            raise ValueError("history_limit must be positive or None")

    def underlying(self, symbol: str) -> UnderlyingConfig:
        """The configuration of ``symbol``; ``KeyError`` if it is not simulated."""
        for underlying in self.underlyings:
            if underlying.symbol == symbol:
                return underlying
        raise KeyError(f"unknown underlying {symbol!r}")
