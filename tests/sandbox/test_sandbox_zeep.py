"""zeep, a generic SOAP stack, against the sandbox in WSDL mode (WSDL fetched from ?WSDL)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import zeep
import zeep.exceptions
import zeep.transports
from support import SandboxServer, query

from mktows import format_timestamp, sign

AUTH = "{http://www.marketo.com/mktows/}AuthenticationHeader"


@pytest.fixture
def soap(sandbox_server: SandboxServer) -> Iterator[zeep.Client]:
    transport = zeep.transports.Transport(  # type: ignore[no-untyped-call]
        timeout=10, operation_timeout=10
    )
    try:
        wsdl_url = f"{sandbox_server.url}?WSDL"
        yield zeep.Client(wsdl_url, transport=transport)  # type: ignore[no-untyped-call]
    finally:
        transport.session.close()


def auth_header(soap: zeep.Client, server: SandboxServer, key: str | None = None) -> Any:
    stamp = format_timestamp(dt.datetime.now(dt.timezone.utc))
    header = soap.get_element(AUTH)  # type: ignore[no-untyped-call]
    return header(
        mktowsUserId=server.user_id,
        requestSignature=sign(stamp, server.user_id, key or server.encryption_key),
        requestTimestamp=stamp,
    )


def test_zeep_create_update_return_lead(soap: zeep.Client, sandbox_server: SandboxServer) -> None:
    created = soap.service.syncLead(
        leadRecord={
            "Email": "zeep@x.com",
            "leadAttributeList": {"attribute": [{"attrName": "FirstName", "attrValue": "Zed"}]},
        },
        returnLead=False,
        _soapheaders=[auth_header(soap, sandbox_server)],
    )
    assert created.syncStatus.status == "CREATED"
    updated = soap.service.syncLead(
        leadRecord={
            "Email": "zeep@x.com",
            "leadAttributeList": {
                "attribute": [
                    {"attrName": "NumberOfEmployees", "attrType": "integer", "attrValue": "12"}
                ]
            },
        },
        returnLead=True,
        _soapheaders=[auth_header(soap, sandbox_server)],
    )
    assert updated.syncStatus.status == "UPDATED"
    assert updated.leadId == created.leadId
    record = updated.leadRecord
    assert record.Id == created.leadId
    assert record.Email == "zeep@x.com"
    attrs = {a.attrName: (a.attrType, a.attrValue) for a in record.leadAttributeList.attribute}
    assert attrs == {"FirstName": ("string", "Zed"), "NumberOfEmployees": ("integer", "12")}
    assert query(sandbox_server.db_path, "SELECT COUNT(*) FROM leads") == [(1,)]


def test_zeep_bad_signature_is_a_20014_fault(
    soap: zeep.Client, sandbox_server: SandboxServer
) -> None:
    with pytest.raises(zeep.exceptions.Fault) as info:
        soap.service.syncLead(
            leadRecord={"Email": "zeep@x.com"},
            returnLead=False,
            _soapheaders=[auth_header(soap, sandbox_server, key="wrong-key")],
        )
    assert info.value.message == "20014 - Authentication failed"
    assert info.value.detail.findtext("{*}serviceException/code") == "20014"
    assert query(sandbox_server.db_path, "SELECT COUNT(*) FROM leads") == [(0,)]
