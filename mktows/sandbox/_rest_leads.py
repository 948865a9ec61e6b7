"""The sandbox's REST lead resources (SPEC §7): Sync Leads and Get Leads by Filter Type,
as Adobe's "Leads" page documents them, translated into the service core. JSON-ready
values in and out; no HTTP, no matching rules of its own (those are the core's).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .._codes import REST_MESSAGES
from .._errors import ValidationError
from .._models import Attribute, LeadRecord
from ._catalog import EMAIL, FOREIGN_ID, ID, Field, FieldCatalog, misfit
from ._service import Keys, Lookup, Mode, Outcome, Placement, SyncService, Upserted
from ._store import LeadRow

__all__ = ["MAX_BATCH", "SOAP_ONLY_FIELDS", "RestLeads", "RestRefusal"]

JsonObject = dict[str, Any]

MAX_BATCH = 300  # Marketo's limit of records per Sync Leads call and of filterValues

# Standard fields whose Describe entry has no ``rest`` child: "The REST child objects
# appear only when the field is valid for the corresponding API" (Adobe, "Leads",
# Describe). Inferred fields are filled in by Marketo; REST cannot write them.
SOAP_ONLY_FIELDS = frozenset({"InferredCompany"})

_MODES: Mapping[str, Mode] = {mode.value: mode for mode in Mode}
_LOOKUPS: Mapping[str, Lookup] = {ID: Lookup.ID, EMAIL: Lookup.EMAIL, FOREIGN_ID: Lookup.FOREIGN_ID}
_DEFAULT_FIELDS = ("id", "email", "firstName", "lastName", "updatedAt", "createdAt")
_NUMBER_TYPES = frozenset({"integer", "score", "float", "percent", "currency"})
_INTEGER_TYPES = frozenset({"integer", "score", "percent"})  # Adobe: percent is an integer


class RestRefusal(Exception):
    """A call-level refusal (``code``, detail) the REST face answers as its JSON error."""

    def __init__(self, code: int, detail: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _short(text: str) -> str:
    """Request text echoed in a message: cut short, a lone surrogate (JSON can carry
    one, UTF-8 cannot) escaped so that the answer can be encoded."""
    text = text if len(text) <= 60 else text[:57] + "..."
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


# Adobe's record-level messages that name what they are about ("Error Codes").
_TEMPLATES: Mapping[int, str] = {
    1006: "Field '{}' not found",
    1008: "Access denied to partition '{}'",
}


def _reason(code: int, detail: str | None = None) -> JsonObject:
    text = REST_MESSAGES[code]
    if detail and code in _TEMPLATES:
        return {"code": str(code), "message": _TEMPLATES[code].format(detail)}
    return {"code": str(code), "message": f"{text}: {detail}" if detail else text}


class _Skip(Exception):
    """One input record skipped, with its reason (and the lead it matched)."""

    def __init__(self, code: int, detail: str | None = None, lead_id: int | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.lead_id = lead_id


@dataclass(frozen=True, slots=True)
class _SyncCall:
    mode: Mode
    lookup: Lookup
    lookup_name: str
    partition: str | None


class RestLeads:
    """Sync Leads and Get Leads over a :class:`SyncService`; ``partitions()`` names
    the partitions the API user can reach and ``fallback()`` a new lead's default one."""

    def __init__(
        self,
        service: SyncService,
        foreign_id_field: str,
        partitions: Callable[[], set[str]],
        fallback: Callable[[], str],
    ) -> None:
        self.service = service
        self.catalog: FieldCatalog = service.catalog
        self.foreign_id_field = foreign_id_field
        self.partitions = partitions
        self.fallback = fallback

    def field(self, rest_name: str) -> Field | None:
        """The field REST knows by ``rest_name`` (None for SOAP-only fields)."""
        found = self.catalog.by_rest(rest_name)
        return None if found is None or found.soap_name in SOAP_ONLY_FIELDS else found

    # -- Get Lead by Id, Get Leads by Filter Type -----------------------------------------

    def lead(self, lead_id: int, fields: str) -> list[JsonObject]:
        """Get Lead by Id: ``[lead]`` or ``[]``."""
        row = self.service.lead(lead_id)
        return [] if row is None else [self._answer(row, fields)]

    def leads(self, query: Sequence[tuple[str, str]]) -> list[JsonObject]:
        """Get Leads by Filter Type, ``filterType=id`` or ``email``, up to 300 values."""
        params = dict(query)
        filter_type = params.get("filterType", "").strip()
        values = [v.strip() for v in params.get("filterValues", "").split(",") if v.strip()]
        if not filter_type:
            raise RestRefusal(1002, "filterType")
        if not values:
            raise RestRefusal(1002, "filterValues")
        if filter_type not in ("id", "email"):
            raise RestRefusal(1011, _short(filter_type))
        if len(values) > MAX_BATCH:
            raise RestRefusal(1003, f"{len(values)} filterValues; the limit is {MAX_BATCH}")
        fields = params.get("fields", "")
        found: list[JsonObject] = []
        for value in dict.fromkeys(values):
            if filter_type == "id":
                if not value.isdigit() or len(value) > 10:
                    raise RestRefusal(1001, f"'{_short(value)}'. Required of type 'integer'")
                row = self.service.lead(int(value))
                rows = [] if row is None else [row]
            else:
                rows = self.service.leads_by_email(value)
            found.extend(self._answer(row, fields) for row in rows)
        return found

    def _answer(self, row: LeadRow, fields: str) -> JsonObject:
        names = [name.strip() for name in fields.split(",") if name.strip()] or _DEFAULT_FIELDS
        answer: JsonObject = {"id": row.id}
        for name in names:
            f = self.field(name)
            if f is None:
                continue  # unknown names are ignored (and updatedAt/createdAt are not kept)
            value = _typed(f, _stored(row, f))
            if value is not None:
                answer[f.rest_name] = value
        return answer

    # -- Sync Leads --------------------------------------------------------------------

    def sync(self, data: object) -> list[JsonObject]:
        """Sync Leads for a parsed body: one result per input record, in input order."""
        if not isinstance(data, dict):
            raise RestRefusal(1003, "the body must be a JSON object")
        action = data.get("action", Mode.UPSERT.value)
        mode = _MODES.get(action) if isinstance(action, str) else None
        if mode is None:
            raise RestRefusal(1003, f"action must be one of {', '.join(_MODES)}")
        lookup_name = data.get("lookupField", "email")
        field = self.field(lookup_name) if isinstance(lookup_name, str) else None
        lookup = _LOOKUPS.get(field.soap_name) if field is not None else None
        if field is None or lookup is None:
            shown = _short(lookup_name) if isinstance(lookup_name, str) else "lookupField"
            raise RestRefusal(1011, f"'{shown}'; use id, email or {self.foreign_id_field}")
        partition = data.get("partitionName")
        if partition is not None and not isinstance(partition, str):
            raise RestRefusal(1003, "partitionName must be a string")
        records = data.get("input")
        if not isinstance(records, list) or not records:
            raise RestRefusal(1003, "input must be a non-empty list of lead objects")
        if len(records) > MAX_BATCH:
            raise RestRefusal(1003, f"input holds {len(records)} records; the limit is {MAX_BATCH}")
        if not all(isinstance(record, dict) for record in records):
            raise RestRefusal(1003, "each input record must be a JSON object")
        call = _SyncCall(mode, lookup, field.rest_name, partition)
        return [self._sync_one(record, call) for record in records]

    def _sync_one(self, record: Mapping[str, object], call: _SyncCall) -> JsonObject:
        try:
            done = self._upsert(record, call)
        except _Skip as skip:
            answer: JsonObject = {}
            if skip.lead_id is not None:
                answer["id"] = skip.lead_id
            answer["status"] = "skipped"
            answer["reasons"] = [_reason(skip.code, skip.detail)]
            return answer
        assert done.row is not None
        return {"id": done.row.id, "status": done.outcome.value}

    def _checked(self, record: Mapping[str, object]) -> tuple[dict[str, object], dict[str, str]]:
        keys: dict[str, object] = {}
        attrs: dict[str, str] = {}
        for name, value in record.items():
            f = self.field(name)
            if f is None:
                raise _Skip(1006, _short(name))
            if f.key:
                keys[f.soap_name] = _key(f, value)
            else:
                attrs[f.soap_name] = _text(f, value)
        return keys, attrs

    def _upsert(self, record: Mapping[str, object], call: _SyncCall) -> Upserted:
        keys, attrs = self._checked(record)
        if call.partition is not None:
            if call.mode is Mode.UPDATE:
                # Adobe: partitionName "works only when action is createOnly or createOrUpdate".
                raise _Skip(1003, "partitionName works only with createOnly or createOrUpdate")
            if call.partition not in self.partitions():
                raise _Skip(1008, _short(call.partition))
        if (ID in keys or call.lookup is Lookup.ID) and call.mode is not Mode.UPDATE:
            # Adobe: "Because id is a system-managed unique key, include it only with the
            # updateOnly action".
            raise _Skip(1003, "id may be given only with action updateOnly")
        if call.mode is not Mode.DUPLICATE and call.lookup.value not in keys:
            raise _Skip(1003, f"the lookupField '{call.lookup_name}' is missing from the input")
        lead_id = keys.get(ID)
        done = self.service.upsert(
            Keys(
                id=lead_id if isinstance(lead_id, int) else None,
                email=_str_or_none(keys.get(EMAIL)),
                fsp_id=_str_or_none(keys.get(FOREIGN_ID)),
            ),
            attrs,
            lookup=call.lookup,
            mode=call.mode,
            placement=Placement(
                fallback=self.fallback(),
                required=call.partition,
                partition=call.partition,
                strict=True,
            ),
        )
        row_id = done.row.id if done.row is not None else None
        if done.outcome is Outcome.NOT_FOUND:
            raise _Skip(1004)
        if done.outcome is Outcome.EXISTS:
            raise _Skip(1005, None, row_id)
        if done.outcome is Outcome.MULTIPLE:
            raise _Skip(1007)
        if done.outcome is Outcome.WRONG_PARTITION:
            # Adobe 1010: "The specified record already exists in a separate lead partition".
            raise _Skip(1010, None, row_id)
        if done.outcome is Outcome.FOREIGN_ID_TAKEN:
            raise _Skip(
                1003, f"'{self.foreign_id_field}' already belongs to lead {done.holder}", row_id
            )
        return done


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _key(f: Field, value: object) -> object:
    """A key's value checked: id a lead id, Email and the foreign id non-empty strings."""
    if f.soap_name == ID:
        try:
            return LeadRecord(id=value).id  # type: ignore[arg-type]  # checked right here
        except ValidationError:
            raise _Skip(1003, f"invalid value for field '{f.rest_name}'") from None
    if not isinstance(value, str) or not value.strip():
        raise _Skip(1003, f"'{f.rest_name}' must be a non-empty string")
    try:
        LeadRecord(email=value)  # the same characters any stored text must allow
    except ValidationError:
        raise _Skip(1003, f"invalid value for field '{f.rest_name}'") from None
    return value


def _text(f: Field, value: object) -> str:
    """A JSON value as the text the store keeps, checked against the field's type.
    null (or "") clears the field.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, Decimal)):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise _Skip(1003, f"invalid value for field '{f.rest_name}': not a string, number or bool")
    try:
        Attribute(name=f.soap_name, value=text)  # the characters any stored text must allow
    except ValidationError:
        raise _Skip(1003, f"invalid value for field '{f.rest_name}'") from None
    if misfit(f.data_type, text) is not None:  # the check SOAP makes too
        raise _Skip(1003, f"invalid value for field '{f.rest_name}'")
    return text


def _stored(row: LeadRow, f: Field) -> str | None:
    if f.soap_name == ID:
        return str(row.id)
    if f.soap_name == EMAIL:
        return row.email
    if f.soap_name == FOREIGN_ID:
        return row.fsp_id
    return row.attrs.get(f.soap_name)


def _typed(f: Field, text: str | None) -> object:
    """Stored text as a JSON value: numbers and booleans typed, the rest as text."""
    if text is None or f.data_type not in _NUMBER_TYPES | {"boolean"}:
        return text
    try:
        value = Attribute(name=f.soap_name, value=text, type=f.data_type).typed_value
    except ValidationError:
        return text  # stored while the field had another type (the store outlives a config)
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return text
    if f.data_type in _INTEGER_TYPES and isinstance(value, float) and value.is_integer():
        return int(value)
    return value
