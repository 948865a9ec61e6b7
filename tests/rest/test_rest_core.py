"""The pure REST core: settings, token cache, builders, parsers and the call flow
(driven here by a scripted driver: the flow does no I/O of its own).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import mktows
from mktows._build import build_sync_lead_envelope
from mktows._errors import (
    AccessDeniedError,
    AuthenticationError,
    ConcurrencyLimitError,
    ConfigError,
    ConversionError,
    DeadlineExceeded,
    FaultError,
    LeadNotFoundError,
    QuotaExceededError,
    RateLimitError,
    ResponseError,
    ServiceInternalError,
    TransportError,
    UnknownAttributeError,
    ValidationError,
)
from mktows._models import (
    Attribute,
    ForeignSysType,
    LeadRecord,
    Secret,
    SyncLeadResult,
    SyncStatus,
)
from mktows._retry import RetryPolicy, Send, Sleep
from mktows.rest._core import (
    LeadField,
    RestSettings,
    RestState,
    SyncPlan,
    TokenCache,
    build_sync_body,
    lead_from_rest,
    parse_describe,
    parse_partitions,
    parse_rest_result,
    parse_sync_result,
    parse_token,
    plan_sync,
    rest_error,
    rest_flow,
)

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "core-secret-value"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def settings(**changes: Any) -> RestSettings:
    values: dict[str, Any] = {
        "rest_url": "https://mk.test/rest/",
        "identity_url": "https://mk.test/identity",
        "client_id": "cid",
        "client_secret": SECRET,
        "foreign_id_field": "externalId",
        "partitions": {"Europe": "EU"},
    }
    values.update(changes)
    return RestSettings(**values)


CATALOG = parse_describe(fixture("describe.json"), status_code=200)


def ok(result: list[Any]) -> bytes:
    return json.dumps({"requestId": "1#2", "success": True, "result": result}).encode()


def err(code: str | int, message: str = "boom") -> bytes:
    return json.dumps(
        {"requestId": "1#2", "success": False, "errors": [{"code": code, "message": message}]}
    ).encode()


TOKEN_OK = json.dumps(
    {"access_token": "tok-1", "token_type": "bearer", "expires_in": 3600}
).encode()


# --- settings --------------------------------------------------------------------------


def test_settings_normalise_and_hide_the_secret() -> None:
    s = settings(client_id=" cid ", foreign_id_field=" externalId ")
    assert s.rest_url == "https://mk.test/rest"
    assert (s.client_id, s.foreign_id_field) == ("cid", "externalId")
    assert SECRET not in repr(s)
    with pytest.raises(TypeError):
        s.partitions["US"] = "US"  # type: ignore[index]
    assert hash(s) == hash(settings())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"rest_url": ""}, "rest_url is required", id="no-rest-url"),
        pytest.param({"identity_url": None}, "identity_url is required", id="no-identity"),
        pytest.param({"client_id": "  "}, "client_id is required", id="blank-client-id"),
        pytest.param({"client_secret": ""}, "client_secret is required", id="no-secret"),
        pytest.param({"foreign_id_field": " "}, "foreign_id_field", id="blank-foreign"),
        pytest.param({"partitions": {"": "EU"}}, "workspace name", id="blank-workspace"),
        pytest.param({"partitions": {"Europe": " "}}, "'Europe'", id="blank-partition"),
        # Text no request can carry is refused here, not met as a UnicodeError mid-call.
        pytest.param({"client_id": "c\ud800"}, "client_id holds", id="surrogate-client-id"),
        pytest.param({"rest_url": "https://x/\ud800"}, "rest_url holds", id="surrogate-url"),
        pytest.param({"client_secret": "s\udfff"}, "client_secret holds", id="surrogate-secret"),
        pytest.param({"foreign_id_field": "ext\x00"}, "foreign_id_field holds", id="nul-foreign"),
        pytest.param({"partitions": {"Europe": "E\ud800"}}, "'Europe' holds", id="bad-partition"),
    ],
)
def test_settings_refuse(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings(**changes)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Europe=EU, US = US", {"Europe": "EU", "US": "US"}, id="two"),
        pytest.param("", {}, id="empty"),
        pytest.param("A=B,,", {"A": "B"}, id="trailing-commas"),
    ],
)
def test_parse_partitions(text: str, expected: dict[str, str]) -> None:
    assert parse_partitions(text) == expected


@pytest.mark.parametrize("text", ["Europe", "=EU", "Europe=", "A=B,C"])
def test_parse_partitions_refuses(text: str) -> None:
    with pytest.raises(ConfigError, match="WORKSPACE=PARTITION"):
        parse_partitions(text)


# --- token cache -----------------------------------------------------------------------


def test_token_cache_renews_before_expiry() -> None:
    cache = TokenCache()
    assert cache.current(0.0) is None
    assert repr(cache) == "TokenCache(empty)"
    tok, short = Secret("tok"), Secret("short")
    cache.store(tok, 3600, now=1000.0)
    assert repr(cache) == "TokenCache(<token>)"
    assert cache.current(1000.0 + 3539) is tok
    assert cache.current(1000.0 + 3540) is None  # 60 s margin
    cache.store(short, 20, now=0.0)
    assert cache.current(17.9) is short
    assert cache.current(18.0) is None
    cache.discard(Secret("other"))
    assert cache.current(1.0) is short
    cache.discard(Secret("short"))
    assert cache.current(1.0) is None
    cache.discard(short)  # nothing cached: no error


# --- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "cls", "twin", "retryable"),
    [
        pytest.param(600, AuthenticationError, 20014, False, id="600"),
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


# --- parsers ---------------------------------------------------------------------------

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
        parse_rest_result(fixture("error_601.json"), status_code=200)
    assert info.value.fault.rest_code == 601
    with pytest.raises(RateLimitError):
        parse_rest_result(err(606), status_code=200)


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
    token, lifetime = parse_token(TOKEN_OK, status_code=200)
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
        pytest.param({"dataType": "string"}, id="no-rest"),
        pytest.param({"rest": {"name": ""}}, id="empty-name"),
        pytest.param({"rest": "firstName"}, id="rest-not-object"),
        pytest.param({"rest": {"name": "first\ud800"}}, id="surrogate-name"),
        pytest.param({"rest": {"name": "first\nName"}}, id="control-in-name"),
    ],
)
def test_parse_describe_refuses(entry: object) -> None:
    with pytest.raises(ResponseError, match=r"rest\.name") as info:
        parse_describe(ok([entry]), status_code=200)
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
        json.loads(fixture("sync_skipped.json"))["result"],
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
    assert parse_sync_result(ok(result), status_code=200) == expected


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
        parse_sync_result(ok([{"status": "skipped", "reasons": reasons}]), status_code=200)
    assert info.value.fault.rest_code == rest_code


@pytest.mark.parametrize(
    ("result", "match"),
    [
        pytest.param([], "one result record", id="none"),
        pytest.param([{"id": 1, "status": "created"}] * 2, "one result record", id="two"),
        pytest.param(["created"], "one result record", id="not-object"),
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
        parse_sync_result(ok(result), status_code=status_code)
    assert info.value.status_code == status_code


def test_lead_from_rest_types_every_field() -> None:
    lead = lead_from_rest(json.loads(fixture("lead.json"))["result"][0], CATALOG, "externalId")
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


# --- builders --------------------------------------------------------------------------

PLANS = [
    pytest.param(
        LeadRecord(id=7, email="a@b.c", foreign_sys_person_id="x", foreign_sys_type="CUSTOM"),
        None,
        SyncPlan("id", None, {"id": 7, "email": "a@b.c", "externalId": "x"}),
        id="id-wins",
    ),
    pytest.param(
        LeadRecord(email="a@b.c", foreign_sys_person_id="x", foreign_sys_type="SFDC"),
        "Europe",
        SyncPlan("externalId", "EU", {"email": "a@b.c", "externalId": "x"}),
        id="foreign-then-email",
    ),
    pytest.param(
        LeadRecord(email="a@b.c"), None, SyncPlan("email", None, {"email": "a@b.c"}), id="email"
    ),
    pytest.param(LeadRecord(id=3), None, SyncPlan("id", None, {"id": 3}), id="id-only"),
]


@pytest.mark.parametrize(("lead", "workspace", "plan"), PLANS)
def test_plan_sync_follows_soap_precedence(
    lead: LeadRecord, workspace: str | None, plan: SyncPlan
) -> None:
    assert plan_sync(lead, settings(), workspace) == plan


@pytest.mark.parametrize(
    ("lead", "changes", "workspace", "error", "match"),
    [
        pytest.param(LeadRecord(), {}, None, ValidationError, "needs a key", id="no-key"),
        pytest.param(
            LeadRecord(foreign_sys_person_id="x", foreign_sys_type="CUSTOM"),
            {"foreign_id_field": None},
            None,
            ConfigError,
            "MKTOWS_FOREIGN_ID_FIELD",
            id="foreign-unconfigured",
        ),
        pytest.param(
            LeadRecord(id=1, foreign_sys_person_id="x", foreign_sys_type="CUSTOM"),
            {"foreign_id_field": None},
            None,
            ConfigError,
            "no foreign-id field",
            id="id-with-foreign-unconfigured",
        ),
        pytest.param(
            LeadRecord(email="a@b.c"),
            {},
            "Asia",
            ValidationError,
            "'Asia' has no partition",
            id="ws",
        ),
        pytest.param(
            LeadRecord(email="a@b.c"),
            {"partitions": {}},
            "Asia",
            ValidationError,
            "mapped: none",
            id="no-map",
        ),
    ],
)
def test_plan_sync_refuses(
    lead: LeadRecord,
    changes: dict[str, Any],
    workspace: str | None,
    error: type[Exception],
    match: str,
) -> None:
    with pytest.raises(error, match=match):
        plan_sync(lead, settings(**changes), workspace)


def test_build_sync_body_types_values_by_the_schema() -> None:
    lead = LeadRecord(
        email="a@b.c",
        attributes=[
            Attribute(name="FirstName", value="Ann"),
            Attribute(name="numberOfEmployees", value="12"),  # a REST name works too
            Attribute(name="Unsubscribed", value="1"),
            Attribute(name="AnnualRevenue", value="1250.50"),
            Attribute(name="DateOfBirth", value="1990-02-03"),
            Attribute(name="LastSeen", value="2026-01-02T03:04:05Z"),
            Attribute(name="LeadScore", value=""),
            Attribute(name="Email", value="other@b.c"),
        ],
    )
    plan = plan_sync(lead, settings(), "Europe")
    assert json.loads(build_sync_body(plan, lead, CATALOG)) == {
        "action": "createOrUpdate",
        "lookupField": "email",
        "partitionName": "EU",
        "input": [
            {
                "firstName": "Ann",
                "numberOfEmployees": 12,
                "unsubscribed": True,
                "annualRevenue": 1250.5,
                "dateOfBirth": "1990-02-03",
                "lastSeen": "2026-01-02T03:04:05+00:00",
                "leadScore": None,
                "email": "a@b.c",  # the key wins over an attribute
            }
        ],
    }


@pytest.mark.parametrize(
    ("attr", "error", "match"),
    [
        pytest.param(
            Attribute(name="Nope", value="1"), UnknownAttributeError, "Field 'Nope'", id="unknown"
        ),
        pytest.param(
            Attribute(name="LeadScore", value="ten"), ConversionError, "LeadScore", id="bad-int"
        ),
        pytest.param(
            Attribute(name="Ratio", value="1e999"), ConversionError, "out of range", id="inf"
        ),
    ],
)
def test_build_sync_body_refuses(attr: Attribute, error: type[Exception], match: str) -> None:
    lead = LeadRecord(email="a@b.c", attributes=[attr])
    with pytest.raises(error, match=match):
        build_sync_body(plan_sync(lead, settings(), None), lead, CATALOG)


# --- the flow --------------------------------------------------------------------------

Handler = Callable[[Send], "tuple[int, bytes] | Exception"]


class Script:
    """Drives a flow: answers each Send with ``handler``, records sends and sleeps."""

    def __init__(self, handler: Handler, clock_step: float = 0.0) -> None:
        self.handler = handler
        self.sends: list[Send] = []
        self.sleeps: list[float] = []
        self.now = 0.0
        self.wall = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
        self.clock_step = clock_step

    def monotonic(self) -> float:
        return self.now

    def clock(self) -> dt.datetime:
        return self.wall

    def run(self, lead: LeadRecord, state: RestState, **kwargs: Any) -> SyncLeadResult:
        options: dict[str, Any] = {
            "settings": settings(),
            "policy": RetryPolicy(attempts=3, backoff=1.0),
            "deadline": 60.0,
        }
        options.update(kwargs)
        flow = rest_flow(
            lead,
            state=state,
            clock=self.clock,
            monotonic=self.monotonic,
            random=lambda: 0.5,
            **options,
        )
        action = next(flow)
        while True:
            try:
                if isinstance(action, Sleep):
                    self.sleeps.append(action.seconds)
                    self.now += action.seconds
                    action = flow.send(None)
                    continue
                self.sends.append(action)
                self.now += self.clock_step
                answer = self.handler(action)
                action = flow.throw(answer) if isinstance(answer, Exception) else flow.send(answer)
            except StopIteration as stop:
                result: SyncLeadResult = stop.value
                return result

    def labels(self) -> list[str]:
        return [send.label for send in self.sends]


def describe_sync(sync_answer: bytes) -> Callable[[Send], tuple[int, bytes]]:
    def handle(send: Send) -> tuple[int, bytes]:
        if send.label == "identity":
            return 200, TOKEN_OK
        if send.label == "describe":
            return 200, fixture("describe.json")
        return 200, sync_answer

    return handle


def test_flow_fetches_token_and_schema_once() -> None:
    script = Script(describe_sync(ok([{"id": 5, "status": "created"}])))
    state = RestState(tokens=TokenCache())
    lead = LeadRecord(email="a@b.c", attributes={"FirstName": "Ann"})
    assert script.run(lead, state) == SyncLeadResult(lead_id=5, status=SyncStatus.CREATED)
    assert script.run(lead, state).status is SyncStatus.CREATED
    assert script.labels() == ["identity", "describe", "syncLead", "syncLead"]
    identity, describe, sync = script.sends[:3]
    assert identity.secret
    assert identity.method == "POST"
    assert identity.url == "https://mk.test/identity/oauth/token"
    assert (
        identity.body
        == f"grant_type=client_credentials&client_id=cid&client_secret={SECRET}".encode()
    )
    assert identity.headers is not None
    assert "Authorization" not in identity.headers
    assert (describe.method, describe.url, describe.secret) == (
        "GET",
        "https://mk.test/rest/v1/leads/describe.json",
        False,
    )
    assert sync.headers is not None
    assert sync.headers["Authorization"] == "Bearer tok-1"
    assert sync.url == "https://mk.test/rest/v1/leads.json"
    assert sync.method == "POST"
    assert json.loads(sync.body)["input"] == [{"firstName": "Ann", "email": "a@b.c"}]


def test_flow_associates_and_returns_the_lead() -> None:
    def handle(send: Send) -> tuple[int, bytes]:
        if send.label == "syncLead":
            return 200, ok([{"id": 42, "status": "updated"}])
        if send.label == "associateLead":
            return 200, ok([])
        if send.label == "getLead":
            return 200, fixture("lead.json")
        return describe_sync(b"")(send)

    script = Script(handle)
    result = script.run(
        LeadRecord(email="ann@example.com"),
        RestState(tokens=TokenCache()),
        return_lead=True,
        marketo_cookie="id:123-ABC&token:_mch-x",
    )
    assert script.labels() == ["identity", "describe", "syncLead", "associateLead", "getLead"]
    associate, get = script.sends[3:]
    assert associate.url == (
        "https://mk.test/rest/v1/leads/42/associate.json?cookie=id%3A123-ABC%26token%3A_mch-x"
    )
    assert associate.method == "POST"
    assert associate.body == b""
    assert get.method == "GET"
    assert get.url is not None
    assert get.url.startswith("https://mk.test/rest/v1/lead/42.json?fields=id,email,firstName,")
    assert result.status is SyncStatus.UPDATED
    assert result.lead is not None
    assert result.lead.id == 42
    assert result.lead.attributes.typed("LeadScore") == 7


def test_flow_skipped_stops_after_the_sync() -> None:
    script = Script(describe_sync(fixture("sync_skipped.json")))
    result = script.run(
        LeadRecord(email="a@b.c"),
        RestState(tokens=TokenCache()),
        return_lead=True,
        marketo_cookie="c",
    )
    assert result.status is SyncStatus.FAILED
    assert result.error is not None
    assert script.labels() == ["identity", "describe", "syncLead"]


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        pytest.param(ok([]), "just synced, as one record; got 0", id="empty"),
        pytest.param(ok([{"id": "x"}]), "malformed", id="bad-record"),
    ],
)
def test_flow_get_lead_refuses(answer: bytes, match: str) -> None:
    def handle(send: Send) -> tuple[int, bytes]:
        if send.label == "getLead":
            return 200, answer
        return describe_sync(ok([{"id": 4, "status": "created"}]))(send)

    with pytest.raises(ResponseError, match=match):
        Script(handle).run(
            LeadRecord(email="a@b.c"), RestState(tokens=TokenCache()), return_lead=True
        )


def test_flow_associate_error_is_raised() -> None:
    def handle(send: Send) -> tuple[int, bytes]:
        if send.label == "associateLead":
            return 200, err("1004", "Lead not found")
        return describe_sync(ok([{"id": 4, "status": "created"}]))(send)

    with pytest.raises(LeadNotFoundError):
        Script(handle).run(
            LeadRecord(email="a@b.c"), RestState(tokens=TokenCache()), marketo_cookie="c"
        )


@pytest.mark.parametrize(
    ("options", "field"),
    [
        pytest.param({"marketo_cookie": ""}, "marketo_cookie", id="cookie-empty"),
        pytest.param({"marketo_cookie": "  "}, "marketo_cookie", id="cookie-blank"),
        pytest.param({"marketo_cookie": 5}, "marketo_cookie", id="cookie-int"),
        pytest.param({"marketo_cookie": b"id:1"}, "marketo_cookie", id="cookie-bytes"),
        pytest.param({"marketo_cookie": "id:\x00"}, "marketo_cookie", id="cookie-nul"),
        pytest.param({"marketo_cookie": "id:\ud800"}, "marketo_cookie", id="cookie-surrogate"),
        pytest.param({"workspace": ""}, "workspace", id="workspace-empty"),
        pytest.param({"workspace": " "}, "workspace", id="workspace-blank"),
        pytest.param({"workspace": 7}, "workspace", id="workspace-int"),
        pytest.param({"workspace": "Eu\x0brope"}, "workspace", id="workspace-control"),
        pytest.param({"workspace": "\ufffe"}, "workspace", id="workspace-non-character"),
        pytest.param({"workspace": "Nowhere"}, "workspace", id="workspace-unmapped"),
        pytest.param({"return_lead": "yes"}, "returnLead", id="return-lead-str"),
        pytest.param({"return_lead": 1}, "returnLead", id="return-lead-int"),
        pytest.param({"return_lead": None}, "returnLead", id="return-lead-none"),
    ],
)
def test_flow_refuses_bad_options_as_soap_does(options: dict[str, Any], field: str) -> None:
    # The same refusals, with the same field names, as build_sync_lead_envelope (SOAP).
    script = Script(describe_sync(b""))
    with pytest.raises(ValidationError) as info:
        script.run(LeadRecord(email="a@b.c"), RestState(tokens=TokenCache()), **options)
    assert info.value.field == field
    assert script.sends == []
    if options.get("workspace") == "Nowhere":
        return  # SOAP has no workspace mapping to miss
    with pytest.raises(ValidationError) as soap:
        build_sync_lead_envelope(
            LeadRecord(email="a@b.c"), user_id="u", encryption_key="k", **options
        )
    assert soap.value.field == field


@pytest.mark.parametrize("code", ["600", "601", "602"])
def test_flow_renews_a_refused_token_once(code: str) -> None:
    issued: list[str] = []
    refuse = {"all": False}

    def handle(send: Send) -> tuple[int, bytes]:
        if send.label == "identity":
            issued.append(f"tok-{len(issued) + 1}")
            return 200, json.dumps({"access_token": issued[-1], "expires_in": 3600}).encode()
        assert send.headers is not None
        token = send.headers["Authorization"].removeprefix("Bearer ")
        if token == "tok-1" or refuse["all"]:
            return 200, err(code, "Access token invalid")
        return describe_sync(ok([{"id": 4, "status": "created"}]))(send)

    state = RestState(tokens=TokenCache())
    script = Script(handle)
    assert script.run(LeadRecord(email="a@b.c"), state).lead_id == 4
    assert script.labels() == ["identity", "describe", "identity", "describe", "syncLead"]
    assert script.sleeps == []
    refuse["all"] = True  # every token is refused now: renewed once, then raised
    again = Script(handle)
    with pytest.raises(AuthenticationError) as info:
        again.run(LeadRecord(email="a@b.c"), state)
    assert info.value.fault.rest_code == int(code)
    assert again.labels() == ["syncLead", "identity", "syncLead"]
    assert issued == ["tok-1", "tok-2", "tok-3"]
    assert state.tokens.current(0) is None  # the refused token is forgotten


def test_flow_keeps_a_token_another_call_replaced() -> None:
    state = RestState(tokens=TokenCache())
    script: Script

    def handle(send: Send) -> tuple[int, bytes]:
        if send.label == "describe":  # renewed meanwhile by another call, then refused too
            state.tokens.store(Secret("tok-new"), 3600, script.wall.timestamp())
            return 200, err("602", "Access token expired")
        return 200, TOKEN_OK

    script = Script(handle)
    with pytest.raises(AuthenticationError):
        script.run(LeadRecord(email="a@b.c"), state)
    assert script.labels() == ["identity", "describe", "describe"]  # tok-new was used
    assert script.sends[2].headers == {
        "Accept": "application/json",
        "Authorization": "Bearer tok-new",
    }
    assert state.tokens.current(script.wall.timestamp()) is None


def test_flow_uses_a_cached_token_until_it_is_due() -> None:
    script = Script(describe_sync(ok([{"id": 1, "status": "updated"}])))
    state = RestState(tokens=TokenCache())
    lead = LeadRecord(email="a@b.c")
    script.run(lead, state)
    script.wall += dt.timedelta(seconds=3539)
    script.run(lead, state)
    script.wall += dt.timedelta(seconds=1)  # inside the renewal margin
    script.run(lead, state)
    assert script.labels() == [
        "identity",
        "describe",
        "syncLead",
        "syncLead",
        "identity",
        "syncLead",
    ]


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        pytest.param((200, err("606", "Max rate limit '100' exceeded")), RateLimitError, id="606"),
        pytest.param((200, err("615")), ConcurrencyLimitError, id="615"),
        pytest.param((200, err("611")), ServiceInternalError, id="611"),
        pytest.param((503, b"<html>busy</html>"), ResponseError, id="503"),
        pytest.param(TransportError("reset"), TransportError, id="transport"),
    ],
)
def test_flow_backs_off_and_retries(
    failure: tuple[int, bytes] | Exception, error: type[Exception]
) -> None:
    failures = [failure, failure]

    def handle(send: Send) -> tuple[int, bytes] | Exception:
        if send.label == "syncLead" and failures:
            return failures.pop()
        return describe_sync(ok([{"id": 8, "status": "created"}]))(send)

    script = Script(handle)
    assert script.run(LeadRecord(email="a@b.c"), RestState(tokens=TokenCache())).lead_id == 8
    assert script.sleeps == [0.5, 1.0]  # backoff 1, 2 with jitter 0.5
    failures[:] = [failure] * 3
    with pytest.raises(error):
        script.run(LeadRecord(email="a@b.c"), RestState(tokens=TokenCache()))


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        pytest.param(err("607", "Daily quota reached"), QuotaExceededError, id="607"),
        pytest.param(err("609"), FaultError, id="609"),
        pytest.param(err("1003", "Invalid lookupField"), FaultError, id="1003"),
        pytest.param(b"<html>Not JSON</html>", ResponseError, id="html-200"),
    ],
)
def test_flow_never_retries_permanent_errors(failure: bytes, error: type[Exception]) -> None:
    def handle(send: Send) -> tuple[int, bytes]:
        if send.label == "syncLead":
            return 200, failure
        return describe_sync(b"")(send)

    script = Script(handle)
    with pytest.raises(error):
        script.run(LeadRecord(email="a@b.c"), RestState(tokens=TokenCache()))
    assert script.labels().count("syncLead") == 1
    assert script.sleeps == []


def test_identity_refusal_is_not_retried() -> None:
    def handle(send: Send) -> tuple[int, bytes]:
        return 401, b'{"error": "invalid_client", "error_description": "Bad client credentials"}'

    script = Script(handle)
    with pytest.raises(AuthenticationError, match="Bad client credentials"):
        script.run(LeadRecord(email="a@b.c"), RestState(tokens=TokenCache()))
    assert script.labels() == ["identity"]


def test_identity_transport_failures_are_retried() -> None:
    answers: list[tuple[int, bytes] | Exception] = [TransportError("refused"), (200, TOKEN_OK)]

    def handle(send: Send) -> tuple[int, bytes] | Exception:
        if send.label == "identity":
            return answers.pop(0)
        return describe_sync(ok([{"id": 2, "status": "created"}]))(send)

    script = Script(handle)
    assert script.run(LeadRecord(email="a@b.c"), RestState(tokens=TokenCache())).lead_id == 2
    assert script.labels() == ["identity", "identity", "describe", "syncLead"]


def test_deadline_covers_the_whole_call() -> None:
    script = Script(describe_sync(ok([{"id": 2, "status": "created"}])), clock_step=5.0)
    with pytest.raises(DeadlineExceeded, match="10s"):
        script.run(LeadRecord(email="a@b.c"), RestState(tokens=TokenCache()), deadline=10.0)
    assert script.labels() == ["identity", "describe"]


def test_backoff_past_the_deadline_raises_at_once() -> None:
    def handle(send: Send) -> tuple[int, bytes]:
        if send.label == "syncLead":
            return 200, err("606")
        return describe_sync(b"")(send)

    script = Script(handle)
    with pytest.raises(RateLimitError):
        script.run(
            LeadRecord(email="a@b.c"),
            RestState(tokens=TokenCache()),
            policy=RetryPolicy(attempts=5, backoff=100.0, max_backoff=100.0),
            deadline=30.0,
        )
    assert script.sleeps == []


def test_deadline_error_thrown_in_is_not_retried() -> None:
    def handle(send: Send) -> tuple[int, bytes] | Exception:
        if send.label == "syncLead":
            return DeadlineExceeded("ran out while reading")
        return describe_sync(b"")(send)

    script = Script(handle)
    with pytest.raises(DeadlineExceeded, match="while reading"):
        script.run(LeadRecord(email="a@b.c"), RestState(tokens=TokenCache()))
    assert script.sleeps == []
