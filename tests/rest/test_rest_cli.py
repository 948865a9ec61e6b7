"""`mktows sync-lead` and `sync-leads` over REST, against the sandbox's REST face on
loopback; and the settings rules (REST vs SOAP, flags, --env-file).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SETTINGS_VARS, MakeSandboxServer, SandboxServer
from support import free_port, lead_counts, read_results, write_csv

from mktows.cli import main
from mktows.sandbox import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SandboxConfig


def test_sync_lead_over_rest(rest_env: SandboxServer, capsys: pytest.CaptureFixture[str]) -> None:
    lead = ["sync-lead", "--email", "ann@example.com", "--attr", "FirstName=Ann"]
    assert main(lead) == 0
    first = capsys.readouterr()
    assert first.out == "CREATED lead 1\n"
    assert first.err == ""  # no embedded-sandbox note: REST settings are configured
    assert main([*lead, "--workspace", "Default", "--cookie", "id:1&token:t", "--return-lead"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "UPDATED lead 1"
    assert "  Email: ann@example.com" in out
    assert "  FirstName: Ann" in out
    assert main(["sync-lead", "--foreign-id", "x-1", "--foreign-type", "CUSTOM", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown == {"status": "CREATED", "lead_id": 2, "code": None, "error": None, "lead": None}
    assert lead_counts(rest_env.db_path) == (2, 1)  # the second has no email


@pytest.mark.parametrize(
    ("argv", "code", "status", "message"),
    [
        pytest.param(
            ["--email", "a@b.c", "--attr", "NoSuchField=1"],
            3,
            "FAULT",
            "fault 20105: Lead Attribute Bad (20105) - REST 1006",
            id="unknown-field",
        ),
        pytest.param(["--id", "999"], 3, "FAULT", "fault 20103", id="unknown-id"),
        pytest.param(
            ["--client-secret", "wrong", "--email", "a@b.c"],
            3,
            "FAULT",
            "(check MKTOWS_CLIENT_ID and MKTOWS_CLIENT_SECRET)",
            id="bad-secret",
        ),
    ],
)
def test_sync_lead_rest_faults(
    rest_env: SandboxServer,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    code: int,
    status: str,
    message: str,
) -> None:
    assert main(["sync-lead", *argv, "--json", "--retries", "0"]) == code
    captured = capsys.readouterr()
    assert message in captured.err
    assert json.loads(captured.out)["status"] == status
    assert DEFAULT_CLIENT_SECRET not in captured.out + captured.err


def test_sync_lead_rest_unreachable(
    rest_env: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    argv = ["sync-lead", "--email", "a@b.c", "--retries", "0", "--json"]
    assert main([*argv, "--identity-url", f"http://127.0.0.1:{port}/identity"]) == 4
    assert json.loads(capsys.readouterr().out)["status"] == "ERROR"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(
            ["--workspace", "Asia"],
            "workspace 'Asia' has no REST partition mapping",
            id="workspace",
        ),
        pytest.param(["--partitions", "Asia"], "MKTOWS_PARTITIONS: a workspace", id="partitions"),
        pytest.param(
            ["--endpoint", "http://127.0.0.1:1/soap/mktows/2_2"],
            "both SOAP settings (MKTOWS_ENDPOINT) and REST settings (MKTOWS_REST_URL, "
            "MKTOWS_IDENTITY_URL, MKTOWS_CLIENT_ID, MKTOWS_CLIENT_SECRET)",
            id="soap-and-rest",
        ),
        pytest.param(["--client-secret", "="], "", id="placeholder"),
    ],
)
def test_sync_lead_rest_usage_errors(
    rest_env: SandboxServer, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    if not message:  # a secret given as a flag still works: only the value changes
        assert main(["sync-lead", "--email", "a@b.c", "--retries", "0", *argv]) == 3
        return
    assert main(["sync-lead", "--email", "a@b.c", *argv]) == 2
    assert message in capsys.readouterr().err


def test_foreign_id_without_field_is_a_usage_error(
    rest_env: SandboxServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MKTOWS_FOREIGN_ID_FIELD")
    assert main(["sync-lead", "--foreign-id", "x", "--foreign-type", "CUSTOM"]) == 2
    assert "MKTOWS_FOREIGN_ID_FIELD" in capsys.readouterr().err


def test_incomplete_rest_settings(
    rest_env: SandboxServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MKTOWS_CLIENT_SECRET")
    assert main(["sync-lead", "--email", "a@b.c"]) == 2
    err = capsys.readouterr().err
    assert "MKTOWS_CLIENT_ID set but MKTOWS_CLIENT_SECRET not: give all four REST" in err


def test_env_file_carries_rest_settings(
    sandbox_server: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in SETTINGS_VARS:
        monkeypatch.delenv(name, raising=False)
    env = tmp_path / "mktows.env"
    env.write_text(
        f"MKTOWS_REST_URL={sandbox_server.rest_url}\n"
        f"export MKTOWS_IDENTITY_URL='{sandbox_server.identity_url}'\n"
        f'MKTOWS_CLIENT_ID="{DEFAULT_CLIENT_ID}"\n'
        f"MKTOWS_CLIENT_SECRET={DEFAULT_CLIENT_SECRET}\n"
        "MKTOWS_PARTITIONS=Europe=Default\n",
        encoding="utf-8",
    )
    argv = ["sync-lead", "--env-file", str(env), "--email", "e@b.c", "--workspace", "Europe"]
    assert main(argv) == 0
    assert capsys.readouterr().out == "CREATED lead 1\n"


def test_help_lists_the_rest_settings(capsys: pytest.CaptureFixture[str]) -> None:
    # Issue #15: a command's help names the REST flags and points to the one table of
    # variables, "mktows help environment", which lists them.
    assert main(["sync-leads", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--rest-url", "--identity-url", "--client-id", "--client-secret"):
        assert flag in out
    assert "mktows help environment" in out
    assert main(["help", "environment"]) == 0
    out = capsys.readouterr().out
    for name in SETTINGS_VARS[3:]:
        assert name in out


def test_template_lists_the_rest_settings() -> None:
    template = Path(__file__).parents[2] / "templates" / "mktows.env"
    lines = template.read_text(encoding="utf-8").splitlines()
    for name in SETTINGS_VARS[3:]:
        assert any(line.startswith(f"# {name}=") for line in lines), name


def test_sync_leads_over_rest(
    rest_env: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [[f"p{n}@example.com", f"P{n}"] for n in range(12)] + [["", "nokey"]]
    source = write_csv(tmp_path / "leads.csv", ["Email", "FirstName"], rows)
    assert main(["sync-leads", str(source), "--workspace", "Default", "--json"]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert (summary["created"], summary["invalid"], summary["exit_code"]) == (12, 1, 1)
    results = read_results(tmp_path / "leads.csv.results.csv")
    assert sorted(int(r["lead_id"]) for r in results if r["status"] == "CREATED") == list(
        range(1, 13)
    )
    assert lead_counts(rest_env.db_path) == (12, 12)


def test_sync_leads_rest_fatal_fault_stops_the_run(
    make_sandbox_server: MakeSandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = make_sandbox_server(SandboxConfig(rest_clients={"someone": "else"}))
    for name in SETTINGS_VARS:
        monkeypatch.delenv(name, raising=False)
    source = write_csv(tmp_path / "leads.csv", ["Email"], [["a@b.c"], ["b@b.c"]])
    argv = [
        "sync-leads",
        str(source),
        "--rest-url",
        server.rest_url,
        "--identity-url",
        server.identity_url,
        "--client-id",
        DEFAULT_CLIENT_ID,
        "--client-secret",
        DEFAULT_CLIENT_SECRET,
    ]
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert "stopped by fault 20014" in err
    assert "(check MKTOWS_CLIENT_ID and MKTOWS_CLIENT_SECRET)" in err
    assert DEFAULT_CLIENT_SECRET not in err
