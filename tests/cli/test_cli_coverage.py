"""The command line's and the bulk runner's less travelled paths: bad option values, an
unusable sandbox database, stdin, Ctrl-C (once and twice), a closed client, the limiter's
give-up and double-close paths, and the journal's restart and unwritable paths.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import json
import selectors
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from support import (
    Endpoint,
    clean_env,
    credentials,
    journal_lines,
    lead_counts,
    read_results,
    spawn,
    wait_for,
    write_csv,
)

from mktows import AsyncClient, ConfigError, LeadRecord
from mktows.bulk._limiter import RateLimiter
from mktows.bulk._read import Row, read_rows
from mktows.bulk._runner import RowResult, RowStatus, sync_leads
from mktows.cli import _Target, main

SECRET = "never-PRINTED-key-7c1d"


@pytest.fixture
def no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No credentials anywhere: commands use the embedded sandbox, kept in tmp_path."""
    for name in ("MKTOWS_ENDPOINT", "MKTOWS_USER_ID", "MKTOWS_ENCRYPTION_KEY"):
        monkeypatch.delenv(name, raising=False)
    db = tmp_path / "state" / "sandbox.sqlite3"
    monkeypatch.setenv("MKTOWS_SANDBOX_DB", str(db))
    return db


@dataclass
class BlackHole:
    """A server that takes connections and requests and never answers."""

    url: str
    received: list[int]


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    hole = BlackHole(f"http://127.0.0.1:{port}/soap/mktows/2_2", [0])
    stop = threading.Event()
    conns: list[socket.socket] = []

    def swallow() -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            while not stop.is_set():
                for key, _ in selector.select(timeout=0.05):
                    if key.fileobj is listener:
                        conn, _ = listener.accept()
                        conns.append(conn)
                        selector.register(conn, selectors.EVENT_READ)
                        continue
                    assert isinstance(key.fileobj, socket.socket)
                    try:
                        data = key.fileobj.recv(65536)
                    except OSError:
                        data = b""
                    if data:
                        hole.received[0] += len(data)
                    else:
                        selector.unregister(key.fileobj)

    thread = threading.Thread(target=swallow, daemon=True)
    thread.start()
    try:
        yield hole
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in conns:
            conn.close()
        listener.close()


def hole_args(hole: BlackHole) -> list[str]:
    return ["--endpoint", hole.url, "--user-id", "u", "--encryption-key", SECRET]


# --- python -m mktows, printing ------------------------------------------------------------


def test_importing_the_main_module_runs_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Run as a script it is the command; imported (e.g. by a tool) it must not parse
    # sys.argv, which here holds pytest's arguments and would end in SystemExit.
    monkeypatch.delitem(sys.modules, "mktows.__main__", raising=False)
    module = importlib.import_module("mktows.__main__")
    assert module.main is main
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("status", [pytest.param(s, id=s.value) for s in RowStatus])
def test_row_status_prints_as_its_name(status: RowStatus) -> None:
    # What `print(result.row, result.status)` shows (the sync_leads docstring does that).
    assert str(status) == status.value
    assert f"{status}" == status.value


def test_target_repr_never_shows_the_key() -> None:
    target = _Target("http://127.0.0.1:1/soap/mktows/2_2", "user-1", SECRET)
    assert repr(target) == (
        "_Target(endpoint='http://127.0.0.1:1/soap/mktows/2_2', user_id='user-1')"
    )
    assert SECRET not in str(target)


# --- option values and the embedded sandbox -----------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        pytest.param("--retries", "two", "expected a whole number >= 0", id="retries-word"),
        pytest.param("--concurrency", "1.5", "expected a whole number >= 0", id="concurrency"),
        pytest.param("--timeout", "soon", "expected a number of seconds > 0", id="timeout-word"),
        pytest.param("--timeout", "0", "expected a number of seconds > 0", id="timeout-zero"),
        pytest.param("--timeout", "nan", "expected a number of seconds > 0", id="timeout-nan"),
        pytest.param(
            "--progress-interval", "-1", "expected a number of seconds > 0", id="interval"
        ),
        pytest.param("--rate-window", "x", "expected a number of seconds > 0", id="window"),
        pytest.param("--rate-window", "inf", "expected a number of seconds > 0", id="window-inf"),
        pytest.param("--rate", "10/nan", "expected CALLS/SECONDS", id="rate-nan"),
        pytest.param("--rate", "10/inf", "expected CALLS/SECONDS", id="rate-inf"),
    ],
)
def test_bad_option_values_exit_2_before_anything_runs(
    no_credentials: Path,
    tmp_path: Path,
    option: str,
    value: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = write_csv(tmp_path / "leads.csv", ["Email"], [["a@x.com"]])
    assert main(["sync-leads", str(source), f"{option}={value}"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err
    assert value in captured.err
    assert not (tmp_path / "leads.csv.journal").exists()
    assert not no_credentials.exists()


@pytest.mark.parametrize(
    "where",
    [
        pytest.param("under-a-file", id="parent-is-a-file"),
        pytest.param("a-directory", id="db-is-a-directory"),
    ],
)
def test_unusable_sandbox_database_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("MKTOWS_ENDPOINT", "MKTOWS_USER_ID", "MKTOWS_ENCRYPTION_KEY"):
        monkeypatch.delenv(name, raising=False)
    if where == "under-a-file":
        (tmp_path / "plain").write_text("not a directory")
        db = tmp_path / "plain" / "sandbox.sqlite3"
    else:
        db = tmp_path / "dir.sqlite3"
        db.mkdir()
    monkeypatch.setenv("MKTOWS_SANDBOX_DB", str(db))
    assert main(["sync-lead", "--email", "a@x.com"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"cannot open the embedded sandbox database {str(db)!r}" in captured.err


# --- sync-lead ------------------------------------------------------------------------------


def test_lead_from_stdin(
    no_credentials: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lead = {"email": "stdin@x.com", "FirstName": "Piped"}
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(lead)))
    assert main(["sync-lead", "--from-json", "-", "--return-lead", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "CREATED"
    assert data["lead"]["Email"] == "stdin@x.com"
    assert data["lead"]["FirstName"] == "Piped"


def test_absurdly_nested_json_is_a_bad_lead_not_a_crash(
    no_credentials: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    lead = tmp_path / "lead.json"
    lead.write_text(deep)
    assert main(["sync-lead", "--from-json", str(lead)]) == 2
    assert "cannot read a lead" in capsys.readouterr().err
    rows = tmp_path / "leads.jsonl"
    rows.write_text(json.dumps({"Email": "ok@x.com"}) + "\n" + deep + "\n")
    assert main(["sync-leads", str(rows), "--json"]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert (summary["created"], summary["invalid"]) == (1, 1)
    results = read_results(tmp_path / "leads.jsonl.results.csv")
    assert {r["row"]: r["status"] for r in results} == {"1": "CREATED", "2": "INVALID"}


def test_input_failing_mid_run_stops_cleanly_and_resumes(
    no_credentials: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A disk error part-way through the input cannot be made on demand: the reader is
    wrapped to fail after two rows. The rows read so far are journaled; a rerun resumes."""
    source = write_csv(tmp_path / "leads.csv", ["Email"], [[f"io{i}@x.com"] for i in range(4)])
    real = read_rows

    def failing(*args: object, **kwargs: object) -> Iterator[Row]:
        for count, row in enumerate(real(*args, **kwargs)):  # type: ignore[arg-type]
            if count == 2:
                raise OSError(5, "Input/output error")
            yield row

    monkeypatch.setattr("mktows.cli.read_rows", failing)
    assert main(["sync-leads", str(source), "--json", "--concurrency", "1"]) == 2
    captured = capsys.readouterr()
    assert "cannot read the input: [Errno 5] Input/output error" in captured.err
    assert "Traceback" not in captured.err
    assert json.loads(captured.out)["this_run"] == 2
    monkeypatch.setattr("mktows.cli.read_rows", real)
    assert main(["sync-leads", str(source), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["done_before"], summary["this_run"], summary["created"]) == (2, 2, 4)


def test_bad_workspace_is_a_usage_error_and_nothing_is_sent(
    sandbox_server: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["sync-lead", "--email", "ws@x.com", "--workspace", "bad\x01name"]
    assert main([*args, *credentials(sandbox_server)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "bad lead: workspace contains U+0001" in captured.err
    assert lead_counts(sandbox_server.db_path) == (0, 0)


def test_fault_without_json_prints_only_to_stderr(
    sandbox_server: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sync-lead", "--id", "999999", *credentials(sandbox_server)]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("mktows: fault 20103: ")


def test_transport_error_without_json_prints_only_to_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}/soap/mktows/2_2"
    args = ["sync-lead", "--email", "a@x.com", "--endpoint", url, "--user-id", "u"]
    assert main([*args, "--encryption-key", SECRET, "--retries", "0"]) == 4
    captured = capsys.readouterr()
    assert captured.out == ""
    assert url in captured.err
    assert SECRET not in captured.err


def test_ctrl_c_during_sync_lead_exits_130(black_hole: BlackHole, tmp_path: Path) -> None:
    proc = spawn(["sync-lead", "--email", "a@x.com", *hole_args(black_hole)], clean_env(), tmp_path)
    try:
        wait_for(lambda: black_hole.received[0] > 0)  # the request is out; no answer comes
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert out == ""
    assert err.strip().splitlines()[-1] == "mktows: interrupted"
    assert "Traceback" not in err
    assert SECRET not in err


# --- sync-leads -----------------------------------------------------------------------------


def test_json_summary_of_a_file_with_no_sendable_row(
    no_credentials: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_csv(tmp_path / "keyless.csv", ["Email", "FirstName"], [["", "A"], ["", "B"]])
    assert main(["sync-leads", str(source), "--json"]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["file"] == str(source)
    assert (summary["rows"], summary["invalid"], summary["created"]) == (2, 2, 0)
    assert summary["exit_code"] == 1
    assert summary["interrupted"] is False
    results = read_results(tmp_path / "keyless.csv.results.csv")
    assert [(r["row"], r["status"]) for r in results] == [("2", "INVALID"), ("3", "INVALID")]


def test_restart_of_a_first_run_and_of_a_run_without_results(
    sandbox_server: Endpoint, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_csv(tmp_path / "leads.csv", ["Email"], [["r1@x.com"], ["r2@x.com"]])
    args = ["sync-leads", str(source), *credentials(sandbox_server), "--restart"]
    assert main(args) == 0  # nothing to discard yet
    results = tmp_path / "leads.csv.results.csv"
    assert {r["status"] for r in read_results(results)} == {"CREATED"}
    results.unlink()  # the journal stays
    assert main(args) == 0
    assert {r["status"] for r in read_results(results)} == {"UPDATED"}
    assert "resuming" not in capsys.readouterr().err
    assert lead_counts(sandbox_server.db_path) == (2, 2)


@pytest.mark.parametrize(
    "journal",
    [
        pytest.param("missing-dir/leads.journal", id="no-such-directory"),
        pytest.param(".", id="a-directory"),
    ],
)
def test_unwritable_journal_exits_2(
    no_credentials: Path, tmp_path: Path, journal: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_csv(tmp_path / "leads.csv", ["Email"], [["j@x.com"]])
    path = tmp_path / journal
    assert main(["sync-leads", str(source), "--journal", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"mktows: cannot write {str(path)!r}")
    assert not (tmp_path / "leads.csv.results.csv").exists()
    assert not no_credentials.exists()  # refused before any sandbox started


def test_second_ctrl_c_abandons_the_calls_in_flight(black_hole: BlackHole, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "leads.csv", ["Email"], [[f"h{i}@x.com"] for i in range(6)])
    args = ["sync-leads", str(source), *hole_args(black_hole), "--concurrency", "2", "--json"]
    proc = spawn(args, clean_env(), tmp_path)
    assert proc.stderr is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or ()), daemon=True)
    reader.start()
    try:
        wait_for(lambda: black_hole.received[0] > 0)  # calls are in flight, none will end
        proc.send_signal(signal.SIGINT)
        wait_for(lambda: any("stopping; waiting for" in line for line in lines))
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
        reader.join(timeout=5)
        assert proc.stdout is not None
        out = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    err = "".join(lines)
    assert proc.returncode == 130, err
    summary = json.loads(out)
    assert summary["interrupted"] is True
    assert summary["exit_code"] == 130
    assert summary["this_run"] == 0
    assert "run the same command again to resume" in err
    assert "Traceback" not in err
    assert SECRET not in out + err
    assert journal_lines(tmp_path / "leads.csv.journal") == []  # abandoned rows are not done


# --- the bulk runner and the limiter as a library -----------------------------------------


@pytest.mark.parametrize("workers", [pytest.param(1, id="one-worker"), pytest.param(3, id="three")])
def test_a_closed_client_ends_the_run_with_its_error(
    sandbox_server: Endpoint, workers: int
) -> None:
    """More rows than workers: the run must end (not hang) and raise the client's error."""
    leads = [LeadRecord(email=f"closed{i}@x.com") for i in range(8)]
    seen: list[RowResult] = []

    async def run() -> None:
        client = AsyncClient(
            sandbox_server.url, sandbox_server.user_id, sandbox_server.encryption_key
        )
        await client.aclose()
        async for result in sync_leads(client, leads, workers=workers):
            seen.append(result)

    with pytest.raises(ConfigError, match="is closed"):
        asyncio.run(asyncio.wait_for(run(), 10))
    assert seen == []
    assert lead_counts(sandbox_server.db_path) == (0, 0)


def test_giving_up_on_a_window_wait_leaves_the_limiter_usable() -> None:
    limiter = RateLimiter(calls=1, window=0.05, concurrency=0, margin=0.0)

    async def run() -> None:
        await limiter.acquire()
        # The one place is held by a running call: a caller who stops waiting gets out
        # without a place and without blocking the next caller.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(limiter.acquire(), 0.05)
        assert limiter.in_flight == 1
        limiter.release()
        await asyncio.wait_for(limiter.acquire(), 5)  # the place frees one window later
        assert limiter.in_flight == 1
        limiter.release()

    asyncio.run(run())
    assert limiter.in_flight == 0


def test_closing_a_limited_response_twice_releases_it_once(sandbox_server: Endpoint) -> None:
    limiter = RateLimiter(calls=0, window=0, concurrency=1)

    async def run() -> bytes:
        transport = limiter.transport()
        try:
            request = httpx.Request("GET", f"{sandbox_server.url}?WSDL")
            response = await transport.handle_async_request(request)
            assert limiter.in_flight == 1
            body = await response.aread()  # reads to the end and closes the stream
            assert limiter.in_flight == 0
            stream = response.stream
            assert isinstance(stream, httpx.AsyncByteStream)
            await stream.aclose()  # closing again must not free a second slot
            assert limiter.in_flight == 0
            await limiter.acquire()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(limiter.acquire(), 0.05)
            limiter.release()
            return body
        finally:
            await transport.aclose()

    assert b"syncLead" in asyncio.run(run())
    assert limiter.in_flight == 0
