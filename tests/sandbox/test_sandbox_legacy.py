"""What legacy SOAP code meets in the sandbox (issue #13): the whole 2_2 port type in
?WSDL, 20019 for the operations the sandbox does not implement, typed values refused
on both faces, repeated elements refused, faults that name what they ignored, and
workspace names in any case. Real sockets throughout.
"""

from __future__ import annotations

import re

import httpx
import pytest
from lxml import etree
from support import SOAP_HEADERS, SandboxServer, client_for, envelope, post, query

from mktows import FaultError, LeadRecord, SyncStatus
from mktows._models import Fault
from mktows._parse import parse_sync_lead_response

from ._rest_util import Rest, reason

# The 23 operations of the MktowsPort port type, in its order, as Marketo's published
# WSDL for version 2_2 (https://<munchkin>.mktoapi.com/soap/mktows/2_2?WSDL) lists them.
OPERATIONS_2_2 = (
    "deleteMObjects",
    "describeMObject",
    "getMObjects",
    "syncMObjects",
    "getCampaignsForSource",
    "getImportToListStatus",
    "getLead",
    "getLeadActivity",
    "getLeadChanges",
    "getMultipleLeads",
    "importToList",
    "listMObjects",
    "listOperation",
    "requestCampaign",
    "scheduleCampaign",
    "syncLead",
    "syncMultipleLeads",
    "syncCustomObjects",
    "deleteCustomObjects",
    "getCustomObjects",
    "mergeLeads",
    "getChannels",
    "getTags",
)
NS = {
    "w": "http://schemas.xmlsoap.org/wsdl/",
    "soap": "http://schemas.xmlsoap.org/wsdl/soap/",
    "xs": "http://www.w3.org/2001/XMLSchema",
}


def _strings(node: etree._Element, path: str) -> list[str]:
    found = node.xpath(path, namespaces=NS)
    assert isinstance(found, list)
    return [str(item) for item in found]


def _fault(response: httpx.Response) -> Fault:
    assert response.status_code == 500, response.text
    fault = parse_sync_lead_response(response.content, status_code=500)
    assert isinstance(fault, Fault)
    return fault


def _leads(server: SandboxServer) -> int:
    return int(query(server.db_path, "SELECT COUNT(*) FROM leads")[0][0])


# -- the whole port type -----------------------------------------------------------


def test_the_served_wsdl_describes_every_operation_of_2_2(sandbox_server: SandboxServer) -> None:
    response = httpx.get(sandbox_server.url + "?WSDL", timeout=10.0)
    assert response.status_code == 200
    root = etree.fromstring(response.content)
    assert tuple(_strings(root, "w:portType/w:operation/@name")) == OPERATIONS_2_2
    assert tuple(_strings(root, "w:binding/w:operation/@name")) == OPERATIONS_2_2
    declared = set(_strings(root, "w:types/xs:schema/xs:element/@name"))
    for name in OPERATIONS_2_2:
        title = name[0].upper() + name[1:]
        operation = root.find(f"w:binding/w:operation[@name='{name}']", NS)
        assert operation is not None
        assert _strings(operation, "soap:operation/@soapAction") == [
            f"http://www.marketo.com/mktows/{name}"
        ]
        headers = _strings(operation, "w:input/soap:header/@part")
        assert headers == (
            ["authentication", "mktowsContext"] if name == "syncLead" else ["authentication"]
        )
        request = root.find(f"w:message[@name='{title}Request']/w:part", NS)
        assert request is not None
        assert (request.get("name"), request.get("element")) == (
            f"params{title}",
            f"tns:params{title}",
        )
        answer = root.find(f"w:message[@name='{title}Response']/w:part", NS)
        assert answer is not None
        assert answer.get("element") == f"tns:success{title}"
        assert {f"params{title}", f"success{title}"} <= declared
    assert _strings(root, "//soap:address/@location") == [sandbox_server.url]


@pytest.mark.parametrize("operation", [op for op in OPERATIONS_2_2 if op != "syncLead"])
def test_every_other_operation_is_20019_by_soap_action(
    sandbox_server: SandboxServer, operation: str
) -> None:
    title = operation[0].upper() + operation[1:]
    body = envelope(sandbox_server).replace(b"paramsSyncLead", f"params{title}".encode())
    headers = {**SOAP_HEADERS, "SOAPAction": f'"http://www.marketo.com/mktows/{operation}"'}
    fault = _fault(post(sandbox_server.url, body, headers))
    assert fault.code == 20019
    assert fault.faultstring == "20019 - Unsupported Operation"
    assert fault.message is not None
    assert f"operation {operation!r}" in fault.message
    assert "it implements syncLead" in fault.message
    assert _leads(sandbox_server) == 0


def test_another_operation_without_soap_action_is_20019_by_its_element(
    sandbox_server: SandboxServer,
) -> None:
    body = envelope(sandbox_server).replace(b"paramsSyncLead", b"paramsGetMultipleLeads")
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    fault = _fault(post(sandbox_server.url, body, headers))
    assert fault.code == 20019
    assert fault.message is not None
    assert "operation 'getMultipleLeads' (from 'paramsGetMultipleLeads')" in fault.message


def test_zeep_still_binds_and_syncs_over_the_full_wsdl(sandbox_server: SandboxServer) -> None:
    zeep = pytest.importorskip("zeep")
    client = zeep.Client(sandbox_server.url + "?WSDL")
    assert {op for op in client.service._binding._operations} == set(OPERATIONS_2_2)


# -- workspace names ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "DEFAULT", "Default"])
def test_the_default_workspace_in_any_case(sandbox_server: SandboxServer, name: str) -> None:
    # Marketo's own Java sample sends targetWorkspace "default" for workspace "Default".
    with client_for(sandbox_server) as client:
        result = client.sync_lead(LeadRecord(email="ws@example.com"), workspace=name)
    assert result.status in (SyncStatus.CREATED, SyncStatus.UPDATED)


# -- one value check for both faces ------------------------------------------------

MISFITS = [
    pytest.param("NumberOfEmployees", "lots", "integer", id="integer"),
    pytest.param("Unsubscribed", "maybe", "boolean", id="boolean"),
    pytest.param("DateOfBirth", "yesterday", "date", id="date"),
    pytest.param("AnnualRevenue", "a lot", "currency", id="currency"),
    pytest.param("LastActivityDate", "2026-13-01T00:00:00Z", "datetime", id="datetime"),
]


@pytest.mark.parametrize(("name", "value", "kind"), MISFITS)
def test_soap_refuses_a_value_that_does_not_fit_its_field(
    sandbox_server: SandboxServer, name: str, value: str, kind: str
) -> None:
    lead = LeadRecord(email="typed@example.com", attributes={"FirstName": "T", name: value})
    with client_for(sandbox_server) as client, pytest.raises(FaultError) as caught:
        client.sync_lead(lead)
    assert caught.value.code == 20110
    message = caught.value.fault.message or ""
    assert f"attribute {name!r} is of type {kind}" in message
    assert repr(value) in message
    assert _leads(sandbox_server) == 0


@pytest.mark.parametrize(("name", "value", "kind"), MISFITS)
def test_rest_skips_the_same_value_with_1003(
    sandbox_server: SandboxServer, name: str, value: str, kind: str
) -> None:
    rest_name = "unsubscribed" if name == "Unsubscribed" else name[0].lower() + name[1:]
    with Rest(sandbox_server) as rest:
        result = rest.sync_one({"email": "typed@example.com", rest_name: value})
    assert reason(result) == "1003"
    assert rest_name in result["reasons"][0]["message"]
    assert _leads(sandbox_server) == 0


def test_values_that_fit_are_written_on_both_faces(sandbox_server: SandboxServer) -> None:
    attrs = {"NumberOfEmployees": "250", "Unsubscribed": "false", "DateOfBirth": "1980-02-29"}
    with client_for(sandbox_server) as client:
        made = client.sync_lead(LeadRecord(email="fit@example.com", attributes=attrs))
    with Rest(sandbox_server) as rest:
        again = rest.sync_one({"email": "fit@example.com", "numberOfEmployees": 300})
        lead = rest.lead(made.lead_id, "numberOfEmployees,dateOfBirth")
    assert again == {"id": made.lead_id, "status": "updated"}
    assert lead == {"id": made.lead_id, "numberOfEmployees": 300, "dateOfBirth": "1980-02-29"}


# -- strict where the schema is strict ---------------------------------------------


def _twice(body: bytes, element: bytes) -> bytes:
    """``body`` with the first ``<element ...>...</element>`` written twice."""
    text = body.decode()
    tag = element.decode()
    found = re.search(rf"<({tag}|[\w-]+:{tag})\b.*?</\1>", text, re.S)
    assert found is not None, (tag, text)
    return (text[: found.end()] + found.group(0) + text[found.end() :]).encode()


@pytest.mark.parametrize(
    ("element", "named"),
    [
        pytest.param(b"paramsSyncLead", "paramsSyncLead", id="two-params"),
        pytest.param(b"leadRecord", "<leadRecord>", id="two-lead-records"),
        pytest.param(b"Email", "<Email>", id="two-emails"),
        pytest.param(b"returnLead", "<returnLead>", id="two-return-leads"),
        pytest.param(b"attrValue", "<attrValue>", id="two-attr-values"),
        pytest.param(b"AuthenticationHeader", "<AuthenticationHeader>", id="two-auth-headers"),
        pytest.param(b"mktowsUserId", "<mktowsUserId>", id="two-user-ids"),
        pytest.param(b"Header", "two Headers", id="two-headers"),
    ],
)
def test_a_repeated_single_element_is_20012_and_nothing_is_written(
    sandbox_server: SandboxServer, element: bytes, named: str
) -> None:
    lead = LeadRecord(email="twice@example.com", attributes={"FirstName": "T"})
    body = _twice(envelope(sandbox_server, lead), element)
    fault = _fault(post(sandbox_server.url, body))
    assert fault.code == 20012
    assert named in (fault.message or "")
    assert _leads(sandbox_server) == 0


# -- faults that teach -------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "value", "meant", "savon"),
    [
        pytest.param("email", "e@example.com", "Email", True, id="savon-email"),
        pytest.param("id", "1", "Id", True, id="savon-id"),
        pytest.param("foreignSysPersonId", "F1", "ForeignSysPersonId", True, id="savon-fsp"),
        pytest.param("Emial", "e@example.com", "Email", False, id="misspelt"),
        pytest.param("EMAIL", "e@example.com", "Email", False, id="upper-case"),
    ],
)
def test_an_ignored_key_is_named_in_the_20109_fault(
    sandbox_server: SandboxServer, sent: str, value: str, meant: str, savon: bool
) -> None:
    body = envelope(sandbox_server, LeadRecord(email="placeholder@example.com"))
    body = body.replace(
        b"<Email>placeholder@example.com</Email>", f"<{sent}>{value}</{sent}>".encode()
    )
    fault = _fault(post(sandbox_server.url, body))
    assert fault.code == 20109  # the outcome stays Marketo's: the element was ignored
    message = fault.message or ""
    assert f"ignored <{sent}> in leadRecord" in message
    assert f"it spells it {meant}" in message
    assert (f'use the string key "{meant}"' in message) is savon
    assert _leads(sandbox_server) == 0


def test_an_unknown_element_without_a_close_match_lists_the_schema(
    sandbox_server: SandboxServer,
) -> None:
    body = envelope(sandbox_server, LeadRecord(email="placeholder@example.com"))
    body = body.replace(
        b"<Email>placeholder@example.com</Email>", b"<mail_address>x</mail_address>"
    )
    fault = _fault(post(sandbox_server.url, body))
    assert fault.code == 20109
    assert "<mail_address> in leadRecord is no element of the schema (it holds Id, Email" in (
        fault.message or ""
    )


def test_a_misspelt_lead_record_is_named_in_the_20017_fault(
    sandbox_server: SandboxServer,
) -> None:
    body = envelope(sandbox_server).replace(b"leadRecord>", b"LeadRecord>")
    fault = _fault(post(sandbox_server.url, body))
    assert fault.code == 20017
    message = fault.message or ""
    assert "leadRecord is required; ignored <LeadRecord> in paramsSyncLead" in message
    assert "it spells it leadRecord" in message
    assert "savon" not in message  # lower camel case is not what savon got wrong here


def test_another_namespaces_header_block_is_not_ours_to_count(
    sandbox_server: SandboxServer,
) -> None:
    block = b'<wsa:To xmlns:wsa="http://www.w3.org/2005/08/addressing">x</wsa:To>'
    body = envelope(sandbox_server).replace(b"<SOAP-ENV:Header>", b"<SOAP-ENV:Header>" + block * 2)
    assert block * 2 in body
    response = post(sandbox_server.url, body)
    assert response.status_code == 200, response.text
    assert _leads(sandbox_server) == 1
