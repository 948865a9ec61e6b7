"""Pure parsers: response bytes -> SyncLeadResult | Fault, and (for the sandbox)
request bytes -> SyncLeadRequest. No I/O; namespace-aware, prefix-agnostic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from ._errors import FaultError, ResponseError, ValidationError
from ._hints import LEAD_RECORD_FIELDS, PARAMS_SYNC_LEAD_FIELDS, hint
from ._models import (
    Attribute,
    AuthHeader,
    Fault,
    LeadRecord,
    SyncLeadRequest,
    SyncLeadResult,
    SyncStatus,
)
from ._xml import MKTOWS, SOAP12_ENV, SOAP_ENV, XSI_NIL, is_nil, local_name, parse_xml, text_of

__all__ = [
    "IMPLEMENTED_OPERATIONS",
    "ParsedRequest",
    "parse_request",
    "parse_sync_lead_request",
    "parse_sync_lead_response",
    "unsupported_operation",
]

_ENVELOPE = f"{{{SOAP_ENV}}}Envelope"
_BODY = f"{{{SOAP_ENV}}}Body"
_HEADER = f"{{{SOAP_ENV}}}Header"
_FAULT = f"{{{SOAP_ENV}}}Fault"
_ENVELOPE12 = f"{{{SOAP12_ENV}}}Envelope"
_SUCCESS = f"{{{MKTOWS}}}successSyncLead"
_PARAMS = f"{{{MKTOWS}}}paramsSyncLead"
_AUTH = f"{{{MKTOWS}}}AuthenticationHeader"
_CONTEXT = f"{{{MKTOWS}}}MktowsContextHeader"
_LEADING_CODE = re.compile(r"^\s*(\d{4,6})\b")
_TRAILING_CODE = re.compile(r"\((\d{4,6})\)")


class _Repeated(ValidationError):
    """An element the schema allows once came twice (``field`` names it)."""


def children(el: etree._Element) -> dict[str, etree._Element]:
    """The element children of ``el`` by local name (unqualified or service-qualified);
    _Repeated when a name comes twice: every element read this way occurs at most once.
    """
    found: dict[str, etree._Element] = {}
    for child in el:
        name = local_name(child)
        if name is not None:
            if name in found:
                raise _Repeated(
                    f"<{name}> occurs twice in <{etree.QName(el).localname}>; the schema allows "
                    "it once",
                    field=name,
                )
            found[name] = child
    return found


def _body_payload(
    root: etree._Element, body: bytes, envelope: str, body_tag: str
) -> etree._Element:
    if root.tag != envelope:
        raise ResponseError(f"expected a SOAP envelope, got <{root.tag}>", body=body)
    payload = None
    for part in root:
        if part.tag == body_tag:
            payload = next((el for el in part if isinstance(el.tag, str)), None)
            break
    if payload is None:
        raise ResponseError("the SOAP envelope has an empty or missing Body", body=body)
    return payload


def parse_sync_lead_response(
    body: bytes, *, status_code: int | None = None
) -> SyncLeadResult | Fault:
    """Parse a syncLead answer: a :class:`SyncLeadResult`, or a :class:`Fault`.

    Anything else (not XML, an HTML page, another namespace or operation, a
    missing or malformed field) raises :class:`ResponseError` carrying
    ``status_code`` and an excerpt of the body.
    """
    try:
        root = parse_xml(body)
        if root.tag == _ENVELOPE12:
            return _soap12_fault(
                _body_payload(root, body, _ENVELOPE12, f"{{{SOAP12_ENV}}}Body"), body
            )
        payload = _body_payload(root, body, _ENVELOPE, _BODY)
        if payload.tag == _FAULT:
            return _fault(payload)
        if payload.tag != _SUCCESS:
            raise ResponseError(
                f"expected successSyncLead or a Fault, got <{payload.tag}>", body=body
            )
        return _result(payload, body)
    except _Repeated as exc:
        raise ResponseError(str(exc), body=body, status_code=status_code) from None
    except ResponseError as exc:
        raise exc.at_status(status_code) from exc.__cause__


def _fault_code(*texts: str | None) -> int | None:
    for text in texts:
        if text:
            found = _LEADING_CODE.match(text) or _TRAILING_CODE.search(text)
            if found:
                return int(found.group(1))
    return None


def _fault(node: etree._Element) -> Fault:
    parts = children(node)
    faultcode = text_of(parts.get("faultcode")) or ""
    faultstring = text_of(parts.get("faultstring")) or ""
    detail = parts.get("detail")
    exc = None
    if detail is not None:
        exc = next(
            (
                el
                for el in detail
                if isinstance(el.tag, str) and el.tag.endswith("serviceException")
            ),
            None,
        )
    name = message = code_text = None
    if exc is not None:
        info = children(exc)
        name = text_of(info.get("name"))
        message = text_of(info.get("message"))
        code_text = text_of(info.get("code"))
    digits = (code_text or "").strip()
    code = int(digits) if digits.isascii() and digits.isdigit() else None
    if code is None:
        code = _fault_code(faultstring, message)
    return Fault(
        faultcode=faultcode, faultstring=faultstring, code=code, message=message, name=name
    )


def _soap12_fault(node: etree._Element, body: bytes) -> Fault:
    if node.tag != f"{{{SOAP12_ENV}}}Fault":
        raise ResponseError(
            "a SOAP 1.2 envelope that is not a fault; syncLead speaks SOAP 1.1", body=body
        )
    ns = f"{{{SOAP12_ENV}}}"
    faultcode = node.findtext(f"{ns}Code/{ns}Value") or ""
    faultstring = node.findtext(f"{ns}Reason/{ns}Text") or ""
    return Fault(
        faultcode=faultcode.strip(), faultstring=faultstring.strip(), code=_fault_code(faultstring)
    )


def _int(el: etree._Element | None, what: str, body: bytes) -> int:
    text = text_of(el)
    if text is None:
        raise ResponseError(f"{what} is missing", body=body)
    try:
        return int(text.strip())
    except ValueError:
        raise ResponseError(f"{what} is not an integer: {text[:40]!r}", body=body) from None


def _result(payload: etree._Element, body: bytes) -> SyncLeadResult:
    result = children(payload).get("result")
    if result is None:
        raise ResponseError("successSyncLead has no result", body=body)
    parts = children(result)
    status_el = parts.get("syncStatus")
    status_parts = children(status_el) if status_el is not None else {}
    lead_el = parts.get("leadId")
    if is_nil(lead_el):  # leadId is required in result; tolerate it only in syncStatus
        lead_el = status_parts.get("leadId")
    lead_id = _int(lead_el, "result/leadId", body)
    status_text = text_of(status_parts.get("status"))
    try:
        status = SyncStatus((status_text or "").strip())
    except ValueError:
        raise ResponseError(
            f"syncStatus/status must be CREATED, UPDATED or FAILED, got {status_text!r}", body=body
        ) from None
    record = parts.get("leadRecord")
    lead = None
    if record is not None and not is_nil(record):
        try:
            lead = _lead(record)
        except ValidationError as exc:
            raise ResponseError(f"the returned leadRecord is malformed: {exc}", body=body) from exc
    return SyncLeadResult(
        lead_id=lead_id, status=status, error=text_of(status_parts.get("error")), lead=lead
    )


_NIL = ("true", "1")
# The three children of an Attribute, unqualified or service-qualified, by position.
_ATTR_FIELDS = {
    tag: slot
    for slot, name in enumerate(("attrName", "attrType", "attrValue"))
    for tag in (name, f"{{{MKTOWS}}}{name}")
}


def _attributes(attr_list: etree._Element | None) -> list[Attribute]:
    """The attributes of a leadAttributeList, in one pass (the hot path of a full record)."""
    if attr_list is None or attr_list.get(XSI_NIL) in _NIL:
        return []
    attrs = []
    for node in attr_list:
        if not isinstance(node.tag, str):
            continue
        found: list[str | None] = [None, None, None]
        for child in node:
            slot = _ATTR_FIELDS.get(child.tag)
            if slot is not None:
                if found[slot] is not None:
                    field = ("attrName", "attrType", "attrValue")[slot]
                    raise _Repeated(f"<{field}> occurs twice in an attribute", field=field)
                text = child.text
                if text is None and child.get(XSI_NIL) in _NIL:
                    continue  # nil: only an element without text can be
                found[slot] = text or ""
        name, kind, value = found
        if name is None or not name.strip():
            raise ValidationError("an attribute has no attrName", field="attrName")
        # Text from the parser is XML already; whitespace is a value, only nil or absent is none.
        attrs.append(Attribute._from_parser(name, value or "", (kind or "").strip() or None))
    return attrs


def _lead(node: etree._Element) -> LeadRecord:
    """A LeadRecord element into a LeadRecord; ValidationError names a bad field."""
    parts = children(node)
    return LeadRecord(
        id=text_of(parts.get("Id")),
        email=text_of(parts.get("Email")),
        foreign_sys_person_id=text_of(parts.get("ForeignSysPersonId")),
        foreign_sys_type=text_of(parts.get("ForeignSysType")),
        attributes=_attributes(parts.get("leadAttributeList")),
    )


# -- server side -------------------------------------------------------------------


def _reject(code: int, detail: str) -> FaultError:
    return FaultError(Fault.for_code(code, detail))


IMPLEMENTED_OPERATIONS = ("syncLead",)
_OPERATION_PREFIX = "http://www.marketo.com/mktows/"


def unsupported_operation(name: str) -> Fault:
    """Fault 20019 for an operation the sandbox does not implement. ``name`` is an
    operation (``getTags``), its SOAPAction or its body element (``paramsGetTags``).
    """
    operation = name.removeprefix(_OPERATION_PREFIX)
    if operation.startswith("params") and operation[6:7].isupper():
        operation = operation[6].lower() + operation[7:]
    operation = operation[:80]
    source = f" (from {name[:100]!r})" if name != operation else ""
    return Fault.for_code(
        20019,
        f"operation {operation!r}{source} is not implemented by the mktows sandbox; it implements "
        f"{', '.join(IMPLEMENTED_OPERATIONS)} (its WSDL lists every operation of the 2_2 "
        "port type so that generated clients bind)",
    )


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    """A syncLead request as the server read it, and what it ignored.

    ``ignored`` holds the paths (``leadRecord/email``) of elements the schema does
    not know, which the service ignores as Marketo did; :func:`mktows._hints.hint`
    turns them into advice.
    """

    request: SyncLeadRequest
    ignored: tuple[str, ...] = ()


def _hinted(detail: str, ignored: list[str]) -> str:
    advice = hint(tuple(ignored))
    return detail if advice is None else f"{detail}; {advice}"


def _unknown(parent: str, parts: dict[str, etree._Element], known: tuple[str, ...]) -> list[str]:
    return [f"{parent}/{name}" for name in parts if name not in known]


def parse_sync_lead_request(body: bytes) -> SyncLeadRequest:
    """Parse a syncLead request as the service would (server side); see :func:`parse_request`."""
    return parse_request(body).request


def parse_request(body: bytes) -> ParsedRequest:
    """Parse a syncLead request as the service would (server side).

    Raises FaultError carrying the fault to answer: 20012 for anything that is
    not a SOAP 1.1 envelope or repeats an element the schema allows once, 20019
    for another operation, 20017 for a missing leadRecord or returnLead, 20110
    for a bad value. Key rules and authentication are the caller's to check.
    """
    try:
        root = parse_xml(body)
        payload = _body_payload(root, body, _ENVELOPE, _BODY)
    except ResponseError as exc:
        raise _reject(20012, exc.reason) from exc
    try:
        return _request(root, payload)
    except _Repeated as exc:
        raise _reject(20012, str(exc)) from None


def _request(root: etree._Element, payload: etree._Element) -> ParsedRequest:
    if payload.tag != _PARAMS:
        raise FaultError(unsupported_operation(etree.QName(payload).localname))
    body_el = payload.getparent()
    assert body_el is not None  # the payload is a child of the Body
    body_parts = [el for el in body_el if isinstance(el.tag, str)]
    if len(body_parts) > 1:
        raise _Repeated(
            f"the Body holds {len(body_parts)} elements; a syncLead request holds one "
            "paramsSyncLead",
            field="paramsSyncLead",
        )
    auth = None
    workspace = None
    headers = [el for el in root if el.tag == _HEADER]
    if len(headers) > 1:
        raise _Repeated("the Envelope holds two Headers", field="Header")
    seen: set[str] = set()
    for block in headers[0] if headers else ():
        if block.tag in (_AUTH, _CONTEXT):
            if block.tag in seen:
                raise _Repeated(
                    f"<{etree.QName(block).localname}> occurs twice in the Header",
                    field=etree.QName(block).localname,
                )
            seen.add(block.tag)
        if block.tag == _AUTH:
            parts = children(block)
            auth = AuthHeader(
                user_id=(text_of(parts.get("mktowsUserId")) or "").strip(),
                signature=(text_of(parts.get("requestSignature")) or "").strip(),
                timestamp=(text_of(parts.get("requestTimestamp")) or "").strip(),
            )
        elif block.tag == _CONTEXT and block.get(XSI_NIL) not in _NIL:
            # A nil context header (JAX-WS sends one when no workspace is set) means none.
            target = children(block).get("targetWorkspace")
            workspace = (
                None
                if target is None or target.get(XSI_NIL) in _NIL
                else (target.text or "").strip()
            )
    parts = children(payload)
    ignored = _unknown("paramsSyncLead", parts, PARAMS_SYNC_LEAD_FIELDS)
    record = parts.get("leadRecord")
    if record is None or record.get(XSI_NIL) in _NIL:
        raise _reject(20017, _hinted("leadRecord is required", ignored))
    return_text = text_of(parts.get("returnLead"))
    if return_text is None:
        raise _reject(20017, _hinted("returnLead is required", ignored))
    if return_text.strip() not in ("true", "false", "1", "0"):
        raise _reject(20110, f"returnLead must be true or false, got {return_text[:20]!r}")
    ignored += _unknown("leadRecord", children(record), LEAD_RECORD_FIELDS)
    try:
        lead = _lead(record)
    except _Repeated:
        raise
    except ValidationError as exc:
        raise _reject(20110, str(exc)) from exc
    request = SyncLeadRequest(
        auth=auth,
        workspace=workspace,
        lead=lead,
        return_lead=return_text.strip() in ("true", "1"),
        marketo_cookie=text_of(parts.get("marketoCookie")),
    )
    return ParsedRequest(request, tuple(ignored))
