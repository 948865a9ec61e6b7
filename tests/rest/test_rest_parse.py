"""Reading REST answers: call-level errors as their SOAP twins, tokens, the schema, Sync
Leads results and returned leads; anything malformed is a ResponseError."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from support import REST_TOKEN_ANSWER, rest_fixture, rest_refusal, rest_result

import mktows
from mktows._errors import (
    AccessDeniedError,
    AuthenticationError,
    ConcurrencyLimitError,
    FaultError,
    LeadNotFoundError,
    QuotaExceededError,
    RateLimitError,
    ResponseError,
    ServiceInternalError,
    UnknownAttributeError,
)
from mktows._models import Attribute, ForeignSysType, SyncLeadResult, SyncStatus
from mktows.rest._parse import (
    lead_from_rest,
    parse_describe,
    parse_rest_result,
    parse_sync_result,
    parse_token,
    rest_error,
)
from mktows.rest._settings import LeadField

CATALOG = parse_describe(rest_fixture("describe.json"), status_code=200)


@pytest.mark.parametrize(
    ("code", "cls", "twin", "retryable"),
    [
        # 600 is on no Adobe page: an unknown code now (Adobe, "Error Codes").
        pytest.param(600, FaultError, 20106, False, id="600"),
        pytest.param(502, ServiceInternalError, 20011, True, id="502"),
        pytest.param(604, ServiceInternalError, 20011, True, id="604"),
        pytest.param(608, ServiceInternalError, 20011, True, id="608"),
        pytest.param(614, ServiceInternalError, 20011, True, id="614"),
        pytest.param(713, ServiceInternalError, 20011, True, id="713"),
        pytest.param(612, FaultError, 20012, False, id="612"),
        pytest.param(601, AuthenticationError, 20014, False, id="601"),
        pytest.param(602, AuthenticationError, 20014, False, id="602"),
        pytest.param(603, AccessDeniedError, 20013, False, id="603"),
        pytest.param(606, RateLimitError, 20023, True, id="606"),
        pytest.param(607, QuotaExceededError, 20015, False, id="607"),
        pytest.param(611, ServiceInternalError, 20011, True, id="611"),
        pytest.param(615, ConcurrencyLimitError, 20024, True, id="615"),
        pytest.param(609, FaultError, 20012, False, id="609"),
        pytest.param(610, FaultError, 20012, False, id="610"),
        pytest.param(1003, FaultError, 20110, False, id="1003"),
        pytest.param(1004, LeadNotFoundError, 20103, False, id="1004"),
        pytest.param(1006, UnknownAttributeError, 20105, False, id="1006"),
        pytest.param(9999, FaultError, 20106, False, id="unknown"),
    ],
)
def test_rest_error_maps_to_the_soap_twin(
    code: int, cls: type[FaultError], twin: int, retryable: bool
) -> None:
    exc = rest_error(code, "detail text", status_code=200)
    assert type(exc) is cls
    assert (exc.code, exc.fault.rest_code, exc.retryable, exc.status_code) == (
        twin,
        code,
        retryable,
        200,
    )
    assert f"REST {code}: detail text" in str(exc)


MALFORMED = [
    pytest.param(b"<html><body>Bad gateway</body></html>", "JSON", id="html"),
    pytest.param(b"", "JSON", id="empty"),
    pytest.param(b"\xff\xfe\x00garbage", "JSON", id="not-utf8"),
    pytest.param(b"[" * 100_000, "JSON", id="deep-nesting"),
    pytest.param(b"[1, 2]", "JSON object", id="list"),
    pytest.param(b'{"requestId": "x"}', "success", id="no-success"),
    pytest.param(b'{"success": "yes"}', "success", id="success-not-bool"),
    pytest.param(b'{"success": true, "result": {}}', "not a list", id="result-not-list"),
    pytest.param(b'{"success": false}', "errors", id="no-errors"),
    pytest.param(b'{"success": false, "errors": []}', "errors", id="empty-errors"),
    pytest.param(b'{"success": false, "errors": ["601"]}', "numeric code", id="error-not-object"),
    pytest.param(b'{"success": false, "errors": [{"code": "x"}]}', "numeric code", id="bad-code"),
    pytest.param(b'{"success": false, "errors": [{"code": true}]}', "numeric code", id="bool-code"),
    # int() would raise a bare ValueError past 4,300 digits, and "\u00b2".isdigit() is True
    pytest.param(
        b'{"success": false, "errors": [{"code": "' + b"6" * 5000 + b'"}]}',
        "numeric code",
        id="huge-code",
    ),
    pytest.param(
        b'{"success": false, "errors": [{"code": "\\u00b2"}]}', "numeric code", id="superscript"
    ),
    pytest.param(
        b'{"success": false, "errors": [{"code": "\\u0661"}]}', "numeric code", id="arabic-digit"
    ),
    pytest.param(b'{"success": true, "result": ' + b"9" * 5000 + b"}", "JSON", id="huge-number"),
]


@pytest.mark.parametrize(("body", "reason"), MALFORMED)
def test_malformed_answers_are_response_errors(body: bytes, reason: str) -> None:
    with pytest.raises(ResponseError, match=reason) as info:
        parse_rest_result(body, status_code=502)
    assert info.value.status_code == 502
    assert info.value.body_excerpt == mktows.ResponseError("x", body=body).body_excerpt
    assert info.value.retryable  # a gateway's 502 may pass


def test_result_without_status_code() -> None:
    with pytest.raises(ResponseError) as info:
        parse_rest_result(b"nope")
    assert info.value.status_code is None
    assert "nope" in str(info.value)
    assert parse_rest_result(b'{"success": true}') == []


def test_call_level_error_raises_its_fault() -> None:
    with pytest.raises(AuthenticationError) as info:
        parse_rest_result(rest_fixture("error_601.json"), status_code=200)
    assert info.value.fault.rest_code == 601
    with pytest.raises(RateLimitError):
        parse_rest_result(rest_refusal(606), status_code=200)


@pytest.mark.parametrize(
    ("body", "status", "error", "match"),
    [
        pytest.param(
            b'{"error": "invalid_client", "error_description": "Bad client credentials"}',
            401,
            AuthenticationError,
            "invalid_client: Bad client credentials",
            id="invalid-client",
        ),
        pytest.param(
            b'{"error": "unsupported_grant_type"}',
            400,
            AuthenticationError,
            "unsupported_grant_type; check",
            id="grant-type",
        ),
        pytest.param(b"<html>down</html>", 503, ResponseError, "down", id="html"),
        pytest.param(b'"x"', 200, ResponseError, "JSON OAuth", id="not-object"),
        pytest.param(
            b'{"access_token": "", "expires_in": 3600}', 200, ResponseError, "access_token", id="e"
        ),
        pytest.param(
            b'{"access_token": "a b", "expires_in": 3600}', 200, ResponseError, "access_tok", id="s"
        ),
        pytest.param(
            b'{"access_token": "tok-9", "expires_in": "3600"}',
            200,
            ResponseError,
            "expires",
            id="t",
        ),
        pytest.param(
            b'{"access_token": "tok-9", "expires_in": true}', 200, ResponseError, "expires", id="b"
        ),
        pytest.param(
            b'{"access_token": "tok-9", "expires_in": -1}', 200, ResponseError, "expires", id="n"
        ),
        # A token goes into an HTTP header: httpx would raise a bare UnicodeEncodeError.
        pytest.param(
            '{"access_token": "tok-9\u00e9", "expires_in": 1}'.encode(),
            200,
            ResponseError,
            "access_token",
            id="non-ascii-token",
        ),
        pytest.param(
            b'{"access_token": "tok-9\\n", "expires_in": 1}', 200, ResponseError, "acc", id="lf"
        ),
        pytest.param(
            b'{"access_token": "tok-9", "expires_in": NaN}', 200, ResponseError, "exp", id="nan"
        ),
        pytest.param(
            b'{"access_token": "tok-9", "expires_in": 1e999}', 200, ResponseError, "exp", id="inf"
        ),
        pytest.param(
            b'{"access_token": "tok-9", "expires_in": 1' + b"0" * 400 + b"}",
            200,
            ResponseError,
            "expires",
            id="past-float",
        ),
        pytest.param(
            b'{"error": "invalid_client", "error_description": "bad \\ud800"}',
            401,
            AuthenticationError,
            r"bad \\ud800",
            id="surrogate-description",
        ),
    ],
)
def test_parse_token_refuses(body: bytes, status: int, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match) as info:
        parse_token(body, status_code=status)
    assert "tok-9" not in str(info.value)  # a body holding a token is never shown


def test_parse_token() -> None:
    token, lifetime = parse_token(REST_TOKEN_ANSWER, status_code=200)
    assert (token.value, lifetime, repr(token)) == ("tok-1", 3600.0, "<secret>")
    token, lifetime = parse_token(b'{"access_token": "t", "expires_in": 0.5}', status_code=200)
    assert (token.value, lifetime) == ("t", 0.5)


def test_parse_describe() -> None:
    assert CATALOG.by_soap["FirstName"] == LeadField("firstName", "FirstName", "string")
    assert CATALOG.by_rest["restOnly"].soap_name == "restOnly"
    assert CATALOG.by_rest["noType"].data_type == "string"
    assert CATALOG.field_for("firstName") is CATALOG.field_for("FirstName")
    assert CATALOG.field_for("Nope") is None
    assert repr(CATALOG) == "Catalog(13 fields)"


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param("firstName", id="not-object"),
        pytest.param({"rest": {"name": ""}}, id="empty-name"),
        pytest.param({"rest": "firstName"}, id="rest-not-object"),
        pytest.param({"rest": {"name": "first\ud800"}}, id="surrogate-name"),
        pytest.param({"rest": {"name": "first\nName"}}, id="control-in-name"),
    ],
)
def test_parse_describe_refuses(entry: object) -> None:
    with pytest.raises(ResponseError, match=r"rest\.name") as info:
        parse_describe(rest_result([entry]), status_code=200)
    assert info.value.status_code == 200


SYNC_ANSWERS = [
    pytest.param(
        [{"id": 5, "status": "created"}],
        SyncLeadResult(lead_id=5, status=SyncStatus.CREATED),
        id="created",
    ),
    pytest.param(
        [{"id": 6, "status": "updated"}],
        SyncLeadResult(lead_id=6, status=SyncStatus.UPDATED),
        id="updated",
    ),
    pytest.param(
        json.loads(rest_fixture("sync_skipped.json"))["result"],
        SyncLeadResult(
            lead_id=9,
            status=SyncStatus.FAILED,
            error="1015: Lead is in partition 'A', not 'B'; 1003",
        ),
        id="skipped-with-id",
    ),
    pytest.param(
        [{"status": "skipped", "reasons": [{"code": "1005", "message": "Lead already exists"}]}],
        SyncLeadResult(lead_id=0, status=SyncStatus.FAILED, error="1005: Lead already exists"),
        id="skipped-no-id",
    ),
]


@pytest.mark.parametrize(("result", "expected"), SYNC_ANSWERS)
def test_parse_sync_result(result: list[Any], expected: SyncLeadResult) -> None:
    assert parse_sync_result(rest_result(result), status_code=200) == expected


@pytest.mark.parametrize(
    ("reasons", "error", "rest_code"),
    [
        pytest.param(
            [{"code": "1006", "message": "Field 'xyz' not found"}],
            UnknownAttributeError,
            1006,
            id="1006",
        ),
        pytest.param(
            [{"code": "1004", "message": "Lead not found"}], LeadNotFoundError, 1004, id="1004"
        ),
        pytest.param(
            [{"code": "1004", "message": "x"}, {"code": "1006", "message": "y"}],
            UnknownAttributeError,
            1006,
            id="1006-wins",
        ),
    ],
)
def test_skipped_twins_are_raised(
    reasons: list[Any], error: type[FaultError], rest_code: int
) -> None:
    with pytest.raises(error) as info:
        parse_sync_result(rest_result([{"status": "skipped", "reasons": reasons}]), status_code=200)
    assert info.value.fault.rest_code == rest_code


@pytest.mark.parametrize(
    ("result", "match"),
    [
        pytest.param([], "expected 1 result records, got 0", id="none"),
        pytest.param([{"id": 1, "status": "created"}] * 2, "expected 1 result", id="two"),
        pytest.param(["created"], "not a JSON object", id="not-object"),
        pytest.param([{"status": "created"}], "positive integer id", id="no-id"),
        pytest.param([{"id": True, "status": "updated"}], "positive integer id", id="bool-id"),
        pytest.param([{"id": -3, "status": "updated"}], "positive integer id", id="negative-id"),
        pytest.param([{"id": 1, "status": "CREATED"}], "status must be", id="bad-status"),
        pytest.param([{"id": 1, "status": "skipped"}], "reasons", id="no-reasons"),
    ],
)
@pytest.mark.parametrize("status_code", [200, None])
def test_parse_sync_result_refuses(result: list[Any], match: str, status_code: int | None) -> None:
    with pytest.raises(ResponseError, match=match) as info:
        parse_sync_result(rest_result(result), status_code=status_code)
    assert info.value.status_code == status_code


def test_lead_from_rest_types_every_field() -> None:
    lead = lead_from_rest(json.loads(rest_fixture("lead.json"))["result"][0], CATALOG, "externalId")
    assert (lead.id, lead.email) == (42, "ann@example.com")
    assert (lead.foreign_sys_person_id, lead.foreign_sys_type) == ("ext-7", ForeignSysType.CUSTOM)
    attrs = lead.attributes
    assert attrs.attribute("FirstName") == Attribute(name="FirstName", value="Ann", type="string")
    assert attrs.typed("NumberOfEmployees") == 12
    assert attrs["Unsubscribed"] == "false"
    assert attrs.typed("Unsubscribed") is False
    assert attrs.typed("AnnualRevenue") == Decimal("1250.5")
    assert attrs.typed("DateOfBirth") == dt.date(1990, 2, 3)
    assert attrs.typed("LastSeen") == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert attrs.typed("LeadScore") == 7
    assert attrs.typed("Ratio") == 0.25
    assert attrs.attribute("restOnly").type == "text"
    assert attrs.attribute("unknownExtra").type == "string"
    assert "NoType" not in attrs
    assert "Email" not in attrs
    assert "ForeignSysPersonId" not in attrs


def test_lead_from_rest_without_foreign_field() -> None:
    lead = lead_from_rest({"id": 3, "externalId": "e"}, CATALOG, None)
    assert lead.foreign_sys_person_id is None
    assert lead.foreign_sys_type is None
    assert lead.attributes["ForeignSysPersonId"] == "e"


@pytest.mark.parametrize(
    "record",
    [
        pytest.param({"id": 1, "firstName": {"a": 1}}, id="object-value"),
        pytest.param({"id": "x"}, id="bad-id"),
        pytest.param({"id": 1, "email": 5}, id="bad-email"),
    ],
)
def test_lead_from_rest_refuses(record: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"not a field value|Id must|Email must"):
        lead_from_rest(record, CATALOG, "externalId")
