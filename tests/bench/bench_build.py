"""Group "build": a signed syncLead envelope with a workspace header, to bytes.

Rows: mktows, zeep (create_message + serialise), suds (nosend), and two floors
(lxml SubElement building, an escaped f-string template). Every row signs afresh.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

import mktows

from ._fixtures import (
    ENCRYPTION_KEY,
    MKTOWS,
    SOAP_ENV,
    TIMESTAMP,
    USER_ID,
    WORKSPACE,
    content,
    lead,
    suds_client,
    zeep_client,
)
from ._harness import BenchError, Row, per_call

GROUP = "build"
Builder = Callable[[], bytes]


def _signed() -> tuple[str, str]:
    when = mktows.format_timestamp(TIMESTAMP)
    return when, mktows.sign(when, USER_ID, ENCRYPTION_KEY)


def mktows_builder(record: mktows.LeadRecord) -> Builder:
    def build() -> bytes:
        return mktows.build_sync_lead_envelope(
            record,
            user_id=USER_ID,
            encryption_key=ENCRYPTION_KEY,
            workspace=WORKSPACE,
            timestamp=TIMESTAMP,
        )

    return build


def zeep_builder(client: Any, record: mktows.LeadRecord) -> Builder:
    auth_el = client.get_element(f"{{{MKTOWS}}}AuthenticationHeader")
    ctx_el = client.get_element(f"{{{MKTOWS}}}MktowsContextHeader")
    data = {
        "Email": record.email,
        "leadAttributeList": {
            "attribute": [{"attrName": k, "attrValue": v} for k, v in record.attributes.items()]
        },
    }
    service = client.service

    def build() -> bytes:
        when, sig = _signed()
        headers = [
            auth_el(mktowsUserId=USER_ID, requestSignature=sig, requestTimestamp=when),
            ctx_el(targetWorkspace=WORKSPACE),
        ]
        node = client.create_message(
            service, "syncLead", leadRecord=data, returnLead=False, _soapheaders=headers
        )
        out: bytes = etree.tostring(node, xml_declaration=True, encoding="utf-8")
        return out

    return build


def suds_builder(client: Any, record: mktows.LeadRecord) -> Builder:
    factory = client.factory
    auth = factory.create("AuthenticationHeaderInfo")
    ctx = factory.create("MktowsContextHeaderInfo")
    ctx.targetWorkspace = WORKSPACE
    lr = factory.create("LeadRecord")
    lr.Email = record.email
    attrs = factory.create("ArrayOfAttribute")
    for name, value in record.attributes.items():
        attr = factory.create("Attribute")
        attr.attrName = name
        attr.attrValue = value
        attrs.attribute.append(attr)
    lr.leadAttributeList = attrs

    def build() -> bytes:
        when, sig = _signed()
        auth.mktowsUserId = USER_ID
        auth.requestSignature = sig
        auth.requestTimestamp = when
        client.set_options(soapheaders=(auth, ctx))
        envelope: bytes = client.service.syncLead(leadRecord=lr, returnLead=False).envelope
        return envelope

    return build


_ENV, _HDR, _BODY = f"{{{SOAP_ENV}}}Envelope", f"{{{SOAP_ENV}}}Header", f"{{{SOAP_ENV}}}Body"
_NSMAP = {"SOAP-ENV": SOAP_ENV, "ns1": MKTOWS}


def subelement_builder(record: mktows.LeadRecord) -> Builder:
    """The floor: the same tree with bare ``etree.SubElement`` calls, no validation."""
    sub = etree.SubElement

    def text(parent: etree._Element, tag: str, value: str) -> None:
        sub(parent, tag).text = value

    def build() -> bytes:
        when, sig = _signed()
        env = etree.Element(_ENV, nsmap=_NSMAP)
        hdr = sub(env, _HDR)
        auth = sub(hdr, f"{{{MKTOWS}}}AuthenticationHeader")
        text(auth, "mktowsUserId", USER_ID)
        text(auth, "requestSignature", sig)
        text(auth, "requestTimestamp", when)
        text(sub(hdr, f"{{{MKTOWS}}}MktowsContextHeader"), "targetWorkspace", WORKSPACE)
        params = sub(sub(env, _BODY), f"{{{MKTOWS}}}paramsSyncLead")
        rec = sub(params, "leadRecord")
        text(rec, "Email", record.email or "")
        attrs = sub(rec, "leadAttributeList")
        for name, value in record.attributes.items():
            node = sub(attrs, "attribute")
            text(node, "attrName", name)
            text(node, "attrValue", value)
        text(params, "returnLead", "false")
        out: bytes = etree.tostring(env, xml_declaration=True, encoding="UTF-8")
        return out

    return build


def template_builder(record: mktows.LeadRecord) -> Builder:
    """The floor: an f-string template, every text escaped with ``saxutils.escape``."""
    items = list(record.attributes.items())
    email = record.email or ""

    def build() -> bytes:
        when, sig = _signed()
        attrs = "".join(
            f"<attribute><attrName>{escape(k)}</attrName><attrValue>{escape(v)}</attrValue>"
            "</attribute>"
            for k, v in items
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP_ENV}" xmlns:ns1="{MKTOWS}">'
            "<SOAP-ENV:Header><ns1:AuthenticationHeader>"
            f"<mktowsUserId>{escape(USER_ID)}</mktowsUserId>"
            f"<requestSignature>{sig}</requestSignature>"
            f"<requestTimestamp>{when}</requestTimestamp></ns1:AuthenticationHeader>"
            "<ns1:MktowsContextHeader>"
            f"<targetWorkspace>{escape(WORKSPACE)}</targetWorkspace></ns1:MktowsContextHeader>"
            "</SOAP-ENV:Header><SOAP-ENV:Body><ns1:paramsSyncLead><leadRecord>"
            f"<Email>{escape(email)}</Email><leadAttributeList>{attrs}</leadAttributeList>"
            "</leadRecord><returnLead>false</returnLead></ns1:paramsSyncLead>"
            "</SOAP-ENV:Body></SOAP-ENV:Envelope>"
        ).encode()

    return build


def run(wsdl: pathlib.Path, *, repeat: int, min_time: float) -> list[Row]:
    """Check that every builder writes the same envelope, then time each."""
    zclient = zeep_client(wsdl)
    sclient = suds_client(wsdl)
    rows: list[Row] = []
    for n in (2, 20):
        record = lead(n)
        builders = [
            ("mktows", mktows_builder(record)),
            ("zeep", zeep_builder(zclient, record)),
            ("suds", suds_builder(sclient, record)),
            ("floor: lxml SubElement + tostring", subelement_builder(record)),
            ("floor: f-string template", template_builder(record)),
        ]
        expected = content(builders[0][1]())
        if mktows.validate_envelope(builders[0][1]()):
            raise BenchError("build: the mktows envelope does not validate against the WSDL")
        for name, build in builders:
            if content(build()) != expected:
                raise BenchError(f"build/{n} attributes: {name} wrote a different envelope")
        case = f"{n} attributes + workspace header"
        for name, build in builders:
            rows.append(
                Row(GROUP, case, name, per_call(build, repeat=repeat, min_time=min_time), "s/op")
            )
    return rows
