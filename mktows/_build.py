"""Pure builders: request -> envelope bytes, and (for the sandbox) result or fault -> bytes.

No I/O. The only clock read is the documented default of
``build_sync_lead_envelope(timestamp=None)``; clients pass their own clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from lxml import etree

from ._errors import ValidationError
from ._models import Fault, LeadRecord, Secret, SyncLeadResult, check_sync_keys, check_xml_text
from ._signing import format_timestamp, sign
from ._xml import MKTOWS, NSMAP, SOAP_ENV, XSI, XSI_NIL, sub, to_bytes

__all__ = ["build_fault_envelope", "build_sync_lead_envelope", "build_sync_lead_response"]

_ENVELOPE = f"{{{SOAP_ENV}}}Envelope"
_BODY = f"{{{SOAP_ENV}}}Body"
_FAULT = f"{{{SOAP_ENV}}}Fault"


# Envelope skeletons, parsed once from the project's own constant text and copied per
# message: copying a subtree in C is about twice as fast as building it node by node.
_REQUEST = etree.fromstring(
    f'<SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP_ENV}" xmlns:ns1="{MKTOWS}">'
    "<SOAP-ENV:Header>"
    "<ns1:AuthenticationHeader>"
    "<mktowsUserId/><requestSignature/><requestTimestamp/>"
    "</ns1:AuthenticationHeader>"
    "<ns1:MktowsContextHeader><targetWorkspace/></ns1:MktowsContextHeader>"
    "</SOAP-ENV:Header>"
    "<SOAP-ENV:Body>"
    "<ns1:paramsSyncLead><leadRecord/><returnLead/><marketoCookie/></ns1:paramsSyncLead>"
    "</SOAP-ENV:Body>"
    "</SOAP-ENV:Envelope>"
)
_RESPONSE = etree.fromstring(
    f'<SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP_ENV}" xmlns:xsi="{XSI}" xmlns:ns1="{MKTOWS}">'
    "<SOAP-ENV:Body><ns1:successSyncLead><result>"
    '<leadId/><syncStatus><leadId/><status/><error xsi:nil="true"/></syncStatus>'
    '<leadRecord xsi:nil="true"/>'
    "</result></ns1:successSyncLead></SOAP-ENV:Body></SOAP-ENV:Envelope>"
)
_ATTRIBUTE = etree.fromstring("<attribute><attrName/><attrValue/></attribute>")
_TYPED_ATTRIBUTE = etree.fromstring("<attribute><attrName/><attrType/><attrValue/></attribute>")
# lxml's own deep copy, called directly (copy.deepcopy's dispatch costs half as much again).
_copy: Callable[[etree._Element], etree._Element] = etree._Element.__copy__  # type: ignore[attr-defined]


def _lead_record(parent: etree._Element, lead: LeadRecord, *, typed: bool) -> None:
    """Write a LeadRecord's children in schema order (SPEC §1)."""
    if lead.id is not None:
        sub(parent, "Id", str(lead.id))
    if lead.email is not None:
        sub(parent, "Email", lead.email)
    if lead.foreign_sys_person_id is not None:
        sub(parent, "ForeignSysPersonId", lead.foreign_sys_person_id)
    if lead.foreign_sys_type is not None:
        sub(parent, "ForeignSysType", lead.foreign_sys_type.value)
    if lead.attributes:
        attr_list = sub(parent, "leadAttributeList")
        for attr in lead.attributes.as_tuple():
            if attr.type is not None or typed:
                node = _copy(_TYPED_ATTRIBUTE)
                node[0].text, node[1].text, node[2].text = (
                    attr.name,
                    attr.type or "string",
                    attr.value,
                )
            else:
                node = _copy(_ATTRIBUTE)
                node[0].text, node[1].text = attr.name, attr.value
            attr_list.append(node)


def _check_key(key: Secret) -> None:
    """Refuse a key that cannot sign; no message (and no local here) shows it."""
    if not isinstance(key.value, str) or not key.value:
        raise ValidationError("encryption_key must be a non-empty str", field="encryption_key")
    # UTF-8 replaces only lone surrogates, so a count that changes means one is there.
    if key.value.encode("utf-8", "replace").count(b"?") != key.value.count("?"):
        raise ValidationError(
            "encryption_key holds a character UTF-8 cannot encode; copy the key again",
            field="encryption_key",
        )


def _optional_text(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    check_xml_text(value, field)
    if not value.strip():
        raise ValidationError(f"{field} is empty; give a value or leave it out", field=field)
    return value


def build_sync_lead_envelope(
    lead: LeadRecord,
    *,
    user_id: str,
    encryption_key: str | Secret,
    return_lead: bool = False,
    marketo_cookie: str | None = None,
    workspace: str | None = None,
    timestamp: dt.datetime | None = None,
) -> bytes:
    """Build a signed ``paramsSyncLead`` SOAP envelope.

    ``timestamp`` must be timezone-aware (None means now, in UTC); the same
    inputs and timestamp give the same bytes. Raises ValidationError, naming
    the field, for anything the service would refuse or XML cannot carry.

    >>> build_sync_lead_envelope(LeadRecord(email="t@t.com"), user_id=U, encryption_key=K)
    """
    # Error reporters capture frame locals: from here on only the wrapper holds the key.
    key = encryption_key if isinstance(encryption_key, Secret) else Secret(encryption_key)
    del encryption_key
    _check_key(key)
    if not isinstance(lead, LeadRecord):
        raise ValidationError(
            f"lead must be a LeadRecord, not {type(lead).__name__}", field="leadRecord"
        )
    check_sync_keys(lead)
    if not isinstance(user_id, str) or not user_id.strip():
        raise ValidationError(
            "user_id is required: the account's SOAP user id (mktowsUserId)", field="user_id"
        )
    check_xml_text(user_id, "user_id")
    marketo_cookie = _optional_text(marketo_cookie, "marketo_cookie")
    workspace = _optional_text(workspace, "workspace")
    if not isinstance(return_lead, bool):
        raise ValidationError("return_lead must be True or False", field="returnLead")
    when = format_timestamp(timestamp or dt.datetime.now(dt.timezone.utc))

    envelope = _copy(_REQUEST)
    header, body = envelope
    auth, context = header
    user, signature, stamp = auth
    user.text, signature.text, stamp.text = user_id, sign(when, user_id, key.value), when
    if workspace is None:
        header.remove(context)
    else:
        context[0].text = workspace
    params = body[0]
    record, returned, cookie = params
    _lead_record(record, lead, typed=False)
    returned.text = "true" if return_lead else "false"
    if marketo_cookie is None:
        params.remove(cookie)
    else:
        cookie.text = marketo_cookie
    return to_bytes(envelope)


def build_sync_lead_response(result: SyncLeadResult) -> bytes:
    """A ``successSyncLead`` envelope as Marketo writes it (nil error/leadRecord when absent)."""
    envelope = _copy(_RESPONSE)
    lead_id, status, record = envelope[0][0][0]
    status_lead_id, status_text, error = status
    lead_id.text = status_lead_id.text = str(result.lead_id)
    status_text.text = result.status.value
    if result.error is not None:
        del error.attrib[XSI_NIL]
        error.text = result.error
    if result.lead is not None:
        del record.attrib[XSI_NIL]
        _lead_record(record, result.lead, typed=True)
    return to_bytes(envelope)


def build_fault_envelope(fault: Fault) -> bytes:
    """A SOAP 1.1 fault in Marketo's shape, with ``detail/ns1:serviceException``."""
    envelope = etree.Element(_ENVELOPE, nsmap=NSMAP)
    node = etree.SubElement(etree.SubElement(envelope, _BODY), _FAULT)
    sub(node, "faultcode", fault.faultcode)
    sub(node, "faultstring", fault.faultstring)
    if fault.code is not None:
        exc = etree.SubElement(sub(node, "detail"), f"{{{MKTOWS}}}serviceException")
        sub(exc, "name", fault.name or "mktServiceException")
        sub(exc, "message", fault.message or fault.faultstring)
        sub(exc, "code", str(fault.code))
    return to_bytes(envelope)
