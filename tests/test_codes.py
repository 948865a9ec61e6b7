"""The one table of codes: every derived lookup agrees with SPEC §4 and with the error tree."""

from __future__ import annotations

import pytest

import mktows
from fixtures import SPEC_FAULTS
from mktows import Fault, FaultError
from mktows._codes import (
    CODES,
    FATAL_CODES,
    FAULT_MESSAGES,
    REST_CODES,
    REST_FOR_SOAP,
    REST_TWIN_CODES,
    RETRYABLE_CODES,
    SERVER_CODES,
    Code,
)
from mktows._errors import fault_error


def test_one_row_per_code() -> None:
    soap = [row.code for row in CODES]
    rest = [row.code for row in REST_CODES]
    assert len(soap) == len(set(soap))
    assert len(rest) == len(set(rest))
    assert dict(FAULT_MESSAGES) == {code: text for code, (text, _) in SPEC_FAULTS.items()}


def test_every_rest_twin_is_a_soap_row() -> None:
    assert set(REST_TWIN_CODES.values()) <= set(FAULT_MESSAGES)


@pytest.mark.parametrize("row", CODES, ids=lambda row: str(row.code))
def test_each_row_decides_class_retry_and_side(row: Code) -> None:
    fault = Fault.for_code(row.code)
    error = fault_error(fault)
    assert isinstance(error, FaultError)
    assert type(error) is getattr(mktows, row.error)
    assert error.retryable is row.retryable is (row.code in RETRYABLE_CODES)
    assert (row.code in FATAL_CODES) is row.stops_run
    assert (row.code in SERVER_CODES) is row.server
    assert fault.faultcode == SPEC_FAULTS[row.code][1]


def test_no_code_is_both_retryable_and_fatal() -> None:
    assert not RETRYABLE_CODES & FATAL_CODES


def test_soap_limits_have_one_rest_twin_each() -> None:
    # The sandbox's REST face answers its limiter's SOAP faults with these.
    assert REST_FOR_SOAP[20023] == 606
    assert REST_FOR_SOAP[20024] == 615
    assert REST_FOR_SOAP[20015] == 607
    assert 20014 not in REST_FOR_SOAP, "600, 601 and 602 share it: no single twin"
