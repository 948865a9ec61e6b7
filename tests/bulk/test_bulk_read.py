"""Reading CSV and JSON Lines rows: keys, attributes, mapping, bad rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from mktows import ConfigError, ForeignSysType, ValidationError
from mktows.bulk._read import Row, count_rows, detect_format, lead_from_fields, read_rows


def rows_of(
    tmp_path: Path, name: str, data: bytes, mapping: dict[str, str] | None = None
) -> list[Row]:
    path = tmp_path / name
    path.write_bytes(data)
    return list(read_rows(path, detect_format(path), mapping))


def test_csv_keys_match_case_insensitively_and_empty_cells_are_skipped(tmp_path: Path) -> None:
    data = (
        "\ufeffEMAIL,id,foreignsyspersonid,ForeignSysType,Cookie,FirstName,Company\r\n"
        "a@x.com,,,,,Ann,\r\n"
        ",7,,,,,Jungle\r\n"
        ",,P-1,sfdc,id:123,Pat,\r\n"
    ).encode()
    first, second, third = rows_of(tmp_path, "in.csv", data)
    assert first.number == 2
    assert first.lead is not None
    assert first.lead.email == "a@x.com"
    assert dict(first.lead.attributes) == {"FirstName": "Ann"}  # empty Company not sent
    assert second.lead is not None
    assert second.lead.id == 7
    assert dict(second.lead.attributes) == {"Company": "Jungle"}
    assert third.lead is not None
    assert third.lead.foreign_sys_person_id == "P-1"
    assert third.lead.foreign_sys_type is ForeignSysType.SFDC
    assert third.cookie == "id:123"


def test_csv_quoted_newlines_keep_the_starting_line_number(tmp_path: Path) -> None:
    data = b'Email,Note\na@x.com,"two\nlines"\nb@x.com,one\n\nc@x.com,after blank\n'
    rows = rows_of(tmp_path, "in.csv", data)
    assert [row.number for row in rows] == [2, 4, 6]
    assert rows[0].lead is not None
    assert rows[0].lead.attributes["Note"] == "two\nlines"


def test_mapping_renames_and_drops_columns(tmp_path: Path) -> None:
    data = b"email_address,internal,First\nz@x.com,secret,Zed\n"
    mapping = {"EMAIL_ADDRESS": "Email", "internal": "", "First": "FirstName"}
    (row,) = rows_of(tmp_path, "in.csv", data, mapping)
    assert row.lead is not None
    assert row.lead.email == "z@x.com"
    assert dict(row.lead.attributes) == {"FirstName": "Zed"}


def test_jsonl_values_keep_their_types(tmp_path: Path) -> None:
    data = (
        b'{"Email": "j@x.com", "NumberOfEmployees": 12, "Unsubscribed": false, "Fax": null}\n'
        b"\n"
        b'{"Id": 5, "Score": 1.5}\n'
    )
    first, second = rows_of(tmp_path, "in.ndjson", data)
    assert first.lead is not None
    assert first.lead.attributes.attribute("NumberOfEmployees").type == "integer"
    assert first.lead.attributes["Unsubscribed"] == "false"
    assert "Fax" not in first.lead.attributes
    assert second.number == 3
    assert second.lead is not None
    assert second.lead.id == 5


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        pytest.param("a.csv", b"FirstName\nNo Key\n", "no key", id="csv-no-key"),
        pytest.param("a.csv", b"Id,Email\nabc,\n", "whole number", id="csv-bad-id"),
        pytest.param("a.csv", b"Id\n0\n", "between 1 and", id="csv-id-zero"),
        pytest.param(
            "a.csv",
            b"ForeignSysPersonId,ForeignSysType\nP1,ORACLE\n",
            "ForeignSysType must be one of",
            id="csv-unknown-foreign-type",
        ),
        pytest.param(
            "a.csv", b"ForeignSysPersonId\nP1\n", "needs a ForeignSysType", id="csv-fsp-no-type"
        ),
        pytest.param("a.csv", b"Email,Name\nbad\xff@x.com,Z\n", "not valid UTF-8", id="csv-bytes"),
        pytest.param("a.csv", b"Email,Name\na@x.com,Z,extra\n", "3 fields", id="csv-extra-field"),
        pytest.param("a.csv", b'Email,Name\na@x.com,"open\n', "not valid CSV", id="csv-open-quote"),
        pytest.param("a.csv", b"Email\na\x01@x.com\n", "XML 1.0 cannot carry", id="csv-control"),
        pytest.param("a.jsonl", b'{"Email": \n', "not JSON", id="jsonl-not-json"),
        pytest.param("a.jsonl", b"[1, 2]\n", "not an object", id="jsonl-array"),
        pytest.param(
            "a.jsonl", b'{"Email": "a@x.com", "X": {"y": 1}}\n', "plain value", id="jsonl-nested"
        ),
        pytest.param("a.jsonl", b'{"Id": true}\n', "Id must be an int", id="jsonl-bool-id"),
        pytest.param("a.jsonl", b'{"Email": "  "}\n', "no key", id="jsonl-blank-key"),
        pytest.param(
            "a.jsonl", b'{"email": "a@x.com", "EMAIL": "b@x.com"}\n', "both map", id="jsonl-clash"
        ),
        pytest.param("a.jsonl", b'\xfe{"Email": "a@x.com"}\n', "not valid UTF-8", id="jsonl-bytes"),
    ],
)
def test_bad_rows_carry_their_reason(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    rows = rows_of(tmp_path, name, data)
    assert rows
    assert rows[0].lead is None
    assert rows[0].error is not None
    assert reason in rows[0].error


def test_a_bad_row_does_not_stop_the_reader(tmp_path: Path) -> None:
    data = b"Email\na@x.com\n\xff\xfe\nc@x.com\n"
    rows = rows_of(tmp_path, "in.csv", data)
    assert [(row.number, row.lead is not None) for row in rows] == [
        (2, True),
        (3, False),
        (4, True),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"Email,email\na,b\n", "both map", id="duplicate-columns"),
        pytest.param(b"\xffEmail\n", "header is unreadable", id="undecodable-header"),
        pytest.param(b'"Email\n', "header is unreadable", id="open-quote-header"),
    ],
)
def test_unusable_csv_files_are_config_errors(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        rows_of(tmp_path, "in.csv", data)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        list(read_rows(tmp_path / "nope.csv", "csv"))


@pytest.mark.parametrize(
    ("name", "given", "expected"),
    [
        pytest.param("x.csv", None, "csv", id="csv"),
        pytest.param("x.JSONL", None, "jsonl", id="jsonl-upper"),
        pytest.param("x.ndjson", None, "jsonl", id="ndjson"),
        pytest.param("x.txt", "csv", "csv", id="given-wins"),
    ],
)
def test_detect_format(name: str, given: str | None, expected: str) -> None:
    assert detect_format(name, given) == expected


@pytest.mark.parametrize(
    ("name", "given"),
    [pytest.param("x.txt", None, id="unknown-extension"), pytest.param("x.csv", "xml", id="bad")],
)
def test_detect_format_refuses(name: str, given: str | None) -> None:
    with pytest.raises(ConfigError):
        detect_format(name, given)


@pytest.mark.parametrize(
    ("data", "fmt", "expected"),
    [
        pytest.param(b"Email\na\nb\n", "csv", 2, id="csv"),
        pytest.param(b"Email\na\nb", "csv", 2, id="csv-no-final-newline"),
        pytest.param(b"", "csv", 0, id="empty"),
        pytest.param(b"{}\n{}\n{}", "jsonl", 3, id="jsonl"),
    ],
)
def test_count_rows(tmp_path: Path, data: bytes, fmt: str, expected: int) -> None:
    path = tmp_path / "f"
    path.write_bytes(data)
    assert count_rows(path, fmt) == expected


def test_lead_from_fields_for_one_lead() -> None:
    lead, cookie = lead_from_fields({"email": "g@jungle.com", "FirstName": "George", "cookie": 42})
    assert lead.email == "g@jungle.com"
    assert cookie == "42"
    with pytest.raises(ValidationError):
        lead_from_fields({"FirstName": "George"})
