"""Group "sandbox": syncLead calls per second against the mktows sandbox over loopback,
with a durable SQLite file, sequential and 10 threads; the floor is the same threaded
server (the sandbox's own) answering a fixed body. Each server runs in its own process.
"""

from __future__ import annotations

import contextlib
import itertools
import pathlib
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import mktows

from ._fixtures import REPO_ROOT, success_body
from ._harness import BenchError, Row, throughput

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse

GROUP = "sandbox"
KINDS = {"sandbox": "mktows sandbox (SQLite file, WAL)", "fixed": "floor: same server, fixed body"}


def _fixed_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """A WSGI app that reads the request and answers the canned successSyncLead."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    environ["wsgi.input"].read(length)
    body = success_body(None)
    start_response(
        "200 OK", [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(body)))]
    )
    return [body]


def _serve(kind: str, db: str) -> None:
    """Run the sandbox on SQLite file ``db`` (``sandbox``: limits off; ``limited``: its
    default limits, 100 calls / 20 s and 10 at once) or the fixed app; stop when stdin
    closes."""
    from mktows.sandbox import SandboxConfig, make_app, serve_in_thread

    app: Any
    if kind == "sandbox":
        app = make_app(SandboxConfig(rate_limit_calls=0, concurrency_limit=0, daily_quota=0), db)
    elif kind == "limited":
        app = make_app(SandboxConfig(), db)
    else:
        app = _fixed_app
    try:
        with serve_in_thread(app) as server:
            print(server.url, flush=True)
            sys.stdin.read()
    finally:
        if kind != "fixed":
            app.close()


@contextmanager
def server_process(kind: str, db: pathlib.Path) -> Iterator[str]:
    """``_serve`` in a child process (so it has its own GIL); yields the endpoint URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.bench_sandbox", kind, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().decode().strip()
        if not url:
            raise BenchError(f"sandbox: the {kind} server did not start")
        yield url
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        if proc.stdout is not None:
            proc.stdout.close()


def _runner(client: mktows.Client, threads: int, made: list[int], counter: Iterator[int]) -> Any:
    """Each call creates a new lead (a fresh Email), so every call writes and commits."""

    def call() -> None:
        n = next(counter)  # itertools.count is atomic under the GIL
        result = client.sync_lead(mktows.LeadRecord(email=f"lead{n}@bench.example"))
        if result.status is not mktows.SyncStatus.CREATED:
            raise BenchError(f"sandbox: call {n} answered {result!r}")
        made.append(n)  # list.append is atomic under the GIL

    def run(max_calls: int, seconds: float) -> tuple[int, float]:
        from .bench_e2e import sequential, threaded

        inner = sequential(call) if threads == 1 else threaded(call)
        return inner(max_calls, seconds)

    return run


def run(*, repeat: int, seconds: float, max_calls: int) -> list[Row]:
    """Measure, then check that every call of the sandbox rows is a committed row on disk."""
    from mktows.sandbox import DEFAULT_ENCRYPTION_KEY, DEFAULT_USER_ID

    found: dict[tuple[str, str], float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="mktows-bench-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        made: list[int] = []
        counter = itertools.count()
        clients = {}
        for kind in KINDS:
            url = stack.enter_context(server_process(kind, pathlib.Path(tmp, f"{kind}.db")))
            clients[kind] = stack.enter_context(
                mktows.Client(url, DEFAULT_USER_ID, DEFAULT_ENCRYPTION_KEY)
            )
        for case, threads in (("sequential", 1), ("10 threads", 10)):
            runs = [
                _runner(clients[k], threads, made if k == "sandbox" else [], counter) for k in KINDS
            ]
            rates = throughput(runs, repeat=repeat, max_calls=max_calls, seconds=seconds)
            found.update({(case, k): r for k, r in zip(KINDS, rates, strict=True)})
        stack.close()  # stop the servers: every committed call is in the file
        with contextlib.closing(sqlite3.connect(pathlib.Path(tmp, "sandbox.db"))) as conn:
            (stored,) = conn.execute("SELECT COUNT(*) FROM leads").fetchone()
        if stored != len(made):
            raise BenchError(f"sandbox: {len(made)} leads created but {stored} on disk")
    rows = [
        Row(GROUP, case, KINDS[kind], found[case, kind], "calls/s")
        for kind in KINDS
        for case in ("sequential", "10 threads")
    ]
    return rows


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2])
