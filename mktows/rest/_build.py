"""A lead -> the REST requests that sync it and read it back; pure: nothing is sent from here."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any
from urllib.parse import quote, urlencode

from .._errors import ConfigError, ConversionError, ValidationError
from .._models import Attribute, LeadRecord, check_sync_keys
from ._parse import rest_error
from ._settings import Catalog, RestSettings

__all__ = [
    "ACCEPT_HEADERS",
    "FORM_HEADERS",
    "GET_URL_LIMIT",
    "JSON_HEADERS",
    "SyncPlan",
    "build_get_lead",
    "build_get_leads",
    "build_sync_body",
    "plan_sync",
    "sync_body",
    "sync_record",
]

# Marketo refuses URIs over ~8 KB (HTTP 414); a Get Lead whose field list would make
# the URL longer than this is sent as POST ...?_method=GET with the fields in a form body.
GET_URL_LIMIT = 7000

JSON_HEADERS: Mapping[str, str] = MappingProxyType(
    {"Content-Type": "application/json", "Accept": "application/json"}
)
FORM_HEADERS: Mapping[str, str] = MappingProxyType(
    {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
)
ACCEPT_HEADERS: Mapping[str, str] = MappingProxyType({"Accept": "application/json"})


@dataclass(frozen=True, slots=True)
class SyncPlan:
    """How one lead goes out: the action, the lookup field, the partition, its key fields."""

    lookup_field: str
    partition: str | None
    keys: Mapping[str, Any]
    action: str = "createOrUpdate"

    @property
    def group(self) -> tuple[str, str, str | None]:
        """What leads sent in one Sync Leads call must share: action, lookup, partition."""
        return (self.action, self.lookup_field, self.partition)


def plan_sync(lead: LeadRecord, settings: RestSettings, workspace: str | None) -> SyncPlan:
    """Check a lead and pick its lookup field by SOAP precedence (SPEC §3): Id -> "id",
    else ForeignSysPersonId -> the configured foreign-id field, else Email -> "email".
    Raises ValidationError or ConfigError; nothing is sent.

    Adobe ("Leads", Sync Leads): "Because id is a system-managed unique key, include it
    only with the updateOnly action", and partitionName "works only when action is
    createOnly or createOrUpdate": an Id-keyed lead goes out as ``updateOnly`` with
    lookupField ``id`` and no partition (a missing lead is 1004, LeadNotFoundError).
    """
    check_sync_keys(lead)
    keys: dict[str, Any] = {}
    foreign = settings.foreign_id_field
    if lead.foreign_sys_person_id is not None and foreign is None:
        raise ConfigError(
            "this lead is keyed by ForeignSysPersonId, but no foreign-id field is configured: "
            "set foreign_id_field (MKTOWS_FOREIGN_ID_FIELD) to the REST name of the custom "
            "lead field that holds it"
        )
    if lead.id is not None:
        lookup = "id"
        keys["id"] = lead.id
    elif foreign is not None and lead.foreign_sys_person_id is not None:
        lookup = foreign
    else:
        lookup = "email"
    if lead.email is not None:
        keys["email"] = lead.email
    if foreign is not None and lead.foreign_sys_person_id is not None:
        keys[foreign] = lead.foreign_sys_person_id
    partition = None
    if workspace is not None:
        partition = settings.partitions.get(workspace)
        if partition is None:
            known = ", ".join(sorted(settings.partitions)) or "none"
            raise ValidationError(
                f"workspace {workspace!r} has no partition mapping (mapped: {known}); add "
                f"{workspace}=PARTITION to partitions (MKTOWS_PARTITIONS)",
                field="workspace",
            )
    if lookup == "id":
        return SyncPlan(lookup_field=lookup, partition=None, keys=keys, action="updateOnly")
    return SyncPlan(lookup_field=lookup, partition=partition, keys=keys)


def _json_value(attr: Attribute, data_type: str) -> Any:
    """An attribute's text as the JSON value its schema data type calls for."""
    typed = Attribute._from_parser(attr.name, attr.value, data_type).typed_value
    if isinstance(typed, Decimal):
        typed = float(typed)  # JSON has one number type; Marketo's currency is a double
    if data_type.lower() == "percent" and isinstance(typed, float):
        # Adobe ("Field Types"): "A percentage expressed as an integer".
        if not typed.is_integer():
            raise ConversionError(
                f"attribute {attr.name!r}: {attr.value[:80]!r} is no whole percent; "
                "REST takes percent fields as integers",
                field=attr.name,
            )
        return int(typed)
    if isinstance(typed, float) and not math.isfinite(typed):
        raise ConversionError(
            f"attribute {attr.name!r}: {attr.value[:80]!r} is out of range for a JSON number",
            field=attr.name,
        )
    if isinstance(typed, (dt.date, dt.datetime)):
        return typed.isoformat()
    return typed


def sync_record(plan: SyncPlan, lead: LeadRecord, catalog: Catalog) -> bytes:
    """One lead's input record as JSON bytes; an attribute the schema lacks raises
    UnknownAttributeError (20105, REST 1006), a value that does not fit its type
    ConversionError, before anything is sent.
    """
    record: dict[str, Any] = {}
    for attr in lead.attributes.as_tuple():
        known = catalog.field_for(attr.name)
        if known is None:
            raise rest_error(1006, f"Field '{attr.name}' not found")
        record[known.rest_name] = _json_value(attr, known.data_type)
    record.update(plan.keys)  # the keys win over attributes of the same field
    return json.dumps(record, ensure_ascii=False, allow_nan=False).encode()


def sync_body(plan: SyncPlan, records: list[bytes]) -> bytes:
    """The Sync Leads body for input ``records`` (from :func:`sync_record`) that share
    ``plan``'s action, lookup field and partition."""
    head: dict[str, Any] = {"action": plan.action, "lookupField": plan.lookup_field}
    if plan.partition is not None:
        head["partitionName"] = plan.partition
    text = json.dumps(head, ensure_ascii=False)
    return text[:-1].encode() + b', "input": [' + b", ".join(records) + b"]}"


def build_sync_body(plan: SyncPlan, lead: LeadRecord, catalog: Catalog) -> bytes:
    """The Sync Leads JSON body for one lead (see :func:`sync_record`)."""
    return sync_body(plan, [sync_record(plan, lead, catalog)])


def build_get_lead(
    base: str, lead_id: int, names: list[str]
) -> tuple[str, str, bytes, Mapping[str, str]]:
    """Get Lead by Id asking for ``names``: (method, url, body, headers). A GET unless
    the URL would pass :data:`GET_URL_LIMIT`; then Marketo's POST with ``_method=GET``
    and the field list in a form body.
    """
    url = f"{base}/v1/lead/{lead_id}.json"
    query = "fields=" + ",".join(quote(name, safe="") for name in names)
    if len(url) + 1 + len(query) <= GET_URL_LIMIT:
        return "GET", f"{url}?{query}", b"", ACCEPT_HEADERS
    return (
        "POST",
        f"{url}?_method=GET",
        urlencode({"fields": ",".join(names)}).encode(),
        FORM_HEADERS,
    )


def build_get_leads(
    base: str, lead_ids: list[int], names: list[str]
) -> tuple[str, str, bytes, Mapping[str, str]]:
    """Get Leads by Filter Type (``filterType=id``) for up to 300 ids asking for
    ``names``: (method, url, body, headers); past :data:`GET_URL_LIMIT` the POST
    with ``_method=GET`` and the query in a form body (Adobe: "Error Codes", 414).
    """
    url = f"{base}/v1/leads.json"
    params = {
        "filterType": "id",
        "filterValues": ",".join(str(lead_id) for lead_id in lead_ids),
        "fields": ",".join(names),
    }
    query = urlencode(params, safe=",")
    if len(url) + 1 + len(query) <= GET_URL_LIMIT:
        return "GET", f"{url}?{query}", b"", ACCEPT_HEADERS
    return "POST", f"{url}?_method=GET", urlencode(params).encode(), FORM_HEADERS
