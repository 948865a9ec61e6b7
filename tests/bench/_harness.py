"""Timing primitives, result rows, target verdicts and the markdown report. No benchmark logic."""

from __future__ import annotations

import statistics
import timeit
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "BenchError",
    "Report",
    "Row",
    "Target",
    "per_call",
    "rounds",
    "throughput",
]


class BenchError(RuntimeError):
    """A row's output was wrong: nothing is timed until every row agrees."""


def per_call(fn: Callable[[], object], *, repeat: int = 5, min_time: float = 0.2) -> float:
    """Median seconds per call of ``fn`` over ``repeat`` runs of an autoranged loop.

    ``autorange`` picks the loop count so one run lasts at least ``min_time``
    (bounded in count by its own doubling, in time by ``min_time``).
    """
    timer = timeit.Timer(fn)
    number = 1
    while True:  # timeit's autorange with a configurable floor
        elapsed = timer.timeit(number)
        if elapsed >= min_time or number >= 1_000_000:
            break
        number = max(number * 2, int(number * min_time / max(elapsed, 1e-9) * 1.1))
    runs = timer.repeat(repeat=repeat, number=number)
    return statistics.median(runs) / number


def rounds(
    runs: Sequence[Callable[[int, float], tuple[int, float]]],
    *,
    repeat: int = 3,
    max_calls: int = 3000,
    seconds: float = 1.0,
) -> list[list[float]]:
    """The calls/s of each of ``runs`` in each of ``repeat`` rounds that run them in turn.

    Interleaving keeps a slow spell of the machine from landing on one row only.
    Each run does its own set-up and warm-up, then makes calls until ``max_calls``
    or ``seconds`` have passed (whichever first) and returns (calls, elapsed seconds).
    """
    rates: list[list[float]] = [[] for _ in runs]
    for _ in range(repeat):
        for run, got in zip(runs, rates, strict=True):
            done, elapsed = run(max_calls, seconds)
            got.append(done / elapsed)
    return rates


def throughput(
    runs: Sequence[Callable[[int, float], tuple[int, float]]],
    *,
    repeat: int = 3,
    max_calls: int = 3000,
    seconds: float = 1.0,
) -> list[float]:
    """Median calls/s of each of ``runs`` over the :func:`rounds` it takes."""
    found = rounds(runs, repeat=repeat, max_calls=max_calls, seconds=seconds)
    return [statistics.median(got) for got in found]


@dataclass
class Row:
    """One measured row: ``value`` in ``unit``, with a ``note`` shown beside it (e.g. the
    spread of its rounds). Ratios are taken against the mktows row of the same case."""

    group: str
    case: str
    impl: str
    value: float
    unit: str
    note: str = ""

    def shown(self) -> str:
        if self.unit == "s/op":
            return _duration(self.value)
        if self.unit == "calls/s":
            return f"{self.value:,.0f} calls/s"
        if self.unit == "rows/s":
            return f"{self.value:,.0f} rows/s"
        if self.unit == "MiB":
            return f"{self.value:,.1f} MiB"
        if self.unit == "s":
            return _duration(self.value)
        return f"{self.value:g} {self.unit}"


def _duration(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:,.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:,.1f} ms"
    return f"{seconds:,.2f} s"


@dataclass
class Target:
    """A target of the issue and its verdict from this run's rows."""

    group: str
    text: str
    measured: str
    met: bool | None  # None: could not be measured (pending)


@dataclass
class Report:
    """All rows and targets of one run, rendered as markdown."""

    machine: list[tuple[str, str]] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def find(self, group: str, case: str, impl: str) -> Row:
        for row in self.rows:
            if (row.group, row.case, row.impl) == (group, case, impl):
                return row
        raise KeyError((group, case, impl))

    def markdown(self) -> str:
        out = ["### Machine", "", "| | |", "|---|---|"]
        out += [f"| {k} | {v} |" for k, v in self.machine]
        out += [
            "",
            "### Results",
            "",
            "Ratios are against the mktows row of the same case, measured in the same run "
            "(time rows: other / mktows, so > 1 means mktows is faster; rate rows: "
            "mktows / other).",
            "",
            "| group | case | implementation | median | ratio | rounds: range; pool churn |",
            "|---|---|---|---|---|---|",
        ]
        for row in self.rows:
            out.append(
                f"| {row.group} | {row.case} | {row.impl} | {row.shown()} | {self._ratio(row)} "
                f"| {row.note} |"
            )
        out += [
            "",
            "### Targets",
            "",
            "| group | target | measured | verdict |",
            "|---|---|---|---|",
        ]
        for t in self.targets:
            verdict = "pending" if t.met is None else ("met" if t.met else "**missed**")
            out.append(f"| {t.group} | {t.text} | {t.measured} | {verdict} |")
        if self.notes:
            out += ["", "### Notes", ""] + [f"- {n}" for n in self.notes]
        return "\n".join(out) + "\n"

    def _ratio(self, row: Row) -> str:
        if row.unit not in ("s/op", "s", "calls/s", "rows/s"):
            return ""
        base = next(
            (
                r
                for r in self.rows
                if r.group == row.group and r.case == row.case and r.impl.startswith("mktows")
            ),
            None,
        )
        if base is None or base is row or not base.value or not row.value:
            return "—" if base is row else ""
        if row.unit in ("s/op", "s"):
            return f"{row.value / base.value:.2f}x"
        return f"{base.value / row.value:.2f}x"
