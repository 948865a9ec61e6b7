"""`mktows sync-leads` against a live sandbox: limits, results, bad rows, option values,
resume (after a kill, a failing input or --restart), an unwritable journal, Ctrl-C once
and twice."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import (
    Endpoint,
    clean_env,
    credentials,
    journal_lines,
    lead_counts,
    read_results,
    run_mktows,
    spawn,
    wait_for,
    write_csv,
    write_jsonl,
)

from mktows.bulk import Row, read_rows
from mktows.cli import main
from mktows.sandbox import SandboxConfig

from .conftest import BlackHole

UNLIMITED = SandboxConfig(rate_limit_calls=0, concurrency_limit=0, daily_quota=0)
SECRET = "never-PRINTED-key-7c1d"


def people(count: int) -> list[list[str]]:
    return [[f"person{i}@example.com", f"First{i}"] for i in range(count)]


def test_stays_under_the_servers_limits(
    make_sandbox_server: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    limits = SandboxConfig(
        rate_limit_calls=10, rate_limit_window=2.0, concurrency_limit=3, daily_quota=0
    )
    server: Endpoint = make_sandbox_server(limits)  # type: ignore[operator]
    source = write_csv(tmp_path / "leads.csv", ["Email", "FirstName"], people(40))
    args = ["sync-leads", str(source), *credentials(server), "--rate", "10/2"]
    # No retries: a single 20023/20024 would show in the results as a FAULT.
    assert main([*args, "--concurrency", "3", "--retries", "0", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["created"] == 40
    assert summary["fault"] == 0
    assert summary["error"] == 0
    results = read_results(tmp_path / "leads.csv.results.csv")
    assert {r["status"] for r in results} == {"CREATED"}
    assert len(results) == 40
    assert lead_counts(server.db_path) == (40, 40)


def test_results_table_mapping_and_bad_rows(
    sandbox_server: Endpoint, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "crm.csv"
    source.write_bytes(
        b"email_address,FirstName,Id,ForeignSysPersonId,ForeignSysType,note\n"
        b"ann@x.com,Ann,,,,drop me\n"  # 2 CREATED
        b",NoKey,,,,\n"  # 3 INVALID no key
        b"bob@x.com,Bob,12ab,,,\n"  # 4 INVALID bad Id
        b",Cy,,C-1,ORACLE,\n"  # 5 INVALID unknown type
        b"d\xe9@x.com,Dee,,,,\n"  # 6 INVALID undecodable (Latin-1)
        b"eve@x.com,Eve,999999,,,\n"  # 7 FAULT 20103 lead not found
        b"ann@x.com,Annie,,,,\n"  # 8 UPDATED (same Email)
    )
    args = ["sync-leads", str(source), *credentials(sandbox_server), "--concurrency", "1"]
    args += ["--map", "email_address=Email", "--map", "note=", "--json"]
    assert main(args) == 1
    captured = capsys.readouterr()
    by_row = {r["row"]: r for r in read_results(tmp_path / "crm.csv.results.csv")}
    assert {row: r["status"] for row, r in by_row.items()} == {
        "2": "CREATED",
        "3": "INVALID",
        "4": "INVALID",
        "5": "INVALID",
        "6": "INVALID",
        "7": "FAULT",
        "8": "UPDATED",
    }
    assert "no key" in by_row["3"]["error"]
    assert "whole number" in by_row["4"]["error"]
    assert "ForeignSysType" in by_row["5"]["error"]
    assert "UTF-8" in by_row["6"]["error"]
    assert by_row["7"]["code"] == "20103"
    assert by_row["2"]["lead_id"] == by_row["8"]["lead_id"]
    summary = json.loads(captured.out)
    assert set(summary) == {
        "file",
        "rows",
        "total",
        "this_run",
        "done_before",
        "created",
        "updated",
        "failed",
        "invalid",
        "fault",
        "error",
        "elapsed_seconds",
        "rows_per_second",
        "results",
        "journal",
        "interrupted",
        "fault_code",
        "unreachable",
        "exit_code",
    }
    assert (summary["rows"], summary["total"], summary["invalid"]) == (7, 7, 4)
    assert summary["exit_code"] == 1
    assert summary["interrupted"] is False
    assert "created 1, updated 1" in captured.err
    assert sandbox_server.encryption_key not in captured.out + captured.err


def test_jsonl_with_format_override_and_custom_paths(
    sandbox_server: Endpoint, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_jsonl(
        tmp_path / "leads.txt",
        [{"email": f"j{i}@x.com", "NumberOfEmployees": i} for i in range(5)],
    )
    results, journal = tmp_path / "out" / "r.csv", tmp_path / "j.log"
    results.parent.mkdir()
    args = ["sync-leads", str(source), "--format", "jsonl", *credentials(sandbox_server)]
    args += ["--results", str(results), "--journal", str(journal), "--no-count"]
    assert main(args) == 0
    assert len(read_results(results)) == 5
    assert len(journal_lines(journal)) == 5
    # Everything is done: a rerun sends nothing and says so.
    assert main(args) == 0
    assert "resuming" in capsys.readouterr().err
    assert lead_counts(sandbox_server.db_path) == (5, 5)
    # --restart sends everything again: upserts, so UPDATED and still 5 leads.
    assert main([*args, "--restart", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["updated"] == 5


def test_a_run_stopping_fault_exits_3_and_a_rerun_finishes(
    sandbox_server: Endpoint, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_csv(tmp_path / "leads.csv", ["Email"], [[f"k{i}@x.com"] for i in range(20)])
    wrong = ["--endpoint", sandbox_server.url, "--user-id", sandbox_server.user_id]
    assert main(["sync-leads", str(source), *wrong, "--encryption-key", "nope-SECRET"]) == 3
    captured = capsys.readouterr()
    assert "stopped by fault 20014" in captured.err
    assert "nope-SECRET" not in captured.err
    assert lead_counts(sandbox_server.db_path) == (0, 0)
    assert main(["sync-leads", str(source), *credentials(sandbox_server)]) == 0
    results = read_results(tmp_path / "leads.csv.results.csv")
    assert sorted(int(r["row"]) for r in results) == list(range(2, 22))
    assert lead_counts(sandbox_server.db_path) == (20, 20)


def test_unreachable_server_exits_4(
    refused_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_csv(tmp_path / "leads.csv", ["Email"], [["a@x.com"], ["b@x.com"]])
    args = ["sync-leads", str(source), "--endpoint", refused_url, "--user-id", "u"]
    assert main([*args, "--encryption-key", "k", "--retries", "0"]) == 4
    # Nothing could be sent: no row is reported, every row stays pending for a rerun.
    assert read_results(tmp_path / "leads.csv.results.csv") == []
    err = capsys.readouterr().err
    assert f"mktows: cannot reach {refused_url}: Connect" in err
    assert "; nothing was lost, run again to resume" in err


@pytest.mark.parametrize(
    ("name", "content", "extra"),
    [
        pytest.param("leads.txt", b"Email\n", [], id="unknown-extension"),
        pytest.param("leads.csv", b"", [], id="empty-csv"),
        pytest.param("leads.csv", b"Email,email\n", [], id="clashing-columns"),
        pytest.param("leads.csv", b"Email\n", ["--rate", "fast"], id="bad-rate"),
        pytest.param("leads.csv", b"Email\n", ["--map", "=Email"], id="bad-map"),
        pytest.param("leads.csv", b"Email\n", ["--journal", "{self}"], id="journal-is-input"),
    ],
)
def test_sync_leads_usage_errors(
    tmp_path: Path,
    name: str,
    content: bytes,
    extra: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / name
    source.write_bytes(content)
    extra = [str(source) if item == "{self}" else item for item in extra]
    assert main(["sync-leads", str(source), *extra]) == 2
    assert capsys.readouterr().err
    assert not (tmp_path / f"{name}.results.csv").exists() or extra


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync-leads", str(tmp_path / "absent.csv")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_rate_zero_turns_the_limiter_off(
    make_sandbox_server: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server: Endpoint = make_sandbox_server(UNLIMITED)  # type: ignore[operator]
    source = write_csv(tmp_path / "leads.csv", ["Email"], [[f"z{i}@x.com"] for i in range(30)])
    args = ["sync-leads", str(source), *credentials(server), "--rate", "0", "--concurrency", "0"]
    assert main(args) == 0
    assert lead_counts(server.db_path) == (30, 30)
    capsys.readouterr()


def test_kill_mid_run_then_rerun_syncs_every_row_exactly_once(
    make_sandbox_server: object, tmp_path: Path
) -> None:
    server: Endpoint = make_sandbox_server(UNLIMITED)  # type: ignore[operator]
    count = 300
    source = write_csv(tmp_path / "leads.csv", ["Email", "FirstName"], people(count))
    journal = tmp_path / "leads.csv.journal"
    args = ["sync-leads", str(source), *credentials(server), "--rate", "100/1"]
    args += ["--concurrency", "3"]
    env = clean_env()
    proc = spawn(args, env, tmp_path)
    try:
        wait_for(lambda: journal.exists() and journal.read_bytes().count(b"\n") > 40)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    finished_before = len(journal_lines(journal))
    assert 0 < finished_before < count
    done = run_mktows(args, env, tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "resuming" in done.stderr
    rows = [int(r["row"]) for r in read_results(tmp_path / "leads.csv.results.csv")]
    assert sorted(rows) == list(range(2, count + 2))  # every row exactly once
    assert lead_counts(server.db_path) == (count, count)  # one lead per Email


def test_ctrl_c_stops_cleanly_with_the_journal_intact(
    make_sandbox_server: object, tmp_path: Path
) -> None:
    server: Endpoint = make_sandbox_server(UNLIMITED)  # type: ignore[operator]
    count = 100
    source = write_csv(tmp_path / "leads.csv", ["Email", "FirstName"], people(count))
    journal = tmp_path / "leads.csv.journal"
    args = ["sync-leads", str(source), *credentials(server), "--rate", "20/1"]
    args += ["--concurrency", "2", "--json"]
    env = clean_env()
    proc = spawn(args, env, tmp_path)
    try:
        wait_for(lambda: journal.exists() and journal.read_bytes().count(b"\n") > 3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert server.encryption_key not in out + err
    summary = json.loads(out)
    assert summary["interrupted"] is True
    assert summary["exit_code"] == 130
    lines = journal_lines(journal)  # every line parses: nothing torn
    rows = [int(str(line["row"])) for line in lines]
    assert len(rows) == len(set(rows)) == summary["this_run"] < count
    results = [int(r["row"]) for r in read_results(tmp_path / "leads.csv.results.csv")]
    assert sorted(results) == sorted(rows)  # the results file caught up with the journal
    assert lead_counts(server.db_path)[0] == len(rows)
    done = subprocess.run(
        [sys.executable, "-m", "mktows", *args, "--rate", "0"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert lead_counts(server.db_path) == (count, count)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        pytest.param("--retries", "two", "expected a whole number >= 0", id="retries-word"),
        pytest.param("--concurrency", "1.5", "expected a whole number >= 0", id="concurrency"),
        pytest.param("--deadline", "soon", "expected a number of seconds > 0", id="deadline-word"),
        pytest.param("--deadline", "0", "expected a number of seconds > 0", id="deadline-zero"),
        pytest.param("--deadline", "nan", "expected a number of seconds > 0", id="deadline-nan"),
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
    embedded: Path,
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
    assert not embedded.exists()


def test_input_failing_mid_run_stops_cleanly_and_resumes(
    embedded: Path,
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

    monkeypatch.setattr("mktows.cli.sync_leads.read_rows", failing)
    assert main(["sync-leads", str(source), "--json", "--concurrency", "1"]) == 2
    captured = capsys.readouterr()
    assert "cannot read the input: [Errno 5] Input/output error" in captured.err
    assert "Traceback" not in captured.err
    assert json.loads(captured.out)["this_run"] == 2
    monkeypatch.setattr("mktows.cli.sync_leads.read_rows", real)
    assert main(["sync-leads", str(source), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["done_before"], summary["this_run"], summary["created"]) == (2, 2, 4)


def test_json_summary_of_a_file_with_no_sendable_row(
    embedded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
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
    embedded: Path, tmp_path: Path, journal: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_csv(tmp_path / "leads.csv", ["Email"], [["j@x.com"]])
    path = tmp_path / journal
    assert main(["sync-leads", str(source), "--journal", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"mktows: cannot write {str(path)!r}")
    assert not (tmp_path / "leads.csv.results.csv").exists()
    assert not embedded.exists()  # refused before any sandbox started


def test_second_ctrl_c_abandons_the_calls_in_flight(black_hole: BlackHole, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "leads.csv", ["Email"], [[f"h{i}@x.com"] for i in range(6)])
    args = ["sync-leads", str(source), "--endpoint", black_hole.url, "--user-id", "u"]
    args += ["--encryption-key", SECRET, "--concurrency", "2", "--json"]
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
