"""The exception tree: evidence carried, bounded excerpts, retryability (SPEC §4)."""

from __future__ import annotations

import datetime as dt
import pickle

import pytest
from support import KEY

import mktows
from mktows import (
    AccessDeniedError,
    AuthenticationError,
    ConcurrencyLimitError,
    ConfigError,
    ConversionError,
    DeadlineExceeded,
    Fault,
    FaultError,
    LeadNotFoundError,
    LeadRecord,
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
    build_sync_lead_envelope,
)
from mktows._errors import EXCERPT_LIMIT, excerpt


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(b"", "", id="empty"),
        pytest.param(b"<html>502</html>", "<html>502</html>", id="short"),
        pytest.param(b"a\tb\nc", "a\tb\nc", id="tab-newline-kept"),
        pytest.param(b"a\rb\x00c\x1bd\x7f", "a\ufffdb\ufffdc\ufffdd\ufffd", id="controls-replaced"),
        pytest.param(b"ok \xff\xfe bad", "ok \ufffd\ufffd bad", id="invalid-utf8"),
        pytest.param("é東🌴".encode(), "é東🌴", id="utf8"),
    ],
)
def test_excerpt(body: bytes, expected: str) -> None:
    assert excerpt(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"x" * 10_000, id="ascii"),
        pytest.param("東".encode() * 4_000, id="multibyte-split"),
        pytest.param(b"\x00" * 600, id="nul"),
        pytest.param(b"y" * (EXCERPT_LIMIT + 1), id="one-over"),
    ],
)
def test_excerpt_is_bounded_and_printable(body: bytes) -> None:
    text = excerpt(body)
    assert len(text) <= EXCERPT_LIMIT + 1
    assert text.endswith("…")
    assert all(ch.isprintable() or ch in "\n\t" for ch in text)


def test_excerpt_at_limit_has_no_ellipsis() -> None:
    assert excerpt(b"z" * EXCERPT_LIMIT) == "z" * EXCERPT_LIMIT


def test_response_error_carries_evidence() -> None:
    body = b"<html><body>Bad Gateway</body></html>" + b" " * 2000
    err = ResponseError("not a SOAP envelope", body=body)
    assert err.status_code is None
    assert err.reason == "not a SOAP envelope"
    assert err.body_excerpt.startswith("<html><body>Bad Gateway")
    assert len(err.body_excerpt) <= EXCERPT_LIMIT + 1
    assert str(err).startswith("not a SOAP envelope; body starts: '<html>")
    assert err.at_status(None) is err
    cause = ValueError("underneath")
    err.__cause__ = cause
    at_502 = err.at_status(502)
    assert at_502 is not err
    assert err.status_code is None, "the original error is left as it was"
    assert type(at_502) is ResponseError
    assert at_502.status_code == 502
    assert at_502.body_excerpt == err.body_excerpt
    assert at_502.__cause__ is cause
    assert str(at_502).startswith("HTTP 502: not a SOAP envelope; body starts:")
    assert at_502.args == (str(at_502),)
    unread = ResponseError("too large", body=None).at_status(200)
    assert not unread.body_read
    assert str(unread) == "HTTP 200: too large; body not read"


def test_response_error_empty_body() -> None:
    err = ResponseError("empty body where a SOAP envelope was expected", status_code=200)
    assert str(err) == "HTTP 200: empty body where a SOAP envelope was expected; body is empty"
    assert err.body_excerpt == ""


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        pytest.param(None, False, id="none"),
        pytest.param(200, False, id="200"),
        pytest.param(400, False, id="400"),
        pytest.param(429, True, id="429"),
        pytest.param(500, False, id="500"),
        pytest.param(502, True, id="502"),
        pytest.param(503, True, id="503"),
        pytest.param(504, True, id="504"),
    ],
)
def test_response_error_retryable_by_status(status: int | None, retryable: bool) -> None:
    assert ResponseError("x", status_code=status).retryable is retryable
    assert ResponseTooLarge("x", status_code=status).retryable is retryable


# SPEC §4: which codes may be retried, and the class each one maps to.
FAULT_TABLE = [
    (10001, ServiceInternalError, True),
    (20011, ServiceInternalError, True),
    (20012, FaultError, False),
    (20013, AccessDeniedError, False),
    (20014, AuthenticationError, False),
    (20015, QuotaExceededError, False),
    (20016, RequestExpiredError, True),
    (20017, FaultError, False),
    (20019, FaultError, False),
    (20023, RateLimitError, True),
    (20024, ConcurrencyLimitError, True),
    (20103, LeadNotFoundError, False),
    (20105, UnknownAttributeError, False),
    (20106, FaultError, False),
    (20109, FaultError, False),
    (20110, FaultError, False),
]


@pytest.mark.parametrize(
    ("code", "cls", "retryable"), [pytest.param(*row, id=str(row[0])) for row in FAULT_TABLE]
)
def test_fault_error_class_and_retryable(code: int, cls: type[FaultError], retryable: bool) -> None:
    fault = Fault.for_code(code)
    err = mktows._errors.fault_error(fault, status_code=500)
    assert type(err) is cls
    assert err.fault is fault
    assert err.code == code
    assert err.status_code == 500
    assert err.retryable is retryable
    assert str(err) == fault.message


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(Fault(faultcode="SOAP-ENV:Server", faultstring="NPE"), id="no-code"),
        pytest.param(Fault(faultcode="SOAP-ENV:Client", faultstring="x", code=31337), id="unknown"),
    ],
)
def test_fault_error_without_known_code(fault: Fault) -> None:
    err = mktows._errors.fault_error(fault)
    assert type(err) is FaultError
    assert err.retryable is False
    assert err.status_code is None
    assert str(err) == ("x" if fault.code else "NPE")


@pytest.mark.parametrize(
    ("cls", "bases"),
    [
        pytest.param(ValidationError, (MktowsError, ValueError), id="validation"),
        pytest.param(ConversionError, (ValidationError,), id="conversion"),
        pytest.param(ConfigError, (MktowsError, ValueError), id="config"),
        pytest.param(RemoteError, (MktowsError,), id="remote"),
        pytest.param(TransportError, (RemoteError,), id="transport"),
        pytest.param(DeadlineExceeded, (TransportError,), id="deadline"),
        pytest.param(ResponseError, (RemoteError,), id="response"),
        pytest.param(ResponseTooLarge, (ResponseError,), id="too-large"),
        pytest.param(FaultError, (RemoteError,), id="fault"),
        pytest.param(AuthenticationError, (FaultError,), id="auth"),
    ],
)
def test_hierarchy(cls: type[Exception], bases: tuple[type[Exception], ...]) -> None:
    assert issubclass(cls, bases)


@pytest.mark.parametrize(
    ("error", "retryable", "needle"),
    [
        pytest.param(
            ValidationError("Id must be an int", field="Id"),
            False,
            "Id must be an int",
            id="validation",
        ),
        pytest.param(
            ConversionError("attribute 'A' ...", field="A"), False, "'A'", id="conversion"
        ),
        pytest.param(ConfigError("timeout must be positive"), False, "timeout", id="config"),
        pytest.param(TransportError("connection refused"), True, "refused", id="transport"),
        pytest.param(
            DeadlineExceeded("deadline of 1.0 s ran out"), True, "deadline", id="deadline"
        ),
        pytest.param(
            ResponseTooLarge("larger than 10 bytes", body=b"<x>"), False, "10 bytes", id="too-large"
        ),
        pytest.param(
            mktows._errors.fault_error(Fault.for_code(20014)),
            False,
            "Authentication failed (20014)",
            id="fault",
        ),
    ],
)
def test_str_is_informative(error: MktowsError, retryable: bool, needle: str) -> None:
    assert needle in str(error)
    assert error.retryable is retryable
    assert MktowsError("x").retryable is False


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"user_id": ""}, id="empty-user"),
        pytest.param({"user_id": "u\x00"}, id="bad-user"),
        pytest.param({"workspace": ""}, id="empty-workspace"),
        pytest.param({"timestamp": dt.datetime(2020, 1, 1)}, id="naive-timestamp"),
        pytest.param({"return_lead": "yes"}, id="bad-return-lead"),
    ],
)
def test_key_never_in_errors(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"user_id": "u", "encryption_key": KEY, **kwargs}
    with pytest.raises(ValidationError) as info:
        build_sync_lead_envelope(LeadRecord(email="a@b.c"), **args)  # type: ignore[arg-type]
    assert KEY not in str(info.value)
    assert KEY not in repr(info.value)


def test_every_error_survives_pickling_with_its_evidence() -> None:
    """Errors cross process boundaries (ProcessPoolExecutor, multiprocessing)."""
    from mktows._errors import fault_error

    fault = fault_error(mktows.Fault.for_code(20023), status_code=500)
    validation = mktows.ValidationError("Email is empty", field="Email")
    response = mktows.ResponseError("not XML", status_code=502, body=b"<html>oops</html>")
    unread = mktows.ResponseTooLarge("announces 99 bytes", status_code=200, body=None)
    for error in (fault, validation, response, unread):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert str(copy) == str(error)
        assert vars(copy) == vars(error)
    assert "body not read" in str(unread)
    assert unread.body_excerpt == ""
    assert not unread.body_read
