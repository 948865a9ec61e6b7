"""Timestamps and request signatures (SPEC §2)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import pytest
from support import KEY

from mktows import ValidationError
from mktows._signing import format_timestamp, parse_timestamp, sign, verify

USER = "bigcorp1_461839624B16E06BA2D663"
STAMP = "2010-04-09T14:04:54-07:00"
EXPECTED = "ffbff4d4bef354807481e66dc7540f7890523a87"


def tz(hours: int = 0, minutes: int = 0) -> dt.timezone:
    return dt.timezone(dt.timedelta(hours=hours, minutes=minutes))


def test_known_good_vector() -> None:
    assert sign(STAMP, USER, KEY) == EXPECTED


def test_signature_is_hmac_sha1_of_timestamp_then_user() -> None:
    user, key, stamp = "ü_user", "clé", "2024-02-29T23:59:59+05:30"
    expected = hmac.new(key.encode(), (stamp + user).encode(), hashlib.sha1).hexdigest()
    assert sign(stamp, user, key) == expected
    assert sign(stamp, user, key) != sign(stamp, user, key + "x")
    assert sign(stamp, user, key) != sign(user, stamp, key)  # order matters


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        pytest.param(
            dt.datetime(2013, 7, 31, 19, 38, 47, tzinfo=dt.timezone.utc),
            "2013-07-31T19:38:47+00:00",
            id="utc",
        ),
        pytest.param(
            dt.datetime(2013, 7, 31, 12, 38, 47, tzinfo=tz(-7)),
            "2013-07-31T12:38:47-07:00",
            id="minus-7",
        ),
        pytest.param(
            dt.datetime(2013, 7, 31, 12, 38, 47, tzinfo=tz(5, 30)),
            "2013-07-31T12:38:47+05:30",
            id="plus-5-30",
        ),
        pytest.param(
            dt.datetime(2013, 7, 31, 12, 38, 47, tzinfo=tz(-9, -30)),
            "2013-07-31T12:38:47-09:30",
            id="minus-9-30",
        ),
        pytest.param(
            dt.datetime(2013, 7, 31, 12, 38, 47, tzinfo=tz(0, -30)),
            "2013-07-31T12:38:47-00:30",
            id="minus-0-30",
        ),
        pytest.param(
            dt.datetime(2013, 7, 31, 12, 38, 47, tzinfo=tz(14)),
            "2013-07-31T12:38:47+14:00",
            id="plus-14",
        ),
        pytest.param(
            dt.datetime(2013, 7, 31, 12, 38, 47, 999_999, tzinfo=dt.timezone.utc),
            "2013-07-31T12:38:47+00:00",
            id="microseconds-dropped",
        ),
    ],
)
def test_format_timestamp(when: dt.datetime, expected: str) -> None:
    assert format_timestamp(when) == expected
    assert parse_timestamp(expected) == when.replace(microsecond=0)


def test_format_timestamp_pads_the_year() -> None:
    when = dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc)
    assert format_timestamp(when) == "0001-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    "when",
    [
        pytest.param(dt.datetime(2013, 7, 31, 12, 38, 47), id="naive"),
        pytest.param(dt.date(2013, 7, 31), id="date"),
        pytest.param("2013-07-31T12:38:47-07:00", id="str"),
        pytest.param(None, id="none"),
    ],
)
def test_format_timestamp_refuses(when: object) -> None:
    with pytest.raises(ValidationError) as info:
        format_timestamp(when)  # type: ignore[arg-type]
    assert info.value.field == "timestamp"
    assert "datetime" in str(info.value) or "timezone" in str(info.value)


@pytest.mark.parametrize(
    ("text", "offset_minutes"),
    [
        pytest.param("2013-07-31T12:38:47-07:00", -420, id="minus-7"),
        pytest.param("2013-07-31T19:38:47Z", 0, id="Z"),
        pytest.param("2013-07-31T19:38:47z", 0, id="lowercase-z"),
        pytest.param("2013-07-31T19:38:47+00:00", 0, id="plus-zero"),
        pytest.param("2013-08-01T01:08:47+05:30", 330, id="plus-5-30"),
        pytest.param("  2013-07-31T12:38:47-07:00\n", -420, id="padded"),
        pytest.param("2013-07-31T19:38:47.250Z", 0, id="fraction"),
    ],
)
def test_parse_timestamp(text: str, offset_minutes: int) -> None:
    when = parse_timestamp(text)
    assert when.utcoffset() == dt.timedelta(minutes=offset_minutes)
    assert when.astimezone(dt.timezone.utc).replace(microsecond=0) == dt.datetime(
        2013, 7, 31, 19, 38, 47, tzinfo=dt.timezone.utc
    )


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("2013-07-31T12:38:47", id="naive"),
        pytest.param("yesterday", id="garbage"),
        pytest.param("", id="empty"),
        pytest.param("2013-13-31T12:38:47Z", id="bad-month"),
    ],
)
def test_parse_timestamp_refuses(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the documented contract is ValueError
        parse_timestamp(text)


def test_parse_timestamp_names_missing_offset() -> None:
    with pytest.raises(ValueError, match="no offset"):
        parse_timestamp("2013-07-31T12:38:47")


@pytest.mark.parametrize(
    ("signature", "expected"),
    [
        pytest.param(EXPECTED, True, id="exact"),
        pytest.param(EXPECTED.upper(), True, id="uppercase"),
        pytest.param(f"  {EXPECTED}\n", True, id="padded"),
        pytest.param(EXPECTED[:-1] + "0", False, id="one-digit-off"),
        pytest.param(EXPECTED[:-1], False, id="short"),
        pytest.param("", False, id="empty"),
        pytest.param("ßignaturé☃" * 4, False, id="non-ascii"),
        pytest.param("\ud800" * 40, False, id="lone-surrogates"),
        pytest.param("\x00" * 40, False, id="nul"),
    ],
)
def test_verify(signature: str, expected: bool) -> None:
    assert verify(signature, STAMP, USER, KEY) is expected


@pytest.mark.parametrize(
    ("stamp", "user", "key"),
    [
        pytest.param("2010-04-09T14:04:55-07:00", USER, KEY, id="other-timestamp"),
        pytest.param(STAMP, USER + "x", KEY, id="other-user"),
        pytest.param(STAMP, USER, KEY.lower(), id="other-key"),
    ],
)
def test_verify_binds_every_input(stamp: str, user: str, key: str) -> None:
    assert verify(EXPECTED, stamp, user, key) is False


@pytest.mark.parametrize("text", ["2013-07-31T12:38:47", "20130731T123847-07:00", "yesterday"])
def test_parse_timestamp_refuses_what_is_not_w3c_with_an_offset(text: str) -> None:
    with pytest.raises(ValueError, match=r"offset|not a date-time"):
        parse_timestamp(text)


def test_sign_refuses_an_unencodable_key_without_showing_it() -> None:
    with pytest.raises(ValidationError) as info:
        sign("2010-04-09T14:04:54-07:00", "user", "k\ud800-SECRETPART")
    assert info.value.field == "encryption_key"
    assert "SECRETPART" not in str(info.value)
    assert info.value.__context__ is None  # no UnicodeEncodeError (which holds the key) chained
