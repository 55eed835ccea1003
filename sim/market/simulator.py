"""The seeded, replayable simulated market: a price process per underlying, its book, impact and options.

Each underlying has its own random stream (``np.random.default_rng([seed, index])``), so the path of BTC
does not change when ETH is added or an option is priced, and the same seed always gives the same world.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd

from desk.impact import impact_fractions
from desk.market import SECONDS_PER_DAY, SECONDS_PER_YEAR
from desk.pricing import OptionKind, atm_vol, black_scholes, surface_vol
from desk.volume import volume_density, volume_profile
from sim.market.config import MarketConfig, UnderlyingConfig
from sim.market.episodes import NEUTRAL, Effects, Episode
from sim.market.quotes import BookTop, ExecutionResult, OptionQuote, PerpetualQuote, Side
from sim.market.regimes import transition_cumulative

DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC)
# The book band behind the best level holds this many times the best level's genuine size (a spoof order sits at the
# best level and so in both).
BOOK_DEPTH_MULTIPLE = 4.0
_HISTORY_COLUMNS = ("time", "mid", "bid", "ask", "bid_size", "ask_size", "last", "volume", "regime", "volatility")


@dataclass
class _State:
    """Mutable state of one underlying; the mid is the fundamental times the decaying temporary displacement."""

    config: UnderlyingConfig
    rng: np.random.Generator
    log_fundamental: float
    regime: int
    atm_short_base: float
    basis: float
    temporary_displacement: float = 0.0
    half_spread: float = 0.0
    bid_size: float = 0.0
    ask_size: float = 0.0
    bid_depth: float = 0.0
    ask_depth: float = 0.0
    volatility: float = 0.0
    last: float = 0.0
    cumulative_volume: float = 0.0
    effects: Effects = NEUTRAL
    rows: dict[str, deque[object]] = field(default_factory=dict)

    @property
    def mid(self) -> float:
        return math.exp(self.log_fundamental) * (1.0 + self.temporary_displacement)


def _day_fraction(at: datetime) -> float:
    if at.tzinfo is None:
        raise ValueError("times must be timezone-aware (UTC)")
    utc = at.astimezone(UTC)
    midnight = utc.replace(hour=0, minute=0, second=0, microsecond=0)
    return (utc - midnight).total_seconds() / SECONDS_PER_DAY


def _half_spread_bps(state: _State) -> float:
    # Dealers quote wider when they are less sure of the price and when the book is thin.
    cfg = state.config
    effects = state.effects
    liquidity_penalty = 1.0 + 4.0 * (1.0 - effects.liquidity)
    base = cfg.half_spread_floor_bps + cfg.half_spread_per_vol_bps * state.volatility
    return base * effects.spread_multiplier * liquidity_penalty


class MarketSimulator:
    """A seeded world: price processes, books, impact, perpetuals and options for each underlying.

    Parameters
    ----------
    seed : int
        Seed of every random stream; the same seed and the same calls give the same world.
    config : MarketConfig, optional
        Market parameters; BTC and ETH with default parameters if omitted.
    start : datetime, optional
        Simulated start time, timezone-aware; a fixed Monday 00:00 UTC if omitted (never the wall clock,
        which would break replay).
    """

    def __init__(self, seed: int, config: MarketConfig | None = None, *, start: datetime | None = None) -> None:
        start = DEFAULT_START if start is None else start
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware (UTC)")
        self._seed = int(seed)
        self._config = config or MarketConfig()
        self._now = start.astimezone(UTC)
        self._episodes: list[Episode] = []
        self._transition_cache: dict[tuple[str, float], npt.NDArray[np.float64]] = {}
        self._states: dict[str, _State] = {}
        for index, underlying in enumerate(self._config.underlyings):
            rng = np.random.default_rng([self._seed, index])
            state = _State(
                config=underlying,
                rng=rng,
                log_fundamental=math.log(underlying.spot),
                regime=underlying.initial_regime,
                atm_short_base=underlying.regime_implied_vols[underlying.initial_regime],
                basis=underlying.funding_basis_mean,
                last=underlying.spot,
                # A bounded buffer: a market stepped twice a second for weeks must not grow without limit.
                rows={name: deque(maxlen=self._config.history_limit) for name in _HISTORY_COLUMNS},
            )
            self._refresh_book(state, depth_noise=(0.0, 0.0))
            self._record(state)
            self._states[underlying.symbol] = state

    @property
    def seed(self) -> int:
        """The seed the world was built from."""
        return self._seed

    @property
    def config(self) -> MarketConfig:
        """Market parameters."""
        return self._config

    @property
    def now(self) -> datetime:
        """Simulated time, UTC."""
        return self._now

    @property
    def underlyings(self) -> tuple[str, ...]:
        """Simulated underlying codes, in configuration order."""
        return tuple(self._states)

    @property
    def episodes(self) -> tuple[Episode, ...]:
        """Every episode added so far, past and future included."""
        return tuple(self._episodes)

    def _state(self, underlying: str) -> _State:
        try:
            return self._states[underlying]
        except KeyError:
            raise KeyError(f"unknown underlying {underlying!r}; simulated: {', '.join(self._states)}") from None

    def episode_add(self, episode: Episode) -> None:
        """Lay ``episode`` over its underlying; it acts from its start time on, as the clock reaches it."""
        self._state(episode.underlying)
        self._episodes.append(episode)
        state = self._states[episode.underlying]
        state.effects = self._effects_at(episode.underlying, self._now)

    def _effects_at(self, underlying: str, at: datetime) -> Effects:
        effects = NEUTRAL
        for episode in self._episodes:
            if episode.underlying == underlying and episode.active(at):
                effects = effects.combine(episode.effects(at))
        return effects

    def effects(self, underlying: str) -> Effects:
        """The combined effects of the episodes active on ``underlying`` now."""
        return self._state(underlying).effects

    def _episode_log_move(self, underlying: str, t0: datetime, t1: datetime) -> float:
        move = 0.0
        for episode in self._episodes:
            if episode.underlying == underlying:
                e0, e1 = max(0.0, episode.elapsed(t0)), max(0.0, episode.elapsed(t1))
                if e1 > e0:
                    move += episode.log_offset(e1) - episode.log_offset(e0)
        return move

    def _transition(self, state: _State, dt: float) -> npt.NDArray[np.float64]:
        key = (state.config.symbol, dt)
        matrix = self._transition_cache.get(key)
        if matrix is None:
            matrix = transition_cumulative(state.config, dt)
            self._transition_cache[key] = matrix
        return matrix

    def step(self, dt_seconds: float) -> None:
        """Advance the simulated clock by ``dt_seconds`` and move every underlying.

        The regime chain uses the exact transition matrix ``exp(Q·dt)``, so any step size gives the right
        regime statistics; the diffusion uses the regime at the start of the step.

        Parameters
        ----------
        dt_seconds : float
            Seconds to advance, > 0.
        """
        if not dt_seconds > 0:
            raise ValueError("dt_seconds must be positive")
        t0 = self._now
        t1 = t0 + timedelta(seconds=dt_seconds)
        volumes = [self._advance(state, t0, t1, dt_seconds) for state in self._states.values()]
        self._now = t1
        for state, volume in zip(self._states.values(), volumes, strict=True):
            self._record(state, volume)

    def run(self, duration_s: float, dt_s: float) -> None:
        """Step ``duration_s / dt_s`` times (rounded up) of ``dt_s`` seconds each."""
        if not dt_s > 0:
            raise ValueError("dt_s must be positive")
        for _ in range(math.ceil(duration_s / dt_s - 1e-9)):
            self.step(dt_s)

    def _advance(self, state: _State, t0: datetime, t1: datetime, dt: float) -> float:
        cfg = state.config
        rng = state.rng
        # A fixed number of draws per step, in a fixed order, so that a replay consumes the stream identically.
        u_regime, u_last = rng.random(2).tolist()
        z_price, z_volume, z_bid, z_ask, z_basis = rng.standard_normal(5).tolist()
        dt_years = dt / SECONDS_PER_YEAR

        start_effects = state.effects
        sigma = cfg.regime_vols[state.regime] * start_effects.vol_multiplier
        n_jumps = int(rng.poisson(cfg.jump_intensity_per_year[state.regime] * dt_years))
        jump = float(rng.normal(cfg.jump_mean, cfg.jump_std, n_jumps).sum()) if n_jumps else 0.0
        diffusion = (cfg.drift - 0.5 * sigma * sigma) * dt_years + sigma * math.sqrt(dt_years) * z_price
        state.log_fundamental += diffusion + jump + self._episode_log_move(cfg.symbol, t0, t1)

        # Transient impact relaxes towards the fundamental: the "temporary" in temporary impact.
        state.temporary_displacement *= 0.5 ** (dt / cfg.impact.decay_half_life_s)

        cumulative = self._transition(state, dt)[state.regime]
        state.regime = min(int(np.searchsorted(cumulative, u_regime, side="right")), cfg.regime_count - 1)

        end_effects = self._effects_at(cfg.symbol, t1)
        pull = 1.0 - 0.5 ** (dt / cfg.surface.implied_vol_half_life_s)
        state.atm_short_base += (cfg.regime_implied_vols[state.regime] - state.atm_short_base) * pull

        decay = 0.5 ** (dt / cfg.funding_basis_half_life_s)
        state.basis = (
            cfg.funding_basis_mean
            + (state.basis - cfg.funding_basis_mean) * decay
            + cfg.funding_basis_std * math.sqrt(1.0 - decay * decay) * z_basis
        )

        midpoint = _day_fraction(t0) + 0.5 * dt / SECONDS_PER_DAY
        intensity = float(volume_density(midpoint, cfg.volume_profile_amplitude))
        # Turbulence brings volume: the square root keeps a 3x volatility burst from tripling it.
        activity = cfg.regime_volume_multipliers[state.regime] * math.sqrt(end_effects.vol_multiplier)
        noise = math.exp(cfg.volume_noise * z_volume - 0.5 * cfg.volume_noise**2)
        step_volume = cfg.daily_volume * activity * intensity * (dt / SECONDS_PER_DAY) * noise
        state.cumulative_volume += step_volume

        state.effects = end_effects
        self._refresh_book(state, depth_noise=(z_bid, z_ask))
        mid = state.mid
        state.last = mid + (state.half_spread if u_last < 0.5 else -state.half_spread)
        return step_volume

    def _refresh_book(self, state: _State, *, depth_noise: tuple[float, float]) -> None:
        cfg = state.config
        effects = state.effects
        state.volatility = cfg.regime_vols[state.regime] * effects.vol_multiplier
        state.half_spread = state.mid * _half_spread_bps(state) * 1e-4
        vol_ratio = cfg.volatility_reference / max(state.volatility, 1e-6)
        depth = cfg.top_depth * vol_ratio * effects.liquidity
        # Log-normal noise with mean 1, so that the configured depth is the average depth.
        mean_correction = 0.5 * cfg.depth_noise**2
        bid_noise = math.exp(cfg.depth_noise * depth_noise[0] - mean_correction)
        ask_noise = math.exp(cfg.depth_noise * depth_noise[1] - mean_correction)
        state.bid_size = depth * bid_noise + effects.spoof_bid_size
        state.ask_size = depth * ask_noise + effects.spoof_ask_size
        state.bid_depth = depth * bid_noise * BOOK_DEPTH_MULTIPLE + effects.spoof_bid_size
        state.ask_depth = depth * ask_noise * BOOK_DEPTH_MULTIPLE + effects.spoof_ask_size

    def _record(self, state: _State, volume: float = 0.0) -> None:
        if not self._config.record_history:
            return
        mid = state.mid
        rows = state.rows
        rows["time"].append(self._now)
        rows["mid"].append(mid)
        rows["bid"].append(mid - state.half_spread)
        rows["ask"].append(mid + state.half_spread)
        rows["bid_size"].append(state.bid_size)
        rows["ask_size"].append(state.ask_size)
        rows["last"].append(state.last)
        rows["volume"].append(volume)
        rows["regime"].append(state.regime)
        rows["volatility"].append(state.volatility)

    def book(self, underlying: str) -> BookTop:
        """Top of book of ``underlying`` now.

        This is the venue's truth; feed faults (stale, corrupt) live in :class:`~sim.market.feed.MarketFeed`.
        """
        state = self._state(underlying)
        cfg = state.config
        mid = state.mid
        return BookTop(
            underlying=underlying,
            timestamp=self._now,
            bid=mid - state.half_spread,
            ask=mid + state.half_spread,
            bid_size=state.bid_size,
            ask_size=state.ask_size,
            mid=mid,
            last=state.last,
            volume=state.cumulative_volume,
            regime=state.regime,
            regime_name=cfg.regime_names[state.regime],
            volatility=state.volatility,
            dealer_appetite=cfg.regime_dealer_appetite[state.regime] * state.effects.liquidity,
            bid_depth=state.bid_depth,
            ask_depth=state.ask_depth,
        )

    def execute(self, underlying: str, side: Side, quantity: float) -> ExecutionResult:
        """Fill a child order of the desk against the venue, paying half the spread and the impact.

        The fill's average price is ``mid · (1 ± (half spread + temporary + permanent / 2))``; afterwards the
        permanent impact stays in the mid and the temporary impact decays with the configured half-life.

        Parameters
        ----------
        underlying : str
            Underlying code.
        side : {'buy', 'sell'}
            Direction of the desk's order.
        quantity : float
            Coins, > 0.

        Returns
        -------
        ExecutionResult
        """
        if side not in ("buy", "sell"):
            raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")
        if not (quantity > 0 and math.isfinite(quantity)):
            raise ValueError("quantity must be a positive finite number of coins")
        state = self._state(underlying)
        cfg = state.config
        sign = 1.0 if side == "buy" else -1.0
        mid_before = state.mid
        spread_fraction = state.half_spread / mid_before
        temporary, permanent = impact_fractions(
            quantity, config=cfg.impact, volatility=state.volatility, liquidity=state.effects.liquidity
        )
        temporary_f, permanent_f = float(temporary), float(permanent)
        cost_fraction = spread_fraction + temporary_f + 0.5 * permanent_f
        average_price = mid_before * (1.0 + sign * cost_fraction)

        state.log_fundamental += math.log1p(sign * permanent_f)
        state.temporary_displacement += sign * temporary_f
        # Keep the quoted mid positive whatever the desk does to it.
        state.temporary_displacement = max(state.temporary_displacement, -0.95)
        state.cumulative_volume += quantity
        state.last = average_price
        # The order takes the genuine resting size on the side it hits (spoof orders are pulled before they
        # can fill); the next step refills the book.
        if side == "buy":
            spoof = state.effects.spoof_ask_size
            state.ask_size = max(0.0, state.ask_size - spoof - quantity) + spoof
            state.ask_depth = max(0.0, state.ask_depth - spoof - quantity) + spoof
        else:
            spoof = state.effects.spoof_bid_size
            state.bid_size = max(0.0, state.bid_size - spoof - quantity) + spoof
            state.bid_depth = max(0.0, state.bid_depth - spoof - quantity) + spoof
        # The spread is a fraction of the mid: re-express it at the moved mid.
        state.half_spread = state.mid * _half_spread_bps(state) * 1e-4
        return ExecutionResult(
            underlying=underlying,
            side=side,
            quantity=float(quantity),
            average_price=average_price,
            mid_before=mid_before,
            mid_after=state.mid,
            spread_cost_bps=1e4 * spread_fraction,
            temporary_impact_bps=1e4 * temporary_f,
            permanent_impact_bps=1e4 * permanent_f,
            cost_bps=1e4 * cost_fraction,
            timestamp=self._now,
        )

    def volume_profile(
        self, underlying: str, bins: int, *, start: datetime | None = None, horizon_seconds: float = SECONDS_PER_DAY
    ) -> npt.NDArray[np.float64]:
        """Expected share of volume per bin over a window, for VWAP slicing.

        Parameters
        ----------
        underlying : str
            Underlying code.
        bins : int
            Number of equal-width bins.
        start : datetime, optional
            Start of the window, UTC; 00:00 UTC of the current simulated day if omitted.
        horizon_seconds : float
            Window length in seconds (a full day by default).

        Returns
        -------
        ndarray of shape (bins,)
            Fractions summing to 1.
        """
        cfg = self._state(underlying).config
        start_fraction = 0.0 if start is None else _day_fraction(start)
        return volume_profile(
            bins,
            amplitude=cfg.volume_profile_amplitude,
            start_day_fraction=start_fraction,
            horizon_days=horizon_seconds / SECONDS_PER_DAY,
        )

    def history(self, underlying: str) -> pd.DataFrame:
        """One row per step since the start (the first row is the initial state).

        Returns
        -------
        pandas.DataFrame
            Columns ``time`` (UTC), ``mid``, ``bid``, ``ask`` (USD), ``bid_size``, ``ask_size`` (coins),
            ``last`` (USD), ``volume`` (coins traded during the step), ``regime`` (int), ``volatility``
            (annualized). Empty if history recording is off.
        """
        rows = self._state(underlying).rows
        frame = pd.DataFrame({name: list(rows.get(name, ())) for name in _HISTORY_COLUMNS})
        frame["time"] = pd.to_datetime(frame["time"], utc=True)
        return frame

    def perpetual(self, underlying: str) -> PerpetualQuote:
        """The perpetual swap on ``underlying`` now: spot plus the funding basis."""
        state = self._state(underlying)
        index = state.mid
        mark = index * (1.0 + state.basis)
        half = mark * state.half_spread / index
        return PerpetualQuote(
            underlying=underlying,
            timestamp=self._now,
            index=index,
            mark=mark,
            bid=mark - half,
            ask=mark + half,
            basis=state.basis,
            funding_rate_8h=min(max(state.basis, -0.0075), 0.0075),
        )

    def atm_short(self, underlying: str) -> float:
        """Short-end ATM implied volatility now (regime level, pulled by active scenarios), annualized."""
        state = self._state(underlying)
        effects = state.effects
        weight = min(max(effects.implied_vol_weight, 0.0), 1.0)
        return (1.0 - weight) * state.atm_short_base + weight * effects.implied_vol_target

    def atm_vol(self, underlying: str, t_years: npt.ArrayLike) -> float | npt.NDArray[np.float64]:
        """ATM implied volatility by expiry (years) now, annualized."""
        cfg = self._state(underlying).config
        result = atm_vol(t_years, atm_short=self.atm_short(underlying), config=cfg.surface)
        return float(result) if result.ndim == 0 else result

    def implied_vol(
        self, underlying: str, strike: npt.ArrayLike, t_years: npt.ArrayLike
    ) -> float | npt.NDArray[np.float64]:
        """Implied volatility from the surface now, for strikes in USD and expiries in years."""
        state = self._state(underlying)
        t = np.asarray(t_years, dtype=np.float64)
        forward = state.mid * np.exp(self._config.rate * t)
        k = np.log(np.asarray(strike, dtype=np.float64) / forward)
        result = surface_vol(k, t, atm_short=self.atm_short(underlying), config=state.config.surface)
        return float(result) if result.ndim == 0 else result

    def _t_years(self, expiry: datetime) -> float:
        if expiry.tzinfo is None:
            raise ValueError("expiry must be timezone-aware (UTC)")
        t = (expiry - self._now).total_seconds() / SECONDS_PER_YEAR
        if t < 0:
            raise ValueError("expiry is in the past")
        return t

    def option(self, underlying: str, strike: float, expiry: datetime, kind: OptionKind) -> OptionQuote:
        """Price a European option on ``underlying`` now from the surface.

        Parameters
        ----------
        underlying : str
            Underlying code.
        strike : float
            USD, > 0.
        expiry : datetime
            UTC-aware, not in the past.
        kind : {'call', 'put'}
            Option type.

        Returns
        -------
        OptionQuote
        """
        state = self._state(underlying)
        surface = state.config.surface
        t = self._t_years(expiry)
        spot = state.mid
        forward = spot * math.exp(self._config.rate * t)
        vol = float(surface_vol(math.log(strike / forward), t, atm_short=self.atm_short(underlying), config=surface))
        priced = black_scholes(spot, strike, t, self._config.rate, vol, kind)
        price = float(priced.price)
        half = surface.half_spread_vol * float(priced.vega)
        return OptionQuote(
            underlying=underlying,
            strike=float(strike),
            expiry=expiry,
            kind=kind,
            t_years=t,
            forward=forward,
            implied_vol=vol,
            price=price,
            bid=max(price - half, 0.0),
            ask=price + half,
            delta=float(priced.delta),
            gamma=float(priced.gamma),
            vega=float(priced.vega),
            theta=float(priced.theta),
        )

    def option_chain(
        self,
        underlying: str,
        strikes: npt.ArrayLike,
        expiries: list[datetime] | tuple[datetime, ...],
        *,
        kinds: tuple[OptionKind, ...] = ("call", "put"),
    ) -> pd.DataFrame:
        """Every (expiry, strike, kind) combination priced now, in one vectorized pass.

        Returns
        -------
        pandas.DataFrame
            Columns ``expiry``, ``t_years``, ``strike``, ``kind``, ``forward``, ``implied_vol``, ``price``,
            ``bid``, ``ask``, ``delta``, ``gamma``, ``vega``, ``theta`` (units as in :class:`OptionQuote`).
        """
        state = self._state(underlying)
        surface = state.config.surface
        strike_values = np.atleast_1d(np.asarray(strikes, dtype=np.float64))
        t_values = np.array([self._t_years(expiry) for expiry in expiries], dtype=np.float64)
        grid_t, grid_k, grid_kind = np.meshgrid(t_values, strike_values, np.array(kinds), indexing="ij")
        grid_expiry = np.broadcast_to(np.array(expiries, dtype=object)[:, None, None], grid_t.shape)
        spot = state.mid
        forward = spot * np.exp(self._config.rate * grid_t)
        vol = surface_vol(np.log(grid_k / forward), grid_t, atm_short=self.atm_short(underlying), config=surface)
        priced = black_scholes(spot, grid_k, grid_t, self._config.rate, vol, grid_kind)
        price = np.asarray(priced.price)
        half = surface.half_spread_vol * np.asarray(priced.vega)
        return pd.DataFrame(
            {
                "expiry": grid_expiry.ravel(),
                "t_years": grid_t.ravel(),
                "strike": grid_k.ravel(),
                "kind": grid_kind.ravel(),
                "forward": forward.ravel(),
                "implied_vol": vol.ravel(),
                "price": price.ravel(),
                "bid": np.maximum(price - half, 0.0).ravel(),
                "ask": (price + half).ravel(),
                "delta": np.asarray(priced.delta).ravel(),
                "gamma": np.asarray(priced.gamma).ravel(),
                "vega": np.asarray(priced.vega).ravel(),
                "theta": np.asarray(priced.theta).ravel(),
            }
        )
