"""Sandbox configuration (defaults, JSON, errors) and the ``mktows serve`` command."""

from __future__ import annotations

import _thread
import argparse
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import client_for, count_leads, free_port

from mktows import ConfigError, LeadRecord, SyncStatus
from mktows.cli import main
from mktows.cli.serve import configure_parser as configure_serve_parser
from mktows.cli.serve import run as run_serve
from mktows.sandbox import (
    DEFAULT_ENCRYPTION_KEY,
    DEFAULT_USER_ID,
    AssignmentRule,
    SandboxConfig,
    Workspace,
    make_app,
)

TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "sandbox.json"


def test_defaults_need_no_file() -> None:
    config = SandboxConfig()
    assert dict(config.users) == {DEFAULT_USER_ID: DEFAULT_ENCRYPTION_KEY}
    assert [ws.name for ws in config.workspaces] == ["Default"]
    assert (
        config.rate_limit_calls,
        config.rate_limit_window,
        config.concurrency_limit,
        config.daily_quota,
    ) == (
        100,
        20.0,
        10,
        10_000,
    )
    assert DEFAULT_ENCRYPTION_KEY not in repr(config)


def test_the_template_loads_and_says_what_it_sets() -> None:
    config = SandboxConfig.load(TEMPLATE)
    assert [ws.name for ws in config.workspaces] == ["Default", "Europe", "US"]
    assert config.workspace("Europe") == Workspace("Europe", ("EU", "EU-Archive"), "EU")
    assert config.assignment_rules[0] == AssignmentRule(
        partition="EU-Archive", email_domain="example.fr"
    )
    assert dict(config.custom_fields) == {"LoyaltyTier": "string", "ContractEnd": "date"}
    assert config.workspace("Nowhere") is None


def test_lists_and_missing_default_workspace(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(
        json.dumps(
            {
                "workspaces": [{"name": "Sales", "partitions": ["S1", "S2"]}],
                "custom_fields": [{"name": "Tier"}, {"name": "Visits", "type": "integer"}],
                "assignment_rules": [
                    {"partition": "S2", "field": "Tier", "equals": "gold", "_why": "VIPs"}
                ],
            }
        )
    )
    config = SandboxConfig.load(path)
    assert [(ws.name, ws.primary) for ws in config.workspaces] == [
        ("Default", "Default"),
        ("Sales", "S1"),
    ]
    assert dict(config.custom_fields) == {"Tier": "string", "Visits": "integer"}
    rule = config.assignment_rules[0]
    assert rule.matches(None, {"Tier": " GOLD "})
    assert not rule.matches(None, {})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param([], "must be a JSON object", id="not-object"),
        pytest.param({"colour": "red"}, "unknown configuration key 'colour'", id="unknown-key"),
        pytest.param({"users": {}}, "at least one user", id="no-users"),
        pytest.param({"users": {"": "k"}}, "non-empty string", id="empty-user"),
        pytest.param({"users": {"u": ""}}, "non-empty encryption key", id="empty-key"),
        pytest.param({"workspaces_enabled": "yes"}, "true or false", id="enabled-not-bool"),
        pytest.param(
            {"workspaces": [{"name": "A"}, {"name": "A"}]}, "unique", id="duplicate-workspace"
        ),
        pytest.param({"workspaces": [{"name": " "}]}, "non-empty name", id="workspace-no-name"),
        pytest.param(
            {"workspaces": [{"name": "A", "partitions": []}]}, "partition names", id="no-partitions"
        ),
        pytest.param(
            {"workspaces": [{"name": "A", "partitions": ["P"], "primary": "Q"}]},
            "primary partition",
            id="primary-not-a-partition",
        ),
        pytest.param({"workspaces": "A"}, "list of JSON objects", id="workspaces-not-list"),
        pytest.param(
            {"workspaces": [{"partitions": ["P"]}]}, "KeyError", id="workspace-missing-name"
        ),
        pytest.param(
            {"assignment_rules": [{"partition": "Nope", "email_domain": "x.com"}]},
            "no workspace has",
            id="rule-unknown-partition",
        ),
        pytest.param(
            {"assignment_rules": [{"partition": "Default"}]}, "exactly one of", id="rule-no-test"
        ),
        pytest.param(
            {"assignment_rules": [{"partition": "Default", "field": "City", "email_domain": "x"}]},
            "applies to the Email field",
            id="rule-domain-on-field",
        ),
        pytest.param(
            {"assignment_rules": [{"partition": "Default", "field": "Shoe", "equals": "x"}]},
            "unknown field 'Shoe'",
            id="rule-unknown-field",
        ),
        pytest.param(
            {"assignment_rules": [{"partition": "Default", "colour": "x"}]},
            "TypeError",
            id="rule-unknown-key",
        ),
        pytest.param(
            {"custom_fields": {"Tier": "colour"}}, "has type 'colour'", id="custom-bad-type"
        ),
        pytest.param(
            {"custom_fields": {"First Name": "string"}}, "identifier", id="custom-bad-name"
        ),
        pytest.param({"custom_fields": {"firstname": "string"}}, "clashes", id="custom-clash"),
        pytest.param({"custom_fields": "Tier"}, "must map field names", id="custom-not-map"),
        pytest.param(
            {"rate_limit_calls": -1}, "rate_limit_calls must be >= 0", id="negative-limit"
        ),
        pytest.param({"daily_quota": 1.5}, "whole number", id="fractional-quota"),
        pytest.param({"rate_limit_window": 0}, "rate_limit_window must be > 0", id="zero-window"),
        pytest.param({"freshness_window": "5"}, "must be a number", id="window-not-number"),
        pytest.param({"max_request_bytes": True}, "whole number", id="cap-bool"),
        pytest.param({"max_request_bytes": 0}, "max_request_bytes must be > 0", id="cap-zero"),
        pytest.param(
            {"token_lifetime": float("nan")}, "token_lifetime must be a finite", id="lifetime-nan"
        ),
        pytest.param(
            {"token_lifetime": float("inf")}, "token_lifetime must be a finite", id="lifetime-inf"
        ),
        pytest.param(
            {"freshness_window": float("nan")},
            "freshness_window must be a finite",
            id="freshness-nan",
        ),
        pytest.param(
            {"rate_limit_window": float("inf")},
            "rate_limit_window must be a finite",
            id="window-inf",
        ),
        pytest.param(
            {"workspaces": [{"name": "Europe", "partitions": "EU"}]},
            "workspace 'Europe': partitions must be a list of partition names",
            id="partitions-a-string",
        ),
        pytest.param(
            {"workspaces": [{"name": "Europe", "partitions": ["EU", 7]}]},
            "partitions must be a list of partition names",
            id="partitions-not-strings",
        ),
        pytest.param(
            {"assignment_rules": [{"partition": "Default", "field": 7, "equals": "x"}]},
            "needs a field name string",
            id="rule-field-not-a-string",
        ),
    ],
)
def test_invalid_configuration(data: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        SandboxConfig.from_dict(data)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(None, "cannot read", id="missing-file"),
        pytest.param("{not json", "not valid JSON", id="bad-json"),
    ],
)
def test_load_errors(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "c.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError) as info:
        SandboxConfig.load(path)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "literal",
    [
        pytest.param("NaN", id="nan"),
        pytest.param("Infinity", id="inf"),
        pytest.param("1e999", id="huge"),
    ],
)
@pytest.mark.parametrize("key", ["token_lifetime", "freshness_window", "rate_limit_window"])
def test_non_finite_seconds_in_a_file_are_refused(tmp_path: Path, key: str, literal: str) -> None:
    # Python's json reads NaN, Infinity and an overflowing 1e999 (as inf) without complaint.
    path = tmp_path / "c.json"
    path.write_text(f'{{"{key}": {literal}}}')
    with pytest.raises(ConfigError, match=f"{key} must be a finite number"):
        SandboxConfig.load(path)


def test_a_partitions_string_is_refused_in_python_too() -> None:
    with pytest.raises(ConfigError, match="list of non-empty partition names"):
        Workspace("Europe", partitions="EU", primary="E")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "stored"),
    [
        pytest.param("industry", "Industry", id="lower"),
        pytest.param("INDUSTRY", "Industry", id="upper"),
        pytest.param(" Industry ", "Industry", id="padded"),
        pytest.param("tier", "Tier", id="custom-field"),
        pytest.param("email", "Email", id="email-key"),
    ],
)
def test_rule_fields_are_stored_as_the_catalog_spells_them(field: str, stored: str) -> None:
    equals = "a@x.com" if stored == "Email" else "Retail"
    config = SandboxConfig.from_dict(
        {
            "custom_fields": {"Tier": "string"},
            "assignment_rules": [{"partition": "Default", "field": field, "equals": equals}],
        }
    )
    (rule,) = config.assignment_rules
    assert rule.field == stored
    assert rule.matches("a@x.com", {"Industry": "retail", "Tier": "RETAIL"})


def test_an_email_domain_rule_may_name_email_in_any_case() -> None:
    rule = AssignmentRule(partition="Default", field="EMAIL", email_domain="acme.com")
    assert rule.matches("g@acme.com", {})
    assert SandboxConfig(assignment_rules=(rule,)).assignment_rules[0].field == "Email"


def test_with_user_adds_a_user() -> None:
    config = SandboxConfig().with_user("alice", "secret-1")
    assert dict(config.users) == {DEFAULT_USER_ID: DEFAULT_ENCRYPTION_KEY, "alice": "secret-1"}


# -- mktows serve ----------------------------------------------------------------------


def serve_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure_serve_parser(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        pytest.param(["--user-id", "alice"], 2, "needs --encryption-key", id="user-without-key"),
        pytest.param(["--encryption-key", "k"], 2, "needs --user-id", id="key-without-user"),
        pytest.param(
            ["--config", "/nonexistent/sandbox.json"], 2, "cannot read", id="missing-config"
        ),
        pytest.param(["--db", "{tmp}"], 2, "cannot open the database", id="db-is-a-directory"),
        # Off loopback the published credentials are refused first; allowed, the host fails.
        pytest.param(
            ["--host", "256.0.0.1", "--allow-default-credentials"],
            2,
            "cannot listen",
            id="bad-host",
        ),
        pytest.param(
            ["--host", "256.0.0.1"], 2, "published credentials", id="published-off-loopback"
        ),
    ],
)
def test_serve_refuses_bad_settings(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    code: int,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MKTOWS_ENCRYPTION_KEY", raising=False)
    args = serve_args("--port", "0", *[a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert run_serve(args) == code
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "port", [pytest.param("70000", id="too-big"), pytest.param("-1", id="negative"), "http"]
)
def test_serve_refuses_a_port_out_of_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], port: str
) -> None:
    db = tmp_path / "never.db"
    assert main(["serve", "--port", port, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert f"expected a port number 0-65535, got {port!r}" in err
    assert "Traceback" not in err
    assert not db.exists()  # refused before the store was opened


def test_serve_reports_a_port_it_cannot_bind_and_closes_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A caller of run_serve that skips the argument parser: bind itself refuses the port.
    db = tmp_path / "serve.db"
    args = serve_args("--db", str(db))
    args.port = 70000
    assert run_serve(args) == 2
    assert "cannot listen on 127.0.0.1:70000" in capsys.readouterr().err
    reopened = make_app(db=str(db))  # closed: the file opens again and holds its schema
    reopened.close()


def test_serve_runs_until_ctrl_c(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = "env-only-key-7d1e"
    monkeypatch.setenv("MKTOWS_ENCRYPTION_KEY", key)
    port = free_port()
    db = tmp_path / "serve.db"
    outcome: dict[str, object] = {}

    class Server:
        url = f"http://127.0.0.1:{port}/soap/mktows/2_2"
        user_id = "alice"
        encryption_key = key

    def drive() -> None:
        try:
            for _ in range(500):
                try:
                    httpx.get(f"{Server.url}?WSDL", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.01)
            with client_for(Server()) as c:
                outcome["status"] = c.sync_lead(LeadRecord(email="cli@x.com")).status
        finally:
            _thread.interrupt_main()

    caplog.set_level(logging.INFO, logger="mktows.sandbox._wsgi")
    driver = threading.Thread(target=drive)
    driver.start()
    code = run_serve(serve_args("--port", str(port), "--user-id", "alice", "--db", str(db)))
    driver.join(timeout=10)
    assert code == 0
    assert outcome["status"] is SyncStatus.CREATED
    err = capsys.readouterr().err
    assert f"listening on {Server.url}" in err
    assert "POST /soap/mktows/2_2 200 CREATED" in caplog.text
    assert key not in err + caplog.text
    reopened = make_app(db=str(db))  # the store was closed cleanly and kept the lead
    try:
        assert count_leads(reopened) == 1
    finally:
        reopened.close()
