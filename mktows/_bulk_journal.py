"""The journal and the results file of a bulk sync: what makes a run crash-safe and resumable.

The journal is an append-only file, one JSON line per finished row, written to
the OS at once and fsync'd in batches; the results CSV is derived from it and
written only after the journal lines it shows are durable. Sends nothing.
"""

from __future__ import annotations

import collections
import csv
import json
import os
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

from ._bulk import RowResult, RowStatus
from ._errors import ConfigError

__all__ = ["RESULTS_HEADER", "Ledger"]

JOURNAL_HEADER = {"mktows_journal": 1}
RESULTS_HEADER = ("row", "lead_id", "status", "code", "error")


class _Bits:
    """A growable bitmap of row numbers: 1 bit per row, flat memory for a million rows."""

    def __init__(self) -> None:
        self._bytes = bytearray()

    def add(self, number: int) -> None:
        index = number >> 3
        if index >= len(self._bytes):
            self._bytes.extend(bytes(index + 1 - len(self._bytes) + 4096))
        self._bytes[index] |= 1 << (number & 7)

    def __contains__(self, number: int) -> bool:
        index = number >> 3
        return index < len(self._bytes) and bool(self._bytes[index] & (1 << (number & 7)))


def _entry(result: RowResult) -> bytes:
    record: dict[str, Any] = {"row": result.row, "status": result.status.value}
    if result.lead_id is not None:
        record["lead_id"] = result.lead_id
    if result.code is not None:
        record["code"] = result.code
    if result.error is not None:
        record["error"] = result.error
    return json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n"


def _parse_entry(line: bytes, number: int, path: str) -> RowResult:
    try:
        record = json.loads(line)
        return RowResult(
            row=int(record["row"]),
            status=RowStatus(record["status"]),
            lead_id=record.get("lead_id"),
            code=record.get("code"),
            error=record.get("error"),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"journal {path!r} line {number} is damaged ({exc}); "
            "fix or delete the line, or start over with --restart"
        ) from None


def _results_row(result: RowResult) -> list[str]:
    return [
        str(result.row),
        "" if result.lead_id is None else str(result.lead_id),
        result.status.value,
        "" if result.code is None else str(result.code),
        result.error or "",
    ]


class Ledger:
    """The journal and results file of one bulk run.

    Opening it resumes from an existing journal: rows finished before are
    :meth:`is_done`, counted in :attr:`previous`, and rewritten into a fresh
    results file; rows that ended in a transient error or a run-stopping fault
    are not done and will be sent again. A torn last line (the process was
    killed while writing it) is cut off.
    """

    def __init__(
        self,
        journal: str,
        results: str,
        *,
        restart: bool = False,
        batch: int = 64,
        interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.journal_path = journal
        self.results_path = results
        self.previous: collections.Counter[RowStatus] = collections.Counter()
        self._done = _Bits()
        self._batch = batch
        self._interval = interval
        self._clock = clock
        self._pending: list[RowResult] = []
        self._last_sync = clock()
        self.resumed = False
        if restart:
            for path in (journal, results):
                if os.path.exists(path):
                    os.remove(path)
        try:
            self._journal = self._open_journal()
        except OSError as exc:
            raise ConfigError(f"cannot write {exc.filename!r}: {exc.strerror}") from None
        try:
            self._results_file: IO[str] = open(results, "w", encoding="utf-8", newline="")  # noqa: SIM115
        except OSError as exc:
            self._journal.close()
            raise ConfigError(f"cannot write {exc.filename!r}: {exc.strerror}") from None
        self._results = csv.writer(self._results_file)
        self._results.writerow(RESULTS_HEADER)
        if self.resumed:
            self._replay()
        self._results_file.flush()

    def _open_journal(self) -> IO[bytes]:
        handle = open(self.journal_path, "a+b")  # noqa: SIM115  # closed by close()
        try:
            return self._load(handle)
        except BaseException:
            handle.close()
            raise

    def _load(self, handle: IO[bytes]) -> IO[bytes]:
        handle.seek(0)
        first = handle.readline()
        if not first.endswith(b"\n"):  # new, or killed while writing the header
            handle.truncate(0)
            handle.write(json.dumps(JOURNAL_HEADER).encode() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
            return handle
        try:
            header = json.loads(first)
        except ValueError:
            header = None
        if header != JOURNAL_HEADER:
            raise ConfigError(
                f"{self.journal_path!r} is not a mktows journal; pass --journal with "
                "another path or delete the file"
            )
        self.resumed = True
        good = handle.tell()
        number = 1
        for line in handle:
            number += 1
            if not line.endswith(b"\n"):
                break  # torn by a kill mid-write: the row was not finished
            result = _parse_entry(line, number, self.journal_path)
            if result.final and result.row not in self._done:
                self._done.add(result.row)
                self.previous[result.status] += 1
            good += len(line)
        handle.truncate(good)
        handle.seek(0, os.SEEK_END)
        return handle

    def _replay(self) -> None:
        written = _Bits()
        for result in self._entries():
            if result.final and result.row not in written:
                written.add(result.row)
                self._results.writerow(_results_row(result))

    def _entries(self) -> Iterator[RowResult]:
        with open(self.journal_path, "rb") as handle:
            handle.readline()
            for number, line in enumerate(handle, start=2):
                yield _parse_entry(line, number, self.journal_path)

    def is_done(self, row: int) -> bool:
        """True when an earlier run finished ``row`` for good."""
        return row in self._done

    @property
    def done_before(self) -> int:
        """How many rows earlier runs finished for good."""
        return sum(self.previous.values())

    def record(self, result: RowResult) -> None:
        """Journal ``result`` (to the OS at once); its results line follows the next fsync."""
        self._journal.write(_entry(result))
        self._journal.flush()
        self._pending.append(result)
        if len(self._pending) >= self._batch or self._clock() - self._last_sync >= self._interval:
            self.sync()

    def sync(self) -> None:
        """fsync the journal, then write the results lines it now covers."""
        self._journal.flush()
        os.fsync(self._journal.fileno())
        self._last_sync = self._clock()
        for result in self._pending:
            self._results.writerow(_results_row(result))
        self._pending.clear()
        self._results_file.flush()

    def close(self) -> None:
        """Make everything durable and close both files."""
        try:
            self.sync()
        finally:
            self._journal.close()
            self._results_file.close()
