"""Group "bulk": ``mktows sync-leads`` of a generated CSV against the sandbox, limits off.

Rows: rows/s and the peak RSS of the ``mktows`` process for each size. The sandbox
runs in its own process; the command's own results file and the sandbox's SQLite
file are checked (every row CREATED, every lead on disk) before a size counts.

REST rows (:func:`run_limited`): against a sandbox with its limits on (100 calls / 20 s,
10 at once), side by side in one run: SOAP one lead a call, REST one lead a call
(``--batch-size 1``) and REST batched (300 a call), each paced by the command at a
known rate; each row says its share of its ceiling (rows/s over batch size x calls
allowed per second). The command's rate window is short (``5/2``: Adobe's 50 / 20 s
rate) so that the first window's burst does not inflate a run of a few seconds.
"""

from __future__ import annotations

import contextlib
import csv
import os
import pathlib
import sqlite3
import subprocess
import sys
import tempfile
import time

from ._harness import BenchError, Row
from .bench_sandbox import server_process

GROUP = "bulk"
_MAIN = "import sys; from mktows.cli import main; sys.exit(main())"


def write_leads(path: pathlib.Path, rows: int) -> None:
    """A CSV of ``rows`` distinct leads keyed by Email, with three attributes each."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["Email", "FirstName", "LastName", "Company"])
        for n in range(rows):
            out.writerow(
                [f"bulk{n}@bench.example", f"First{n}", "O'Brien & Sons", f"Co <{n % 97}>"]
            )


def _sync(
    url: str,
    leads: pathlib.Path,
    tmp: pathlib.Path,
    rows: int,
    flags: list[str] | None = None,
) -> tuple[float, float]:
    """Run the command; return (seconds, peak RSS in MiB of that process). ``flags``
    replace the SOAP endpoint and the limits (for REST runs)."""
    from mktows.sandbox import DEFAULT_ENCRYPTION_KEY, DEFAULT_USER_ID

    env = dict(os.environ, MKTOWS_ENCRYPTION_KEY=DEFAULT_ENCRYPTION_KEY)
    if flags is None:
        flags = ["--endpoint", url, "--user-id", DEFAULT_USER_ID]
        flags += ["--rate-calls", "0", "--concurrency", "0"]
    elif "--rest-url" in flags:
        for name in ("MKTOWS_ENDPOINT", "MKTOWS_USER_ID", "MKTOWS_ENCRYPTION_KEY"):
            env.pop(name, None)
    command = [
        sys.executable, "-c", _MAIN, "sync-leads", str(leads), *flags,
        "--results", str(tmp / "results.csv"), "--journal", str(tmp / "journal"),
        "--restart", "--progress-interval", "3600",
    ]  # fmt: skip
    limit = 120 + rows / 100  # bounded: far slower than this is a failure, not a result
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        ends = time.monotonic() + limit
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > ends:
                proc.kill()
                raise BenchError(f"bulk: {rows:,} rows did not finish within {limit:.0f}s")
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        assert proc.stderr is not None
        errors = proc.stderr.read().decode("utf-8", "replace")
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.wait(timeout=15)
        if proc.stderr is not None:
            proc.stderr.close()
    if proc.returncode != 0:
        raise BenchError(f"bulk: sync-leads exited {proc.returncode}: {errors[-800:]}")
    peak = usage.ru_maxrss / 1024  # KiB on Linux
    return elapsed, peak


def _check(tmp: pathlib.Path, db: pathlib.Path, rows: int) -> None:
    with (tmp / "results.csv").open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        created = sum(1 for r in reader if r["status"] == "CREATED")
    with contextlib.closing(sqlite3.connect(db)) as conn:
        (stored,) = conn.execute("SELECT COUNT(*) FROM leads").fetchone()
    if created != rows or stored != rows:
        raise BenchError(f"bulk: {rows:,} rows, {created:,} CREATED in results, {stored:,} on disk")


def run(sizes: list[int]) -> list[Row]:
    """One fresh sandbox (SQLite file) per size; rows/s and peak RSS of each run; then
    the REST rows against a sandbox with its limits on (:func:`run_limited`)."""
    rows: list[Row] = []
    for size in sorted(sizes):
        with tempfile.TemporaryDirectory(prefix="mktows-bench-") as name:
            tmp = pathlib.Path(name)
            leads = tmp / "leads.csv"
            write_leads(leads, size)
            db = tmp / "sandbox.db"
            with server_process("sandbox", db) as url:
                seconds, peak = _sync(url, leads, tmp, size)
            _check(tmp, db, size)
        case = f"{size:,} rows"
        rows.append(Row(GROUP, case, "mktows sync-leads: throughput", size / seconds, "rows/s"))
        rows.append(Row(GROUP, case, "mktows sync-leads: peak RSS", peak, "MiB"))
    return rows + run_limited()


# -- REST at its real capacity, limits on -------------------------------------------------

# (impl, rows, batch size, rate "N/SECONDS", concurrency): SOAP at the instance's 100/20,
# REST at Adobe's advice for one integration, 50/20, written as 5/2.
BATCHED = "REST, 300 leads a call"
LIMITED_RUNS = (
    ("SOAP, one lead a call", 100, 1, "10/2", "10"),
    ("REST, one lead a call", 50, 1, "5/2", "5"),
    (BATCHED, 6_000, 300, "5/2", "5"),
    (BATCHED, 18_000, 300, "5/2", "5"),
)


def _flags(url: str, batch: int, rate: str, concurrency: str, soap: bool) -> list[str]:
    from mktows.sandbox import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_USER_ID

    limits = ["--rate", rate, "--concurrency", concurrency]
    if soap:
        return ["--endpoint", url, "--user-id", DEFAULT_USER_ID, *limits]
    root = url.split("/soap/")[0]
    return [
        "--rest-url", f"{root}/rest", "--identity-url", f"{root}/identity",
        "--client-id", DEFAULT_CLIENT_ID, "--client-secret", DEFAULT_CLIENT_SECRET,
        "--batch-size", str(batch), *limits,
    ]  # fmt: skip


def run_limited() -> list[Row]:
    """SOAP one a call, REST one a call and REST batched, against a limited sandbox."""
    rows: list[Row] = []
    batched: dict[int, float] = {}  # rows -> seconds of the batched runs
    batched_ceiling = 0.0
    for impl, size, batch, rate, concurrency in LIMITED_RUNS:
        calls, window = rate.split("/")
        ceiling = batch * int(calls) / float(window)  # rows/s the pacing allows
        with tempfile.TemporaryDirectory(prefix="mktows-bench-") as name:
            tmp = pathlib.Path(name)
            leads = tmp / "leads.csv"
            write_leads(leads, size)
            db = tmp / "sandbox.db"
            with server_process("limited", db) as url:
                flags = _flags(url, batch, rate, concurrency, soap=impl.startswith("SOAP"))
                seconds, peak = _sync(url, leads, tmp, size, flags)
            _check(tmp, db, size)
        rate_now = size / seconds
        if impl == BATCHED:
            batched[size], batched_ceiling = seconds, ceiling
        case = f"limits on, {size:,} rows"
        note = f"{rate_now / ceiling:.0%} of the ceiling {ceiling:g} rows/s ({rate} calls/s)"
        rows.append(Row(GROUP, case, f"{impl}: throughput", rate_now, "rows/s", note))
        rows.append(Row(GROUP, case, f"{impl}: peak RSS", peak, "MiB"))
    # Steady state: the extra rows over the extra time, which cancels what both batched
    # runs pay once (start-up, token, Describe, the first window's burst).
    (small, t_small), (large, t_large) = sorted(batched.items())
    steady = (large - small) / (t_large - t_small)
    case = f"limits on, {large:,} - {small:,} rows"
    note = f"{steady / batched_ceiling:.0%} of the ceiling {batched_ceiling:g} rows/s"
    rows.append(Row(GROUP, case, f"{BATCHED}: steady state", steady, "rows/s", note))
    return rows
