"""The desk clock: an override moves time for its own context only."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from desk import clock

START = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def test_without_an_override_the_clock_is_the_wall_clock() -> None:
    before = datetime.now(UTC)
    value = clock.now()
    assert before <= value <= datetime.now(UTC)


def test_an_installed_clock_moves_time_inside_the_block_and_only_there() -> None:
    stepped = clock.SteppedClock(START)
    with clock.clock_use(stepped):
        assert clock.now() == START
        stepped.advance(90)
        assert clock.now() == START + timedelta(seconds=90)
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)


def test_another_thread_keeps_the_wall_clock_while_a_context_runs_simulated_time() -> None:
    seen: list[datetime] = []
    with clock.clock_use(clock.SteppedClock(START)):
        thread = threading.Thread(target=lambda: seen.append(clock.now()))
        thread.start()
        thread.join()
        assert clock.now() == START
    assert seen[0] != START
    assert abs(seen[0] - datetime.now(UTC)) < timedelta(seconds=5)


def test_nested_clocks_stack_and_unwind() -> None:
    outer, inner = clock.SteppedClock(START), clock.SteppedClock(START + timedelta(days=1))
    with clock.clock_use(outer):
        with clock.clock_use(inner):
            assert clock.now() == START + timedelta(days=1)
        assert clock.now() == START


def test_a_clock_never_goes_back_and_must_be_aware() -> None:
    stepped = clock.SteppedClock(START)
    with pytest.raises(ValueError, match="never goes back"):
        stepped.advance(-1)
    with pytest.raises(ValueError, match="never goes back"):
        stepped.set(START - timedelta(seconds=1))
    with pytest.raises(ValueError, match="aware"), clock.clock_use(lambda: datetime(2026, 1, 1)):  # noqa: DTZ001
        clock.now()
