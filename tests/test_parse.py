"""The parsers: syncLead responses and faults (client side), requests (server side)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from support import KEY

from fixtures import FULL_LEAD_ATTRIBUTES, SPEC_FAULTS, load, names
from mktows import (
    Attribute,
    AuthHeader,
    ConcurrencyLimitError,
    Fault,
    FaultError,
    LeadRecord,
    RateLimitError,
    RequestExpiredError,
    ResponseError,
    ServiceInternalError,
    SyncLeadRequest,
    SyncLeadResult,
    SyncStatus,
    parse_sync_lead_request,
    parse_sync_lead_response,
)
from mktows._codes import FAULT_MESSAGES
from mktows._errors import EXCERPT_LIMIT, fault_error
from mktows._signing import verify
from mktows._xml import MKTOWS, parse_xml

SEED_USER = "bigcorp1_461839624B16E06BA2D663"
PDT = dt.timezone(dt.timedelta(hours=-7))
UTC = dt.timezone.utc

FULL_LEAD = LeadRecord(
    id=1089965,
    email="t@t.com",
    foreign_sys_person_id="SF-0042",
    foreign_sys_type="SFDC",
    attributes=[Attribute(name=n, type=t, value=v) for n, t, v in FULL_LEAD_ATTRIBUTES],
)

RESPONSES = {
    "created.xml": SyncLeadResult(lead_id=1090177, status=SyncStatus.CREATED),
    "updated.xml": SyncLeadResult(lead_id=42, status=SyncStatus.UPDATED),
    "failed.xml": SyncLeadResult(
        lead_id=1089965,
        status=SyncStatus.FAILED,
        error="Lead is in a partition outside the primary partition of workspace Default",
    ),
    "error_empty.xml": SyncLeadResult(lead_id=7, status=SyncStatus.UPDATED),
    "error_absent.xml": SyncLeadResult(lead_id=7, status=SyncStatus.UPDATED),
    "lead_record_empty.xml": SyncLeadResult(lead_id=8, status=SyncStatus.CREATED),
    "lead_record_absent.xml": SyncLeadResult(lead_id=9, status=SyncStatus.CREATED),
    "lead_id_only_in_sync_status.xml": SyncLeadResult(lead_id=10, status=SyncStatus.UPDATED),
    "single_attribute.xml": SyncLeadResult(
        lead_id=11,
        status=SyncStatus.UPDATED,
        lead=LeadRecord(id=11, email="solo@example.com", attributes={"FirstName": "Solo"}),
    ),
    "lead_attribute_list_nil.xml": SyncLeadResult(
        lead_id=12, status=SyncStatus.UPDATED, lead=LeadRecord(id=12)
    ),
    "full_lead.xml": SyncLeadResult(lead_id=1089965, status=SyncStatus.UPDATED, lead=FULL_LEAD),
    "prefix_soapenv.xml": SyncLeadResult(lead_id=101, status=SyncStatus.CREATED),
    "prefix_mkt.xml": SyncLeadResult(lead_id=102, status=SyncStatus.UPDATED),
    "prefix_tns.xml": SyncLeadResult(
        lead_id=103, status=SyncStatus.FAILED, error="Invalid email address"
    ),
    "default_namespace.xml": SyncLeadResult(
        lead_id=104, status=SyncStatus.CREATED, lead=LeadRecord(email="default@example.com")
    ),
    "qualified_children.xml": SyncLeadResult(
        lead_id=105,
        status=SyncStatus.UPDATED,
        lead=LeadRecord(
            id=105,
            foreign_sys_person_id="ext-105",
            foreign_sys_type="CUSTOM",
            attributes=[Attribute(name="Score", value="12", type="integer")],
        ),
    ),
    "whitespace.xml": SyncLeadResult(lead_id=106, status=SyncStatus.UPDATED),
    "bom_utf8.xml": SyncLeadResult(
        lead_id=107, status=SyncStatus.FAILED, error="Müller: ungültige Adresse"
    ),
    "utf16.xml": SyncLeadResult(lead_id=108, status=SyncStatus.FAILED, error="Łódź 東京 🌴"),
    "iso_8859_1.xml": SyncLeadResult(
        lead_id=109, status=SyncStatus.FAILED, error="Société Générale: déjà à jour"
    ),
}


def test_every_response_fixture_has_an_expectation() -> None:
    assert sorted(RESPONSES) == names("responses")


def test_seed_response() -> None:
    assert parse_sync_lead_response(load("seed", "response.xml"), status_code=200) == (
        SyncLeadResult(lead_id=1089965, status=SyncStatus.UPDATED, error=None, lead=None)
    )


@pytest.mark.parametrize("name", [pytest.param(n, id=n.removesuffix(".xml")) for n in RESPONSES])
def test_response_fixture(name: str) -> None:
    expected = RESPONSES[name]
    result = parse_sync_lead_response(load("responses", name), status_code=200)
    assert isinstance(result, SyncLeadResult)
    assert result.lead_id == expected.lead_id
    assert result.status is expected.status
    assert result.error == expected.error
    assert result.lead == expected.lead
    if expected.lead is not None:
        assert result.lead is not None
        assert result.lead.attributes.as_tuple() == expected.lead.attributes.as_tuple()
    assert result == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("FirstName", "George", id="string"),
        pytest.param("Company", 'Jungle & Co <Ltd> "Vines"', id="string-escaped"),
        pytest.param("Description", "Jörg 東京 שלום 🌴", id="string-unicode"),
        pytest.param("NumberOfEmployees", 250, id="integer"),
        pytest.param("LeadScore", -3, id="score"),
        pytest.param("Unsubscribed", False, id="boolean-false"),
        pytest.param("DoNotCall", True, id="boolean-1"),
        pytest.param("IsCustomer", True, id="boolean-true"),
        pytest.param("AnnualRevenue", Decimal("1234567.89"), id="currency"),
        pytest.param("Rating", 4.5, id="float"),
        pytest.param("Probability", 12.5, id="percent"),
        pytest.param("DateOfBirth", dt.date(1970, 1, 31), id="date"),
        pytest.param(
            "LastActivityAt", dt.datetime(2013, 7, 31, 12, 38, 47, tzinfo=PDT), id="datetime-offset"
        ),
        pytest.param(
            "CreatedAt", dt.datetime(2013, 7, 31, 19, 38, 47, tzinfo=UTC), id="datetime-Z"
        ),
        pytest.param("SecondaryEmail", "george@jungle.com", id="email"),
        pytest.param("MobilePhone", "+1 (555) 010-0199", id="phone"),
        pytest.param("Website", "https://jungle.example/?a=1&b=2", id="url"),
        pytest.param("Notes", "Line one\nLine two", id="text"),
        pytest.param("EmptyScore", None, id="empty-integer"),
        pytest.param("LeadSource", "Web", id="string-last"),
    ],
)
def test_full_lead_typed_values(name: str, expected: object) -> None:
    result = parse_sync_lead_response(load("responses", "full_lead.xml"))
    assert isinstance(result, SyncLeadResult)
    assert result.lead is not None
    typed = result.lead.attributes.typed(name)
    assert typed == expected
    assert type(typed) is type(expected)


def test_full_lead_keys_and_order() -> None:
    result = parse_sync_lead_response(load("responses", "full_lead.xml"))
    assert isinstance(result, SyncLeadResult)
    assert result.lead is not None
    lead = result.lead
    assert (lead.id, lead.email, lead.foreign_sys_person_id, lead.foreign_sys_type) == (
        1089965,
        "t@t.com",
        "SF-0042",
        "SFDC",
    )
    assert [(a.name, a.type, a.value) for a in lead.attributes.as_tuple()] == list(
        FULL_LEAD_ATTRIBUTES
    )


def test_foreign_elements_are_ignored() -> None:
    body = b"""<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
      xmlns:m="http://www.marketo.com/mktows/" xmlns:x="urn:other">
      <s:Body><m:successSyncLead><result><x:leadId>999</x:leadId><leadId>5</leadId>
      <syncStatus><status>CREATED</status><x:error>ignored</x:error></syncStatus>
      </result></m:successSyncLead></s:Body></s:Envelope>"""
    assert parse_sync_lead_response(body) == SyncLeadResult(lead_id=5, status=SyncStatus.CREATED)


_RESULT = b"<result><leadId>5</leadId><syncStatus><leadId>5</leadId><status>CREATED</status>"
_RESULT_END = b"</syncStatus></result>"


@pytest.mark.parametrize(
    ("success", "named"),
    [
        pytest.param(_RESULT + _RESULT_END + _RESULT + _RESULT_END, "<result>", id="two-results"),
        pytest.param(
            _RESULT + _RESULT_END.replace(b"</syncStatus>", b"</syncStatus><leadId>6</leadId>"),
            "<leadId>",
            id="two-leadIds",
        ),
        pytest.param(
            _RESULT + b"<status>UPDATED</status>" + _RESULT_END, "<status>", id="two-statuses"
        ),
        pytest.param(
            _RESULT
            + b"</syncStatus><leadRecord><Email>a@b.c</Email><Email>d@e.f</Email></leadRecord>"
            + b"</result>",
            "<Email>",
            id="two-emails-in-the-lead",
        ),
        pytest.param(
            _RESULT
            + b"</syncStatus><leadRecord><leadAttributeList><attribute><attrName>A</attrName>"
            + b"<attrName>B</attrName><attrValue>1</attrValue></attribute></leadAttributeList>"
            + b"</leadRecord></result>",
            "<attrName>",
            id="two-attrNames",
        ),
    ],
)
def test_a_repeated_single_element_is_refused(success: bytes, named: str) -> None:
    # The schema allows each of these once; reading the first would hide a broken answer.
    body = (
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        b'xmlns:m="http://www.marketo.com/mktows/"><s:Body><m:successSyncLead>'
        + success
        + b"</m:successSyncLead></s:Body></s:Envelope>"
    )
    with pytest.raises(ResponseError, match=f"{named} occurs twice") as caught:
        parse_sync_lead_response(body, status_code=200)
    assert caught.value.status_code == 200


# -- faults ----------------------------------------------------------------------------

RETRYABLE = {10001, 20011, 20016, 20023, 20024}


@pytest.mark.parametrize("code", [pytest.param(c, id=str(c)) for c in SPEC_FAULTS])
def test_fault_fixture(code: int) -> None:
    fault = parse_sync_lead_response(load("faults", f"{code}.xml"), status_code=500)
    assert isinstance(fault, Fault)
    text = FAULT_MESSAGES[code]
    assert fault.code == code
    assert fault.faultcode == (
        "SOAP-ENV:Server" if code in (10001, 20011, 20106) else "SOAP-ENV:Client"
    )
    assert fault.faultstring == f"{code} - {text}"
    assert fault.message == f"{text} ({code})"
    assert fault.name == "mktServiceException"
    err = fault_error(fault, status_code=500)
    assert err.code == code
    assert err.retryable is (code in RETRYABLE)
    assert err.status_code == 500


@pytest.mark.parametrize(
    ("name", "expected", "cls"),
    [
        pytest.param(
            "no_detail.xml",
            Fault(faultcode="SOAP-ENV:Server", faultstring="java.lang.NullPointerException"),
            FaultError,
            id="no-detail",
        ),
        pytest.param(
            "non_numeric_code.xml",
            Fault(
                faultcode="SOAP-ENV:Client",
                faultstring="Access is not allowed",
                message="Access is not allowed",
                name="mktServiceException",
            ),
            FaultError,
            id="non-numeric-code",
        ),
        pytest.param(
            "code_in_message_only.xml",
            Fault(
                faultcode="SOAP-ENV:Client",
                faultstring="Request rejected",
                code=20016,
                message="Request Expired (20016)",
                name="mktServiceException",
            ),
            RequestExpiredError,
            id="code-in-message",
        ),
        pytest.param(
            "code_in_faultstring_only.xml",
            Fault(
                faultcode="soapenv:Client", faultstring="20023 - Rate Limit Exceeded", code=20023
            ),
            RateLimitError,
            id="code-in-faultstring",
        ),
        pytest.param(
            "soap12.xml",
            Fault(faultcode="env:Receiver", faultstring="20011 - Internal Error", code=20011),
            ServiceInternalError,
            id="soap12",
        ),
    ],
)
def test_odd_faults(name: str, expected: Fault, cls: type[FaultError]) -> None:
    fault = parse_sync_lead_response(load("faults", name))
    assert fault == expected
    assert type(fault_error(fault)) is cls


def test_every_fault_fixture_is_tested() -> None:
    odd = {
        "no_detail.xml",
        "non_numeric_code.xml",
        "code_in_message_only.xml",
        "code_in_faultstring_only.xml",
        "soap12.xml",
    }
    assert names("faults") == sorted(odd | {f"{c}.xml" for c in SPEC_FAULTS})


def test_concurrency_fault_is_retryable() -> None:
    fault = parse_sync_lead_response(load("faults", "20024.xml"))
    assert isinstance(fault, Fault)
    err = fault_error(fault)
    assert isinstance(err, ConcurrencyLimitError)
    assert err.retryable


# -- malformed responses ---------------------------------------------------------------

MALFORMED = {
    "not_xml.txt": (503, "not well-formed XML"),
    "html_502.html": (502, "not well-formed XML"),
    "xhtml_error.html": (503, "expected a SOAP envelope, got <{http://www.w3.org/1999/xhtml}html>"),
    "empty.xml": (200, "empty body where a SOAP envelope was expected"),
    "blank.xml": (None, "empty body where a SOAP envelope was expected"),
    "truncated.xml": (200, "not well-formed XML"),
    "wrong_namespace.xml": (200, "expected a SOAP envelope, got <{http://example.com/not-soap/}"),
    "wrong_service_namespace.xml": (200, "expected successSyncLead or a Fault"),
    "other_operation.xml": (
        200,
        "expected successSyncLead or a Fault, got <{http://www.marketo.com/mktows/}successGetLead>",
    ),
    "empty_body.xml": (200, "empty or missing Body"),
    "no_body.xml": (None, "empty or missing Body"),
    "no_result.xml": (200, "successSyncLead has no result"),
    "missing_lead_id.xml": (200, "result/leadId is missing"),
    "missing_sync_status.xml": (200, "syncStatus/status must be CREATED, UPDATED or FAILED"),
    "status_not_in_enum.xml": (200, "got 'MERGED'"),
    "non_integer_lead_id.xml": (200, "result/leadId is not an integer: '10899.65'"),
    "bad_lead_record.xml": (200, "the returned leadRecord is malformed: ForeignSysType"),
    "attribute_without_name.xml": (
        200,
        "the returned leadRecord is malformed: an attribute has no attrName",
    ),
    "soap12_not_fault.xml": (200, "a SOAP 1.2 envelope that is not a fault"),
    # libxml2 may stop the expansion itself before the DOCTYPE check; either way it is refused.
    "billion_laughs.xml": (200, "DOCTYPE|entity amplification"),
    "external_entity.xml": (200, "DOCTYPE"),
    "doctype.xml": (None, "DOCTYPE"),
    "unknown_encoding.xml": (200, "Unsupported encoding"),
}


def test_every_malformed_fixture_has_an_expectation() -> None:
    assert sorted(MALFORMED) == names("malformed")


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in MALFORMED])
def test_malformed_response(name: str) -> None:
    status, problem = MALFORMED[name]
    body = load("malformed", name)
    with pytest.raises(ResponseError) as info:
        parse_sync_lead_response(body, status_code=status)
    err = info.value
    assert type(err) is ResponseError
    assert err.status_code == status
    assert any(alternative in err.reason for alternative in problem.split("|"))
    assert len(err.body_excerpt) <= EXCERPT_LIMIT + 1
    if body:
        assert err.body_excerpt
        assert repr(err.body_excerpt) in str(err)
    else:
        assert str(err).endswith("; body is empty")
    if status is not None:
        assert str(err).startswith(f"HTTP {status}: ")
    assert err.retryable is (status in (502, 503))


def test_deep_nesting_is_refused() -> None:
    depth = 20_000
    body = (
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
        + b"<a>" * depth
        + b"</a>" * depth
        + b"</s:Body></s:Envelope>"
    )
    with pytest.raises(ResponseError) as info:
        parse_sync_lead_response(body, status_code=200)
    assert "not well-formed XML" in info.value.reason
    assert len(info.value.body_excerpt) <= EXCERPT_LIMIT + 1


def test_huge_body_excerpt_is_bounded() -> None:
    body = b"<html>" + b"x" * 1_000_000
    with pytest.raises(ResponseError) as info:
        parse_sync_lead_response(body, status_code=502)
    assert len(info.value.body_excerpt) <= EXCERPT_LIMIT + 1
    assert len(str(info.value)) < 1_000
    assert info.value.retryable


def test_parse_xml_wants_bytes() -> None:
    with pytest.raises(TypeError, match="body must be bytes, not str"):
        parse_xml("<a/>")  # type: ignore[arg-type]


@pytest.fixture
def canary(tmp_path: Path) -> tuple[Path, str]:
    secret = f"canary-{uuid.uuid4().hex}"
    target = tmp_path / "canary.txt"
    target.write_text(secret)
    return target, secret


def test_external_entity_never_read(canary: tuple[Path, str]) -> None:
    target, secret = canary
    body = load("malformed", "external_entity.xml").replace(
        b"file:///nonexistent/mktows-canary.txt", target.as_uri().encode()
    )
    assert target.as_uri().encode() in body
    with pytest.raises(ResponseError) as info:
        parse_sync_lead_response(body, status_code=200)
    assert secret not in str(info.value)
    assert secret not in info.value.body_excerpt
    with pytest.raises(FaultError) as server_side:
        parse_sync_lead_request(body)
    assert server_side.value.code == 20012
    assert secret not in str(server_side.value)


def test_xinclude_never_processed(canary: tuple[Path, str]) -> None:
    target, secret = canary
    body = f"""<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
      xmlns:m="http://www.marketo.com/mktows/" xmlns:xi="http://www.w3.org/2001/XInclude">
      <s:Body><m:successSyncLead><result><leadId>1</leadId><syncStatus><leadId>1</leadId>
      <status>FAILED</status><error>x<xi:include href="{target.as_uri()}" parse="text"/></error>
      </syncStatus></result></m:successSyncLead></s:Body></s:Envelope>""".encode()
    result = parse_sync_lead_response(body)
    assert isinstance(result, SyncLeadResult)
    assert secret not in repr(result)


def test_billion_laughs_is_refused_quickly() -> None:
    body = load("malformed", "billion_laughs.xml")
    with pytest.raises(ResponseError) as info:
        parse_sync_lead_response(body)
    assert "lollollol" not in str(info.value)
    with pytest.raises(FaultError) as server_side:
        parse_sync_lead_request(body)
    assert server_side.value.code == 20012


# -- requests (server side) --------------------------------------------------------------

SEED_AUTH = AuthHeader(
    user_id=SEED_USER,
    signature="92f05a7be4838ae1c0e5aafe814891ee72968a08",
    timestamp="2013-07-31T12:38:47-07:00",
)

REQUESTS = {
    "zeep_style.xml": SyncLeadRequest(
        auth=AuthHeader(
            user_id=SEED_USER,
            signature="9d4d2e0ac0ae4c4bdb8f0d0c83b2a5e1d6a2c1f0",
            timestamp="2013-07-31T12:38:47-07:00",
        ),
        workspace="Default",
        lead=LeadRecord(
            id=1089965,
            email="george@jungle.com",
            foreign_sys_person_id="SF-0042",
            foreign_sys_type="SFDC",
            attributes=[
                Attribute(name="FirstName", value="George"),
                Attribute(name="NumberOfEmployees", value="250", type="integer"),
            ],
        ),
        return_lead=True,
        marketo_cookie="id:561-HYG-937&token:_mch-marketo.com-1374552656411-90718",
    ),
    "jaxws_nil_context.xml": SyncLeadRequest(
        auth=AuthHeader(
            user_id="demo17_1_809934544BFABAE58E5D27",
            signature="0f7e1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b",
            timestamp="2013-07-31T12:38:47-07:00",
        ),
        workspace=None,
        lead=LeadRecord(
            email="george@jungle.com",
            attributes={"FirstName": "George2", "LastName": "of the Jungle"},
        ),
        return_lead=False,
    ),
    "php_soapclient.xml": SyncLeadRequest(
        auth=AuthHeader(
            user_id=SEED_USER,
            signature="3c1e5f8a2b7d4e6f9a0b1c2d3e4f5a6b7c8d9e0f",
            timestamp="2013-07-31T12:38:47-07:00",
        ),
        workspace="EMEA",
        lead=LeadRecord(
            foreign_sys_person_id="cust-7",
            foreign_sys_type="CUSTOM",
            attributes={"FirstName": "George"},
        ),
        return_lead=True,
    ),
    "timestamp_z.xml": SyncLeadRequest(
        auth=AuthHeader(
            user_id=SEED_USER,
            signature="ffbff4d4bef354807481e66dc7540f7890523a87",
            timestamp="2013-07-31T19:38:47Z",
        ),
        workspace=None,
        lead=LeadRecord(id=42),
        return_lead=False,
        marketo_cookie="id:561-HYG-937&token:_mch-localhost-1-2",
    ),
    "whitespace.xml": SyncLeadRequest(
        auth=AuthHeader(
            user_id=SEED_USER,
            signature="FFBFF4D4BEF354807481E66DC7540F7890523A87",
            timestamp="2010-04-09T14:04:54-07:00",
        ),
        workspace="Default",
        lead=LeadRecord(id=17, email="t@t.com", attributes={"City": "São Paulo"}),
        return_lead=True,
    ),
    # A lowercase <id> is not a key: the server ignores it (SPEC §6).
    "lowercase_id.xml": SyncLeadRequest(
        auth=SEED_AUTH, workspace=None, lead=LeadRecord(email="t@t.com"), return_lead=False
    ),
    "no_header.xml": SyncLeadRequest(
        auth=None, workspace=None, lead=LeadRecord(email="t@t.com"), return_lead=False
    ),
}

REQUEST_FAULTS = {
    "get_lead.xml": (20019, "paramsGetLead"),
    "no_lead_record.xml": (20017, "leadRecord is required"),
    "nil_lead_record.xml": (20017, "leadRecord is required"),
    "no_return_lead.xml": (20017, "returnLead is required"),
    "bad_return_lead.xml": (20110, "returnLead must be true or false, got 'yes'"),
    "bad_id.xml": (20110, "Id must be a whole number"),
    "bad_foreign_sys_type.xml": (20110, "ForeignSysType must be one of"),
    "soap12.xml": (20012, "expected a SOAP envelope"),
}


def test_every_request_fixture_has_an_expectation() -> None:
    assert sorted([*REQUESTS, *REQUEST_FAULTS]) == names("requests")


def test_seed_request() -> None:
    request = parse_sync_lead_request(load("seed", "request.xml"))
    assert request == SyncLeadRequest(
        auth=SEED_AUTH,
        workspace=None,
        lead=LeadRecord(
            email="t@t.com", attributes={"FirstName": "George", "LastName": "of the Jungle"}
        ),
        return_lead=False,
        marketo_cookie=None,
    )


@pytest.mark.parametrize("name", [pytest.param(n, id=n.removesuffix(".xml")) for n in REQUESTS])
def test_request_fixture(name: str) -> None:
    expected = REQUESTS[name]
    request = parse_sync_lead_request(load("requests", name))
    assert request.auth == expected.auth
    assert request.workspace == expected.workspace
    assert request.lead == expected.lead
    assert request.return_lead is expected.return_lead
    assert request.marketo_cookie == expected.marketo_cookie
    assert request == expected


def test_whitespace_request_signature_verifies() -> None:
    auth = parse_sync_lead_request(load("requests", "whitespace.xml")).auth
    assert auth is not None
    assert verify(auth.signature, auth.timestamp, auth.user_id, KEY)


@pytest.mark.parametrize(
    ("folder", "name"),
    [pytest.param("requests", n, id=n) for n in REQUEST_FAULTS]
    + [
        pytest.param("malformed", n, id=f"malformed-{n}")
        for n in (
            "not_xml.txt",
            "html_502.html",
            "empty.xml",
            "truncated.xml",
            "wrong_namespace.xml",
            "empty_body.xml",
            "doctype.xml",
        )
    ],
)
def test_request_faults(folder: str, name: str) -> None:
    code, detail = REQUEST_FAULTS.get(name, (20012, ""))
    with pytest.raises(FaultError) as info:
        parse_sync_lead_request(load(folder, name))
    err = info.value
    assert err.code == code
    text = FAULT_MESSAGES[code]
    assert err.fault.faultstring == f"{code} - {text}"
    assert err.fault.message is not None
    assert err.fault.message.startswith(f"{text} ({code}) - ")
    assert detail in err.fault.message
    assert err.fault.name == "mktServiceException"
    assert err.retryable is False


# -- the XML helpers' guards for nodes the hardened parser never produces -----------------


def test_helpers_skip_comments_and_processing_instructions() -> None:
    from lxml import etree

    from mktows._parse import _attributes
    from mktows._xml import children, is_nil, local_name, text_of

    attr_list = etree.Element("leadAttributeList")
    attr_list.append(etree.Comment("a comment"))
    attr_list.append(etree.ProcessingInstruction("pi", "x"))
    attr = etree.SubElement(attr_list, "attribute")
    etree.SubElement(attr, "attrName").text = "A"
    etree.SubElement(attr, f"{{{'urn:other'}}}attrValue").text = "foreign"
    etree.SubElement(attr, f"{{{MKTOWS}}}attrValue").text = "v"
    assert local_name(attr_list[0]) is None
    assert local_name(attr_list[1]) is None
    assert list(children(attr)) == ["attrName", "attrValue"]
    assert [(a.name, a.value) for a in _attributes(attr_list)] == [("A", "v")]
    assert is_nil(None)
    assert text_of(None) is None
    assert text_of(etree.Element("x")) is None


def test_nil_attribute_fields_read_as_none_and_empty() -> None:
    body = (
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        b'xmlns:m="http://www.marketo.com/mktows/"><s:Body><m:successSyncLead><result>'
        b"<leadId>3</leadId><syncStatus><leadId>3</leadId><status>UPDATED</status></syncStatus>"
        b"<leadRecord><Id>3</Id><leadAttributeList><attribute><attrName>Note</attrName>"
        b'<attrType xsi:nil="true"/><attrValue xsi:nil="true"/></attribute>'
        b"<attribute><attrName>Blank</attrName><attrType/><attrValue>  </attrValue></attribute>"
        b"</leadAttributeList></leadRecord></result></m:successSyncLead></s:Body></s:Envelope>"
    )
    result = parse_sync_lead_response(body)
    assert isinstance(result, SyncLeadResult)
    assert result.lead is not None
    note = result.lead.attributes.attribute("Note")
    assert (note.type, note.value) == (None, "")
    blank = result.lead.attributes.attribute("Blank")
    assert (blank.type, blank.value) == (None, "  ")
