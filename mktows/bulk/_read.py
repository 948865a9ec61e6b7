"""Reading leads for bulk sync from CSV and JSON Lines, one row at a time.

Streams: never holds more than one record of the file. Never sends anything.
A bad row becomes a :class:`Row` carrying its reason; it never stops the reader.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from .._errors import ConfigError, ValidationError
from .._models import LeadRecord, check_sync_keys

__all__ = ["FORMATS", "Row", "count_rows", "detect_format", "lead_from_fields", "read_rows"]

FORMATS = ("csv", "jsonl")
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}

# Key columns, matched case-insensitively; every other column is an attribute.
KEY_COLUMNS: Mapping[str, str] = {
    "id": "Id",
    "email": "Email",
    "foreignsyspersonid": "ForeignSysPersonId",
    "foreignsystype": "ForeignSysType",
    "cookie": "cookie",
    "marketocookie": "cookie",
}


Keys = tuple[str, str, str]  # the row's Id, Email and ForeignSysPersonId as read ("" if none)
NO_KEYS: Keys = ("", "", "")


@dataclass(frozen=True, slots=True)
class Row:
    """One input row: its number (the file line it starts on), and either the
    lead to send (with its Munchkin ``cookie``) or the ``error`` that makes it invalid.
    ``keys`` are its Id, Email and ForeignSysPersonId as read, for the results file.
    """

    number: int
    lead: LeadRecord | None = None
    cookie: str | None = None
    error: str | None = None
    keys: Keys = NO_KEYS

    @property
    def key_columns(self) -> Keys:
        """The row's Id, Email and ForeignSysPersonId: as read, else from its lead."""
        if self.keys != NO_KEYS or self.lead is None:
            return self.keys
        lead = self.lead
        return (
            "" if lead.id is None else str(lead.id),
            lead.email or "",
            lead.foreign_sys_person_id or "",
        )


def detect_format(path: str | os.PathLike[str], given: str | None = None) -> str:
    """``given`` if set, else the format named by the file's extension; ConfigError if neither."""
    if given:
        if given not in FORMATS:
            raise ConfigError(f"unknown format {given!r}; use one of {', '.join(FORMATS)}")
        return given
    suffix = Path(path).suffix.lower()
    try:
        return _EXTENSIONS[suffix]
    except KeyError:
        raise ConfigError(
            f"cannot tell the format of {os.fspath(path)!r} from its extension; "
            "name it .csv, .jsonl or .ndjson, or pass --format csv|jsonl"
        ) from None


def count_rows(path: str | os.PathLike[str], fmt: str) -> int:
    """The number of data lines in the file, by a fast byte scan (a header line excluded).

    An estimate for CSV files whose quoted fields span lines, or with blank lines.
    """
    lines = 0
    last = b"\n"
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        lines += 1
    if fmt == "csv":
        lines -= 1
    return max(lines, 0)


class _Columns:
    """The header after ``--map``: for each source column, its key name or attribute name."""

    def __init__(self, names: Iterable[str], mapping: Mapping[str, str]) -> None:
        folded = {src.casefold(): dest for src, dest in mapping.items()}
        seen: dict[str, str] = {}
        self.targets: list[tuple[str, str] | None] = []  # (kind, name); None = dropped
        for name in names:
            dest = mapping.get(name, folded.get(name.strip().casefold(), name.strip()))
            if not dest:
                self.targets.append(None)
                continue
            key = KEY_COLUMNS.get(dest.casefold())
            target = ("key", key) if key else ("attr", dest)
            ident = target[1].casefold() if key else target[1]
            if ident in seen:
                raise ConfigError(
                    f"columns {seen[ident]!r} and {name!r} both map to {target[1]!r}; "
                    "rename one with --map SRC=DEST, or drop it with --map SRC="
                )
            seen[ident] = name
            self.targets.append(target)


def lead_from_fields(
    fields: Mapping[str, object], mapping: Mapping[str, str] | None = None
) -> tuple[LeadRecord, str | None]:
    """A lead and its cookie from one record (column -> value); ValidationError if unusable.

    Key columns (Id, Email, ForeignSysPersonId, ForeignSysType, cookie) match
    case-insensitively; every other column is an attribute. ``None`` values are
    skipped; an empty key counts as absent.
    """
    columns = _Columns(fields, mapping or {})
    return _build(columns, list(fields.values()))


def _build(columns: _Columns, values: list[object]) -> tuple[LeadRecord, str | None]:
    keys: dict[str, object] = {}
    attributes: dict[str, str | int | float | bool] = {}
    for target, value in zip(columns.targets, values, strict=True):
        if target is None or value is None:
            continue
        kind, name = target
        if isinstance(value, (dict, list)):
            raise ValidationError(
                f"{name} must be a plain value, not a JSON {type(value).__name__}"
            )
        if kind == "key":
            if not (isinstance(value, str) and not value.strip()):
                keys[name] = value.strip() if isinstance(value, str) else value
        else:
            assert isinstance(value, (str, int, float, bool))
            attributes[name] = value
    cookie = keys.pop("cookie", None)
    text = {name: str(value) for name, value in keys.items() if name != "Id"}
    if "ForeignSysType" in text:  # the wire wants upper case; files often have "sfdc"
        text["ForeignSysType"] = text["ForeignSysType"].upper()
    lead = LeadRecord(
        id=cast("int | str | None", keys.get("Id")),  # LeadRecord checks the type itself
        email=text.get("Email"),
        foreign_sys_person_id=text.get("ForeignSysPersonId"),
        foreign_sys_type=text.get("ForeignSysType"),
        attributes=attributes,
    )
    if lead.id is None and lead.email is None and lead.foreign_sys_person_id is None:
        raise ValidationError(
            "no key: give Id, Email or ForeignSysPersonId (with ForeignSysType)",
            field="leadRecord",
        )
    check_sync_keys(lead)
    return lead, None if cookie is None else str(cookie)


_KEY_ORDER = {"Id": 0, "Email": 1, "ForeignSysPersonId": 2}


def _key_text(columns: _Columns, values: list[object]) -> Keys:
    """The key columns of a row, as text, whatever else is wrong with it."""
    found = ["", "", ""]
    for target, value in zip(columns.targets, values, strict=True):
        usable = value is not None and not isinstance(value, (dict, list))
        if usable and target is not None and target[0] == "key" and target[1] in _KEY_ORDER:
            found[_KEY_ORDER[target[1]]] = str(value).strip()
    return found[0], found[1], found[2]


def _row(number: int, columns: _Columns, values: list[object]) -> Row:
    try:
        lead, cookie = _build(columns, values)
    except ValidationError as exc:
        return Row(number, error=str(exc), keys=_key_text(columns, values))
    return Row(number, lead=lead, cookie=cookie)


def _decode(line: bytes, number: int, first: bool) -> tuple[str, str | None]:
    try:
        return line.decode("utf-8-sig" if first else "utf-8"), None
    except UnicodeDecodeError as exc:
        bad = line[exc.start : exc.start + 1].hex()
        reason = f"line {number} is not valid UTF-8 (byte 0x{bad} at position {exc.start})"
        return line.decode("utf-8", "replace"), reason


def read_rows(
    path: str | os.PathLike[str],
    fmt: str,
    mapping: Mapping[str, str] | None = None,
) -> Iterator[Row]:
    """Yield the rows of a CSV (with a header line) or JSON Lines file, in file order.

    ``mapping`` renames source columns (``{"email_address": "Email"}``; an empty
    destination drops the column). Raises ConfigError for a file that cannot be
    read at all (missing, no header, clashing columns); a bad row is yielded
    with its ``error``.
    """
    try:
        handle = open(path, "rb")  # noqa: SIM115  # closed by the generator's finally
    except OSError as exc:
        raise ConfigError(f"cannot read {os.fspath(path)!r}: {exc.strerror}") from None
    with handle:
        if fmt == "csv":
            yield from _read_csv(handle, mapping or {})
        else:
            yield from _read_jsonl(handle, mapping or {})


def _read_jsonl(handle: BinaryIO, mapping: Mapping[str, str]) -> Iterator[Row]:
    for number, raw in enumerate(handle, start=1):
        text, bad = _decode(raw, number, number == 1)
        if bad:
            yield Row(number, error=bad)
            continue
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            yield Row(number, error=f"line {number} is not JSON: {exc}")
            continue
        if not isinstance(record, dict):
            yield Row(
                number, error=f"line {number} is a JSON {type(record).__name__}, not an object"
            )
            continue
        try:
            columns = _Columns(record, mapping)
        except ConfigError as exc:
            yield Row(number, error=str(exc))
            continue
        yield _row(number, columns, list(record.values()))


class _Lines:
    """Decoded lines for the csv module, remembering the line count and any undecodable line."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.count = 0
        self.bad: str | None = None

    def __iter__(self) -> Iterator[str]:
        for raw in self._handle:
            self.count += 1
            text, bad = _decode(raw, self.count, self.count == 1)
            if bad and self.bad is None:
                self.bad = bad
            yield text


def _read_csv(handle: BinaryIO, mapping: Mapping[str, str]) -> Iterator[Row]:
    lines = _Lines(handle)
    reader = csv.reader(iter(lines), strict=True)
    header: list[str] | None = None
    while True:
        start = lines.count + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if header is None:
                raise ConfigError(f"the CSV header is unreadable: {exc}") from None
            lines.bad = None
            yield Row(start, error=f"line {start}: not valid CSV: {exc}")
            continue
        if not record:
            lines.bad = None
            continue
        if header is None:
            if lines.bad:
                raise ConfigError(f"the CSV header is unreadable: {lines.bad}")
            header = record
            columns = _Columns(header, mapping)
            continue
        bad, lines.bad = lines.bad, None
        if bad:
            yield Row(start, error=bad)
        elif len(record) != len(header):
            yield Row(
                start,
                error=f"line {start} has {len(record)} fields but the header has {len(header)}",
            )
        else:
            yield _row(start, columns, [value or None for value in record])
    if header is None:
        raise ConfigError("the CSV file is empty: it needs a header line naming the columns")
