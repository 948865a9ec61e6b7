"""`mktows sync-lead`, help, version and credentials, run in-process and as a subprocess."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT, Endpoint, clean_env

from mktows.cli import main

NEWCOMER = ["sync-lead", "--email", "george@jungle.com", "--attr", "FirstName=George"]


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No credentials anywhere; the embedded sandbox keeps its state in tmp_path."""
    for name in ("MKTOWS_ENDPOINT", "MKTOWS_USER_ID", "MKTOWS_ENCRYPTION_KEY"):
        monkeypatch.delenv(name, raising=False)
    db = tmp_path / "data" / "sandbox.sqlite3"
    monkeypatch.setenv("MKTOWS_SANDBOX_DB", str(db))
    return db


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
        done = subprocess.run(
            [sys.executable, "-m", "mktows", *NEWCOMER],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout.split()[0])
    assert outputs == ["CREATED", "UPDATED"]


def test_default_state_file_is_under_xdg_data_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("MKTOWS_ENDPOINT", "MKTOWS_USER_ID", "MKTOWS_ENCRYPTION_KEY", "MKTOWS_SANDBOX_DB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert main(NEWCOMER) == 0
    assert (tmp_path / "xdg" / "mktows" / "sandbox.sqlite3").exists()
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert main(NEWCOMER) == 0
    assert (tmp_path / "home" / ".local" / "share" / "mktows" / "sandbox.sqlite3").exists()
    capsys.readouterr()


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


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/soap/mktows/2_2"


def test_transport_error_exits_4(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["sync-lead", "--email", "a@x.com", "--endpoint", closed_port_url(), "--user-id", "u"]
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


def test_env_file_supplies_credentials(
    sandbox_server: Endpoint,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("MKTOWS_ENDPOINT", "MKTOWS_USER_ID", "MKTOWS_ENCRYPTION_KEY"):
        monkeypatch.delenv(name, raising=False)
    env_file = tmp_path / "mktows.env"
    env_file.write_text(
        "# comment\n\n"
        f"export MKTOWS_ENDPOINT={sandbox_server.url}\n"
        f"MKTOWS_USER_ID='{sandbox_server.user_id}'\n"
        f'MKTOWS_ENCRYPTION_KEY="{sandbox_server.encryption_key}"\n'
        "OTHER=ignored\n"
    )
    assert main(["sync-lead", "--email", "env@x.com", "--env-file", str(env_file)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("CREATED")
    assert captured.err == ""
    assert sandbox_server.encryption_key not in captured.out + captured.err


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["sync-lead", "--attr", "FirstName=X"], id="no-key"),
        pytest.param(["sync-lead", "--id", "abc"], id="bad-id"),
        pytest.param(["sync-lead", "--foreign-id", "1", "--foreign-type", "SAP"], id="bad-type"),
        pytest.param(["sync-lead", "--email", "a@x.com", "--attr", "noequals"], id="attr-syntax"),
        pytest.param(["sync-lead", "--email", "a@x.com", "--attr", "Email=b@x.com"], id="attr-key"),
        pytest.param(["sync-lead", "--from-json", "/nonexistent.json"], id="json-missing"),
        pytest.param(["sync-lead", "--email", "a@x.com", "--endpoint", "http://x"], id="partial"),
        pytest.param(
            ["sync-lead", "--email", "a@x.com", "--env-file", "/nonexistent.env"], id="env-file"
        ),
        pytest.param(
            [
                "sync-lead",
                "--email",
                "a@x.com",
                "--endpoint",
                "ftp://x",
                "--user-id",
                "u",
                "--encryption-key",
                "k",
            ],
            id="bad-endpoint",
        ),
        pytest.param(["sync-lead", "--email", "a@x.com", "--retries", "-1"], id="bad-retries"),
        pytest.param(["sync-leads"], id="no-file"),
        pytest.param(["frobnicate"], id="unknown-command"),
        pytest.param([], id="no-command"),
    ],
)
def test_usage_errors_exit_2(
    embedded: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err


def test_json_lead_must_be_an_object(
    embedded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "lead.json"
    path.write_text("[1]")
    assert main(["sync-lead", "--from-json", str(path)]) == 2
    assert "one JSON object" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(
            ["--help"], ["sync-lead", "sync-leads", "serve", "MKTOWS_ENDPOINT", "130"], id="main"
        ),
        pytest.param(
            ["sync-lead", "--help"], ["--foreign-type", "examples:", "exit codes:"], id="sync-lead"
        ),
        pytest.param(
            ["sync-leads", "--help"], ["--map SRC=DEST", "resuming:", "--rate"], id="sync-leads"
        ),
        pytest.param(["serve", "--help"], ["--port", "--db"], id="serve"),
    ],
)
def test_help_reads_like_a_man_page(
    args: list[str], expected: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 0
    out = capsys.readouterr().out
    for text in expected:
        assert text in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    import mktows

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"mktows {mktows.__version__}"
