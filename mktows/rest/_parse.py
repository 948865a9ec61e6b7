"""REST answers (JSON bytes) -> results, leads and mktows errors; pure: nothing sent, no I/O."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, TypeGuard

from .._codes import REST_TWIN_CODES, UNKNOWN_TWIN_CODE
from .._errors import FaultError, ResponseError, fault_error
from .._models import (
    Attribute,
    Fault,
    ForeignSysType,
    LeadRecord,
    Secret,
    SyncLeadResult,
    SyncStatus,
)
from ._settings import Catalog, LeadField

__all__ = [
    "lead_from_rest",
    "parse_associate",
    "parse_describe",
    "parse_get_lead",
    "parse_leads",
    "parse_rest_result",
    "parse_sync_result",
    "parse_sync_results",
    "parse_token",
    "rest_error",
]

_MAX_CODE_DIGITS = 18  # a REST code longer than this is no code (and int() would be slow)

_INTEGER_TYPES = frozenset({"integer", "score", "percent"})  # Adobe: percent is an integer
_STATUSES = {"created": SyncStatus.CREATED, "updated": SyncStatus.UPDATED}


def rest_error(
    code: int, message: str, *, status_code: int | None = None, request_id: str | None = None
) -> FaultError:
    """The mktows error for REST error ``code``: the SOAP twin's class and code, with
    ``fault.rest_code`` set, so that ``except`` clauses and retries work as for SOAP;
    ``request_id`` is the answer's ``requestId``, kept as evidence.
    """
    twin = REST_TWIN_CODES.get(code, UNKNOWN_TWIN_CODE)
    fault = replace(Fault.for_code(twin, f"REST {code}: {message}"), rest_code=code)
    error = fault_error(fault, status_code=status_code)
    error.request_id = request_id
    return error


def _request_id(answer: Mapping[str, Any]) -> str | None:
    value = answer.get("requestId")
    return _shown(value)[:100] or None if isinstance(value, str) else None


def _code(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit() and len(text) <= _MAX_CODE_DIGITS:
            return int(text)
    return None


def _shown(value: object) -> str:
    """Server text for a message: a lone surrogate (JSON can carry one) escaped, so the
    message can be printed, logged and encoded."""
    return str(value or "").strip().encode("utf-8", "backslashreplace").decode("utf-8")


def _reasons(value: object, what: str, body: bytes) -> list[tuple[int, str]]:
    """``[{"code": "601", "message": "..."}]`` -> [(601, "...")]."""
    if not isinstance(value, list) or not value:
        raise ResponseError(f"{what} must be a non-empty list", body=body)
    found = []
    for item in value:
        code = _code(item.get("code")) if isinstance(item, dict) else None
        if code is None:
            raise ResponseError(f"{what} holds an entry without a numeric code", body=body)
        found.append((code, _shown(item.get("message"))))
    return found


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise ResponseError(
            f"expected a JSON {what} answer, got something else", body=data
        ) from None
    if not isinstance(value, dict):
        raise ResponseError(f"expected a JSON object as the {what} answer", body=data)
    return value


def parse_rest_result(
    data: bytes, *, status_code: int | None = None, what: str = "REST"
) -> list[Any]:
    """The ``result`` list of a REST answer; a call-level error is raised as its
    FaultError (see :func:`rest_error`), anything else as ResponseError. Either
    keeps the answer's ``requestId`` as ``request_id``.
    """
    return _rest_answer(data, status_code, what)[0]


def _rest_answer(data: bytes, status_code: int | None, what: str) -> tuple[list[Any], str | None]:
    request_id = None
    try:
        answer = _json_object(data, what)
        request_id = _request_id(answer)
        success = answer.get("success")
        if success is False:
            code, message = _reasons(answer.get("errors"), "errors", data)[0]
            raise rest_error(code, message, status_code=status_code, request_id=request_id)
        if success is not True:
            raise ResponseError(f"the {what} answer has no boolean 'success'", body=data)
        result = answer.get("result", [])
        if not isinstance(result, list):
            raise ResponseError(f"the {what} answer's 'result' is not a list", body=data)
        return result, request_id
    except ResponseError as exc:
        error = exc.at_status(status_code)
        error.request_id = request_id
        raise error from exc.__cause__


def _identity_problem(reason: str, data: bytes, status_code: int) -> ResponseError:
    # An identity answer may hold a token: show its body only when it holds none.
    shown = b"" if b"access_token" in data else data
    return ResponseError(reason, status_code=status_code, body=shown)


def _usable_token(value: object) -> bool:
    # It goes into an HTTP header: printable ASCII without spaces (RFC 6750 b64token).
    return (
        isinstance(value, str)
        and value.isascii()
        and value.isprintable()
        and " " not in value
        and bool(value)
    )


def _seconds(value: object) -> float | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except OverflowError:  # an int past the float range
        return None
    return seconds if 0 <= seconds < math.inf else None


def parse_token(data: bytes, *, status_code: int) -> tuple[Secret, float]:
    """An identity answer -> (access token, seconds it lasts).

    An OAuth error (bad client id or secret) raises AuthenticationError (20014).
    """
    try:
        answer = json.loads(data)
    except (ValueError, RecursionError):
        answer = None
    if not isinstance(answer, dict):
        raise _identity_problem("expected a JSON OAuth token answer", data, status_code)
    if "error" in answer:
        detail = f"identity: {_shown(answer['error'])}: {_shown(answer.get('error_description'))}"
        fault = Fault.for_code(20014, detail.strip().rstrip(":") + "; check the client id/secret")
        raise fault_error(fault, status_code=status_code)
    if not _usable_token(answer.get("access_token")):
        raise _identity_problem("the OAuth answer has no usable access_token", data, status_code)
    expires_in = _seconds(answer.get("expires_in"))
    if expires_in is None:
        raise _identity_problem("the OAuth answer has no usable expires_in", data, status_code)
    return Secret(answer["access_token"]), expires_in


def parse_describe(data: bytes, *, status_code: int | None = None) -> Catalog:
    """A Describe answer -> the :class:`Catalog` of lead fields.

    Adobe ("Leads", Describe): "The REST child objects appear only when the field is
    valid for the corresponding API", so an entry without ``rest`` is a field REST
    cannot use: skipped. An entry whose ``rest`` names no usable field is refused.
    """
    fields = []
    for item in parse_rest_result(data, status_code=status_code, what="describe"):
        if isinstance(item, dict) and item.get("rest") is None:
            continue  # a SOAP-only (or UI-only) field: not in REST's schema
        rest = item.get("rest") if isinstance(item, dict) else None
        rest_name = rest.get("name") if isinstance(rest, dict) else None
        if not _field_name(rest_name):
            raise ResponseError(
                "a describe entry has no usable rest.name", status_code=status_code, body=data
            )
        soap = item.get("soap")
        soap_name = soap.get("name") if isinstance(soap, dict) else None
        data_type = item.get("dataType")
        fields.append(
            LeadField(
                rest_name=rest_name,
                soap_name=soap_name if _field_name(soap_name) else rest_name,
                data_type=data_type.strip() if _field_name(data_type) else "string",
            )
        )
    return Catalog(fields)


def _field_name(value: object) -> TypeGuard[str]:
    """Whether ``value`` can name a field in a URL, in JSON and in a SOAP attribute."""
    return isinstance(value, str) and value.isprintable() and bool(value)  # no surrogate


def parse_sync_result(data: bytes, *, status_code: int | None = None) -> SyncLeadResult:
    """A Sync Leads answer for one input -> SyncLeadResult.

    created/updated -> CREATED/UPDATED; skipped -> FAILED with the reasons joined
    into ``error``, except 1006 (UnknownAttributeError) and 1004 (LeadNotFoundError),
    raised like their SOAP twins 20105 and 20103.
    """
    outcome = parse_sync_results(data, 1, status_code=status_code)[0]
    if isinstance(outcome, FaultError):
        raise outcome
    return outcome


def parse_sync_results(
    data: bytes, count: int, *, status_code: int | None = None
) -> list[SyncLeadResult | FaultError]:
    """A Sync Leads answer for ``count`` inputs -> one outcome per input, in input order
    (Adobe: "Records in the result array appear in the same order as records in the
    request input array"): a SyncLeadResult, or the FaultError of a 1004/1006 record.
    A call-level error is raised; so is a ResponseError for any malformed record.
    """
    result, request_id = _rest_answer(data, status_code, "Sync Leads")
    try:
        if len(result) != count:
            raise ResponseError(f"expected {count} result records, got {len(result)}", body=data)
        outcomes: list[SyncLeadResult | FaultError] = []
        for record in result:
            try:
                outcomes.append(_sync_record(record, data, status_code))
            except FaultError as exc:
                exc.request_id = request_id
                outcomes.append(exc)
        return outcomes
    except ResponseError as exc:
        error = exc.at_status(status_code)
        error.request_id = request_id
        raise error from exc.__cause__


def _sync_record(record: object, data: bytes, status_code: int | None) -> SyncLeadResult:
    if not isinstance(record, dict):
        raise ResponseError("a result record is not a JSON object", body=data)
    raw_id = record.get("id")
    lead_id = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else 0
    status = record.get("status")
    if status in _STATUSES:
        if lead_id <= 0:
            raise ResponseError(
                f"a {status} record needs a positive integer id, got {raw_id!r}", body=data
            )
        return SyncLeadResult(lead_id=lead_id, status=_STATUSES[status])
    if status != "skipped":
        raise ResponseError(
            f"status must be created, updated or skipped, got {status!r}", body=data
        )
    reasons = _reasons(record.get("reasons"), "a skipped record's reasons", data)
    for special in (1006, 1004):
        for code, message in reasons:
            if code == special:
                raise rest_error(code, message, status_code=status_code)
    error = "; ".join(f"{code}: {message}" if message else str(code) for code, message in reasons)
    return SyncLeadResult(lead_id=max(lead_id, 0), status=SyncStatus.FAILED, error=error)


def _attribute_text(value: object, data_type: str) -> str | None:
    """A JSON value as SOAP attribute text (SPEC §6 wire forms); None for null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and data_type in _INTEGER_TYPES:
        return str(int(value))
    if isinstance(value, (int, float, str)):
        return str(value)
    raise ValueError(f"a {type(value).__name__} is not a field value")


def lead_from_rest(
    record: Mapping[str, Any], catalog: Catalog, foreign_id_field: str | None
) -> LeadRecord:
    """A Get Lead record -> LeadRecord: id, email and the foreign-id field as keys
    (ForeignSysType CUSTOM), every other field an attribute under its SOAP name,
    typed by the schema's data type. ValidationError/ValueError for a bad record.
    """
    keys = {"id", "email", foreign_id_field}
    attrs = []
    for name, value in record.items():
        if name in keys:
            continue
        known = catalog.by_rest.get(name)
        data_type = known.data_type if known else "string"
        text = _attribute_text(value, data_type)
        if text is not None:
            attr = Attribute(name=known.soap_name if known else name, value=text, type=data_type)
            attrs.append(attr)
    foreign = record.get(foreign_id_field) if foreign_id_field else None
    foreign_text = _attribute_text(foreign, "string")
    return LeadRecord(
        id=record.get("id"),
        email=record.get("email"),
        foreign_sys_person_id=foreign_text,
        foreign_sys_type=ForeignSysType.CUSTOM if foreign_text is not None else None,
        attributes=attrs,
    )


def parse_get_lead(
    data: bytes, status_code: int, lead_id: int, catalog: Catalog, foreign_id_field: str | None
) -> LeadRecord:
    """A Get Lead answer -> lead ``lead_id``, just synced (see :func:`lead_from_rest`);
    ResponseError unless the answer holds exactly that one well-formed record.
    """
    result = parse_rest_result(data, status_code=status_code, what="Get Lead")
    if len(result) != 1 or not isinstance(result[0], dict):
        raise ResponseError(
            f"expected lead {lead_id}, just synced, as one record; got {len(result)}",
            status_code=status_code,
            body=data,
        )
    try:
        return lead_from_rest(result[0], catalog, foreign_id_field)
    except ValueError as exc:  # ValidationError is a ValueError too
        raise ResponseError(
            f"the returned lead is malformed: {exc}", status_code=status_code, body=data
        ) from exc


def parse_associate(data: bytes, *, status_code: int) -> None:
    """An Associate Lead answer: nothing to return, an error answer raised as its error."""
    parse_rest_result(data, status_code=status_code, what="Associate Lead")


def parse_leads(
    data: bytes, status_code: int, catalog: Catalog, foreign_id_field: str | None
) -> dict[int, LeadRecord]:
    """A Get Leads by Filter Type answer -> the leads found, by id (see
    :func:`lead_from_rest`); an id not found is simply absent. ResponseError for a
    malformed record.
    """
    result, request_id = _rest_answer(data, status_code, "Get Leads")
    found: dict[int, LeadRecord] = {}
    for record in result:
        lead_id = record.get("id") if isinstance(record, dict) else None
        try:
            if not isinstance(lead_id, int) or isinstance(lead_id, bool) or lead_id <= 0:
                raise ValueError(f"a record has no positive integer id: {lead_id!r}")
            found[lead_id] = lead_from_rest(record, catalog, foreign_id_field)
        except ValueError as exc:
            error = ResponseError(
                f"a returned lead is malformed: {exc}", status_code=status_code, body=data
            )
            error.request_id = request_id
            raise error from exc
    return found
