"""mktows: the Marketo syncLead call, with no SOAP framework.

>>> from mktows import Client, LeadRecord
>>> with Client(endpoint=URL, user_id=USER, encryption_key=KEY) as client:
...     result = client.sync_lead(LeadRecord(email="george@jungle.com",
...                                          attributes={"FirstName": "George"}))
>>> result.status
<SyncStatus.CREATED: 'CREATED'>

Everything here imports relatively and has no import-time side effects, so
the package also works when copied under another package's ``_vendor/``.
"""

from __future__ import annotations

import importlib
import typing

from ._build import build_fault_envelope, build_sync_lead_envelope, build_sync_lead_response
from ._client import AsyncClient, Client
from ._errors import (
    AccessDeniedError,
    AuthenticationError,
    ConcurrencyLimitError,
    ConfigError,
    ConversionError,
    DeadlineExceeded,
    FaultError,
    LeadNotFoundError,
    MktowsError,
    QuotaExceededError,
    RateLimitError,
    RemoteError,
    RequestExpiredError,
    ResponseError,
    ResponseTooLarge,
    ServiceInternalError,
    TransportError,
    UnknownAttributeError,
    ValidationError,
)
from ._models import (
    Attribute,
    Attributes,
    AuthHeader,
    Fault,
    ForeignSysType,
    LeadRecord,
    Secret,
    SyncLeadRequest,
    SyncLeadResult,
    SyncStatus,
)
from ._parse import parse_sync_lead_request, parse_sync_lead_response
from ._retry import RetryPolicy
from ._schema import validate_envelope, wsdl
from ._signing import format_timestamp, sign

if typing.TYPE_CHECKING:
    from .bulk import RateLimiter, Row, RowResult, RowStatus, read_rows, sync_leads
    from .rest import AsyncRestClient, RestClient, RestSettings

__version__ = "0.1.0"

# Loaded on first use: the bulk tools need asyncio (~20 ms at import), and a SOAP-only
# program need not pay for the REST client.
_LAZY = {
    "AsyncRestClient": ".rest",
    "RateLimiter": ".bulk",
    "RestClient": ".rest",
    "RestSettings": ".rest",
    "Row": ".bulk",
    "RowResult": ".bulk",
    "RowStatus": ".bulk",
    "read_rows": ".bulk",
    "sync_leads": ".bulk",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "AccessDeniedError",
    "AsyncClient",
    "AsyncRestClient",
    "Attribute",
    "Attributes",
    "AuthHeader",
    "AuthenticationError",
    "Client",
    "ConcurrencyLimitError",
    "ConfigError",
    "ConversionError",
    "DeadlineExceeded",
    "Fault",
    "FaultError",
    "ForeignSysType",
    "LeadNotFoundError",
    "LeadRecord",
    "MktowsError",
    "QuotaExceededError",
    "RateLimitError",
    "RateLimiter",
    "RemoteError",
    "RequestExpiredError",
    "ResponseError",
    "ResponseTooLarge",
    "RestClient",
    "RestSettings",
    "RetryPolicy",
    "Row",
    "RowResult",
    "RowStatus",
    "Secret",
    "ServiceInternalError",
    "SyncLeadRequest",
    "SyncLeadResult",
    "SyncStatus",
    "TransportError",
    "UnknownAttributeError",
    "ValidationError",
    "__version__",
    "build_fault_envelope",
    "build_sync_lead_envelope",
    "build_sync_lead_response",
    "format_timestamp",
    "parse_sync_lead_request",
    "parse_sync_lead_response",
    "read_rows",
    "sign",
    "sync_leads",
    "validate_envelope",
    "wsdl",
]
