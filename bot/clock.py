"""Time as a dependency: the bot runs on `SystemClock`, the tests on `FakeClock`, so nothing in
the tests waits for real time (a `FakeClock.sleep` moves the clock instead of waiting)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait; a fake clock moves itself forward instead."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that only moves when told to (or when something sleeps on it)."""

    def __init__(self, start: datetime) -> None:
        self._now = _aware_utc(start)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        if delta < timedelta(0):
            raise ValueError("a clock does not go back")
        self._now += delta

    def set(self, moment: datetime) -> None:
        self._now = _aware_utc(moment)

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._now += timedelta(seconds=seconds)
        await asyncio.sleep(0)  # still let other tasks run, as a real sleep would


def _aware_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("the clock needs an aware datetime")
    return moment.astimezone(UTC)
