"""The exception tree of mktows. Pure: imports nothing from httpx, lxml or sqlite3.

Every failure a user can meet is one of these::

    MktowsError
    ├── ValidationError (also ValueError)   bad input, raised before anything is sent
    │   └── ConversionError                 an attribute value does not fit its attrType
    ├── ConfigError (also ValueError)       bad settings: client options, sandbox configuration
    └── RemoteError                         the service or the wire was at fault
        ├── TransportError                  could not talk to the server at all
        │   └── DeadlineExceeded            the call's total deadline ran out
        ├── ResponseError                   the server answered something that is not syncLead
        │   └── ResponseTooLarge            the answer exceeded max_response_bytes
        └── FaultError                      a SOAP fault; .fault and .code say which
            ├── AccessDeniedError           20013
            ├── AuthenticationError         20014
            ├── QuotaExceededError          20015
            ├── RequestExpiredError         20016
            ├── RateLimitError              20023
            ├── ConcurrencyLimitError       20024
            ├── ServiceInternalError        10001, 20011
            ├── LeadNotFoundError           20103
            └── UnknownAttributeError       20105

``error.retryable`` tells whether trying the same call again may succeed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._codes import FAULT_CLASS_NAMES, RETRYABLE_CODES

if TYPE_CHECKING:
    from ._models import Fault

__all__ = [
    "AccessDeniedError",
    "AuthenticationError",
    "ConcurrencyLimitError",
    "ConfigError",
    "ConversionError",
    "DeadlineExceeded",
    "FaultError",
    "LeadNotFoundError",
    "MktowsError",
    "QuotaExceededError",
    "RateLimitError",
    "RemoteError",
    "RequestExpiredError",
    "ResponseError",
    "ResponseTooLarge",
    "ServiceInternalError",
    "TransportError",
    "UnknownAttributeError",
    "ValidationError",
    "fault_error",
]

EXCERPT_LIMIT = 500


def excerpt(body: bytes, limit: int = EXCERPT_LIMIT) -> str:
    """A bounded, printable excerpt of a response body for error messages."""
    text = body[:limit].decode("utf-8", errors="replace")
    text = "".join(ch if ch.isprintable() or ch in "\n\t" else "\ufffd" for ch in text)
    return text + ("…" if len(body) > limit else "")


class MktowsError(Exception):
    """Base class of every error mktows raises."""

    retryable: bool = False


class ValidationError(MktowsError, ValueError):
    """The input cannot be sent as it is; ``field`` names the culprit. Nothing was sent."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def __reduce__(self) -> tuple[Any, ...]:  # keyword-only fields survive pickling
        return (_rebuild, (type(self), (str(self),), {"field": self.field}))


class ConversionError(ValidationError):
    """An attribute value cannot be converted to the Python type its ``attrType`` names."""


class ConfigError(MktowsError, ValueError):
    """Settings that cannot work (a client option, a sandbox configuration file)."""


class RemoteError(MktowsError):
    """The server, a proxy or the network was at fault, not the input.

    ``request_id`` is the REST answer's ``requestId`` (None over SOAP or when the
    answer had none): the evidence Marketo's support asks for.
    """

    request_id: str | None = None


class TransportError(RemoteError):
    """No usable HTTP exchange took place (connection refused, reset, timed out…).

    The underlying httpx exception is kept as ``__cause__``.
    """

    retryable = True


class DeadlineExceeded(TransportError):
    """The call did not finish within the client's total ``deadline`` (retries included)."""


class ResponseError(RemoteError):
    """The server answered, but not with a syncLead response or a SOAP fault.

    ``status_code`` is the HTTP status (None when parsing bytes directly) and
    ``body_excerpt`` the first few hundred characters of the body (``body_read``
    is False when the body was refused unread, e.g. for its announced size).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        body: bytes | None = b"",
    ) -> None:
        self.reason = message
        self.status_code = status_code
        self.body_read = body is not None
        self.body_excerpt = "" if body is None else excerpt(body)
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f"HTTP {self.status_code}: " if self.status_code is not None else ""
        if not self.body_read:
            shown = "; body not read"
        elif self.body_excerpt:
            shown = f"; body starts: {self.body_excerpt!r}"
        else:
            shown = "; body is empty"
        return f"{where}{self.reason}{shown}"

    def __reduce__(self) -> tuple[Any, ...]:
        state = {
            "status_code": self.status_code,
            "body_excerpt": self.body_excerpt,
            "body_read": self.body_read,
        }
        if self.request_id is not None:
            state["request_id"] = self.request_id
        return (_rebuild, (type(self), (self.reason,), state))

    def at_status(self, status_code: int | None) -> ResponseError:
        """The same error, as a new one that also names the HTTP status it came with
        (``self`` unchanged; the cause is kept)."""
        if status_code is None:
            return self
        copy = type(self)(self.reason, status_code=status_code)
        copy.body_excerpt, copy.body_read = self.body_excerpt, self.body_read
        if self.request_id is not None:
            copy.request_id = self.request_id
        copy.args = (copy._describe(),)
        copy.__cause__ = self.__cause__
        return copy

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        # Gateways and overloaded servers answer with HTML; the call itself may be fine.
        return self.status_code in (429, 502, 503, 504)


class ResponseTooLarge(ResponseError):
    """The response body grew past ``max_response_bytes``; reading stopped there."""


class FaultError(RemoteError):
    """The service answered with a SOAP fault.

    ``fault`` is the parsed :class:`~mktows.Fault`; ``code`` its Marketo error
    code (an int, or None for a fault that carries none); ``status_code`` the
    HTTP status it came with.
    """

    def __init__(self, fault: Fault, *, status_code: int | None = None) -> None:
        self.fault = fault
        self.code = fault.code
        self.status_code = status_code
        super().__init__(str(fault))

    def __reduce__(self) -> tuple[Any, ...]:
        state: dict[str, Any] = {"status_code": self.status_code}
        if self.request_id is not None:
            state["request_id"] = self.request_id
        return (_rebuild, (type(self), (self.fault,), state))

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        return self.code in RETRYABLE_CODES


class AccessDeniedError(FaultError):
    """20013: the client is blocked. Not retried."""


class AuthenticationError(FaultError):
    """20014: missing header, unknown user id or bad signature; check the credentials."""


class QuotaExceededError(FaultError):
    """20015: the daily request quota is spent; not retried."""


class RequestExpiredError(FaultError):
    """20016: the timestamp was too old or too far ahead; check the clock. Retried re-signed."""


class RateLimitError(FaultError):
    """20023: more than the allowed calls in the rate window; retried after a backoff."""


class ConcurrencyLimitError(FaultError):
    """20024: too many calls at once; retried after a backoff."""


class ServiceInternalError(FaultError):
    """10001 or 20011: the service failed; retried after a backoff."""


class LeadNotFoundError(FaultError):
    """20103: the given key (usually Id) matched no lead."""


class UnknownAttributeError(FaultError):
    """20105: an attribute name is not a field of the lead."""


def _rebuild(cls: type[MktowsError], args: tuple[Any, ...], state: dict[str, Any]) -> MktowsError:
    """Unpickle an error whose constructor takes keyword-only evidence."""
    error = cls(*args)
    if isinstance(error, ResponseError):
        error.body_excerpt = state.pop("body_excerpt")
        error.body_read = state.pop("body_read")
        error.status_code = state.pop("status_code")
        error.args = (error._describe(),)
    for name, value in state.items():
        setattr(error, name, value)
    return error


_FAULT_CLASSES: dict[int, type[FaultError]] = {
    code: globals()[name] for code, name in FAULT_CLASS_NAMES.items()
}


def fault_error(fault: Fault, *, status_code: int | None = None) -> FaultError:
    """The most specific :class:`FaultError` subclass for ``fault``."""
    cls = _FAULT_CLASSES.get(fault.code, FaultError) if fault.code is not None else FaultError
    return cls(fault, status_code=status_code)
