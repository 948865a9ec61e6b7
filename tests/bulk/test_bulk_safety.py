"""What keeps a bulk run honest: settings errors stop it before any row is journaled, a
changed input refuses to resume, a journal that cannot be written stops the run cleanly,
someone's file is never taken for a journal, and a limiter cannot be used twice over.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import SETTINGS_VARS, SandboxServer, set_rest_env
from support import (
    NO_RETRY,
    clean_env,
    credentials,
    journal_lines,
    lead_counts,
    read_results,
    run_mktows,
    wait_for,
    write_csv,
)

from mktows import AsyncClient, ConfigError, LeadRecord
from mktows.bulk._journal import JournalWriteError, Ledger
from mktows.bulk._limiter import RateLimiter
from mktows.bulk._runner import RowResult, RowStatus, sync_leads
from mktows.cli import main
from mktows.cli._settings import UNCAPPED_WORKERS
from mktows.sandbox import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SandboxConfig

UNLIMITED = SandboxConfig(rate_limit_calls=0, concurrency_limit=0, daily_quota=0)


@pytest.fixture
def rest_env(sandbox_server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    """REST settings for the live sandbox in the environment, no partition mapping."""
    return set_rest_env(monkeypatch, sandbox_server)


def people(count: int) -> list[list[str]]:
    return [[f"person{i}@example.com"] for i in range(count)]


# --- settings errors: before anything is journaled -------------------------------------------


def test_an_unmapped_rest_workspace_stops_before_any_row_and_a_fixed_rerun_sends_all(
    rest_env: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_csv(tmp_path / "leads.csv", ["Email"], people(5))
    assert main(["sync-leads", str(source), "--workspace", "Default"]) == 2
    err = capsys.readouterr().err
    assert "workspace 'Default' has no REST partition mapping" in err
    assert "MKTOWS_PARTITIONS" in err
    assert "bad lead" not in err
    assert not (tmp_path / "leads.csv.journal").exists()
    assert not (tmp_path / "leads.csv.results.csv").exists()
    assert lead_counts(rest_env.db_path) == (0, 0)
    # With the mapping fixed, the same command sends every row.
    argv = ["sync-leads", str(source), "--workspace", "Default", "--partitions", "Default=Default"]
    assert main(argv) == 0
    assert {r["status"] for r in read_results(tmp_path / "leads.csv.results.csv")} == {"CREATED"}
    assert lead_counts(rest_env.db_path) == (5, 5)


def test_an_unmapped_rest_workspace_is_a_settings_error_for_one_lead_too(
    rest_env: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["sync-lead", "--email", "a@x.com", "--workspace", "Asia", "--partitions", "EU=EU"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == (
        "mktows: workspace 'Asia' has no REST partition mapping (mapped: EU): add "
        "Asia=PARTITION to MKTOWS_PARTITIONS (or --partitions)\n"
    )
    assert lead_counts(rest_env.db_path) == (0, 0)


def test_incomplete_credentials_leave_no_file_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in SETTINGS_VARS:
        monkeypatch.delenv(name, raising=False)
    source = write_csv(tmp_path / "leads.csv", ["Email"], people(2))
    assert main(["sync-leads", str(source), "--endpoint", "http://127.0.0.1:9/soap"]) == 2
    assert "MKTOWS_ENDPOINT set but MKTOWS_USER_ID, MKTOWS_ENCRYPTION_KEY not" in (
        capsys.readouterr().err
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["leads.csv"]


# --- the journal's input stamp ----------------------------------------------------------------


def test_a_changed_input_refuses_to_resume_until_restart(
    sandbox_server: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_csv(tmp_path / "leads.csv", ["Email"], people(3))
    args = ["sync-leads", str(source), *credentials(sandbox_server)]
    assert main(args) == 0
    journal = tmp_path / "leads.csv.journal"
    results = tmp_path / "leads.csv.results.csv"
    before = journal.read_bytes(), results.read_bytes()
    write_csv(source, ["Email"], [["new@example.com"], *people(3)])  # rows shift by one
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{str(source)!r} has changed since the journal {str(journal)!r}" in err
    assert "--restart" in err
    assert (journal.read_bytes(), results.read_bytes()) == before  # both untouched
    assert lead_counts(sandbox_server.db_path) == (3, 3)
    assert main([*args, "--restart"]) == 0
    assert sorted(r["row"] for r in read_results(results)) == ["2", "3", "4", "5"]
    assert lead_counts(sandbox_server.db_path) == (4, 4)


def stamped_ledger(tmp_path: Path) -> tuple[Path, str, str]:
    source = tmp_path / "in.csv"
    source.write_text("Email\na@x.com\n")
    journal, results = str(tmp_path / "j"), str(tmp_path / "r.csv")
    ledger = Ledger(journal, results, source=str(source))
    ledger.record(RowResult(row=2, status=RowStatus.CREATED, lead_id=1))
    ledger.close()
    return source, journal, results


def test_only_the_modification_time_changed_is_refused_too(tmp_path: Path) -> None:
    source, journal, results = stamped_ledger(tmp_path)
    info = source.stat()
    os.utime(source, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))
    with pytest.raises(ConfigError, match="has changed since the journal"):
        Ledger(journal, results, source=str(source))
    same = Ledger(journal, results)  # no source given: a library caller's own business
    assert same.resumed
    same.close()


def test_the_same_input_resumes(tmp_path: Path) -> None:
    source, journal, results = stamped_ledger(tmp_path)
    ledger = Ledger(journal, results, source=str(source))
    assert (ledger.resumed, ledger.is_done(2)) == (True, True)
    ledger.close()


def test_an_input_that_vanished_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read .*gone\.csv"):
        Ledger(str(tmp_path / "j"), str(tmp_path / "r"), source=str(tmp_path / "gone.csv"))


# --- someone else's files ------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"my notes, no newline", id="text"),
        pytest.param(b'{"mktows_journal": 2', id="other-version"),
        pytest.param(b"\x00\x01", id="binary"),
    ],
)
def test_a_file_without_newline_is_not_overwritten(
    no_credentials: Path, tmp_path: Path, content: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_csv(tmp_path / "leads.csv", ["Email"], people(1))
    precious = tmp_path / "notes.txt"
    precious.write_bytes(content)
    assert main(["sync-leads", str(source), "--journal", str(precious)]) == 2
    assert f"{str(precious)!r} is not a mktows journal" in capsys.readouterr().err
    assert precious.read_bytes() == content
    assert not no_credentials.exists()


@pytest.mark.parametrize(
    "torn",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b'{"mktows_jou', id="inside-the-magic"),
        pytest.param(b'{"mktows_journal": 1, "input_si', id="after-the-magic"),
    ],
)
def test_a_torn_header_is_written_again(tmp_path: Path, torn: bytes) -> None:
    source = tmp_path / "in.csv"
    source.write_text("Email\n")
    journal = tmp_path / "j"
    journal.write_bytes(torn)
    ledger = Ledger(str(journal), str(tmp_path / "r.csv"), source=str(source))
    assert not ledger.resumed
    ledger.close()
    header = json.loads(journal.read_bytes())
    assert header == {
        "mktows_journal": 1,
        "input_size": source.stat().st_size,
        "input_mtime_ns": source.stat().st_mtime_ns,
    }


@pytest.mark.parametrize("which", ["--journal", "--results"])
def test_restart_with_a_directory_in_the_way_exits_2(
    no_credentials: Path, tmp_path: Path, which: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_csv(tmp_path / "leads.csv", ["Email"], people(1))
    directory = tmp_path / "a-directory"
    directory.mkdir()
    assert main(["sync-leads", str(source), which, str(directory), "--restart"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"mktows: cannot write {str(directory)!r}: ")
    assert "Traceback" not in captured.err
    assert directory.is_dir()


# --- a journal that cannot be written ----------------------------------------------------------


def test_a_journal_over_the_file_size_limit_stops_cleanly_and_resumes(
    sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    """`ulimit -f`: the kernel refuses the journal past 8 KiB (EFBIG; Python ignores SIGXFSZ)."""
    count = 300  # keyless rows: INVALID without a call, ~100 journal bytes each
    source = write_csv(tmp_path / "leads.csv", ["Email", "FirstName"], [["", "x"]] * count)
    args = ["sync-leads", str(source), *credentials(sandbox_server)]
    limited = (
        "import atexit, resource, runpy, sys\n"
        "limit = resource.getrlimit(resource.RLIMIT_FSIZE)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (8192, limit[1]))\n"
        "# Lifted at exit, before a coverage measurement (if any) saves its data.\n"
        "atexit.register(resource.setrlimit, resource.RLIMIT_FSIZE, limit)\n"
        "sys.argv = ['mktows', *sys.argv[1:]]\n"
        "runpy.run_module('mktows', run_name='__main__')\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", limited, *args],
        env=clean_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    journal = tmp_path / "leads.csv.journal"
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert "cannot read the input" not in run.stderr
    assert f"mktows: stopped: cannot write the journal {str(journal)!r}: File too large" in (
        run.stderr
    )
    assert " row(s) done (" in run.stderr  # the summary is printed
    assert 0 < journal.stat().st_size <= 8192
    done = run_mktows(args, clean_env(), tmp_path, timeout=60)
    assert done.returncode == 1, done.stderr  # every row INVALID: synced none
    assert "resuming" in done.stderr
    rows = [int(r["row"]) for r in read_results(tmp_path / "leads.csv.results.csv")]
    assert sorted(rows) == list(range(2, count + 2))  # every row exactly once
    # INVALID rows are re-read on a rerun: the second run journals every row again.
    assert [line["row"] for line in journal_lines(journal)][-count:] == list(range(2, count + 2))


def onto_a_full_disk(fd: int) -> None:
    """Point ``fd`` at /dev/full: every later write to it fails with ENOSPC, for real."""
    full = os.open("/dev/full", os.O_WRONLY)
    try:
        os.dup2(full, fd)
    finally:
        os.close(full)


def ledger_at(tmp_path: Path, **options: object) -> Ledger:
    return Ledger(str(tmp_path / "j"), str(tmp_path / "r.csv"), **options)  # type: ignore[arg-type]


def one(row: int) -> RowResult:
    return RowResult(row=row, status=RowStatus.CREATED, lead_id=row)


def test_a_journal_write_failure_is_reported_and_close_only_closes(tmp_path: Path) -> None:
    ledger = ledger_at(tmp_path)
    ledger.record(one(2))
    onto_a_full_disk(ledger._journal.fileno())
    with pytest.raises(JournalWriteError, match=r"cannot write the journal .*/j'"):
        ledger.record(one(3))
    ledger.close()  # no second error
    assert ledger._journal.closed
    assert ledger._results_file.closed


def test_a_results_write_failure_names_the_results_file(tmp_path: Path) -> None:
    ledger = ledger_at(tmp_path, batch=1)
    onto_a_full_disk(ledger._results_file.fileno())
    with pytest.raises(JournalWriteError, match=r"cannot write the results file .*r\.csv'"):
        ledger.record(one(2))
    ledger.close()
    assert ledger._journal.closed
    assert ledger._results_file.closed
    assert journal_lines(tmp_path / "j") == [{"row": 2, "status": "CREATED", "lead_id": 2}]


def test_close_raises_its_own_failure_once_and_still_closes_both(tmp_path: Path) -> None:
    ledger = ledger_at(tmp_path, batch=100, interval=1e9)
    ledger.record(one(2))  # journaled; its results line waits for the next sync
    onto_a_full_disk(ledger._results_file.fileno())
    with pytest.raises(JournalWriteError, match="No space left on device") as info:
        ledger.close()
    # Raised once: not the OSError of closing the files, raised over this one.
    assert type(info.value) is JournalWriteError
    assert info.value.__suppress_context__
    assert ledger._journal.closed
    assert ledger._results_file.closed
    assert journal_lines(tmp_path / "j") == [{"row": 2, "status": "CREATED", "lead_id": 2}]


def test_a_full_disk_under_the_results_header_is_a_write_error(tmp_path: Path) -> None:
    with pytest.raises(JournalWriteError, match="cannot write the results file '/dev/full'"):
        Ledger(str(tmp_path / "j"), "/dev/full")


# --- one limiter, used twice -----------------------------------------------------------------


def test_a_limiter_given_both_ways_raises_instead_of_deadlocking(
    sandbox_server: SandboxServer,
) -> None:
    limiter = RateLimiter(calls=0, concurrency=2)
    leads = [LeadRecord(email=f"twice{i}@x.com") for i in range(8)]

    async def run() -> None:
        async with AsyncClient(
            sandbox_server.url,
            sandbox_server.user_id,
            sandbox_server.encryption_key,
            transport=limiter.transport(),
            retry=NO_RETRY,
        ) as client:
            async for _ in sync_leads(client, leads, limiter=limiter, workers=4):
                pass

    with pytest.raises(ConfigError, match="paces this client twice"):
        asyncio.run(asyncio.wait_for(run(), 20))
    assert lead_counts(sandbox_server.db_path) == (0, 0)
    assert limiter.in_flight == 0


def test_a_limiter_used_one_way_at_a_time_still_works(sandbox_server: SandboxServer) -> None:
    limiter = RateLimiter(calls=0, concurrency=2)

    async def run() -> list[RowResult]:
        async with AsyncClient(
            sandbox_server.url,
            sandbox_server.user_id,
            sandbox_server.encryption_key,
            transport=limiter.transport(),
        ) as client:
            async with limiter:  # held for something else, then released
                pass
            leads = [LeadRecord(email=f"once{i}@x.com") for i in range(6)]
            return [r async for r in sync_leads(client, leads, workers=4)]

    results = asyncio.run(asyncio.wait_for(run(), 20))
    assert {r.status for r in results} == {RowStatus.CREATED}
    assert lead_counts(sandbox_server.db_path) == (6, 6)


# --- --concurrency 0 -------------------------------------------------------------------------


@dataclass
class Silent:
    """A server that accepts connections and never answers; it counts them."""

    url: str
    listener: socket.socket
    conns: list[socket.socket] = field(default_factory=list)


@pytest.fixture
def silent() -> Iterator[Silent]:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    port = listener.getsockname()[1]
    hole = Silent(f"http://127.0.0.1:{port}/soap/mktows/2_2", listener)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                hole.conns.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield hole
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
        for conn in hole.conns:
            conn.close()


def test_concurrency_zero_runs_the_documented_number_of_calls_at_once(
    silent: Silent, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_csv(tmp_path / "leads.csv", ["Email"], people(UNCAPPED_WORKERS + 8))
    args = ["sync-leads", str(source), "--endpoint", silent.url, "--user-id", "u"]
    args += ["--encryption-key", "k", "--concurrency", "0", "--rate", "0", "--retries", "0"]
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(main([*args, "--deadline", "60"])))
    runner.start()
    try:
        # Nothing answers, so no call ends: every connection counted is a call running.
        wait_for(lambda: len(silent.conns) >= UNCAPPED_WORKERS)
        assert len(silent.conns) == UNCAPPED_WORKERS
    finally:
        silent.listener.close()  # the rest are refused at once
        for conn in list(silent.conns):
            conn.close()
        runner.join(timeout=60)
    assert codes == [4]  # every row ended in ERROR
    assert f"{UNCAPPED_WORKERS} calls at once" in main_help(["sync-leads"], capsys)


# --- help texts --------------------------------------------------------------------------------


def main_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main([*argv, "--help"]) == 0
    return " ".join(capsys.readouterr().out.split())


def test_help_texts_say_what_the_command_does(capsys: pytest.CaptureFixture[str]) -> None:
    top = main_help([], capsys)
    assert "syncLead SOAP call or the same sync over Marketo's REST API" in top
    bulk = main_help(["sync-leads"], capsys)
    assert "another run or program using the same credentials within the window can" in bulk
    assert "a run never meets" not in bulk
    assert "--concurrency 0 lifts the concurrency limit" in bulk
    serve = main_help(["serve"], capsys)
    for text in (
        "MKTOWS_REST_URL=http://127.0.0.1:8080/rest",
        "MKTOWS_IDENTITY_URL=http://127.0.0.1:8080/identity",
        f"MKTOWS_CLIENT_ID={DEFAULT_CLIENT_ID}",
        f"MKTOWS_CLIENT_SECRET={DEFAULT_CLIENT_SECRET}",
        "MKTOWS_ENDPOINT=http://127.0.0.1:8080/soap/mktows/2_2",
    ):
        assert text in serve


@pytest.fixture
def no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No settings anywhere: commands use the embedded sandbox, kept in tmp_path."""
    for name in SETTINGS_VARS:
        monkeypatch.delenv(name, raising=False)
    db = tmp_path / "state" / "sandbox.sqlite3"
    monkeypatch.setenv("MKTOWS_SANDBOX_DB", str(db))
    return db


def test_a_call_time_the_disk_refuses_is_kept_as_the_write_error(tmp_path: Path) -> None:
    ledger = ledger_at(tmp_path)
    onto_a_full_disk(ledger._journal.fileno())
    ledger.note_call(1_700_000_000.0)  # never raised here: the run goes on
    assert ledger.write_error is not None
    assert "No space left on device" in str(ledger.write_error)
    ledger.close()
    assert isinstance(ledger.write_error, JournalWriteError)  # what the CLI reports
