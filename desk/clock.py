"""The desk's one clock: every service, selector and timestamp field asks :func:`now`.

Time is a dependency. A backtest or a simulated scoring history runs the real services at simulated times by
installing a clock for its own context (:func:`clock_use`); the override lives in a context variable, so it moves
time only for the code running in that context (that thread or task), never for the rest of a running desk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta

ClockSource = Callable[[], datetime]

_source: ContextVar[ClockSource | None] = ContextVar("desk_clock", default=None)


def now() -> datetime:
    """The current time, UTC-aware: the context's clock if one is installed, else the wall clock."""
    source = _source.get()
    if source is None:
        return datetime.now(UTC)
    value = source()
    if value.tzinfo is None:
        raise ValueError("a desk clock must return an aware datetime")
    return value


@contextmanager
def clock_use(source: ClockSource) -> Iterator[None]:
    """Install ``source`` as the clock of the current context until the block ends (nested uses stack)."""
    token = _source.set(source)
    try:
        yield
    finally:
        _source.reset(token)


class SteppedClock:
    """A clock that stands still until moved: the simulated time of a backtest or a simulated history."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a clock starts at an aware datetime")
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> datetime:
        """Move forward ``seconds`` (never back) and return the new time."""
        if seconds < 0:
            raise ValueError("a clock never goes back")
        self.current += timedelta(seconds=seconds)
        return self.current

    def set(self, moment: datetime) -> datetime:
        """Jump to ``moment`` (not earlier than now)."""
        if moment < self.current:
            raise ValueError("a clock never goes back")
        self.current = moment
        return self.current
