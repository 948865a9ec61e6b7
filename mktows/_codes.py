"""The one table of fault and REST codes: what each means and how every layer treats it.

Each code is one row; the lookups the rest of mktows uses (messages, retryable codes,
codes that stop a bulk run, REST -> SOAP twins) are derived from it here, so that making
a code transient is one edit. Pure data: no I/O, no imports beyond the standard library.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "CODES",
    "FATAL_CODES",
    "FAULT_CLASS_NAMES",
    "FAULT_MESSAGES",
    "REST_CODES",
    "REST_FOR_SOAP",
    "REST_MESSAGES",
    "REST_TWIN_CODES",
    "RETRYABLE_CODES",
    "SERVER_CODES",
    "TOKEN_CODES",
    "UNKNOWN_TWIN_CODE",
    "Code",
    "RestCode",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Code:
    """A SOAP fault code (SPEC §4).

    ``retryable``: the same call may succeed later (the clients back off and retry);
    ``stops_run``: no later call of a bulk run can succeed either (credentials, quota);
    ``server``: Marketo sends it as ``SOAP-ENV:Server``; ``error``: the name of the
    :class:`~mktows.FaultError` subclass raised for it.
    """

    code: int
    message: str
    retryable: bool = False
    stops_run: bool = False
    server: bool = False
    error: str = "FaultError"


@dataclass(frozen=True, slots=True, kw_only=True)
class RestCode:
    """A REST API code (SPEC §7): its message and its SOAP ``twin``, the fault code with
    the same meaning, whose row decides retries and the error class. ``None``: no twin
    (reported as 20106 Lead Sync Failed, not retried)."""

    code: int
    message: str
    twin: int | None


CODES: tuple[Code, ...] = (
    Code(code=10001, message="Internal Error", retryable=True, server=True,
         error="ServiceInternalError"),
    Code(code=20011, message="Internal Error", retryable=True, server=True,
         error="ServiceInternalError"),
    Code(code=20012, message="Request Not Understood"),
    Code(code=20013, message="Access Denied", stops_run=True, error="AccessDeniedError"),
    Code(code=20014, message="Authentication failed", stops_run=True,
         error="AuthenticationError"),
    Code(code=20015, message="Request Limit Exceeded", stops_run=True,
         error="QuotaExceededError"),
    Code(code=20016, message="Request Expired", retryable=True, error="RequestExpiredError"),
    Code(code=20017, message="Invalid Request"),
    Code(code=20019, message="Unsupported Operation"),
    Code(code=20023, message="Rate Limit Exceeded", retryable=True, error="RateLimitError"),
    Code(code=20024, message="Concurrency Limit Exceeded", retryable=True,
         error="ConcurrencyLimitError"),
    Code(code=20103, message="Lead Not Found", error="LeadNotFoundError"),
    Code(code=20105, message="Lead Attribute Bad", error="UnknownAttributeError"),
    Code(code=20106, message="Lead Sync Failed", server=True),
    Code(code=20109, message="Parameter Required"),
    Code(code=20110, message="Bad Parameter"),
)  # fmt: skip

# Messages as Adobe's error-codes page gives them ("Error Codes": response-level 5xx/6xx/7xx
# and record-level 1xxx tables); a row's retryability is its twin's. 600 is no Adobe code.
REST_CODES: tuple[RestCode, ...] = (
    RestCode(code=502, message="Bad Gateway", twin=20011),  # "retried with exponential backoff"
    RestCode(code=601, message="Access token invalid", twin=20014),
    RestCode(code=602, message="Access token expired", twin=20014),
    RestCode(code=603, message="Access denied", twin=20013),
    RestCode(code=604, message="Request time-out", twin=20011),
    RestCode(code=605, message="HTTP Method not supported", twin=20012),
    RestCode(code=606, message="Max rate limit exceeded", twin=20023),
    RestCode(code=607, message="Daily quota reached", twin=20015),
    RestCode(code=608, message="API Temporarily Unavailable", twin=20011),
    RestCode(code=609, message="Invalid JSON", twin=20012),
    RestCode(code=610, message="Requested resource not found", twin=20012),
    RestCode(code=611, message="System error", twin=20011),
    RestCode(code=612, message="Invalid Content Type", twin=20012),
    RestCode(code=614, message="Invalid Subscription", twin=20011),  # "temporary inaccessibility"
    RestCode(code=615, message="Concurrent access limit reached", twin=20024),
    RestCode(code=701, message="cannot be blank", twin=20109),
    RestCode(code=713, message="Transient Error", twin=20011),  # "wait ... and then retry"
    RestCode(code=1001, message="Invalid value", twin=20110),
    RestCode(code=1002, message="Missing value for the required parameter", twin=20109),
    RestCode(code=1003, message="Invalid data", twin=20110),
    RestCode(code=1004, message="Lead not found", twin=20103),
    RestCode(code=1005, message="Lead already exists", twin=None),
    RestCode(code=1006, message="Field not found", twin=20105),
    RestCode(code=1007, message="Multiple leads match the lookup criteria", twin=None),
    RestCode(code=1008, message="Access denied to partition", twin=None),
    RestCode(code=1009, message="Partition name must be specified", twin=None),
    RestCode(code=1010, message="Partition update not allowed", twin=None),
    RestCode(code=1011, message="Field not supported", twin=None),
    RestCode(code=1012, message="Invalid cookie value", twin=None),
)

UNKNOWN_TWIN_CODE = 20106  # Lead Sync Failed: not retried
TOKEN_CODES = frozenset({601, 602})  # renew the token and retry once

FAULT_MESSAGES: Mapping[int, str] = MappingProxyType({row.code: row.message for row in CODES})
SERVER_CODES = frozenset(row.code for row in CODES if row.server)
RETRYABLE_CODES = frozenset(row.code for row in CODES if row.retryable)
FATAL_CODES = frozenset(row.code for row in CODES if row.stops_run)
FAULT_CLASS_NAMES: Mapping[int, str] = MappingProxyType(
    {row.code: row.error for row in CODES if row.error != "FaultError"}
)
REST_MESSAGES: Mapping[int, str] = MappingProxyType({row.code: row.message for row in REST_CODES})
REST_TWIN_CODES: Mapping[int, int] = MappingProxyType(
    {row.code: row.twin for row in REST_CODES if row.twin is not None}
)


def _rest_for_soap() -> dict[int, int]:
    """SOAP code -> the one REST code with that meaning, where there is exactly one."""
    found: dict[int, list[int]] = {}
    for rest, twin in REST_TWIN_CODES.items():
        found.setdefault(twin, []).append(rest)
    return {twin: codes[0] for twin, codes in found.items() if len(codes) == 1}


REST_FOR_SOAP: Mapping[int, int] = MappingProxyType(_rest_for_soap())
