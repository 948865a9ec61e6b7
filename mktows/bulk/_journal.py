"""The journal and the results file of a bulk sync: what makes a run crash-safe and resumable.

The journal is an append-only file: a header naming the input, the target and the
options it was started with; then one JSON line per finished row and one per call
let through (its wall-clock time, so a resumed run knows the service's window),
written to the OS at once and fsync'd in batches; the results CSV is derived from it
and written only after the journal lines it shows are durable. Sends nothing.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any

from .._errors import ConfigError, MktowsError
from ._runner import RowResult, RowStatus

__all__ = ["RESULTS_HEADER", "JournalWriteError", "Ledger"]

JOURNAL_VERSION = 1
# Every header line starts with these bytes: a file without a newline that starts with
# them (or is a prefix of them) is a header torn by a kill, and safe to write over.
_MAGIC = b'{"mktows_journal": 1'
RESULTS_HEADER = ("row", "Id", "Email", "ForeignSysPersonId", "lead_id", "status", "code", "error")
_KEY_FIELDS = ("id", "email", "fsp")  # the row's key columns, in RowResult.keys order
RECENT_CALLS = 10_000  # call times kept from an earlier run (more than any window holds)


class JournalWriteError(MktowsError):
    """The journal or the results file cannot be written (disk full, file too large, ...).

    What was journaled before stays valid: rerun the same command once there is room.
    """


def _stamp(source: str | None) -> dict[str, int]:
    """The size and modification time of the input, as the journal header records them."""
    if source is None:
        return {}
    try:
        info = os.stat(source)
    except OSError as exc:
        raise ConfigError(f"cannot read {source!r}: {exc.strerror}") from None
    return {"input_size": info.st_size, "input_mtime_ns": info.st_mtime_ns}


def _shown(value: object) -> str:
    return "(not set)" if value is None else json.dumps(value, ensure_ascii=False)


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
    for name, value in zip(_KEY_FIELDS, result.keys, strict=True):
        if value:
            record[name] = value
    if result.lead_id is not None:
        record["lead_id"] = result.lead_id
    if result.code is not None:
        record["code"] = result.code
    if result.error is not None:
        record["error"] = result.error
    return json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n"


def _parse_entry(line: bytes, number: int, path: str) -> RowResult | float:
    """A finished row, or the wall-clock time of a call let through."""
    try:
        record = json.loads(line)
        if "call" in record:
            return float(record["call"])
        keys = tuple(str(record.get(name, "")) for name in _KEY_FIELDS)
        return RowResult(
            row=int(record["row"]),
            status=RowStatus(record["status"]),
            lead_id=record.get("lead_id"),
            code=record.get("code"),
            error=record.get("error"),
            keys=(keys[0], keys[1], keys[2]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"journal {path!r} line {number} is damaged ({exc}); "
            "fix or delete the line, or start over with --restart"
        ) from None


def _results_row(result: RowResult) -> list[str]:
    return [
        str(result.row),
        *result.keys,
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

    ``source`` is the input file: its size and modification time go into the
    journal header, and a journal whose input has changed since is refused
    (row numbers would point at other rows). ``binding`` (JSON-able) names the
    target and the options that change what a row becomes; a journal started
    with another binding is refused too (its rows were done elsewhere, or
    would become other leads now). :meth:`note_call` journals a call's time;
    :attr:`recent_calls` holds the wall-clock times of the calls journaled
    before (the latest ones). A failed write raises
    :class:`JournalWriteError` (the first one is kept in :attr:`write_error`);
    :meth:`close` still closes both files.
    """

    def __init__(
        self,
        journal: str,
        results: str,
        *,
        restart: bool = False,
        source: str | None = None,
        binding: Mapping[str, Any] | None = None,
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
        self.write_error: JournalWriteError | None = None  # the first write that failed
        self.resumed = False
        self._source = source
        self._header: dict[str, Any] = {"mktows_journal": JOURNAL_VERSION, **_stamp(source)}
        self._binding = None if binding is None else json.loads(json.dumps(binding))
        if self._binding is not None:
            self._header["binding"] = self._binding
        self.recent_calls: collections.deque[float] = collections.deque(maxlen=RECENT_CALLS)
        try:
            if restart:
                for path in (journal, results):
                    if os.path.lexists(path):
                        os.remove(path)
            self._journal = self._open_journal()
        except OSError as exc:
            raise ConfigError(f"cannot write {exc.filename!r}: {exc.strerror}") from None
        try:
            self._results_file: IO[str] = open(results, "w", encoding="utf-8", newline="")  # noqa: SIM115
        except OSError as exc:
            self._journal.close()
            raise ConfigError(f"cannot write {exc.filename!r}: {exc.strerror}") from None
        self._results = csv.writer(self._results_file)
        try:
            self._results.writerow(RESULTS_HEADER)
            if self.resumed:
                self._replay()
            self._results_file.flush()
        except OSError as exc:
            error = self._write_error("the results file", self.results_path, exc)
            self.close()
            raise error from None

    def _write_error(self, what: str, path: str, exc: OSError) -> JournalWriteError:
        error = JournalWriteError(
            f"cannot write {what} {path!r}: {exc.strerror or exc}; what was journaled "
            "before stays valid: make room and run the same command again to resume"
        )
        self.write_error = self.write_error or error
        return error

    def _open_journal(self) -> IO[bytes]:
        handle = open(self.journal_path, "a+b")  # noqa: SIM115  # closed by close()
        try:
            return self._load(handle)
        except BaseException:
            handle.close()
            raise

    def _not_a_journal(self) -> ConfigError:
        return ConfigError(
            f"{self.journal_path!r} is not a mktows journal; pass --journal with "
            "another path or delete the file"
        )

    def _load(self, handle: IO[bytes]) -> IO[bytes]:
        handle.seek(0)
        first = handle.readline()
        if not first.endswith(b"\n"):  # new, or killed while writing the header
            if not (_MAGIC.startswith(first) or first.startswith(_MAGIC)):
                raise self._not_a_journal()  # someone's file: never write over it
            handle.truncate(0)
            handle.write(json.dumps(self._header).encode() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
            return handle
        try:
            header = json.loads(first)
        except ValueError:
            header = None
        if not isinstance(header, dict) or header.get("mktows_journal") != JOURNAL_VERSION:
            raise self._not_a_journal()
        self._check_source(header)
        self._check_binding(header)
        self.resumed = True
        good = handle.tell()
        number = 1
        for line in handle:
            number += 1
            if not line.endswith(b"\n"):
                break  # torn by a kill mid-write: the row was not finished
            result = _parse_entry(line, number, self.journal_path)
            good += len(line)
            if isinstance(result, float):
                self.recent_calls.append(result)
            elif result.final and result.row not in self._done:
                self._done.add(result.row)
                self.previous[result.status] += 1
        handle.truncate(good)
        handle.seek(0, os.SEEK_END)
        return handle

    def _check_source(self, header: dict[str, Any]) -> None:
        """Refuse to resume when the input is not the file the journal was started on."""
        if self._source is None:
            return
        stamp = ("input_size", "input_mtime_ns")
        was = {key: header.get(key) for key in stamp if key in self._header}
        now = {key: self._header[key] for key in stamp if key in self._header}
        if was != now:
            raise ConfigError(
                f"{self._source!r} has changed since the journal {self.journal_path!r} was "
                f"started (size or modification time differs), so its row numbers may name "
                f"other rows now; run again with --restart to start over"
            )

    def _check_binding(self, header: dict[str, Any]) -> None:
        """Refuse to resume a journal started against another target or with other options."""
        if self._binding is None:
            return
        was = header.get("binding")
        was = was if isinstance(was, dict) else {}
        changes = [
            f"{name} was {_shown(was.get(name))}, now {_shown(self._binding.get(name))}"
            for name in sorted({*was, *self._binding})
            if was.get(name) != self._binding.get(name)
        ]
        if changes:
            raise ConfigError(
                f"the journal {self.journal_path!r} belongs to another run: "
                + "; ".join(changes)
                + ". Its rows were not done for this one. Run again with --restart to "
                "start over against this target with these options (the journal and "
                "results are discarded), or with --journal PATH to keep a separate journal"
            )

    def _replay(self) -> None:
        written = _Bits()
        for result in self._entries():
            if isinstance(result, RowResult) and result.final and result.row not in written:
                written.add(result.row)
                self._results.writerow(_results_row(result))

    def _entries(self) -> Iterator[RowResult | float]:
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
        """Journal ``result`` (to the OS at once); its results line follows the next fsync.

        Raises JournalWriteError when the journal cannot be written.
        """
        try:
            self._journal.write(_entry(result))
            self._journal.flush()
        except OSError as exc:
            raise self._write_error("the journal", self.journal_path, exc) from None
        self._pending.append(result)
        if len(self._pending) >= self._batch or self._clock() - self._last_sync >= self._interval:
            self.sync()

    def note_call(self, when: float | None = None) -> None:
        """Journal that a call was let through at ``when`` (wall-clock, default now).

        Written to the OS at once, so a kill loses none; a failed write is kept in
        :attr:`write_error` (and reported by :meth:`close`), never raised here.
        """
        line = json.dumps({"call": round(time.time() if when is None else when, 3)})
        try:
            self._journal.write(line.encode() + b"\n")
            self._journal.flush()
        except OSError as exc:
            self._write_error("the journal", self.journal_path, exc)

    def sync(self) -> None:
        """fsync the journal, then write the results lines it now covers.

        Raises JournalWriteError when either file cannot be written.
        """
        what, path = "the journal", self.journal_path
        try:
            self._journal.flush()
            os.fsync(self._journal.fileno())
            self._last_sync = self._clock()
            what, path = "the results file", self.results_path
            for result in self._pending:
                self._results.writerow(_results_row(result))
            self._pending.clear()
            self._results_file.flush()
        except OSError as exc:
            raise self._write_error(what, path, exc) from None

    def close(self) -> None:
        """Make everything durable and close both files, even when a write fails.

        Raises JournalWriteError once, for the first write that failed here; after
        a write error already raised by :meth:`record` or :meth:`sync` it only closes.
        :attr:`write_error` keeps the first write error either way.
        """
        problem: JournalWriteError | None = None
        if self.write_error is None:
            try:
                self.sync()
            except JournalWriteError as exc:
                problem = exc
        for handle in (self._journal, self._results_file):
            # Closing flushes what is still buffered; after a failed write that fails
            # again, and the file is closed all the same.
            with contextlib.suppress(OSError):
                handle.close()
        if problem is not None:
            raise problem
