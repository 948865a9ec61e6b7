"""sync-leads over REST: up to 300 leads a Sync Leads call, rows sharing a key never in
one call nor in flight at once, one journal entry per row, and the limits Adobe advises
for one integration (50 calls / 20 s, 5 at once; at most 100 / 20 s and 10)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import SandboxServer
from support import journal_lines, lead_counts, query, read_results, write_csv

import mktows
from mktows import LeadRecord
from mktows.bulk import Row, RowResult, RowStatus, sync_leads
from mktows.cli import main
from mktows.rest._client import AsyncRestClient
from mktows.sandbox import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

SYNC_CALL = "POST /rest/v1/leads.json 200"


def _sync_calls(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if SYNC_CALL in r.getMessage()]


def _run(
    server: SandboxServer,
    rows: Sequence[LeadRecord | Row],
    partitions: dict[str, str] | None = None,
    **options: Any,
) -> list[RowResult]:
    """sync_leads over an AsyncRestClient for ``server``: every result, in yield order."""

    async def run() -> list[RowResult]:
        async with AsyncRestClient(
            server.rest_url,
            server.identity_url,
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            partitions=partitions,
        ) as client:
            return [r async for r in sync_leads(client, rows, **options)]

    return asyncio.run(asyncio.wait_for(run(), 60))


def test_sync_leads_over_rest_batches_rows(
    rest_env: SandboxServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="mktows.sandbox")
    rows = [[f"r{n}@example.com", f"R{n}"] for n in range(650)] + [["r5@example.com", "Again"]]
    source = write_csv(tmp_path / "leads.csv", ["Email", "FirstName"], rows)
    code = main(["sync-leads", str(source), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert (code, summary["created"], summary["updated"]) == (0, 650, 1)
    # 651 rows in 3 calls (300, 300, 51): the last row shares r5's email, so it goes in
    # a later call than r5's, sent only once r5's call has been answered (UPDATED).
    assert len(_sync_calls(caplog)) == 3
    results = read_results(tmp_path / "leads.csv.results.csv")
    assert len(results) == 651
    assert {r["row"] for r in results} == {str(n) for n in range(2, 653)}
    assert len(journal_lines(tmp_path / "leads.csv.journal")) == 651  # one line a row
    assert lead_counts(rest_env.db_path)[0] == 650


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        pytest.param(["--batch-size", "301"], "must be 1 to 300", id="batch-over-300"),
        pytest.param(["--batch-size", "0"], "must be 1 to 300", id="batch-zero"),
        pytest.param(["--concurrency", "11"], "1 to 10", id="concurrency-over-10"),
        pytest.param(["--rate", "101/20"], "at most 100/20", id="rate-over-100"),
        pytest.param(["--rate", "0"], "at most 100/20", id="rate-off"),
    ],
)
def test_rest_limits_go_up_to_the_instances(
    rest_env: SandboxServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    message: str,
) -> None:
    source = write_csv(tmp_path / "leads.csv", ["Email"], [["a@b.c"]])
    assert main(["sync-leads", str(source), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "leads.csv.journal").exists()


def test_the_batched_runner_keeps_keys_apart_and_rows_in_results(
    sandbox_server: SandboxServer,
) -> None:
    leads = [LeadRecord(email=f"k{n % 3}@x.com", attributes={"Title": str(n)}) for n in range(9)]

    done = _run(sandbox_server, leads, batch_size=300, workers=5)
    found = sorted((r.row, r.status, r.lead_id) for r in done)
    assert [status for _, status, _ in found] == [RowStatus.CREATED] * 3 + [RowStatus.UPDATED] * 6
    assert [lead_id for _, _, lead_id in found] == [1, 2, 3] * 3
    titles = query(sandbox_server.db_path, "SELECT attrs FROM leads ORDER BY id")
    assert titles == [('{"Title": "6"}',), ('{"Title": "7"}',), ('{"Title": "8"}',)]  # file order


def test_a_row_the_wire_cannot_carry_is_invalid_and_the_run_goes_on(
    sandbox_server: SandboxServer,
) -> None:
    # Issue #11, finding 6: per-row problems stay per row. This test pinned the opposite
    # (a ConfigError from one row stopped the batched run): no foreign-id field is
    # configured, so the ForeignSysPersonId row is INVALID with its reason, the rest sync.
    rows = [
        Row(1, lead=LeadRecord(email="a@x.com")),
        Row(2, lead=LeadRecord(foreign_sys_person_id="F-1")),
        Row(3, lead=LeadRecord(email="c@x.com")),
        Row(4, lead=None, error="no key"),
    ]

    found = {r.row: r for r in _run(sandbox_server, rows)}
    assert {n: r.status for n, r in found.items()} == {
        1: RowStatus.CREATED,
        2: RowStatus.INVALID,
        3: RowStatus.CREATED,
        4: RowStatus.INVALID,
    }
    assert "foreign" in (found[2].error or "").lower()
    assert found[2].keys == ("", "", "F-1")
    assert found[4].error == "no key"
    assert lead_counts(sandbox_server.db_path)[0] == 2


def test_a_workspace_without_a_partition_makes_each_row_invalid_not_a_stop(
    sandbox_server: SandboxServer,
) -> None:
    leads = [LeadRecord(email=f"p{n}@x.com") for n in range(4)]

    for batch_size in (300, 1):  # batched, and one lead a call
        found = _run(
            sandbox_server,
            leads,
            partitions={"Default": "Default"},
            batch_size=batch_size,
            workspace="Elsewhere",
        )
        assert sorted(r.row for r in found) == [1, 2, 3, 4]
        assert {r.status for r in found} == {RowStatus.INVALID}
        # A per-row problem stays per row (issue #11, finding 6): each row says why, none sent.
        assert all(
            "workspace 'Elsewhere' has no partition mapping" in (r.error or "") for r in found
        )
    assert lead_counts(sandbox_server.db_path)[0] == 0


def test_batch_size_is_checked_and_one_batch_runs_at_a_time(
    sandbox_server: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(mktows.ConfigError, match="1 to 300"):
        _run(sandbox_server, [LeadRecord(email="a@x.com")], batch_size=0)
    with pytest.raises(mktows.ConfigError, match="1 to 300"):
        _run(sandbox_server, [LeadRecord(email="a@x.com")], batch_size=301)
    # One batch in flight at a time, two leads a batch: five calls, one after another,
    # so each row's lead is created in row order.
    caplog.set_level(logging.INFO, logger="mktows.sandbox")
    rows = [LeadRecord(email=f"w{n}@x.com") for n in range(10)]
    done = _run(sandbox_server, rows, batch_size=2, workers=1)
    assert [(r.row, r.lead_id) for r in done] == [(n, n) for n in range(1, 11)]
    assert len(_sync_calls(caplog)) == 5
