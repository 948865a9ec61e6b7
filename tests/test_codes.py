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
    assert 20014 not in REST_FOR_SOAP, "601 and 602 share it: no single twin"


# Adobe's "Error Codes" page: the response-level codes it marks transient (502 "retried with
# exponential backoff", 604/608/611 starred, 614 "temporary inaccessibility", 713 "wait for
# time and then retry") and the record-level codes a Sync Leads answer may carry.
_ADOBE_TRANSIENT = (502, 604, 608, 611, 614, 713)


@pytest.mark.parametrize("code", _ADOBE_TRANSIENT)
def test_adobe_transient_codes_are_retried(code: int) -> None:
    from mktows.rest._parse import rest_error

    error = rest_error(code, "m")
    assert error.retryable, f"Adobe says {code} is transient"
    assert error.fault.rest_code == code


@pytest.mark.parametrize("code", [601, 602, 603, 605, 607, 609, 610, 612, 1003, 1007, 1010])
def test_other_rest_codes_are_not_retried(code: int) -> None:
    from mktows.rest._parse import rest_error

    assert not rest_error(code, "m").retryable


def test_only_adobe_codes_with_adobe_meanings() -> None:
    rest = {row.code: row.message for row in REST_CODES}
    assert 600 not in rest, "600 is not on Adobe's page"
    for other in (1013, 1015, 1016):  # object not found, lead not in list, too many imports
        assert other not in rest, f"{other} means something unrelated to Sync Leads"
    assert rest[1003] == "Invalid data"
    assert rest[1007] == "Multiple leads match the lookup criteria"
    assert rest[1008] == "Access denied to partition"
    assert rest[1010] == "Partition update not allowed"
    assert rest[612] == "Invalid Content Type"
