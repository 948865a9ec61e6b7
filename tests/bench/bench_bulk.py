"""Group "bulk": ``mktows sync-leads`` of a generated CSV against the sandbox, limits off.

Rows: rows/s and the peak RSS of the ``mktows`` process for each size. The sandbox
runs in its own process; the command's own results file and the sandbox's SQLite
file are checked (every row CREATED, every lead on disk) before a size counts.
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


def _sync(url: str, leads: pathlib.Path, tmp: pathlib.Path, rows: int) -> tuple[float, float]:
    """Run the command; return (seconds, peak RSS in MiB of that process)."""
    from mktows.sandbox import DEFAULT_ENCRYPTION_KEY, DEFAULT_USER_ID

    env = dict(os.environ, MKTOWS_ENCRYPTION_KEY=DEFAULT_ENCRYPTION_KEY)
    command = [
        sys.executable, "-c", _MAIN, "sync-leads", str(leads),
        "--endpoint", url, "--user-id", DEFAULT_USER_ID,
        "--rate-calls", "0", "--concurrency", "0",
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
    """One fresh sandbox (SQLite file) per size; rows/s and peak RSS of each run."""
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
    return rows
