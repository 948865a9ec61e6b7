"""The shared models: construction-time validation, attribute typing, faults (SPEC §1, §4, §6)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest

from fixtures import SPEC_FAULTS
from mktows import (
    Attribute,
    Attributes,
    ConversionError,
    Fault,
    ForeignSysType,
    LeadRecord,
    SyncStatus,
    ValidationError,
)
from mktows._codes import FAULT_MESSAGES
from mktows._models import (
    MAX_LEAD_ID,
    Secret,
    check_sync_keys,
    check_xml_text,
)
from mktows._values import AttrValue

PDT = dt.timezone(dt.timedelta(hours=-7))
CONTROL_CHARS = [
    pytest.param("\x00", id="nul"),
    pytest.param("\x01", id="soh"),
    pytest.param("\x0b", id="vt"),
    pytest.param("\x1f", id="us"),
    pytest.param("\ufffe", id="ufffe"),
    pytest.param("\ud800", id="lone-surrogate"),
]


def lead_and_keys(**kwargs: object) -> LeadRecord:
    """Construct a lead and apply the syncLead key rules, as the builder does."""
    lead = LeadRecord(**kwargs)  # type: ignore[arg-type]
    check_sync_keys(lead)
    return lead


# -- LeadRecord construction -------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field", "hint"),
    [
        pytest.param({}, "leadRecord", "give id, email or foreign_sys_person_id", id="no-key"),
        pytest.param({"foreign_sys_type": "SFDC"}, "leadRecord", "needs a key", id="type-only"),
        pytest.param(
            {"foreign_sys_person_id": "X1"},
            "ForeignSysType",
            "CUSTOM, SFDC or NETSUITE",
            id="fsp-without-type",
        ),
        pytest.param(
            {"foreign_sys_person_id": "X1", "foreign_sys_type": "ORACLE"},
            "ForeignSysType",
            "CUSTOM, SFDC, NETSUITE",
            id="unknown-type",
        ),
        pytest.param(
            {"foreign_sys_person_id": "X1", "foreign_sys_type": "custom"},
            "ForeignSysType",
            "CUSTOM, SFDC, NETSUITE",
            id="lowercase-custom",
        ),
        pytest.param(
            {"foreign_sys_person_id": "X1", "foreign_sys_type": 3},
            "ForeignSysType",
            "must be one of",
            id="type-not-str",
        ),
        pytest.param(
            {"foreign_sys_person_id": "", "foreign_sys_type": "CUSTOM"},
            "ForeignSysPersonId",
            "leave it out",
            id="empty-fsp",
        ),
        pytest.param(
            {"foreign_sys_person_id": " \t", "foreign_sys_type": "CUSTOM"},
            "ForeignSysPersonId",
            "leave it out",
            id="blank-fsp",
        ),
        pytest.param({"email": ""}, "Email", "leave it out", id="empty-email"),
        pytest.param({"email": "   ", "id": 5}, "Email", "leave it out", id="blank-email-with-id"),
        pytest.param({"email": 42}, "Email", "must be a str", id="email-not-str"),
        pytest.param(
            {"foreign_sys_person_id": 7, "foreign_sys_type": "SFDC"},
            "ForeignSysPersonId",
            "must be a str",
            id="fsp-not-str",
        ),
        pytest.param({"id": "abc"}, "Id", "whole number", id="id-letters"),
        pytest.param({"id": "12ab"}, "Id", "whole number", id="id-mixed"),
        pytest.param({"id": ""}, "Id", "whole number", id="id-empty-str"),
        pytest.param({"id": "-1"}, "Id", "whole number", id="id-negative-str"),
        pytest.param({"id": "٤٢"}, "Id", "whole number", id="id-arabic-digits"),
        pytest.param({"id": 1.5}, "Id", "must be an int", id="id-float"),
        pytest.param({"id": 2.0}, "Id", "must be an int", id="id-whole-float"),
        pytest.param({"id": True}, "Id", "must be an int", id="id-bool"),
        pytest.param({"id": Decimal(3)}, "Id", "must be an int", id="id-decimal"),
        pytest.param({"id": -1}, "Id", "between 1 and 2147483647", id="id-negative"),
        pytest.param({"id": 0}, "Id", "between 1 and 2147483647", id="id-zero"),
        pytest.param({"id": 2**31}, "Id", "between 1 and 2147483647", id="id-too-big"),
        pytest.param({"id": "2147483648"}, "Id", "between 1", id="id-too-big-str"),
        pytest.param(
            {"email": "a@b.c", "attributes": {"": "x"}},
            "attribute name",
            "empty",
            id="empty-attr-name",
        ),
        pytest.param(
            {"email": "a@b.c", "attributes": {" \t\n": "x"}},
            "attribute name",
            "empty",
            id="blank-attr-name",
        ),
        pytest.param(
            {"email": "a@b.c", "attributes": {5: "x"}},
            "attribute name",
            "must be a str",
            id="attr-name-not-str",
        ),
        pytest.param(
            {
                "email": "a@b.c",
                "attributes": [Attribute(name="A", value="1"), Attribute(name="A", value="2")],
            },
            "A",
            "given twice",
            id="duplicate-attribute",
        ),
        pytest.param(
            {"email": "a@b.c", "attributes": [("A", "1")]},
            "attributes",
            "a mapping of name -> value or a list of Attribute objects",
            id="attr-tuples",
        ),
        pytest.param(
            {"email": "a@b.c", "attributes": "AB"},
            "attributes",
            "a mapping of name -> value or a list of Attribute objects",
            id="attr-str",
        ),
        pytest.param(
            {"email": "a@b.c", "attributes": 42},
            "attributes",
            "not int",
            id="attr-int",
        ),
    ],
)
def test_lead_validation(kwargs: dict[str, object], field: str, hint: str) -> None:
    with pytest.raises(ValidationError) as info:
        lead_and_keys(**kwargs)
    assert info.value.field == field
    assert hint in str(info.value)


@pytest.mark.parametrize("char", CONTROL_CHARS)
@pytest.mark.parametrize(
    ("make", "field"),
    [
        pytest.param(lambda c: LeadRecord(email=f"a{c}@b.c"), "Email", id="Email"),
        pytest.param(
            lambda c: LeadRecord(foreign_sys_person_id=f"x{c}", foreign_sys_type="SFDC"),
            "ForeignSysPersonId",
            id="ForeignSysPersonId",
        ),
        pytest.param(
            lambda c: LeadRecord(id=1, attributes={f"N{c}": "v"}), "attribute name", id="attr-name"
        ),
        pytest.param(
            lambda c: LeadRecord(id=1, attributes={"N": f"v{c}"}),
            "attribute 'N' value",
            id="attr-value",
        ),
        pytest.param(
            lambda c: Attribute(name="N", value="v", type=f"integer{c}"),
            "attribute 'N' type",
            id="attr-type",
        ),
    ],
)
def test_control_characters_refused(make: Callable[[str], object], field: str, char: str) -> None:
    with pytest.raises(ValidationError) as info:
        make(char)
    assert info.value.field == field
    assert f"U+{ord(char):04X}" in str(info.value)
    assert "remove it" in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "check"),
    [
        pytest.param({"id": "42"}, lambda lead: lead.id == 42, id="id-digit-str"),
        pytest.param({"id": " 42 "}, lambda lead: lead.id == 42, id="id-padded-str"),
        pytest.param({"id": 1}, lambda lead: lead.id == 1, id="id-one"),
        pytest.param({"id": MAX_LEAD_ID}, lambda lead: lead.id == 2**31 - 1, id="id-max"),
        pytest.param(
            {"email": "a\tb\nc\rd"}, lambda lead: lead.email == "a\tb\nc\rd", id="tab-newline-cr"
        ),
        pytest.param(
            {"email": "x\U0010ffff\ufffd\ue000"},
            lambda lead: lead.email == "x\U0010ffff\ufffd\ue000",
            id="edge-code-points",
        ),
        pytest.param(
            {"id": 3, "attributes": {"Notes": "l1\r\nl2\tend"}},
            lambda lead: lead.attributes["Notes"] == "l1\r\nl2\tend",
            id="attr-crlf-tab",
        ),
        pytest.param(
            {"foreign_sys_person_id": "X", "foreign_sys_type": ForeignSysType.NETSUITE},
            lambda lead: lead.foreign_sys_type is ForeignSysType.NETSUITE,
            id="type-enum",
        ),
        pytest.param(
            {"foreign_sys_person_id": "X", "foreign_sys_type": "SFDC"},
            lambda lead: lead.foreign_sys_type is ForeignSysType.SFDC,
            id="type-str",
        ),
        pytest.param(
            {"id": 9, "foreign_sys_person_id": "X", "foreign_sys_type": "CUSTOM", "email": "e@x"},
            lambda lead: lead.email == "e@x",
            id="all-keys",
        ),
        pytest.param(
            {"email": "e@x", "attributes": {" padded ": " v "}},
            lambda lead: lead.attributes[" padded "] == " v ",
            id="padded-name",
        ),
    ],
)
def test_lead_allowed_values(
    kwargs: dict[str, object], check: Callable[[LeadRecord], bool]
) -> None:
    lead = lead_and_keys(**kwargs)
    assert check(lead)


def test_lead_is_frozen_and_hashable() -> None:
    lead = LeadRecord(email="a@b.c", attributes={"A": 1})
    with pytest.raises(dataclasses.FrozenInstanceError):
        lead.email = "other"  # type: ignore[misc]
    twin = LeadRecord(email="a@b.c", attributes=[Attribute(name="A", value="1", type="integer")])
    assert lead == twin
    assert hash(lead) == hash(twin)
    assert lead != LeadRecord(email="a@b.c", attributes={"A": "1"})  # attrType differs


def test_check_xml_text_returns_value() -> None:
    assert check_xml_text("ok\t", "f") == "ok\t"
    with pytest.raises(ValidationError, match="f must be a str, not bytes"):
        check_xml_text(b"x", "f")


# -- attributes and typing -----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "wire", "attr_type", "typed"),
    [
        pytest.param("George", "George", None, "George", id="str"),
        pytest.param(42, "42", "integer", 42, id="int"),
        pytest.param(-7, "-7", "integer", -7, id="negative-int"),
        pytest.param(True, "true", "boolean", True, id="true"),
        pytest.param(False, "false", "boolean", False, id="false"),
        pytest.param(1.5, "1.5", "float", 1.5, id="float"),
        pytest.param(Decimal("1234.50"), "1234.50", "float", 1234.5, id="decimal"),
        pytest.param(dt.date(2013, 7, 31), "2013-07-31", "date", dt.date(2013, 7, 31), id="date"),
        pytest.param(
            dt.datetime(2013, 7, 31, 12, 38, 47, tzinfo=PDT),
            "2013-07-31T12:38:47-07:00",
            "datetime",
            dt.datetime(2013, 7, 31, 12, 38, 47, tzinfo=PDT),
            id="aware-datetime",
        ),
        pytest.param(
            dt.datetime(2013, 7, 31, 19, 38, 47, tzinfo=dt.timezone.utc),
            "2013-07-31T19:38:47+00:00",
            "datetime",
            dt.datetime(2013, 7, 31, 19, 38, 47, tzinfo=dt.timezone.utc),
            id="utc",
        ),
    ],
)
def test_attribute_wire_form(
    value: object, wire: str, attr_type: str | None, typed: object
) -> None:
    attr = Attribute(name="F", value=value)  # type: ignore[arg-type]
    assert (attr.value, attr.type) == (wire, attr_type)
    assert attr.typed_value == typed
    assert type(attr.typed_value) is type(typed)


def test_explicit_type_wins_over_inferred() -> None:
    assert Attribute(name="S", value=5, type="score").type == "score"
    assert Attribute(name="S", value="5", type="integer").typed_value == 5


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(dt.datetime(2013, 7, 31, 12, 38, 47), id="naive-datetime"),
        pytest.param(None, id="none"),
        pytest.param([1, 2], id="list"),
        pytest.param({"a": 1}, id="dict"),
        pytest.param(b"bytes", id="bytes"),
        pytest.param(object(), id="object"),
        pytest.param(1 + 2j, id="complex"),
    ],
)
def test_unsupported_attribute_values_refused(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        LeadRecord(email="a@b.c", attributes={"Bad": value})  # type: ignore[dict-item]
    assert "timezone-aware" in str(info.value) or "unsupported value type" in str(info.value)
    assert info.value.field == "Bad"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(dt.datetime(2013, 7, 31, 12, 38, 47), id="naive-datetime"),
        pytest.param(b"bytes", id="bytes"),
    ],
)
def test_unsupported_attribute_value_names_the_attribute(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        Attribute(name="Bad", value=value)  # type: ignore[arg-type]
    assert info.value.field == "Bad"
    assert "'Bad'" in str(info.value)


@pytest.mark.parametrize(
    ("attr_type", "value", "expected"),
    [
        pytest.param("integer", "42", 42, id="integer"),
        pytest.param("integer", " 42 ", 42, id="integer-padded"),
        pytest.param("INTEGER", "7", 7, id="type-uppercase"),
        pytest.param("score", "-3", -3, id="score"),
        pytest.param("boolean", "true", True, id="bool-true"),
        pytest.param("boolean", "false", False, id="bool-false"),
        pytest.param("boolean", "1", True, id="bool-1"),
        pytest.param("boolean", "0", False, id="bool-0"),
        pytest.param("boolean", "TRUE", True, id="bool-upper"),
        pytest.param("float", "4.5", 4.5, id="float"),
        pytest.param("float", "-1e3", -1000.0, id="float-exp"),
        pytest.param("percent", "12.5", 12.5, id="percent"),
        pytest.param("currency", "1234567.89", Decimal("1234567.89"), id="currency"),
        pytest.param("date", "1970-01-31", dt.date(1970, 1, 31), id="date"),
        pytest.param(
            "datetime",
            "2013-07-31T19:38:47Z",
            dt.datetime(2013, 7, 31, 19, 38, 47, tzinfo=dt.timezone.utc),
            id="datetime-Z",
        ),
        pytest.param(
            "datetime",
            "2013-07-31T12:38:47-07:00",
            dt.datetime(2013, 7, 31, 12, 38, 47, tzinfo=PDT),
            id="datetime-offset",
        ),
        pytest.param("string", "007", "007", id="string"),
        pytest.param("email", "t@t.com", "t@t.com", id="email"),
        pytest.param("phone", "+1 555", "+1 555", id="phone"),
        pytest.param("url", "https://x/?a=1&b=2", "https://x/?a=1&b=2", id="url"),
        pytest.param("text", " two\nlines ", " two\nlines ", id="text-kept-verbatim"),
        pytest.param("reference", "abc", "abc", id="unknown-type"),
        pytest.param(None, "42", "42", id="no-type"),
        pytest.param("string", "", "", id="empty-string-stays"),
        pytest.param("integer", "", None, id="empty-integer"),
        pytest.param("date", "  ", None, id="blank-date"),
        pytest.param("currency", "", None, id="empty-currency"),
    ],
)
def test_typed_value(attr_type: str | None, value: str, expected: object) -> None:
    attr = Attribute(name="F", value=value, type=attr_type)
    assert attr.typed_value == expected
    assert type(attr.typed_value) is type(expected)
    assert Attributes([attr]).typed("F") == expected


@pytest.mark.parametrize(
    ("attr_type", "value"),
    [
        pytest.param("integer", "abc", id="integer-letters"),
        pytest.param("integer", "1.5", id="integer-fraction"),
        pytest.param("score", "high", id="score"),
        pytest.param("boolean", "yes", id="boolean-yes"),
        pytest.param("float", "four", id="float"),
        pytest.param("percent", "12%", id="percent-sign"),
        pytest.param("currency", "1,000.00", id="currency-comma"),
        pytest.param("currency", "$5", id="currency-symbol"),
        pytest.param("date", "31/07/2013", id="date-slashes"),
        pytest.param("date", "2013-02-30", id="date-impossible"),
        pytest.param("datetime", "yesterday", id="datetime"),
    ],
)
def test_typed_value_conversion_error(attr_type: str, value: str) -> None:
    attr = Attribute(name="Revenue", value=value, type=attr_type)
    with pytest.raises(ConversionError) as info:
        attr.typed_value  # noqa: B018
    assert isinstance(info.value, ValidationError)
    assert info.value.field == "Revenue"
    assert "'Revenue'" in str(info.value)
    assert repr(attr_type) in str(info.value)
    assert isinstance(info.value.__cause__, (ValueError, ArithmeticError))


@pytest.mark.parametrize(
    ("attr_type", "value"),
    [
        pytest.param("integer", "1_000", id="underscore"),
        pytest.param("integer", "٤٢", id="arabic-indic-digits"),
        pytest.param("currency", "1_000.5", id="currency-underscore"),
    ],
)
def test_typed_value_refuses_python_only_number_forms(attr_type: str, value: str) -> None:
    with pytest.raises(ConversionError):
        Attribute(name="N", value=value, type=attr_type).typed_value  # noqa: B018


def test_attributes_mapping() -> None:
    values: dict[str, AttrValue] = {"B": "2", "A": 1, "C": True}
    attrs = Attributes(values)
    assert list(attrs) == ["B", "A", "C"]
    assert len(attrs) == 3
    assert attrs["A"] == "1"
    assert attrs.attribute("C") == Attribute(name="C", value="true", type="boolean")
    assert attrs.typed("A") == 1
    assert [a.name for a in attrs.as_tuple()] == ["B", "A", "C"]
    assert attrs == {"A": "1", "B": "2", "C": "true"}  # a plain mapping compares by items
    assert attrs != {"A": "1"}
    assert attrs != ["B", "A", "C"]
    assert Attributes(attrs) == attrs
    assert Attributes(attrs) is not attrs
    assert hash(Attributes(attrs)) == hash(attrs)
    reordered: dict[str, AttrValue] = {"A": 1, "B": "2", "C": True}
    assert attrs != Attributes(reordered)  # order is part of the record
    assert "Attribute(name='B', value='2', type=None)" in repr(attrs)
    with pytest.raises(KeyError):
        attrs["missing"]
    assert Attributes() == {}
    assert LeadRecord(id=1).attributes == Attributes()


# -- enums and faults ----------------------------------------------------------------


def test_enums_compare_to_wire_strings() -> None:
    assert SyncStatus("CREATED") is SyncStatus.CREATED
    assert SyncStatus.UPDATED == "UPDATED"
    assert str(SyncStatus.FAILED) == "FAILED"
    assert str(ForeignSysType.NETSUITE) == "NETSUITE"
    assert [t.value for t in ForeignSysType] == ["CUSTOM", "SFDC", "NETSUITE"]


def test_fault_messages_are_spec_table() -> None:
    assert dict(FAULT_MESSAGES) == {code: text for code, (text, _) in SPEC_FAULTS.items()}


@pytest.mark.parametrize("code", [pytest.param(c, id=str(c)) for c in SPEC_FAULTS])
def test_fault_for_code(code: int) -> None:
    text, side = SPEC_FAULTS[code]
    fault = Fault.for_code(code)
    assert fault == Fault(
        faultcode=side,
        faultstring=f"{code} - {text}",
        code=code,
        message=f"{text} ({code})",
        name="mktServiceException",
    )
    assert str(fault) == f"{text} ({code})"
    assert Fault.for_code(code, "Id 99").message == f"{text} ({code}) - Id 99"


def test_fault_for_unknown_code_and_str_fallbacks() -> None:
    fault = Fault.for_code(99999)
    assert (fault.faultstring, fault.faultcode) == ("99999 - Internal Error", "SOAP-ENV:Client")
    assert str(Fault(faultcode="SOAP-ENV:Server", faultstring="boom")) == "boom"
    assert str(Fault(faultcode="SOAP-ENV:Server", faultstring="")) == "SOAP-ENV:Server"


def test_attributes_none_is_empty() -> None:
    assert LeadRecord(email="a@b.c", attributes=None).attributes == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "2013-07-31T12:38:47.5-07:00",
            dt.datetime(
                2013, 7, 31, 12, 38, 47, 500000, tzinfo=dt.timezone(-dt.timedelta(hours=7))
            ),
            id="one-fraction-digit",
        ),
        pytest.param(
            "2013-07-31T12:38:47.1234567Z",
            dt.datetime(2013, 7, 31, 12, 38, 47, 123456, tzinfo=dt.timezone.utc),
            id="seven-fraction-digits",
        ),
        pytest.param("2013-07-31T12:38:47", dt.datetime(2013, 7, 31, 12, 38, 47), id="naive"),
    ],
)
def test_w3c_datetimes_parse_the_same_everywhere(text: str, expected: dt.datetime) -> None:
    attr = Attribute(name="When", value=text, type="datetime")
    assert attr.typed_value == expected


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        pytest.param("datetime", "20130731T123847Z", id="basic-format"),
        pytest.param("datetime", "2013-07-31T12:38:47-0700", id="offset-without-colon"),
        pytest.param("datetime", "2013-07-31 12:38:47", id="space"),
        pytest.param("date", "20130731", id="basic-date"),
        pytest.param("date", "2013-W31-3", id="week-date"),
    ],
)
def test_non_w3c_forms_are_refused_on_every_python(kind: str, text: str) -> None:
    with pytest.raises(ConversionError):
        Attribute(name="When", value=text, type=kind).typed_value  # noqa: B018


def test_secrets_compare_by_value_and_never_show_it() -> None:
    a, b, other = Secret("k-1"), Secret("k-1"), Secret("k-2")
    assert a == b
    assert hash(a) == hash(b)
    assert a != other
    assert a != "k-1", "a secret is not equal to its bare value"
    assert {a, b, other} == {a, other}
    assert repr(a) == str(a) == "<secret>"
