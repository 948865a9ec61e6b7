"""What ``mktows`` says about itself: help that fits a screen, each fact said once
(the environment and exit-code tables in their ``mktows help`` topics), a subcommand's
own usage on its usage errors, a one-line embedded-sandbox notice that --quiet and
MKTOWS_QUIET silence, and help examples that all run against the embedded sandbox."""

from __future__ import annotations

import re
import shlex
import shutil
import signal
from collections import Counter
from pathlib import Path

import pytest
from support import ROOT, clean_env, free_port, run_mktows, spawn

from mktows.cli import main

HELPS = {
    "main": ["--help"],
    "sync-lead": ["sync-lead", "--help"],
    "sync-leads": ["sync-leads", "--help"],
    "serve": ["serve", "--help"],
    "environment": ["help", "environment"],
    "exit-codes": ["help", "exit-codes"],
}
COMMANDS = ("sync-lead", "sync-leads", "serve")
WIDTH = 80


@pytest.fixture
def helps(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """Every help text as an 80-column terminal shows it."""
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    texts = {}
    for name, argv in HELPS.items():
        assert main(argv) == 0, name
        captured = capsys.readouterr()
        assert captured.err == ""
        texts[name] = captured.out
    return texts


@pytest.mark.parametrize("command", COMMANDS)
def test_a_commands_help_fits_a_screen(helps: dict[str, str], command: str) -> None:
    lines = helps[command].splitlines()
    assert len(lines) <= 55, f"{command} --help is {len(lines)} lines"


@pytest.mark.parametrize("name", HELPS)
def test_no_help_line_is_wider_than_the_terminal(helps: dict[str, str], name: str) -> None:
    wide = [line for line in helps[name].splitlines() if len(line) > WIDTH]
    assert wide == []


def _blocks(text: str) -> list[str]:
    return [block.strip() for block in re.split(r"\n\s*\n", text) if block.strip()]


@pytest.mark.parametrize("name", HELPS)
def test_no_heading_or_paragraph_appears_twice_in_a_help(helps: dict[str, str], name: str) -> None:
    text = helps[name]
    headings = [line for line in text.splitlines() if re.fullmatch(r"\S.*:", line)]
    assert headings, "a help text has headings"
    assert [h for h, n in Counter(headings).items() if n > 1] == []
    assert [b for b, n in Counter(_blocks(text)).items() if n > 1] == []


def test_the_environment_and_exit_code_tables_are_each_said_once(
    helps: dict[str, str],
) -> None:
    # A text carries the environment table when it describes variables one a line,
    # the exit-code table when it lists the codes down to 130.
    def has_environment(text: str) -> bool:
        return len(re.findall(r"^  MKTOWS_[A-Z_]+ +\S", text, re.MULTILINE)) >= 3

    def has_exit_codes(text: str) -> bool:
        return bool(re.search(r"^  130 ", text, re.MULTILINE))

    assert [name for name, text in helps.items() if has_environment(text)] == ["environment"]
    assert [name for name, text in helps.items() if has_exit_codes(text)] == ["exit-codes"]
    for command in COMMANDS:  # each refers to them instead
        assert "mktows help environment" in helps[command]
        assert "mktows help exit-codes" in helps[command]
    assert "mktows help environment" in helps["main"]
    assert "mktows help exit-codes" in helps["main"]


def test_the_tables_cover_every_variable_and_each_commands_codes(helps: dict[str, str]) -> None:
    settings = (ROOT / "mktows" / "cli" / "_settings.py").read_text(encoding="utf-8")
    serve = (ROOT / "mktows" / "cli" / "serve.py").read_text(encoding="utf-8")
    read = set(re.findall(r'"(MKTOWS_[A-Z_]+)"', settings + serve))
    assert "MKTOWS_QUIET" in read
    listed = set(re.findall(r"^  (MKTOWS_[A-Z_]+) ", helps["environment"], re.MULTILINE))
    assert read <= listed
    codes = helps["exit-codes"]
    assert "cannot\n       reach the server; nothing was lost, run again to resume" in codes
    assert "serve: stopped by Ctrl-C or SIGTERM" in codes
    assert "serve: a bad configuration" in codes


def test_concurrency_says_what_0_does(helps: dict[str, str]) -> None:
    lines = helps["sync-leads"].splitlines()
    line = next(line for line in lines if line.startswith("  --concurrency"))
    assert "no limit" not in line  # it said "0 = no limit, 32 calls at once"
    assert "(10; REST 5, at most 10)" in line
    text = " ".join(helps["sync-leads"].split())
    assert "Over SOAP 0 lifts a limit: --concurrency 0 lifts the concurrency limit" in text
    assert "(32 calls at once)" in text


@pytest.mark.parametrize(
    ("argv", "usage", "message"),
    [
        pytest.param(
            ["sync-lead", "--emial", "x"],
            "usage: mktows sync-lead ",
            "unrecognized arguments: --emial x",
            id="sync-lead-typo",
        ),
        pytest.param(
            ["sync-leads", "leads.csv", "--concurency", "4"],
            "usage: mktows sync-leads ",
            "unrecognized arguments: --concurency 4",
            id="sync-leads-typo",
        ),
        pytest.param(
            ["serve", "--prot", "8080"],
            "usage: mktows serve ",
            "unrecognized arguments: --prot 8080",
            id="serve-typo",
        ),
        pytest.param(
            ["sync-leads", "--map", "x"], "usage: mktows sync-leads ", "SRC=DEST", id="bad-value"
        ),
        pytest.param(["help", "colours"], "usage: mktows help ", "invalid choice", id="topic"),
        pytest.param(["--bogus"], "usage: mktows [-h]", "unrecognized arguments", id="top-level"),
        pytest.param(
            ["--bogus", "sync-lead", "--email", "a@x.com"],
            "usage: mktows [-h]",
            "unrecognized arguments: --bogus",
            id="top-level-option-before-command",
        ),
    ],
)
def test_a_usage_error_shows_the_usage_of_the_command_it_is_in(
    embedded: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    usage: str,
    message: str,
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(usage)
    assert message in captured.err
    assert not embedded.exists()  # nothing ran


LEAD = ["sync-lead", "--email", "quiet@jungle.com"]


def test_the_embedded_sandbox_notice_is_one_short_line_naming_its_state(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(LEAD) == 0
    # The settings it stands in for are listed once, in "mktows help environment".
    notice = capsys.readouterr().err
    assert (
        notice == f"mktows: no credentials set: using the embedded sandbox, state in {embedded}\n"
    )
    assert len(notice.replace(str(embedded), "")) <= 80


@pytest.mark.parametrize(
    ("flags", "env", "silent"),
    [
        pytest.param(["--quiet"], {}, True, id="--quiet"),
        pytest.param(["-q"], {}, True, id="-q"),
        pytest.param([], {"MKTOWS_QUIET": "1"}, True, id="MKTOWS_QUIET=1"),
        pytest.param([], {"MKTOWS_QUIET": "0"}, False, id="MKTOWS_QUIET=0"),
        pytest.param([], {"MKTOWS_QUIET": ""}, False, id="MKTOWS_QUIET-empty"),
    ],
)
def test_quiet_silences_the_notice(
    embedded: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    env: dict[str, str],
    silent: bool,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main([*LEAD, *flags]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("CREATED lead ")
    assert (captured.err == "") is silent


def test_quiet_silences_the_notice_of_a_bulk_run(
    embedded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    leads = tmp_path / "leads.csv"
    leads.write_text("Email\nbulk@jungle.com\n", encoding="utf-8")
    assert main(["sync-leads", str(leads), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "embedded sandbox" not in err
    assert "1 row(s) done" in err  # the summary is no notice: it stays
    assert main(["sync-leads", str(leads), "--restart"]) == 0
    assert "embedded sandbox" in capsys.readouterr().err


def _examples(helps: dict[str, str]) -> list[str]:
    return [
        line.strip()
        for name in HELPS
        for line in helps[name].splitlines()
        if line.strip().startswith("mktows ")
    ]


def _serve_example(argv: list[str], cwd: Path, serve_epilog: str) -> None:
    """Run a serve example as the real process it is, on a free port (8080 may be
    taken on a shared machine), and point sync-lead at it as its help says."""
    port = str(free_port())
    argv = [port if arg == "8080" else arg for arg in argv]
    server = spawn(argv[1:], clean_env(), cwd)
    try:
        assert server.stderr is not None
        seen = ""
        while "Ctrl-C stops it" not in seen:
            line = server.stderr.readline()
            assert line, f"serve ended before listening: {seen}"
            seen += line
        assert f"127.0.0.1:{port}" in seen
        # The settings the epilog gives, two sets: each one alone reaches the server.
        pairs = dict(re.findall(r"(MKTOWS_[A-Z_]+)=(\S+)", serve_epilog))
        soap = ("MKTOWS_ENDPOINT", "MKTOWS_USER_ID", "MKTOWS_ENCRYPTION_KEY")
        for names in (soap, tuple(sorted(set(pairs) - set(soap)))):
            env = {name: pairs[name].replace(":8080/", f":{port}/") for name in names}
            argv = ["sync-lead", "--email", "served@jungle.com"]
            done = run_mktows(argv, clean_env(**env), cwd, timeout=60)
            assert done.returncode == 0, (names, done.stderr)
            assert done.stdout.startswith(("CREATED lead ", "UPDATED lead ")), done.stdout
    finally:
        server.send_signal(signal.SIGINT)
        code = server.wait(timeout=30)
        if server.stdout is not None:
            server.stdout.close()
        if server.stderr is not None:
            server.stderr.close()
    assert code == 0


def test_every_example_in_the_help_runs_against_the_embedded_sandbox(
    helps: dict[str, str],
    embedded: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The examples name the sample files of a checkout (templates/): run them from a
    # copy of one, in the order the help texts give them.
    work = tmp_path / "checkout"
    shutil.copytree(ROOT / "templates", work / "templates")
    monkeypatch.chdir(work)
    examples = _examples(helps)
    assert {shlex.split(line)[1] for line in examples} >= set(COMMANDS)
    for line in examples:
        argv = shlex.split(line, comments=True)  # a comment says what it does
        assert not {">", "<", "|"} & set(argv), f"{line}: a shell example main() cannot run"
        if argv[1] == "serve":
            _serve_example(argv, work, helps["serve"])
            continue
        code = main(argv[1:])
        captured = capsys.readouterr()
        assert code == 0, f"{line}\n{captured.err}"
