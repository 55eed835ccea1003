"""Pure telemetry metrics (risk.telemetry) against plain references, and the alert / action rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from risk import telemetry
from risk.telemetry import (
    ACTION,
    ALERT,
    PlanFill,
    PlanTelemetryInput,
    TelemetryThresholds,
    fill_variance_ratio,
    leakage_score,
    market_impact,
    participation_rate,
    realized_slippage,
    slippage_thresholds,
    telemetry_evaluate,
)


def test_realized_slippage_matches_a_plain_loop() -> None:
    rng = np.random.default_rng(11)
    q = rng.uniform(0.5, 3.0, 40)
    b = rng.uniform(90.0, 110.0, 40)
    p = b * (1 + rng.normal(0.0005, 0.001, 40))
    for side in (1.0, -1.0):
        expected = 0.0
        for qi, pi, bi in zip(q, p, b, strict=True):
            expected += qi * side * (pi - bi) / bi
        expected /= sum(q)
        assert realized_slippage(side, q, p, b) == pytest.approx(expected, rel=1e-12)
    assert math.isnan(realized_slippage(1.0, [], [], []))


def test_impact_and_participation_signs() -> None:
    # a buy that pushed the mid from 100 to 100.2 moved it 0.2 % against itself; a sell gained that much
    assert market_impact(1.0, 100.0, 100.2) == pytest.approx(0.002)
    assert market_impact(-1.0, 100.0, 100.2) == pytest.approx(-0.002)
    assert participation_rate(30.0, 120.0) == pytest.approx(0.25)
    assert math.isnan(participation_rate(1.0, 0.0))


def _gbm_path(sigma: float, n: int, dt_s: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    per_step = sigma * math.sqrt(dt_s / telemetry.SECONDS_PER_YEAR)
    log_prices = np.log(100.0) + np.cumsum(rng.normal(0.0, per_step, n))
    return np.arange(n) * dt_s, np.exp(log_prices)


def test_fill_variance_ratio_is_one_when_fills_move_with_the_venues_volatility() -> None:
    # given fills on a random walk with the venue's own volatility, then with twice of it
    times, prices = _gbm_path(0.6, 4_000, 10.0, seed=5)
    _, doubled = _gbm_path(1.2, 4_000, 10.0, seed=5)
    # then the ratio is about 1, and about 4 at twice the volatility (chi-square: ±5 % holds at 4 000 returns)
    assert fill_variance_ratio(times, prices, 0.6) == pytest.approx(1.0, rel=0.05)
    assert fill_variance_ratio(times, doubled, 0.6) == pytest.approx(4.0, rel=0.05)
    assert math.isnan(fill_variance_ratio([0.0, 1.0], [100.0, 101.0], 0.6))


def test_leakage_score_is_the_positive_pearson_correlation() -> None:
    rng = np.random.default_rng(3)
    sizes = rng.uniform(1.0, 5.0, 50)
    moves = 0.0001 * sizes + rng.normal(0.0, 0.0001, 50)
    assert leakage_score(sizes, moves) == pytest.approx(np.corrcoef(sizes, moves)[0, 1], rel=1e-12)
    assert leakage_score(sizes, -moves) == 0.0
    assert leakage_score(np.full(50, 2.0), moves) == 0.0
    assert leakage_score(sizes[:4], moves[:4]) == 0.0


def test_slippage_tolerance_tightens_as_volatility_rises() -> None:
    thresholds = TelemetryThresholds()
    assert slippage_thresholds(thresholds, 0.5) == (0.0010, 0.0025)
    alert, pause = slippage_thresholds(thresholds, 2.0)
    assert (alert, pause) == pytest.approx((0.0005, 0.00125))


def _data(
    *, slippage: float = 0.0, volatility_ratio: float = 1.0, own: float = 0.0, **extra: float
) -> PlanTelemetryInput:
    """Ten buys of 1 at 100 × (1 + slippage) against a flat mid of 100, in a market of 1 000 coins."""
    fills = tuple(PlanFill(10.0 * i, 1.0, 100.0 * (1 + slippage), 100.0, 100.0) for i in range(10))
    fields = {
        "side_sign": 1.0,
        "fills": fills,
        "mid_now": 100.0,
        "own_volume_5m": own,
        "market_volume_5m": 1000.0,
        "volatility": 0.6,
        "volatility_ratio": volatility_ratio,
    }
    fields.update(extra)
    return PlanTelemetryInput(**fields)


@pytest.mark.parametrize(
    ("slippage", "volatility_ratio", "level", "action"),
    [
        (0.0009, 1.0, None, None),
        (0.0015, 1.0, ALERT, "none"),
        (0.0030, 1.0, ACTION, "pause"),
        # the same 0.15 % pauses once volatility doubled (pause above 0.125 %)
        (0.0015, 2.0, ACTION, "pause"),
    ],
)
def test_slippage_alert_and_pause(
    slippage: float, volatility_ratio: float, level: str | None, action: str | None
) -> None:
    breaches = {b.metric: b for b in telemetry_evaluate(_data(slippage=slippage, volatility_ratio=volatility_ratio))}
    if level is None:
        assert "slippage" not in breaches
        return
    breach = breaches["slippage"]
    assert (breach.level, breach.action) == (level, action)
    assert breach.value == pytest.approx(slippage)
    assert breach.value >= breach.threshold


def test_participation_alert_and_halt_and_impact_reduce() -> None:
    alert = {b.metric: b for b in telemetry_evaluate(_data(own=200.0))}["participation"]
    halt = {b.metric: b for b in telemetry_evaluate(_data(own=300.0))}["participation"]
    assert (alert.level, alert.action, alert.threshold) == (ALERT, "none", 0.15)
    assert (halt.level, halt.action, halt.threshold) == (ACTION, "halt", 0.25)
    # the mid went from 100 (before the first fill) to 100.2: 0.2 % impact, above the 0.15 % reduce threshold
    impact = {b.metric: b for b in telemetry_evaluate(_data(mid_now=100.2))}["impact"]
    assert (impact.level, impact.action) == (ACTION, "reduce")
    assert impact.value == pytest.approx(0.002)


def test_thresholds_from_settings_refuse_nonsense() -> None:
    assert TelemetryThresholds.from_mapping({"slippage_pause": "0.003"}).slippage_pause == 0.003
    with pytest.raises(ValueError, match="slipage_pause"):
        TelemetryThresholds.from_mapping({"slipage_pause": 0.003})
    with pytest.raises(ValueError, match="leakage"):
        TelemetryThresholds(leakage_alert=0.95, leakage_reroute=0.9)


def test_inputs_round_trip_through_json_dicts() -> None:
    data = _data(slippage=0.002, own=170.0)
    assert PlanTelemetryInput.from_dict(data.as_dict()) == data
