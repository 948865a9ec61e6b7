"""Group "parse": a successSyncLead with a nil leadRecord, with a full 20-attribute
record, and a fault. Rows: mktows, zeep (process_reply), suds, and the floor
(``lxml.etree.fromstring`` + ``find`` into a dataclass).
"""

from __future__ import annotations

import functools
import pathlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lxml import etree

import mktows

from ._fixtures import (
    SOAP_ENV,
    fault_body,
    returned_lead,
    success_body,
    suds_client,
    zeep_client,
)
from ._harness import BenchError, Row, per_call

GROUP = "parse"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"

# The normal form every row's output is reduced to (outside the timing) and compared on.
Normal = tuple[Any, ...]


def _norm_lead(lead_id: Any, email: Any, attrs: list[tuple[Any, Any, Any]]) -> Normal:
    return (int(lead_id), str(email), tuple((str(n), t and str(t), str(v)) for n, t, v in attrs))


def expected(record: mktows.LeadRecord | None, fault: bool) -> Normal:
    if fault:
        f = mktows.Fault.for_code(20014)
        return ("fault", f.faultcode, f.faultstring, f.code)
    from ._fixtures import LEAD_ID

    status = "UPDATED" if record is not None else "CREATED"
    lead = None
    if record is not None:
        attrs = [(a.name, a.type, a.value) for a in record.attributes.as_tuple()]
        lead = _norm_lead(record.id, record.email, attrs)
    return ("result", LEAD_ID, status, None, lead)


# -- mktows ---------------------------------------------------------------------------


def mktows_parse(body: bytes, status: int) -> Any:
    return mktows.parse_sync_lead_response(body, status_code=status)


def mktows_norm(out: Any) -> Normal:
    if isinstance(out, mktows.Fault):
        return ("fault", out.faultcode, out.faultstring, out.code)
    lead = None
    if out.lead is not None:
        attrs = [(a.name, a.type, a.value) for a in out.lead.attributes.as_tuple()]
        lead = _norm_lead(out.lead.id, out.lead.email, attrs)
    return ("result", out.lead_id, out.status.value, out.error, lead)


# -- zeep -----------------------------------------------------------------------------


class _Reply:
    """The few attributes of a requests.Response that zeep's process_reply reads."""

    def __init__(self, body: bytes, status: int) -> None:
        self.status_code = status
        self.content = body
        self.headers = {"Content-Type": "text/xml; charset=utf-8"}
        self.encoding = "utf-8"


def zeep_parser(client: Any) -> Callable[[bytes, int], Any]:
    import zeep.exceptions

    binding = client.service._binding
    operation = binding.get("syncLead")

    def parse(body: bytes, status: int) -> Any:
        try:
            return binding.process_reply(client, operation, _Reply(body, status))
        except zeep.exceptions.Fault as exc:
            return exc

    return parse


def zeep_norm(out: Any) -> Normal:
    import zeep.exceptions

    if isinstance(out, zeep.exceptions.Fault):
        code = out.detail.findtext(".//code")
        return ("fault", out.code, out.message, int(code))
    lead = None
    rec = out.leadRecord
    # zeep reads a nil leadRecord as a LeadRecord whose fields are all None.
    if rec is not None and (rec.Id, rec.Email, rec.leadAttributeList) != (None, None, None):
        attrs = [(a.attrName, a.attrType, a.attrValue) for a in rec.leadAttributeList.attribute]
        lead = _norm_lead(rec.Id, rec.Email, attrs)
    return ("result", out.leadId, out.syncStatus.status, out.syncStatus.error, lead)


# -- suds -----------------------------------------------------------------------------


def suds_parser(client: Any) -> Callable[[bytes, int], Any]:
    from suds import WebFault

    rec = client.factory.create("LeadRecord")
    rec.Email = "x@example.com"
    context = client.service.syncLead(leadRecord=rec, returnLead=False)

    def parse(body: bytes, status: int) -> Any:
        try:
            return context.process_reply(body, status)
        except WebFault as exc:
            return exc

    return parse


def suds_norm(out: Any) -> Normal:
    from suds import WebFault

    if isinstance(out, WebFault):
        f = out.fault
        return ("fault", f.faultcode, f.faultstring, int(f.detail.serviceException.code))
    lead = None
    if out.leadRecord is not None:
        rec = out.leadRecord
        attrs = [
            (a.attrName, getattr(a, "attrType", None), a.attrValue)
            for a in rec.leadAttributeList.attribute
        ]
        lead = _norm_lead(rec.Id, rec.Email, attrs)
    error = out.syncStatus.error if hasattr(out.syncStatus, "error") else None
    return ("result", out.leadId, str(out.syncStatus.status), error, lead)


# -- floor ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FloorResult:
    lead_id: int
    status: str
    error: str | None
    lead: Normal | None


@dataclass(frozen=True, slots=True)
class FloorFault:
    faultcode: str
    faultstring: str
    code: int


_BODY = f"{{{SOAP_ENV}}}Body"
_FAULT = f"{{{SOAP_ENV}}}Fault"


def floor_parse(body: bytes, status: int) -> FloorResult | FloorFault:
    """``fromstring`` + ``find``: no hardening, no checks beyond what the data needs."""
    payload = etree.fromstring(body).find(_BODY)[0]  # type: ignore[index]
    if payload.tag == _FAULT:
        return FloorFault(
            payload.findtext("faultcode") or "",
            payload.findtext("faultstring") or "",
            int(payload.findtext("detail/*/code") or 0),
        )
    res = payload.find("result")
    assert res is not None
    error = res.find("syncStatus/error")
    rec = res.find("leadRecord")
    lead = None
    if rec is not None and rec.get(XSI_NIL) != "true":
        attrs = [
            (a.findtext("attrName"), a.findtext("attrType"), a.findtext("attrValue") or "")
            for a in rec.iterfind("leadAttributeList/attribute")
        ]
        lead = _norm_lead(rec.findtext("Id"), rec.findtext("Email"), attrs)
    return FloorResult(
        int(res.findtext("leadId") or 0),
        res.findtext("syncStatus/status") or "",
        None if error is None or error.get(XSI_NIL) == "true" else error.text,
        lead,
    )


def floor_norm(out: Any) -> Normal:
    if isinstance(out, FloorFault):
        return ("fault", out.faultcode, out.faultstring, out.code)
    return ("result", out.lead_id, out.status, out.error, out.lead)


CASES = [
    ("successSyncLead, nil leadRecord", None, False),
    ("successSyncLead, full 20-attribute record", 20, False),
    ("fault 20014", None, True),
]


def run(wsdl: pathlib.Path, *, repeat: int, min_time: float) -> list[Row]:
    """Check every parser against the expected values, then time each."""
    zclient = zeep_client(wsdl)
    parsers: list[tuple[str, Callable[[bytes, int], Any], Callable[[Any], Normal]]] = [
        ("mktows", mktows_parse, mktows_norm),
        ("zeep", zeep_parser(zclient), zeep_norm),
        ("suds", suds_parser(suds_client(wsdl)), suds_norm),
        ("floor: fromstring + find -> dataclass", floor_parse, floor_norm),
    ]
    rows: list[Row] = []
    for case, n_attributes, is_fault in CASES:
        record = returned_lead(n_attributes) if n_attributes else None
        body = fault_body() if is_fault else success_body(record)
        status = 500 if is_fault else 200
        want = expected(record, is_fault)
        for name, parse, norm in parsers:
            got = norm(parse(body, status))
            if got != want:
                raise BenchError(f"parse/{case}: {name} gave {got!r}, expected {want!r}")
        for name, parse, _ in parsers:
            seconds = per_call(
                functools.partial(parse, body, status), repeat=repeat, min_time=min_time
            )
            rows.append(Row(GROUP, case, name, seconds, "s/op"))
    return rows
