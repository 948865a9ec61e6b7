"""The journal and results file: durable records, resume, torn lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import journal_lines, read_results

from mktows import ConfigError
from mktows.bulk._journal import Ledger
from mktows.bulk._runner import RowResult, RowStatus

S = RowStatus


def result(row: int, status: RowStatus, code: int | None = None) -> RowResult:
    lead_id = row * 10 if status in (S.CREATED, S.UPDATED) else None
    return RowResult(
        row=row, status=status, lead_id=lead_id, code=code, error=None if lead_id else "why"
    )


def paths(tmp_path: Path) -> tuple[str, str]:
    return str(tmp_path / "in.journal"), str(tmp_path / "in.results.csv")


def test_fresh_run_writes_journal_then_results(tmp_path: Path) -> None:
    journal, results = paths(tmp_path)
    ledger = Ledger(journal, results, batch=2)
    assert not ledger.resumed
    ledger.record(result(2, S.CREATED))
    # Journaled at once; the results line waits for the fsync of its batch.
    assert [line["row"] for line in journal_lines(Path(journal))] == [2]
    assert read_results(Path(results)) == []
    ledger.record(result(3, S.FAULT, 20105))
    assert [r["row"] for r in read_results(Path(results))] == ["2", "3"]
    ledger.close()
    assert read_results(Path(results))[1] == {
        "row": "3",
        "Id": "",
        "Email": "",
        "ForeignSysPersonId": "",
        "lead_id": "",
        "status": "FAULT",
        "code": "20105",
        "error": "why",
    }


def test_resume_skips_final_rows_only_and_rewrites_results(tmp_path: Path) -> None:
    journal, results = paths(tmp_path)
    ledger = Ledger(journal, results)
    for item in [
        result(2, S.CREATED),
        result(3, S.ERROR),  # transient: sent again
        result(4, S.FAULT, 20023),  # transient fault: sent again
        result(5, S.FAULT, 20014),  # run-stopping fault: sent again
        result(6, S.FAULT, 20105),  # permanent fault: done
        result(7, S.INVALID),  # re-read with the rerun's options: sent again if now valid
        result(8, S.FAILED),
    ]:
        ledger.record(item)
    ledger.close()
    with Path(journal).open("ab") as handle:
        handle.write(b'{"row": 9, "status": "CREA')  # torn by a kill mid-write
    again = Ledger(journal, results)
    assert again.resumed
    done = [row for row in range(1, 11) if again.is_done(row)]
    assert done == [2, 6, 8]
    assert again.done_before == 3
    assert [r["row"] for r in read_results(Path(results))] == ["2", "6", "8"]
    again.record(result(9, S.UPDATED))
    again.close()
    assert [line["row"] for line in journal_lines(Path(journal))][-1] == 9  # torn tail cut off


def test_restart_discards_earlier_runs(tmp_path: Path) -> None:
    journal, results = paths(tmp_path)
    ledger = Ledger(journal, results)
    ledger.record(result(2, S.CREATED))
    ledger.close()
    fresh = Ledger(journal, results, restart=True)
    assert not fresh.resumed
    assert not fresh.is_done(2)
    fresh.close()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"row,lead_id\n", "not a mktows journal", id="foreign-file"),
        pytest.param(b'{"mktows_journal": 1}\n{"row": "x"}\n', "line 2 is damaged", id="damaged"),
        pytest.param(
            b'{"mktows_journal": 1}\n{"row": 1, "status": "MAYBE"}\n', "damaged", id="bad-status"
        ),
    ],
)
def test_unusable_journal_is_a_config_error(tmp_path: Path, content: bytes, message: str) -> None:
    journal, results = paths(tmp_path)
    Path(journal).write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        Ledger(journal, results)


def test_torn_header_starts_over(tmp_path: Path) -> None:
    journal, results = paths(tmp_path)
    Path(journal).write_bytes(b'{"mktows_jou')
    ledger = Ledger(journal, results)
    assert not ledger.resumed
    ledger.close()
    assert Path(journal).read_bytes() == b'{"mktows_journal": 1}\n'


def test_unwritable_results_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot write"):
        Ledger(str(tmp_path / "j"), str(tmp_path / "missing" / "r.csv"))


def test_bitmap_grows_for_large_row_numbers(tmp_path: Path) -> None:
    journal, results = paths(tmp_path)
    ledger = Ledger(journal, results)
    ledger.record(result(1_000_003, S.CREATED))
    ledger.close()
    again = Ledger(journal, results)
    assert again.is_done(1_000_003)
    assert not again.is_done(1_000_002)
    again.close()
