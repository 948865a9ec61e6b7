"""sync-leads over REST, batched, with issue #11's guarantees (issue #12 meets #11): a 606
burst is back-pressure, not FAULT rows; a refused port stops fast with exit 4; a row the
wire cannot carry is INVALID and the run goes on. Against a real sandbox over loopback
(its fault rules set through its admin API) or a real ``mktows serve`` process."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from conftest import SandboxServer
from support import (
    add_fault,
    clean_env,
    fault_rules,
    journal_lines,
    lead_counts,
    leads_csv,
    read_results,
    run_mktows,
    write_csv,
)

from mktows.cli import main
from mktows.sandbox import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET


def test_a_606_burst_over_rest_is_back_pressure_and_every_row_syncs(
    rest_env: SandboxServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    add_fault(rest_env, {"match": {"wire": "rest"}, "code": 606, "times": 2})
    source = leads_csv(tmp_path / "leads.csv", 700)
    # A one-second window keeps the pauses short (5/1 is the instance's 100/20 rate).
    argv = ["sync-leads", str(source), "--rate", "5/1", "--retries", "0", "--json"]
    code = main(argv)
    summary = json.loads(capsys.readouterr().out)
    assert (code, summary["created"], summary["fault"], summary["error"]) == (0, 700, 0, 0)
    assert fault_rules(rest_env) == []  # both 606s were answered
    results = read_results(tmp_path / "leads.csv.results.csv")
    assert {r["status"] for r in results} == {"CREATED"}
    assert {r["Email"] for r in results} == {f"r{n}@x.com" for n in range(700)}
    assert lead_counts(rest_env.db_path) == (700, 700)


def test_a_refused_rest_url_stops_fast_and_keeps_every_row_pending(
    refused_url: str, tmp_path: Path
) -> None:
    root = refused_url.split("/soap/")[0]
    source = leads_csv(tmp_path / "leads.csv", 30)
    argv = [
        "sync-leads", str(source), "--rest-url", f"{root}/rest",
        "--identity-url", f"{root}/identity", "--client-id", DEFAULT_CLIENT_ID,
        "--retries", "20", "--json",
    ]  # fmt: skip
    env = clean_env(MKTOWS_CLIENT_SECRET=DEFAULT_CLIENT_SECRET)
    # Twenty retries of each batch with backoff would take minutes.
    run = run_mktows(argv, env, tmp_path, timeout=60)
    assert run.returncode == 4, run.stderr
    assert f"cannot reach {root}/rest: ConnectError: " in run.stderr
    assert "nothing was lost, run again to resume" in run.stderr
    assert json.loads(run.stdout)["rows"] == 0
    assert journal_lines(tmp_path / "leads.csv.journal") == []


def test_a_foreign_id_row_without_a_foreign_id_field_is_invalid_and_the_rest_sync(
    rest_env: SandboxServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("MKTOWS_FOREIGN_ID_FIELD")
    rows = [["a@x.com", ""], ["", "F-1"], ["c@x.com", ""]]
    source = write_csv(tmp_path / "leads.csv", ["Email", "ForeignSysPersonId"], rows)
    code = main(["sync-leads", str(source), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert (code, summary["created"], summary["invalid"], summary["rows"]) == (1, 2, 1, 3)
    results = {r["row"]: r for r in read_results(tmp_path / "leads.csv.results.csv")}
    assert results["3"]["status"] == "INVALID"
    assert "foreign" in results["3"]["error"].lower()
    assert results["3"]["ForeignSysPersonId"] == "F-1"
    assert lead_counts(rest_env.db_path)[0] == 2


def test_batch_size_sets_the_leads_per_sync_leads_call(
    rest_env: SandboxServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="mktows.sandbox")
    source = leads_csv(tmp_path / "leads.csv", 5)
    assert main(["sync-leads", str(source), "--batch-size", "2"]) == 0
    syncs = [r for r in caplog.records if "POST /rest/v1/leads.json 200" in r.getMessage()]
    assert len(syncs) == 3  # 2 + 2 + 1
    assert lead_counts(rest_env.db_path)[0] == 5
