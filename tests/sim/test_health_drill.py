"""The market-health drill: the first bad tick is the first round the scenario changed, found against the world's
twin without it; the times it reports are measured from there."""

from __future__ import annotations

import pytest

from sim.health_drill import health_drill


def test_the_first_bad_tick_is_the_first_round_the_episode_changed() -> None:
    # the stale feed repeats its prices from the very first round after the start (0.5 s, then 10 s)
    assert health_drill("stale-feed", seed=3, warmup_s=30.0, duration_s=5.0).first_bad_at_s == 0.5
    assert health_drill("stale-feed", seed=3, dt_s=10.0, warmup_s=60.0, duration_s=30.0).first_bad_at_s == 10.0
    # in 10 s rounds the spoof orders (on 5 s of every 15) are first caught by the round at 30 s
    assert health_drill("spoofing", seed=3, dt_s=10.0, warmup_s=60.0, duration_s=60.0).first_bad_at_s == 30.0


def test_an_episode_that_changes_nothing_has_no_bad_tick_and_no_trip() -> None:
    result = health_drill("spoofing", seed=3, warmup_s=60.0, duration_s=30.0, size=0.0)
    assert result.first_bad_at_s is None
    assert result.trip() is None
    assert result.time_to_trip() is None
    assert result.as_dict()["check"] == []


def test_times_are_measured_from_the_first_bad_tick() -> None:
    result = health_drill("stale-feed", seed=3, warmup_s=60.0, duration_s=20.0)
    halt = result.halt()
    assert halt is not None
    assert result.time_to_halt() == pytest.approx(halt.at_s - result.first_bad_at_s)
    assert result.as_dict() | {"seed": None} == {
        "scenario": "stale-feed",
        "underlying": "BTC",
        "seed": None,
        "dt_s": 0.5,
        "first_bad_at_s": 0.5,
        "check": ["stale"],
        "state": "halted",
        "time_to_trip_s": 4.5,
        "halt_checks": ["stale"],
        "time_to_halt_s": 4.5,
    }


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(KeyError, match="unknown scenario"):
        health_drill("no-such", seed=1)
    with pytest.raises(ValueError, match="dt_s"):
        health_drill("stale-feed", seed=1, dt_s=0.0)
