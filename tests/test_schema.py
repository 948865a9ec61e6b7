"""The packaged WSDL and schema validation of envelopes."""

from __future__ import annotations

import threading

import pytest
from lxml import etree

from fixtures import load, names
from mktows import ResponseError, validate_envelope, wsdl
from mktows._xml import MKTOWS

WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
SOAP_BINDING = "http://schemas.xmlsoap.org/wsdl/soap/"
XS = "http://www.w3.org/2001/XMLSchema"
NS = {"w": WSDL_NS, "soap": SOAP_BINDING, "xs": XS}

ENVELOPE = (
    '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:ns1="http://www.marketo.com/mktows/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    "<SOAP-ENV:Header><ns1:AuthenticationHeader><mktowsUserId>u</mktowsUserId>"
    "<requestSignature>s</requestSignature><requestTimestamp>t</requestTimestamp>"
    "</ns1:AuthenticationHeader>{header}</SOAP-ENV:Header>"
    "<SOAP-ENV:Body><ns1:paramsSyncLead>{params}</ns1:paramsSyncLead></SOAP-ENV:Body>"
    "</SOAP-ENV:Envelope>"
)


def request(
    lead: str = "<Email>t@t.com</Email>",
    tail: str = "<returnLead>false</returnLead>",
    header: str = "",
) -> bytes:
    return ENVELOPE.format(header=header, params=f"<leadRecord>{lead}</leadRecord>{tail}").encode()


def test_seed_messages_are_valid() -> None:
    assert validate_envelope(load("seed", "request.xml")) == []
    assert validate_envelope(load("seed", "response.xml")) == []


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        pytest.param(request(), True, id="email"),
        pytest.param(
            request(
                "<Id>1</Id><Email>a</Email><ForeignSysPersonId>x</ForeignSysPersonId>"
                "<ForeignSysType>SFDC</ForeignSysType><leadAttributeList>"
                "<attribute><attrName>A</attrName><attrType>string</attrType>"
                "<attrValue>v</attrValue></attribute></leadAttributeList>"
            ),
            True,
            id="every-lead-field",
        ),
        pytest.param(
            request(tail="<returnLead>1</returnLead><marketoCookie>c</marketoCookie>"),
            True,
            id="boolean-1-and-cookie",
        ),
        pytest.param(
            request(
                header="<ns1:MktowsContextHeader><targetWorkspace>Default"
                "</targetWorkspace></ns1:MktowsContextHeader>"
            ),
            True,
            id="context-header",
        ),
        pytest.param(
            request(header='<ns1:MktowsContextHeader xsi:nil="true"/>'),
            True,
            id="nil-context-header",
        ),
        pytest.param(request('<Email xsi:nil="true"/><Id>1</Id>'), False, id="wrong-order"),
        pytest.param(request("<Email>a</Email><Id>1</Id>"), False, id="email-before-id"),
        pytest.param(request("<id>42</id>"), False, id="lowercase-id"),
        pytest.param(request("<Email>a</Email><Phone>1</Phone>"), False, id="unknown-child"),
        pytest.param(request("<Id>abc</Id>"), False, id="id-not-int"),
        pytest.param(request("<Id>2147483648</Id>"), False, id="id-over-int"),
        pytest.param(
            request(
                "<ForeignSysPersonId>x</ForeignSysPersonId><ForeignSysType>custom</ForeignSysType>"
            ),
            False,
            id="lowercase-custom",
        ),
        pytest.param(
            request(
                "<leadAttributeList><attribute><attrValue>v</attrValue>"
                "<attrName>A</attrName></attribute></leadAttributeList>"
            ),
            False,
            id="attr-value-before-name",
        ),
        pytest.param(request(tail="<returnLead>yes</returnLead>"), False, id="return-lead-yes"),
        pytest.param(request(tail=""), False, id="return-lead-missing"),
        pytest.param(
            request(tail="<marketoCookie>c</marketoCookie><returnLead>true</returnLead>"),
            False,
            id="cookie-before-return-lead",
        ),
        pytest.param(
            request(header="<ns1:MktowsContextHeader/>"), False, id="empty-context-header"
        ),
    ],
)
def test_request_validation(body: bytes, valid: bool) -> None:
    problems = validate_envelope(body)
    assert (problems == []) is valid, problems
    assert all(isinstance(p, str) and p for p in problems)


def test_problems_name_the_element() -> None:
    problems = validate_envelope(request("<id>42</id>"))
    assert len(problems) == 1
    assert "'id'" in problems[0]
    assert "Id, Email, ForeignSysPersonId" in problems[0]


VALID_RESPONSES = {
    "bom_utf8.xml",
    "created.xml",
    "default_namespace.xml",
    "error_absent.xml",
    "error_empty.xml",
    "failed.xml",
    "full_lead.xml",
    "iso_8859_1.xml",
    "lead_attribute_list_nil.xml",
    "lead_record_absent.xml",
    "lead_record_empty.xml",
    "prefix_mkt.xml",
    "prefix_soapenv.xml",
    "prefix_tns.xml",
    "single_attribute.xml",
    "updated.xml",
    "utf16.xml",
}


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in names("responses")])
def test_response_fixtures(name: str) -> None:
    # The rest are shapes the parser tolerates but the schema does not: qualified children,
    # leadId only in syncStatus, a whitespace-padded status.
    assert (validate_envelope(load("responses", name)) == []) is (name in VALID_RESPONSES)


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, id=n) for n in names("faults") if n[0].isdigit() or n == "no_detail.xml"],
)
def test_fault_fixtures_are_valid(name: str) -> None:
    assert validate_envelope(load("faults", name)) == []


def test_fault_detail_is_validated() -> None:
    problems = validate_envelope(load("faults", "non_numeric_code.xml"))
    assert problems
    assert "ACCESS_DENIED" in problems[0]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        pytest.param(b"<a/>", "root is <a>, not a SOAP 1.1 Envelope", id="not-envelope"),
        pytest.param(load("faults", "soap12.xml"), "not a SOAP 1.1 Envelope", id="soap12"),
        pytest.param(
            b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/">'
            b"<e:Body/><e:Header/></e:Envelope>",
            "optional Header then a Body",
            id="body-before-header",
        ),
        pytest.param(
            b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/">'
            b"<e:Header/></e:Envelope>",
            "optional Header then a Body",
            id="no-body",
        ),
        pytest.param(
            b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/">'
            b"<e:Body/><e:Body/></e:Envelope>",
            "optional Header then a Body",
            id="two-bodies",
        ),
        pytest.param(
            load("malformed", "other_operation.xml"), "successGetLead", id="other-operation"
        ),
        pytest.param(load("malformed", "status_not_in_enum.xml"), "MERGED", id="bad-status"),
    ],
)
def test_envelope_shape_problems(body: bytes, problem: str) -> None:
    problems = validate_envelope(body)
    assert problems
    assert problem in problems[0]


def test_not_xml_raises_response_error() -> None:
    with pytest.raises(ResponseError, match="not well-formed XML"):
        validate_envelope(load("malformed", "not_xml.txt"))


def test_foreign_header_block_is_not_a_problem() -> None:
    body = request(header='<wsa:To xmlns:wsa="http://www.w3.org/2005/08/addressing">x</wsa:To>')
    assert validate_envelope(body) == []


def test_validation_works_from_another_thread() -> None:
    results: list[list[str]] = []
    worker = threading.Thread(target=lambda: results.append(validate_envelope(request("<id/>"))))
    worker.start()
    worker.join(timeout=30)
    assert len(results) == 1
    assert results[0]
    assert validate_envelope(request()) == []


# -- the WSDL --------------------------------------------------------------------------


def _parse(data: bytes) -> etree._Element:
    return etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))


def test_packaged_wsdl() -> None:
    data = wsdl()
    root = _parse(data)
    assert root.tag == f"{{{WSDL_NS}}}definitions"
    assert root.get("targetNamespace") == MKTOWS
    assert root.xpath("//soap:address/@location", namespaces=NS) == [
        "http://127.0.0.1:8080/soap/mktows/2_2"
    ]
    # Every operation of the 2_2 port type, so that clients generated from Marketo's
    # WSDL bind to the served one (tests/sandbox/test_wsdl_operations.py has the list).
    names = root.xpath("//w:portType/w:operation/@name", namespaces=NS)
    assert isinstance(names, list)
    assert len(names) == 23
    assert root.xpath("//soap:operation/@soapAction", namespaces=NS) == [
        f"http://www.marketo.com/mktows/{name!s}" for name in names
    ]
    assert wsdl() is data  # read once


@pytest.mark.parametrize(
    "address",
    [
        pytest.param("https://123-ABC-456.mktoapi.com/soap/mktows/2_2", id="marketo"),
        pytest.param("http://127.0.0.1:54321/soap/mktows/2_2", id="loopback"),
        pytest.param('http://h/x?a=1&b="2"<', id="needs-escaping"),
    ],
)
def test_wsdl_address_rewritten(address: str) -> None:
    data = wsdl(address)
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = _parse(data)
    assert root.xpath("//soap:address/@location", namespaces=NS) == [address]
    schema_node = root.find(f"{{{WSDL_NS}}}types/{{{XS}}}schema")
    assert schema_node is not None
    schema = etree.XMLSchema(etree.ElementTree(schema_node))
    assert {el.get("name") for el in schema_node.findall(f"{{{XS}}}element")} >= {
        "AuthenticationHeader",
        "MktowsContextHeader",
        "paramsSyncLead",
        "successSyncLead",
        "serviceException",
        "paramsGetLead",
        "successGetTags",
    }
    params = _parse(load("seed", "request.xml")).find(f".//{{{MKTOWS}}}paramsSyncLead")
    assert params is not None
    assert schema.validate(params)
