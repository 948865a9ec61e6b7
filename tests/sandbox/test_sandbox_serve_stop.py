"""``mktows serve`` as a real subprocess (issue #13): your own credentials replace the
published ones, the published ones are refused off loopback, and SIGTERM stops it
like Ctrl-C (exit 0, "stopping", the call in flight answered, SQLite closed).
"""

from __future__ import annotations

import re
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from support import NO_RETRY, clean_env, query, spawn, wait_for

from mktows import Client, FaultError, LeadRecord, SyncStatus
from mktows.sandbox import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_ENCRYPTION_KEY,
    DEFAULT_USER_ID,
)
from mktows.sandbox._wsgi import ENDPOINT_PATH

KEY = "alice-own-key-5c1f"
SECRET = "acme-own-secret-9b2e"


class Serve:
    """A running ``mktows serve``: its process and its base URL."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        assert proc.stderr is not None
        line = proc.stderr.readline()
        found = re.search(r"listening on (\S+) ", line)
        assert found, line + (proc.stderr.read() if proc.poll() is not None else "")
        self.url = found.group(1)
        self.base = self.url[: -len(ENDPOINT_PATH)]

    def soap(self, user: str, key: str) -> SyncStatus:
        with Client(self.url, user, key, retry=NO_RETRY, timeout=10.0) as client:
            return client.sync_lead(LeadRecord(email=f"{user}@example.com")).status

    def token_status(self, client_id: str, secret: str) -> int:
        form = {"grant_type": "client_credentials", "client_id": client_id}
        form["client_secret"] = secret
        answer = httpx.post(f"{self.base}/identity/oauth/token", data=form, timeout=10.0)
        return answer.status_code


Start = Callable[..., Serve]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Start]:
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Serve:
        proc = spawn(["serve", "--port", "0", *args], clean_env(**(env or {})), tmp_path)
        started.append(proc)
        return Serve(proc)

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=20)


def test_your_own_user_turns_the_published_user_off(serve: Start) -> None:
    server = serve("--user-id", "alice", env={"MKTOWS_ENCRYPTION_KEY": KEY})
    assert server.soap("alice", KEY) is SyncStatus.CREATED
    with pytest.raises(FaultError) as refused:
        server.soap(DEFAULT_USER_ID, DEFAULT_ENCRYPTION_KEY)
    assert refused.value.code == 20014
    # Only the face you gave your own credentials for changes.
    assert server.token_status(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET) == 200


def test_your_own_client_turns_the_published_client_off(serve: Start) -> None:
    server = serve("--client-id", "acme", env={"MKTOWS_CLIENT_SECRET": SECRET})
    assert server.token_status("acme", SECRET) == 200
    assert server.token_status(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET) == 401
    assert server.soap(DEFAULT_USER_ID, DEFAULT_ENCRYPTION_KEY) is SyncStatus.CREATED


def test_allow_default_credentials_keeps_them(serve: Start) -> None:
    server = serve(
        "--user-id",
        "alice",
        "--client-id",
        "acme",
        "--allow-default-credentials",
        env={"MKTOWS_ENCRYPTION_KEY": KEY, "MKTOWS_CLIENT_SECRET": SECRET},
    )
    assert server.soap("alice", KEY) is SyncStatus.CREATED
    assert server.soap(DEFAULT_USER_ID, DEFAULT_ENCRYPTION_KEY) is SyncStatus.CREATED
    assert server.token_status(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET) == 200


@pytest.mark.parametrize(
    ("args", "published"),
    [
        pytest.param(
            [], "SOAP user mktows_sandbox_user, REST client mktows-sandbox-client", id="both"
        ),
        pytest.param(["--user-id", "alice"], "(REST client mktows-sandbox-client)", id="rest-left"),
    ],
)
def test_the_published_credentials_are_refused_off_loopback(
    tmp_path: Path, args: list[str], published: str
) -> None:
    proc = spawn(
        ["serve", "--port", "0", "--host", "0.0.0.0", *args],  # the point
        clean_env(MKTOWS_ENCRYPTION_KEY=KEY),
        tmp_path,
    )
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "refusing to listen on 0.0.0.0 with the published credentials" in err
    assert published in err
    assert "--allow-default-credentials" in err
    assert "listening" not in err
    assert KEY not in out + err


def test_sigterm_stops_serve_like_ctrl_c(serve: Start, tmp_path: Path) -> None:
    db = tmp_path / "leads.db"
    # One call held 1.5 s in flight by a fault rule's delay, then answered as usual.
    server = serve("--db", str(db), "--fault", "delay_ms=1500,times=1")
    outcome: dict[str, object] = {}

    def call() -> None:
        outcome["status"] = server.soap(DEFAULT_USER_ID, DEFAULT_ENCRYPTION_KEY)

    caller = threading.Thread(target=call)
    caller.start()
    # The rule is used up as the call arrives, before its delay: then the call is in flight.
    wait_for(lambda: httpx.get(f"{server.base}/_sandbox/api/faults").json()["faults"] == [])
    server.proc.send_signal(signal.SIGTERM)
    _, err = server.proc.communicate(timeout=30)
    caller.join(timeout=10)
    assert server.proc.returncode == 0
    assert err.endswith("mktows serve: stopping\n"), err
    assert outcome["status"] is SyncStatus.CREATED  # answered before the stop
    assert query(db, "SELECT email FROM leads") == [(f"{DEFAULT_USER_ID}@example.com",)]
    assert not Path(f"{db}-wal").exists()  # closed: SQLite folds its log back in
