"""A bulk sync survives its server being killed and restarted mid-run: the client
retries, the run finishes (or a rerun resumes it), and every row is synced once.
Everything runs as real processes over loopback, bounded in time.
"""

from __future__ import annotations

import csv
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from support import free_port

from mktows.sandbox import DEFAULT_ENCRYPTION_KEY, DEFAULT_USER_ID

ROOT = Path(__file__).resolve().parents[1]
ROWS = 150


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["MKTOWS_ENCRYPTION_KEY"] = DEFAULT_ENCRYPTION_KEY
    return env


def _serve(port: int, db: Path) -> subprocess.Popen[bytes]:
    # The client's limiter paces the run; the server's own limits stay out of the way.
    config = db.with_name("sandbox.json")
    config.write_text('{"rate_limit_calls": 0, "daily_quota": 0}')
    command = ["serve", "--port", str(port), "--db", str(db), "--config", str(config)]
    server = subprocess.Popen(
        [sys.executable, "-m", "mktows", *command],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ends = time.monotonic() + 30
    while time.monotonic() < ends:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return server
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise AssertionError("the sandbox did not start listening")


def _sync(source: Path, port: int) -> subprocess.Popen[bytes]:
    endpoint = f"http://127.0.0.1:{port}/soap/mktows/2_2"
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mktows",
            "sync-leads",
            str(source),
            "--endpoint",
            endpoint,
            "--user-id",
            DEFAULT_USER_ID,
            "--rate",
            "60/1",
            "--concurrency",
            "4",
            "--retries",
            "8",
            "--progress-interval",
            "1",
        ],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _journal_rows(journal: Path) -> int:
    if not journal.exists():
        return 0
    return max(0, journal.read_bytes().count(b"\n") - 1)


def test_bulk_sync_survives_a_server_kill_and_restart(tmp_path: Path) -> None:
    source = tmp_path / "leads.csv"
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Email", "FirstName"])
        writer.writerows([f"r{n}@example.com", f"N{n}"] for n in range(ROWS))
    db = tmp_path / "sandbox.db"
    journal = tmp_path / "leads.csv.journal"
    port = free_port()

    server = _serve(port, db)
    bulk = _sync(source, port)
    try:
        ends = time.monotonic() + 60
        while _journal_rows(journal) < 20 and time.monotonic() < ends:
            time.sleep(0.02)
        assert _journal_rows(journal) >= 20, "the run did not start"
        server.send_signal(signal.SIGKILL)  # mid-run, without warning
        server.wait(timeout=10)
        time.sleep(0.5)  # calls fail meanwhile: the client retries with backoff
        server = _serve(port, db)
        _, stderr = bulk.communicate(timeout=120)
        if bulk.returncode == 4:  # some rows ran out of retries: a rerun resumes them
            bulk = _sync(source, port)
            _, more = bulk.communicate(timeout=120)
            stderr += more
        assert bulk.returncode == 0, stderr.decode(errors="replace")
        assert b"; retry 1 in" in stderr, "the run never noticed the server was gone"
    finally:
        for process in (bulk, server):
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    with sqlite3.connect(db) as conn:
        total, distinct = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT email) FROM leads"
        ).fetchone()
    assert (total, distinct) == (ROWS, ROWS), "a row was lost or synced twice"
    with (tmp_path / "leads.csv.results.csv").open(newline="") as handle:
        results = list(csv.DictReader(handle))
    rows = sorted(int(r["row"]) for r in results)
    assert rows == list(range(2, ROWS + 2)), "results are not one line per row"
    assert {r["status"] for r in results} <= {"CREATED", "UPDATED"}
