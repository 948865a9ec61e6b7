"""Progress output: a redrawn line on a terminal, periodic lines elsewhere."""

from __future__ import annotations

import collections
import io

import pytest

from mktows.bulk._progress import Progress, format_duration
from mktows.bulk._runner import RowResult, RowStatus


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def feed(progress: Progress, clock: Clock, statuses: list[RowStatus]) -> None:
    for number, status in enumerate(statuses, start=1):
        clock.now += 1.0
        progress.update(RowResult(row=number, status=status))


def test_plain_lines_when_not_a_terminal() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = Progress(stream, total=10, done_before=2, tty=False, interval=2.0, clock=clock)
    feed(
        progress, clock, [RowStatus.CREATED, RowStatus.UPDATED, RowStatus.FAILED, RowStatus.INVALID]
    )
    lines = stream.getvalue().splitlines()
    # The summary's categories, each counted apart (issue #11, finding 7).
    assert lines == [
        "mktows: 4/10 (40%)  1.0 rows/s  ETA 6s  "
        "created 1, updated 1, failed 0, invalid 0, fault 0, error 0",
        "mktows: 6/10 (60%)  1.0 rows/s  ETA 4s  "
        "created 1, updated 1, failed 1, invalid 1, fault 0, error 0",
    ]
    progress.finish()  # nothing to clear
    assert stream.getvalue().count("\r") == 0


def test_redrawn_bar_on_a_terminal_then_cleared() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = Progress(stream, total=None, tty=True, clock=clock)
    feed(progress, clock, [RowStatus.CREATED] * 2)
    text = stream.getvalue()
    assert text.count("\r") == 2
    assert "\n" not in text
    assert "2 rows  1.0 rows/s  created 2" in text
    progress.finish()
    assert stream.getvalue().endswith("\r\x1b[K")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        pytest.param(0.4, "0s", id="zero"),
        pytest.param(75, "1m15s", id="minutes"),
        pytest.param(3725, "1h02m05s", id="hours"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_a_resumed_run_counts_earlier_runs_like_the_summary() -> None:
    stream, clock = io.StringIO(), Clock()
    earlier = collections.Counter({RowStatus.CREATED: 3, RowStatus.FAILED: 1})
    progress = Progress(stream, total=10, previous=earlier, tty=False, interval=1.0, clock=clock)
    feed(progress, clock, [RowStatus.UPDATED])
    assert stream.getvalue().splitlines() == [
        "mktows: 5/10 (50%)  1.0 rows/s  ETA 5s  "
        "created 3, updated 1, failed 1, invalid 0, fault 0, error 0",
    ]
