"""The envelope builders: request (client side), response and fault (server side)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from support import KEY

from fixtures import FULL_LEAD_ATTRIBUTES, SPEC_FAULTS, c14n, load
from mktows import (
    Attribute,
    Fault,
    LeadRecord,
    SyncLeadResult,
    SyncStatus,
    ValidationError,
    build_fault_envelope,
    build_sync_lead_envelope,
    build_sync_lead_response,
    parse_sync_lead_request,
    parse_sync_lead_response,
    validate_envelope,
)
from mktows._signing import parse_timestamp, sign, verify
from mktows._xml import MKTOWS, SOAP_ENV

SEED_USER = "bigcorp1_461839624B16E06BA2D663"
PDT = dt.timezone(dt.timedelta(hours=-7))
SEED_TIME = dt.datetime(2013, 7, 31, 12, 38, 47, tzinfo=PDT)
SEED_STAMP = "2013-07-31T12:38:47-07:00"


def seed_lead() -> LeadRecord:
    return LeadRecord(
        email="t@t.com", attributes={"FirstName": "George", "LastName": "of the Jungle"}
    )


def build(lead: LeadRecord, **kwargs: object) -> bytes:
    args: dict[str, object] = {
        "user_id": SEED_USER,
        "encryption_key": KEY,
        "timestamp": SEED_TIME,
        **kwargs,
    }
    return build_sync_lead_envelope(lead, **args)  # type: ignore[arg-type]


def local_names(el: etree._Element) -> list[str]:
    return [etree.QName(child).localname for child in el]


def find(body: bytes, path: str) -> etree._Element:
    found = etree.fromstring(body).find(path, {"s": SOAP_ENV, "m": MKTOWS})
    assert found is not None, path
    return found


def full_lead() -> LeadRecord:
    return LeadRecord(
        id=1089965,
        email="t@t.com",
        foreign_sys_person_id="SF-0042",
        foreign_sys_type="SFDC",
        attributes=[Attribute(name=n, type=t, value=v) for n, t, v in FULL_LEAD_ATTRIBUTES],
    )


# -- request envelope ----------------------------------------------------------------


def test_rebuilds_seed_request() -> None:
    built = build(seed_lead())
    aside = {"requestSignature": "set aside"}
    assert c14n(built, replace_text=aside) == c14n(load("seed", "request.xml"), replace_text=aside)


def test_seed_request_signature() -> None:
    built = build(seed_lead())
    signature = find(built, "s:Header/m:AuthenticationHeader/requestSignature").text
    assert signature == sign(SEED_STAMP, SEED_USER, KEY)
    assert signature is not None
    assert verify(signature, SEED_STAMP, SEED_USER, KEY)
    assert find(built, "s:Header/m:AuthenticationHeader/requestTimestamp").text == SEED_STAMP


def test_known_vector_through_builder() -> None:
    when = dt.datetime(2010, 4, 9, 14, 4, 54, tzinfo=PDT)
    built = build(seed_lead(), timestamp=when)
    signature = find(built, "s:Header/m:AuthenticationHeader/requestSignature").text
    assert signature == "ffbff4d4bef354807481e66dc7540f7890523a87"


def test_deterministic() -> None:
    lead = full_lead()
    options = {"return_lead": True, "marketo_cookie": "id:1&token:2", "workspace": "EMEA"}
    first = build(lead, **options)
    assert build(lead, **options) == first
    assert build(full_lead(), **options) == first
    later = build(lead, **options, timestamp=SEED_TIME + dt.timedelta(seconds=1))
    assert later != first


def test_default_timestamp_is_now_in_utc_and_signed() -> None:
    built = build_sync_lead_envelope(seed_lead(), user_id=SEED_USER, encryption_key=KEY)
    stamp = find(built, "s:Header/m:AuthenticationHeader/requestTimestamp").text
    assert stamp is not None
    assert stamp.endswith("+00:00")
    assert parse_timestamp(stamp).utcoffset() == dt.timedelta(0)
    signature = find(built, "s:Header/m:AuthenticationHeader/requestSignature").text
    assert signature == sign(stamp, SEED_USER, KEY)


def test_key_never_in_envelope() -> None:
    built = build(full_lead(), return_lead=True, marketo_cookie="c", workspace="w")
    assert KEY.encode() not in built
    assert KEY.lower().encode() not in built


def test_schema_order_of_every_element() -> None:
    built = build(full_lead(), return_lead=True, marketo_cookie="cookie", workspace="Default")
    root = etree.fromstring(built)
    assert local_names(root) == ["Header", "Body"]
    header = find(built, "s:Header")
    assert local_names(header) == ["AuthenticationHeader", "MktowsContextHeader"]
    assert local_names(header[0]) == ["mktowsUserId", "requestSignature", "requestTimestamp"]
    params = find(built, "s:Body/m:paramsSyncLead")
    assert local_names(params) == ["leadRecord", "returnLead", "marketoCookie"]
    assert local_names(params[0]) == [
        "Id",
        "Email",
        "ForeignSysPersonId",
        "ForeignSysType",
        "leadAttributeList",
    ]
    attrs = params[0][4]
    assert {tuple(local_names(a)) for a in attrs} == {("attrName", "attrType", "attrValue")}
    assert [a[0].text for a in attrs] == [n for n, _, _ in FULL_LEAD_ATTRIBUTES]
    # Only the top-level elements are qualified (no elementFormDefault, SPEC §1).
    qualified = [el.tag for el in root.iter() if MKTOWS in str(el.tag)]
    assert qualified == [
        f"{{{MKTOWS}}}AuthenticationHeader",
        f"{{{MKTOWS}}}MktowsContextHeader",
        f"{{{MKTOWS}}}paramsSyncLead",
    ]
    assert validate_envelope(built) == []


@pytest.mark.parametrize(
    ("lead", "children"),
    [
        pytest.param(LeadRecord(id=5), ["Id"], id="id"),
        pytest.param(LeadRecord(email="a@b.c"), ["Email"], id="email"),
        pytest.param(
            LeadRecord(foreign_sys_person_id="x", foreign_sys_type="CUSTOM"),
            ["ForeignSysPersonId", "ForeignSysType"],
            id="fsp",
        ),
        pytest.param(
            LeadRecord(
                id=5, foreign_sys_person_id="x", foreign_sys_type="NETSUITE", attributes={"A": "1"}
            ),
            ["Id", "ForeignSysPersonId", "ForeignSysType", "leadAttributeList"],
            id="id-fsp-attrs",
        ),
    ],
)
def test_only_given_keys_are_written(lead: LeadRecord, children: list[str]) -> None:
    built = build(lead)
    assert local_names(find(built, "s:Body/m:paramsSyncLead/leadRecord")) == children
    assert validate_envelope(built) == []


@pytest.mark.parametrize(
    ("workspace", "cookie", "return_lead", "headers", "params", "text"),
    [
        pytest.param(
            None,
            None,
            False,
            ["AuthenticationHeader"],
            ["leadRecord", "returnLead"],
            "false",
            id="bare",
        ),
        pytest.param(
            "Default",
            None,
            True,
            ["AuthenticationHeader", "MktowsContextHeader"],
            ["leadRecord", "returnLead"],
            "true",
            id="workspace",
        ),
        pytest.param(
            None,
            "id:561-HYG-937&token:_mch",
            False,
            ["AuthenticationHeader"],
            ["leadRecord", "returnLead", "marketoCookie"],
            "false",
            id="cookie",
        ),
    ],
)
def test_optional_parts(
    workspace: str | None,
    cookie: str | None,
    return_lead: bool,
    headers: list[str],
    params: list[str],
    text: str,
) -> None:
    built = build(seed_lead(), workspace=workspace, marketo_cookie=cookie, return_lead=return_lead)
    assert local_names(find(built, "s:Header")) == headers
    assert local_names(find(built, "s:Body/m:paramsSyncLead")) == params
    assert find(built, "s:Body/m:paramsSyncLead/returnLead").text == text
    if workspace is not None:
        assert find(built, "s:Header/m:MktowsContextHeader/targetWorkspace").text == workspace
    request = parse_sync_lead_request(built)
    assert (request.workspace, request.marketo_cookie, request.return_lead) == (
        workspace,
        cookie,
        return_lead,
    )
    assert validate_envelope(built) == []


def test_attr_type_only_when_given_or_inferred() -> None:
    lead = LeadRecord(
        email="a@b.c",
        attributes=[
            Attribute(name="Plain", value="x"),
            Attribute(name="Count", value=5),
            Attribute(name="Flag", value=False),
            Attribute(name="Money", value=Decimal("9.99")),
            Attribute(name="Day", value=dt.date(2024, 2, 29)),
            Attribute(name="Notes", value="n", type="text"),
        ],
    )
    built = build(lead)
    rows = [
        {etree.QName(c).localname: c.text for c in attr}
        for attr in find(built, "s:Body/m:paramsSyncLead/leadRecord/leadAttributeList")
    ]
    assert rows == [
        {"attrName": "Plain", "attrValue": "x"},
        {"attrName": "Count", "attrType": "integer", "attrValue": "5"},
        {"attrName": "Flag", "attrType": "boolean", "attrValue": "false"},
        {"attrName": "Money", "attrType": "float", "attrValue": "9.99"},
        {"attrName": "Day", "attrType": "date", "attrValue": "2024-02-29"},
        {"attrName": "Notes", "attrType": "text", "attrValue": "n"},
    ]
    assert parse_sync_lead_request(built).lead == lead


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("Jungle & Co", id="amp"),
        pytest.param("a < b > c", id="angles"),
        pytest.param("say \"hi\" and 'bye'", id="quotes"),
        pytest.param("]]> &amp; <![CDATA[x]]>", id="cdata-lookalike"),
        pytest.param("<script>alert(1)</script>", id="markup"),
        pytest.param("line1\r\nline2\ttab", id="crlf-tab"),
        pytest.param("🌴🐒", id="emoji"),
        pytest.param("東京都渋谷区", id="cjk"),
        pytest.param("שלום עולם مرحبا", id="rtl"),
        pytest.param("e\u0301 \u200f\u202e", id="combining-and-bidi-controls"),
        pytest.param("\U0010ffff\ufffd", id="edge-code-points"),
    ],
)
def test_escaping_and_unicode_round_trip(value: str) -> None:
    lead = LeadRecord(
        email=f"{value}@x",
        foreign_sys_person_id=value,
        foreign_sys_type="CUSTOM",
        attributes={value: value},
    )
    built = build(lead, marketo_cookie=value, workspace=value)
    assert built.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert validate_envelope(built) == []
    request = parse_sync_lead_request(built)
    assert request.lead == lead
    assert request.marketo_cookie == value
    if "&" in value:
        assert b"&amp;" in built
    if "<" in value:
        assert b"&lt;" in built
        assert b"<script>" not in built
    if value.isprintable() and value.strip() == value:  # stripped by the server parser
        assert request.workspace == value


@pytest.mark.parametrize(
    ("kwargs", "field", "hint"),
    [
        pytest.param({"user_id": None}, "user_id", "required", id="user-none"),
        pytest.param({"user_id": "   "}, "user_id", "user_id is", id="user-blank"),
        pytest.param({"user_id": 5}, "user_id", "user_id is required", id="user-int"),
        pytest.param({"encryption_key": ""}, "encryption_key", "non-empty str", id="key-empty"),
        pytest.param({"encryption_key": None}, "encryption_key", "non-empty str", id="key-none"),
        pytest.param({"encryption_key": b"k"}, "encryption_key", "non-empty str", id="key-bytes"),
        pytest.param({"marketo_cookie": ""}, "marketo_cookie", "leave it out", id="cookie-empty"),
        pytest.param({"marketo_cookie": " "}, "marketo_cookie", "leave it out", id="cookie-blank"),
        pytest.param({"workspace": ""}, "workspace", "leave it out", id="workspace-empty"),
        pytest.param({"workspace": 1}, "workspace", "must be a str", id="workspace-int"),
        pytest.param({"return_lead": "true"}, "returnLead", "True or False", id="return-str"),
        pytest.param({"return_lead": 1}, "returnLead", "True or False", id="return-int"),
        pytest.param({"return_lead": None}, "returnLead", "True or False", id="return-none"),
        pytest.param(
            {"timestamp": dt.datetime(2013, 7, 31, 12, 38, 47)},
            "timestamp",
            "timezone-aware",
            id="naive-timestamp",
        ),
        pytest.param(
            {"timestamp": SEED_STAMP}, "timestamp", "must be a datetime", id="str-timestamp"
        ),
        pytest.param(
            {"lead": {"email": "a@b.c"}}, "leadRecord", "must be a LeadRecord", id="lead-dict"
        ),
        pytest.param({"lead": LeadRecord()}, "leadRecord", "needs a key", id="lead-no-key"),
        pytest.param(
            {"lead": LeadRecord(foreign_sys_person_id="x")},
            "ForeignSysType",
            "needs a ForeignSysType",
            id="fsp-no-type",
        ),
    ],
)
def test_build_validation(kwargs: dict[str, object], field: str, hint: str) -> None:
    lead = kwargs.pop("lead", seed_lead())
    with pytest.raises(ValidationError) as info:
        build(lead, **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
    assert hint in str(info.value)


@pytest.mark.parametrize(
    "char",
    [
        pytest.param("\x00", id="nul"),
        pytest.param("\x01", id="soh"),
        pytest.param("\x0b", id="vt"),
        pytest.param("\x1f", id="us"),
        pytest.param("\ufffe", id="ufffe"),
        pytest.param("\ud800", id="lone-surrogate"),
    ],
)
@pytest.mark.parametrize("field", ["marketo_cookie", "workspace", "user_id"])
def test_build_control_characters(field: str, char: str) -> None:
    with pytest.raises(ValidationError) as info:
        build(seed_lead(), **{field: f"x{char}y"})
    assert info.value.field == field
    assert f"U+{ord(char):04X}" in str(info.value)
    assert "remove it" in str(info.value)


def test_unencodable_key_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as info:
        build(seed_lead(), encryption_key="k\ud800")
    assert info.value.field == "encryption_key"


def test_empty_user_id_message_does_not_say_leave_it_out() -> None:
    with pytest.raises(ValidationError) as info:
        build(seed_lead(), user_id="")
    assert "leave it out" not in str(info.value)


@pytest.mark.parametrize(
    "value", [pytest.param(" ", id="space"), pytest.param("\n\t", id="nl-tab")]
)
def test_whitespace_only_attribute_value_round_trips(value: str) -> None:
    lead = LeadRecord(email="a@b.c", attributes={"Blank": value})
    assert parse_sync_lead_request(build(lead)).lead == lead


def test_empty_attr_type_round_trips() -> None:
    lead = LeadRecord(email="a@b.c", attributes=[Attribute(name="A", value="1", type="")])
    assert parse_sync_lead_request(build(lead)).lead == lead


# Any text either is refused up front or goes through the wire and back unchanged.
# Half the draws avoid control characters so that most examples reach the wire.
_texts = st.one_of(
    st.text(max_size=30),
    st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=30),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    lead_id=st.one_of(st.none(), st.integers(1, 2**31 - 1), st.integers(-5, 2**31 + 5)),
    email=st.one_of(st.none(), _texts),
    fsp=st.one_of(st.none(), _texts),
    attributes=st.dictionaries(_texts, _texts, max_size=4),
    cookie=st.one_of(st.none(), _texts),
)
def test_any_text_lead_is_refused_or_round_trips(
    lead_id: int | None,
    email: str | None,
    fsp: str | None,
    attributes: dict[str, str],
    cookie: str | None,
) -> None:
    try:
        lead = LeadRecord(
            id=lead_id,
            email=email,
            foreign_sys_person_id=fsp,
            foreign_sys_type=None if fsp is None else "CUSTOM",
            attributes=attributes,
        )
        body = build(lead, marketo_cookie=cookie)
    except ValidationError as exc:
        refused: ValidationError | None = exc
    else:
        refused = None
    if refused is not None:
        assert refused.field  # every refusal names its field
        return
    assert validate_envelope(body) == []
    request = parse_sync_lead_request(body)
    assert request.lead == lead
    assert request.marketo_cookie == cookie


# -- response and fault envelopes (server side) ----------------------------------------


@pytest.mark.parametrize(
    ("folder", "name", "result"),
    [
        pytest.param(
            "seed",
            "response.xml",
            SyncLeadResult(lead_id=1089965, status=SyncStatus.UPDATED),
            id="seed",
        ),
        pytest.param(
            "responses",
            "created.xml",
            SyncLeadResult(lead_id=1090177, status=SyncStatus.CREATED),
            id="created",
        ),
        pytest.param(
            "responses",
            "updated.xml",
            SyncLeadResult(lead_id=42, status=SyncStatus.UPDATED),
            id="updated",
        ),
        pytest.param(
            "responses",
            "failed.xml",
            SyncLeadResult(
                lead_id=1089965,
                status=SyncStatus.FAILED,
                error="Lead is in a partition outside the primary partition of workspace Default",
            ),
            id="failed",
        ),
        pytest.param(
            "responses",
            "full_lead.xml",
            SyncLeadResult(lead_id=1089965, status=SyncStatus.UPDATED, lead=full_lead()),
            id="full-lead",
        ),
    ],
)
def test_build_response(folder: str, name: str, result: SyncLeadResult) -> None:
    built = build_sync_lead_response(result)
    assert c14n(built) == c14n(load(folder, name))
    assert validate_envelope(built) == []
    assert parse_sync_lead_response(built) == result


def test_response_types_untyped_attributes_as_string() -> None:
    lead = LeadRecord(
        id=3, attributes=[Attribute(name="A", value="x"), Attribute(name="B", value=2)]
    )
    built = build_sync_lead_response(
        SyncLeadResult(lead_id=3, status=SyncStatus.CREATED, lead=lead)
    )
    parsed = parse_sync_lead_response(built)
    assert isinstance(parsed, SyncLeadResult)
    assert parsed.lead is not None
    assert [(a.name, a.type) for a in parsed.lead.attributes.as_tuple()] == [
        ("A", "string"),
        ("B", "integer"),
    ]
    assert validate_envelope(built) == []


@pytest.mark.parametrize("code", [pytest.param(c, id=str(c)) for c in SPEC_FAULTS])
def test_build_fault(code: int) -> None:
    fault = Fault.for_code(code)
    built = build_fault_envelope(fault)
    assert c14n(built) == c14n(load("faults", f"{code}.xml"))
    assert validate_envelope(built) == []
    assert parse_sync_lead_response(built, status_code=500) == fault


def test_build_fault_without_code_has_no_detail() -> None:
    fault = Fault(faultcode="SOAP-ENV:Server", faultstring="java.lang.NullPointerException")
    built = build_fault_envelope(fault)
    assert c14n(built, exclusive=True) == c14n(load("faults", "no_detail.xml"), exclusive=True)
    assert validate_envelope(built) == []
    assert parse_sync_lead_response(built) == fault


def test_build_fault_fills_name_and_message() -> None:
    fault = Fault(
        faultcode="SOAP-ENV:Client", faultstring="20014 - Authentication failed", code=20014
    )
    parsed = parse_sync_lead_response(build_fault_envelope(fault))
    assert parsed == Fault(
        faultcode="SOAP-ENV:Client",
        faultstring="20014 - Authentication failed",
        code=20014,
        message="20014 - Authentication failed",
        name="mktServiceException",
    )
    detailed = Fault.for_code(20103, "no lead with Id 99")
    assert parse_sync_lead_response(build_fault_envelope(detailed)) == detailed
