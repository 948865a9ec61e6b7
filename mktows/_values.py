"""The xs: value codec: Python values to attrValue text, and attrValue text back to
Python values by attrType (SPEC §1). Pure: no XML, no I/O, no clock.

Both the client (``Attribute.typed_value``) and the sandbox (which refuses values that
do not fit a typed field, on both faces) decide here what a value of each type is.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from ._errors import ValidationError

__all__ = [
    "TYPED",
    "AttrValue",
    "TypedValue",
    "parse_w3c_date",
    "parse_w3c_datetime",
    "to_wire",
    "typed_value",
]

AttrValue = str | int | float | Decimal | bool | dt.date | dt.datetime
TypedValue = str | int | float | Decimal | bool | dt.date | dt.datetime | None

_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


def to_wire(name: str, value: object) -> tuple[str, str]:
    """A non-str Python value as (attrValue text, inferred attrType)."""
    if isinstance(value, bool):  # before int: bool is an int
        return ("true" if value else "false"), "boolean"
    if isinstance(value, int):
        return str(value), "integer"
    if isinstance(value, (float, Decimal)):
        return str(value), "float"
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValidationError(
                f"attribute {name!r}: a datetime value must be timezone-aware (give it a tzinfo)",
                field=name,
            )
        return value.isoformat(), "datetime"
    if isinstance(value, dt.date):
        return value.isoformat(), "date"
    raise ValidationError(
        f"attribute {name!r}: unsupported value type {type(value).__name__}; "
        "give a str, int, float, Decimal, bool, date or aware datetime",
        field=name,
    )


# xs:date / xs:dateTime lexical forms only, the same on every Python version
# (fromisoformat() alone accepts more from 3.11 on, and fewer fraction lengths before).
_W3C_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_W3C_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(Z|z|[+-][0-9]{2}:[0-9]{2})?"
)


def parse_w3c_date(text: str) -> dt.date:
    """An xs:date (``2013-07-31``); ValueError for anything else."""
    found = _W3C_DATE.fullmatch(text)
    if found is None:
        raise ValueError(f"not a date: {text[:40]!r}")
    return dt.date(*(int(part) for part in found.groups()))


def parse_w3c_datetime(text: str) -> dt.datetime:
    """An xs:dateTime (``2013-07-31T12:38:47.5-07:00``, ``Z`` or an offset, or none: then
    naive); ValueError for anything else."""
    found = _W3C_DATETIME.fullmatch(text)
    if found is None:
        raise ValueError(f"not a date-time: {text[:40]!r}")
    year, month, day, hour, minute, second, fraction, offset = found.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tz = None
    if offset in ("Z", "z"):
        tz = dt.timezone.utc
    elif offset:
        minutes = int(offset[1:3]) * 60 + int(offset[4:6])
        tz = dt.timezone(dt.timedelta(minutes=-minutes if offset[0] == "-" else minutes))
    return dt.datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=tz
    )


def _parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(text)


# xs:int / xs:decimal / xs:double lexical forms: no "1_000", no non-ASCII digits.
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _strict(
    pattern: re.Pattern[str], convert: Callable[[str], TypedValue]
) -> Callable[[str], TypedValue]:
    def parse(text: str) -> TypedValue:
        if pattern.fullmatch(text) is None:
            raise ValueError(text)
        return convert(text)

    return parse


_CONVERTERS: dict[str, Callable[[str], TypedValue]] = {
    "integer": _strict(_INTEGER, int),
    "score": _strict(_INTEGER, int),
    "boolean": _parse_bool,
    "float": _strict(_DECIMAL, float),
    "percent": _strict(_DECIMAL, float),
    "currency": _strict(_DECIMAL, Decimal),
    "date": parse_w3c_date,
    "datetime": parse_w3c_datetime,
}


TYPED = frozenset(_CONVERTERS)  # the attrTypes whose values have a lexical form to check


def typed_value(attr_type: str | None, text: str) -> TypedValue:
    """``text`` converted by ``attr_type``: integer/score -> int, boolean -> bool,
    float/percent -> float, currency -> Decimal, date, datetime; any other type -> the
    text itself. Empty text of a typed field is None. ValueError when it does not fit.
    """
    convert = _CONVERTERS.get((attr_type or "").lower())
    if convert is None:
        return text
    if not text.strip():
        return None
    try:
        return convert(text.strip())
    except (ArithmeticError, InvalidOperation) as exc:
        raise ValueError(text) from exc
