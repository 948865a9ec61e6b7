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
    SyncLeadRequest,
    SyncLeadResult,
    SyncStatus,
)
from ._parse import parse_sync_lead_request, parse_sync_lead_response
from ._retry import RetryPolicy
from ._schema import validate_envelope, wsdl
from ._signing import format_timestamp, sign

__version__ = "0.1.0"

__all__ = [
    "AccessDeniedError",
    "AsyncClient",
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
    "RemoteError",
    "RequestExpiredError",
    "ResponseError",
    "ResponseTooLarge",
    "RetryPolicy",
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
    "sign",
    "validate_envelope",
    "wsdl",
]
