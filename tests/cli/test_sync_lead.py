"""`mktows sync-lead`: a lead from flags, a JSON file or stdin; its output, text and
JSON; its exit codes (FAILED, fault, transport error, bad lead, Ctrl-C)."""

from __future__ import annotations

import io
import json
import signal
import sys
from pathlib import Path

import pytest
from support import (
    ROOT,
    Endpoint,
    clean_env,
    credentials,
    lead_counts,
    read_results,
    run_mktows,
    spawn,
    wait_for,
)

from mktows.cli import main

from .conftest import BlackHole

NEWCOMER = ["sync-lead", "--email", "george@jungle.com", "--attr", "FirstName=George"]
SECRET = "never-PRINTED-key-7c1d"


def test_newcomer_gets_created_then_updated(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(NEWCOMER) == 0
    first = capsys.readouterr()
    assert first.out.startswith("CREATED lead ")
    notes = first.err.strip().splitlines()
    assert len(notes) == 1
    assert "embedded sandbox" in notes[0]
    assert str(embedded) in notes[0]
    assert main(NEWCOMER) == 0
    assert capsys.readouterr().out.startswith("UPDATED lead ")


def test_newcomer_as_a_real_process(embedded: Path, tmp_path: Path) -> None:
    env = clean_env(MKTOWS_SANDBOX_DB=str(embedded))
    outputs = []
    for _ in range(2):
        done = run_mktows(NEWCOMER, env, tmp_path, timeout=60)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout.split()[0])
    assert outputs == ["CREATED", "UPDATED"]


def test_json_output_and_return_lead(embedded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*NEWCOMER, "--json", "--return-lead", "--cookie", "id:1&token:x"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "CREATED"
    assert isinstance(data["lead_id"], int)
    assert data["code"] is None
    assert data["error"] is None
    assert data["lead"]["Email"] == "george@jungle.com"
    assert data["lead"]["FirstName"] == "George"
    assert main([*NEWCOMER, "--return-lead"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("UPDATED lead")
    assert "  FirstName: George" in out


def test_from_json_template(embedded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    template = ROOT / "templates" / "lead.json"
    assert main(["sync-lead", "--from-json", str(template), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "CREATED"
    # Flags add to the file and win.
    args = ["sync-lead", "--from-json", str(template), "--attr", "City=Paris", "--return-lead"]
    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "UPDATED"
    assert data["lead"]["City"] == "Paris"


def test_failed_status_exits_1(embedded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync-lead", "--foreign-id", "F-1", "--foreign-type", "CUSTOM", "--json"]) == 0
    holder = json.loads(capsys.readouterr().out)["lead_id"]
    assert main(["sync-lead", "--email", "other@x.com", "--json"]) == 0
    other = json.loads(capsys.readouterr().out)["lead_id"]
    args = ["sync-lead", "--id", str(other), "--foreign-id", "F-1", "--foreign-type", "CUSTOM"]
    assert main(args) == 1
    assert capsys.readouterr().out.startswith(f"FAILED lead {other}: ")
    assert main([*args, "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "FAILED"
    assert str(holder) in data["error"]


def test_fault_exits_3(embedded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync-lead", "--id", "999999", "--json"]) == 3
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data == {
        "status": "FAULT",
        "lead_id": None,
        "code": 20103,
        "error": data["error"],
        "lead": None,
    }
    assert "fault 20103" in captured.err


def test_transport_error_exits_4(refused_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["sync-lead", "--email", "a@x.com", "--endpoint", refused_url, "--user-id", "u"]
    args += ["--encryption-key", "TOPSECRETKEY123", "--retries", "0", "--json"]
    assert main(args) == 4
    captured = capsys.readouterr()
    assert json.loads(captured.out)["status"] == "ERROR"
    assert "TOPSECRETKEY123" not in captured.out + captured.err


def test_wrong_key_is_a_fault_and_never_printed(
    sandbox_server: Endpoint, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "WRONG-but-SECRET-9f8e7d"
    monkeypatch.setenv("MKTOWS_ENDPOINT", sandbox_server.url)
    monkeypatch.setenv("MKTOWS_USER_ID", sandbox_server.user_id)
    monkeypatch.setenv("MKTOWS_ENCRYPTION_KEY", secret)
    assert main(["sync-lead", "--email", "a@x.com", "--json"]) == 3
    captured = capsys.readouterr()
    assert json.loads(captured.out)["code"] == 20014
    assert "MKTOWS_ENCRYPTION_KEY" in captured.err  # the hint names the variable, not the value
    assert secret not in captured.out + captured.err
    assert "embedded" not in captured.err


def test_json_lead_must_be_an_object(
    embedded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "lead.json"
    path.write_text("[1]")
    assert main(["sync-lead", "--from-json", str(path)]) == 2
    assert "one JSON object" in capsys.readouterr().err


def test_lead_from_stdin(
    embedded: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lead = {"email": "stdin@x.com", "FirstName": "Piped"}
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(lead)))
    assert main(["sync-lead", "--from-json", "-", "--return-lead", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "CREATED"
    assert data["lead"]["Email"] == "stdin@x.com"
    assert data["lead"]["FirstName"] == "Piped"


def test_absurdly_nested_json_is_a_bad_lead_not_a_crash(
    embedded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
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
    refused_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["sync-lead", "--email", "a@x.com", "--endpoint", refused_url, "--user-id", "u"]
    assert main([*args, "--encryption-key", SECRET, "--retries", "0"]) == 4
    captured = capsys.readouterr()
    assert captured.out == ""
    assert refused_url in captured.err
    assert SECRET not in captured.err


def test_ctrl_c_during_sync_lead_exits_130(black_hole: BlackHole, tmp_path: Path) -> None:
    args = ["sync-lead", "--email", "a@x.com", "--endpoint", black_hole.url, "--user-id", "u"]
    proc = spawn([*args, "--encryption-key", SECRET], clean_env(), tmp_path)
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
