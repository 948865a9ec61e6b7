"""Call limits of SPEC §5: a sliding rate window and a daily quota per user, and
a count of calls in flight. In memory only (a restart resets them); no I/O.
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .._errors import FaultError
from .._models import Fault

__all__ = ["Limiter"]


class Limiter:
    """Admits or refuses calls; 0 turns a limit off.

    ``in_flight()`` guards a whole request (20024); ``admit(user, now)`` counts
    one authenticated call against the rate window (20023) and the UTC day's
    quota (20015). A refused call is not counted.
    """

    def __init__(
        self, *, rate_calls: int, rate_window: float, concurrency: int, daily_quota: int
    ) -> None:
        self.rate_calls = rate_calls
        self.rate_window = rate_window
        self.concurrency = concurrency
        self.daily_quota = daily_quota
        self._lock = threading.Lock()
        self._active = 0
        self._calls: dict[str, collections.deque[float]] = {}
        self._days: dict[str, tuple[dt.date, int]] = {}

    @property
    def active(self) -> int:
        """How many requests are in flight right now."""
        return self._active

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        """Hold one concurrency slot for the request, or raise 20024."""
        with self._lock:
            if self.concurrency and self._active >= self.concurrency:
                raise FaultError(
                    Fault.for_code(20024, f"more than {self.concurrency} concurrent calls")
                )
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1

    def admit(self, user: str, now: dt.datetime) -> None:
        """Count a call by ``user`` at ``now`` (aware), or raise 20023 / 20015."""
        stamp = now.timestamp()
        day = now.astimezone(dt.timezone.utc).date()
        with self._lock:
            calls = self._calls.setdefault(user, collections.deque())
            if self.rate_calls:
                while calls and calls[0] <= stamp - self.rate_window:
                    calls.popleft()
                if len(calls) >= self.rate_calls:
                    raise FaultError(
                        Fault.for_code(
                            20023,
                            f"more than {self.rate_calls} calls in {self.rate_window:g} seconds",
                        )
                    )
            used_day, used = self._days.get(user, (day, 0))
            if used_day != day:
                used = 0
            if self.daily_quota and used >= self.daily_quota:
                raise FaultError(
                    Fault.for_code(20015, f"daily quota of {self.daily_quota} calls is spent")
                )
            if self.rate_calls:
                calls.append(stamp)
            self._days[user] = (day, used + 1)
