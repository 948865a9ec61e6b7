"""Progress of a bulk sync on stderr: a redrawn bar on a terminal, periodic lines otherwise.

Only formats and writes text; it never reads input or touches the journal.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from typing import TextIO

from ._runner import RowResult, RowStatus

__all__ = ["Progress", "format_duration"]


def format_duration(seconds: float) -> str:
    """``75`` -> ``"1m15s"``; hours when needed."""
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class Progress:
    """Counts results and reports them on ``stream``.

    On a terminal the line is redrawn at most every ``redraw`` seconds; on
    anything else a plain line is written every ``interval`` seconds.
    ``total`` (rows in the file, or None when unknown) and ``done_before``
    (rows finished by earlier runs) make the percentage and the ETA;
    ``previous`` (their outcomes) is counted with this run's, so that the line
    shows the same categories and rows as the summary.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        total: int | None,
        done_before: int = 0,
        previous: collections.Counter[RowStatus] | None = None,
        tty: bool | None = None,
        interval: float = 5.0,
        redraw: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.total = total
        self.previous = previous if previous is not None else collections.Counter()
        self.done_before = done_before or sum(self.previous.values())
        self.tty = stream.isatty() if tty is None else tty
        self.counts: collections.Counter[RowStatus] = collections.Counter()
        self._every = redraw if self.tty else interval
        self._clock = clock
        self.started = clock()
        self._shown = self.started
        self._drawn = False

    @property
    def done(self) -> int:
        """Rows finished in this run."""
        return sum(self.counts.values())

    def update(self, result: RowResult) -> None:
        """Count ``result``; report if it is time to."""
        self.counts[result.status] += 1
        now = self._clock()
        if now - self._shown >= self._every:
            self._shown = now
            self._show(now)

    def line(self, now: float | None = None) -> str:
        """The progress text: rows done / total, rate, ETA and the outcome counts."""
        now = self._clock() if now is None else now
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        done = self.done_before + self.done
        parts = [f"{done}/{self.total}" if self.total is not None else f"{done} rows"]
        if self.total:
            parts[0] += f" ({min(100.0, 100.0 * done / self.total):.0f}%)"
        parts.append(f"{rate:.1f} rows/s")
        if self.total is not None and rate > 0:
            parts.append(f"ETA {format_duration(max(self.total - done, 0) / rate)}")
        counts = self.previous + self.counts
        parts.append(", ".join(f"{status.value.lower()} {counts[status]}" for status in RowStatus))
        return "  ".join(parts)

    def _show(self, now: float) -> None:
        if self.tty:
            self.stream.write("\r" + self.line(now) + "\x1b[K")
            self._drawn = True
        else:
            self.stream.write("mktows: " + self.line(now) + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """Clear the bar from the terminal (the summary follows)."""
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False
