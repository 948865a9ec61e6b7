"""The xs: value codec: what a value of each attrType is, shared by client and sandbox."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from mktows._values import TYPED, typed_value


@pytest.mark.parametrize(
    ("attr_type", "text", "expected"),
    [
        pytest.param("integer", " 42 ", 42, id="integer"),
        pytest.param("Score", "-3", -3, id="score-any-case"),
        pytest.param("boolean", "0", False, id="boolean"),
        pytest.param("percent", "12.5", 12.5, id="percent"),
        pytest.param("currency", "10.10", Decimal("10.10"), id="currency"),
        pytest.param("date", "2013-07-31", dt.date(2013, 7, 31), id="date"),
        pytest.param("string", "as is ", "as is ", id="untyped-kept"),
        pytest.param(None, "x", "x", id="no-type"),
        pytest.param("integer", "  ", None, id="empty-typed-is-none"),
    ],
)
def test_typed_value(attr_type: str | None, text: str, expected: object) -> None:
    assert typed_value(attr_type, text) == expected


@pytest.mark.parametrize(
    ("attr_type", "text"),
    [
        pytest.param("integer", "lots", id="integer-word"),
        pytest.param("integer", "1_000", id="integer-underscore"),
        pytest.param("boolean", "maybe", id="boolean-word"),
        pytest.param("date", "yesterday", id="date-word"),
        pytest.param("datetime", "2013-07-31 12:00", id="datetime-space"),
        pytest.param("currency", "1e9999999999999999999999999", id="currency-exponent-overflow"),
    ],
)
def test_values_that_do_not_fit_raise_value_error(attr_type: str, text: str) -> None:
    with pytest.raises(ValueError, match=re.escape(text[:8])):
        typed_value(attr_type, text)


def test_typed_types_are_the_checked_ones() -> None:
    assert {
        "integer",
        "score",
        "float",
        "currency",
        "percent",
        "boolean",
        "date",
        "datetime",
    } == TYPED
