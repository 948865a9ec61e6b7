"""The ``mktows`` entry points: help, version, usage errors, the exit code table,
``python -m mktows``, and what a command loads (a remote sync never loads the sandbox)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest
from support import clean_env

from mktows.cli import _help, main


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(
            ["--help"],
            ["sync-lead", "sync-leads", "serve", "mktows help environment", "exit-codes"],
            id="main",
        ),
        pytest.param(
            ["sync-lead", "--help"],
            ["--foreign-type", "examples", "--endpoint URL", "mktows help exit-codes"],
            id="sync-lead",
        ),
        pytest.param(
            ["sync-leads", "--help"], ["--map SRC=DEST", "journal", "--rate"], id="sync-leads"
        ),
        pytest.param(
            ["serve", "--help"],
            [
                "--port",
                "--db",
                "MKTOWS_USER_ID=",
                "MKTOWS_CLIENT_SECRET=",
                "mktows help exit-codes",
            ],
            id="serve",
        ),
        pytest.param(
            ["help", "environment"], ["MKTOWS_ENDPOINT", "MKTOWS_QUIET"], id="environment"
        ),
        pytest.param(["help", "exit-codes"], ["\n  130 ", "nothing was lost"], id="exit-codes"),
        pytest.param(["help", "serve"], ["--admin-token TOKEN"], id="help-serve"),
        pytest.param(["help"], ["help topics:"], id="help"),
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
        pytest.param(["sync-lead", "--email", "a@x.com", "--timeout", "5"], id="no-timeout"),
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


def test_every_exit_code_is_in_the_one_table_that_every_help_points_to() -> None:
    # The table is said once (mktows help exit-codes); each help text refers to it.
    codes = {v for k, v in vars(_help).items() if k.startswith("EXIT_") and isinstance(v, int)}
    assert codes == {0, 1, 2, 3, 4, 130}
    for code in codes:
        assert f"\n  {code} " in _help.EXIT_CODES
    for epilog in (_help.MAIN_EPILOG, _help.SYNC_LEAD_EPILOG, _help.SYNC_LEADS_EPILOG):
        assert _help.EXIT_CODES not in epilog
        assert "mktows help exit-codes" in epilog
    assert "mktows help exit-codes" in _help.serve_epilog()


def test_importing_the_main_module_runs_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Run as a script it is the command; imported (e.g. by a tool) it must not parse
    # sys.argv, which here holds pytest's arguments and would end in SystemExit.
    monkeypatch.delitem(sys.modules, "mktows.__main__", raising=False)
    module = importlib.import_module("mktows.__main__")
    assert module.main is main
    assert capsys.readouterr() == ("", "")


LOADED = "'sqlite3' in sys.modules or 'wsgiref' in sys.modules"


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        pytest.param(
            [
                "sync-lead",
                "--email",
                "a@x.com",
                "--endpoint",
                "http://127.0.0.1:9/soap/mktows/2_2",  # the discard port: refused
                "--user-id",
                "u",
                "--encryption-key",
                "k",
                "--retries",
                "0",
                "--deadline",
                "5",
            ],
            4,
            id="sync-lead-remote",
        ),
        pytest.param(["--help"], 0, id="help"),
        pytest.param(["sync-lead", "--help"], 0, id="sync-lead-help"),
    ],
)
def test_a_command_with_a_remote_target_never_loads_the_sandbox(
    argv: list[str], code: int, tmp_path: Path
) -> None:
    script = (
        "import sys\nfrom mktows.cli import main\n"
        f"code = main({argv!r})\nprint(code, {LOADED}, file=sys.stderr)"
    )
    # Without pytest-cov's variables: coverage itself would load sqlite3 in the child.
    env = {k: v for k, v in clean_env().items() if not k.startswith(("COV_CORE_", "COVERAGE_"))}
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == f"{code} False", done.stderr
