"""Helpers shared by the tests: one place for test credentials, retry policies, clocks,
sandbox access and the files the CLI reads and writes."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import httpx

from mktows import Client, LeadRecord, RestSettings, RetryPolicy
from mktows import build_sync_lead_envelope as build_sync_lead_envelope  # patched by tests
from mktows.sandbox import SandboxApp

ROOT = Path(__file__).resolve().parents[1]

# SPEC §2's key (the seed page gives none): the one the golden envelopes are signed with.
KEY = "899756834129871744AAEE88DDCC77CDEEDEC1AAAD66"
NO_RETRY = RetryPolicy(attempts=1, resign_attempts=0)
SOAP_HEADERS = {
    "Content-Type": "text/xml; charset=utf-8",
    "SOAPAction": '"http://www.marketo.com/mktows/syncLead"',
}


class Account(Protocol):
    """Where and as whom a client calls: an endpoint and its SOAP credentials."""

    @property
    def url(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def encryption_key(self) -> str: ...


class Endpoint(Account, Protocol):
    """What most tests need of a running sandbox (read-only, as the fixture's is)."""

    @property
    def db_path(self) -> Path: ...


class SandboxServer(Endpoint, Protocol):
    """What the conftest fixtures yield (see tests/conftest.py)."""

    @property
    def port(self) -> int: ...
    @property
    def app(self) -> SandboxApp: ...


MakeSandboxServer = Callable[..., SandboxServer]


def client_for(server: Account, **options: Any) -> Client:
    """A Client that surfaces faults at once (no retries)."""
    options.setdefault("retry", NO_RETRY)
    options.setdefault("timeout", 10.0)
    return Client(server.url, server.user_id, server.encryption_key, **options)


def envelope(
    server: Account, lead: LeadRecord | None = None, *, when: dt.datetime | None = None, **kw: Any
) -> bytes:
    """A correctly signed request envelope for ``server``."""
    return build_sync_lead_envelope(
        lead or LeadRecord(email="raw@example.com"),
        user_id=server.user_id,
        encryption_key=server.encryption_key,
        timestamp=when,
        **kw,
    )


def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    """POST raw bytes over a fresh connection."""
    return httpx.post(
        url, content=body, headers=SOAP_HEADERS if headers is None else headers, timeout=10.0
    )


def query(db_path: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Rows from the sandbox's SQLite file, read on a connection of our own."""
    conn = sqlite3.connect(db_path)
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def leads_csv(path: Path, count: int) -> Path:
    """A CSV of ``count`` leads: Email rN@x.com, FirstName NN."""
    return write_csv(path, ["Email", "FirstName"], ([f"r{n}@x.com", f"N{n}"] for n in range(count)))


def write_jsonl(path: Path, records: Iterable[Mapping[str, object]]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    return path


def read_results(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _journal_entries(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().split(b"\n")[1:] if line]


def journal_lines(path: Path) -> list[dict[str, object]]:
    """The row lines of a journal (the header and the lines timing calls left out)."""
    return [line for line in _journal_entries(path) if "call" not in line]


def journal_calls(path: Path) -> list[float]:
    """The wall-clock times of the calls a journal records."""
    return [float(line["call"]) for line in _journal_entries(path) if "call" in line]


def lead_counts(db: Path) -> tuple[int, int]:
    """(leads, distinct emails) in a sandbox database."""
    conn = sqlite3.connect(db)
    try:
        total, distinct = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT email) FROM leads"
        ).fetchone()
    finally:
        conn.close()
    return int(total), int(distinct)


def credentials(server: Endpoint) -> list[str]:
    return [
        "--endpoint",
        server.url,
        "--user-id",
        server.user_id,
        "--encryption-key",
        server.encryption_key,
    ]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MKTOWS_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def spawn(args: Sequence[str], env: Mapping[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mktows", *args],
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_mktows(
    args: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mktows ARGS`` to the end, its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "mktows", *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def add_fault(server: SandboxServer, rule: Mapping[str, object]) -> int:
    """Add a fault rule through the sandbox's admin API; returns its id."""
    answer = httpx.post(f"{_base(server)}/_sandbox/api/faults", json=dict(rule), timeout=10.0)
    assert answer.status_code == 201, answer.text
    rule_id: int = answer.json()["id"]
    return rule_id


def fault_rules(server: SandboxServer) -> list[dict[str, Any]]:
    """The fault rules the admin API lists, with what is left of each (used up: gone)."""
    answer = httpx.get(f"{_base(server)}/_sandbox/api/faults", timeout=10.0)
    rules: list[dict[str, Any]] = answer.json()["faults"]
    return rules


def _base(server: SandboxServer) -> str:
    return f"http://127.0.0.1:{server.port}"


def raw_exchange(port: int, data: bytes, *, half_close: bool = False) -> bytes:
    """Send raw bytes on a new connection and read the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(data)
        if half_close:
            conn.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def free_port() -> int:
    """A loopback port nothing listens on (bound, then closed again)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    ends = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > ends:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


T0 = dt.datetime(2026, 3, 14, 12, 0, 0, tzinfo=dt.timezone.utc)


class FakeClock:
    """The sandbox's clock, moved by the test (no sleeping)."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def count_leads(app: SandboxApp) -> int:
    """How many leads a sandbox's store holds (read inside one of its transactions)."""
    with app.store.transaction() as tx:
        value: int = tx._conn.execute("SELECT COUNT(*) FROM leads").fetchone()[0]
        return value


REST_FIXTURES = ROOT / "tests" / "rest" / "fixtures"
REST_SECRET = "core-secret-value"
REST_TOKEN_ANSWER = json.dumps(
    {"access_token": "tok-1", "token_type": "bearer", "expires_in": 3600}
).encode()


def rest_fixture(name: str) -> bytes:
    """A recorded REST answer from tests/rest/fixtures."""
    return (REST_FIXTURES / name).read_bytes()


def rest_settings(**changes: Any) -> RestSettings:
    """RestSettings for the pure REST tests (nothing listens there), with ``changes``."""
    values: dict[str, Any] = {
        "rest_url": "https://mk.test/rest/",
        "identity_url": "https://mk.test/identity",
        "client_id": "cid",
        "client_secret": REST_SECRET,
        "foreign_id_field": "externalId",
        "partitions": {"Europe": "EU"},
    }
    values.update(changes)
    return RestSettings(**values)


def rest_result(result: list[Any]) -> bytes:
    """A successful REST answer carrying ``result``."""
    return json.dumps({"requestId": "1#2", "success": True, "result": result}).encode()


def rest_refusal(code: str | int, message: str = "boom") -> bytes:
    """A REST answer refusing the whole call with error ``code``."""
    return json.dumps(
        {"requestId": "1#2", "success": False, "errors": [{"code": code, "message": message}]}
    ).encode()
