"""The lead field catalog: standard fields and their attrType, plus custom fields.

Pure data and lookups; knows nothing of SQL, XML or HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["ATTR_TYPES", "STANDARD_FIELDS", "FieldCatalog"]

# The attrType values the service writes (SPEC §1), plus Marketo's score/percent.
ATTR_TYPES = frozenset(
    {
        "string",
        "text",
        "integer",
        "boolean",
        "date",
        "datetime",
        "float",
        "currency",
        "email",
        "phone",
        "url",
        "score",
        "percent",
    }
)

# Standard lead fields (API names as the service spells them). The keys Id, Email,
# ForeignSysPersonId and ForeignSysType are elements of leadRecord, not attributes.
STANDARD_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "Salutation": "string",
        "FirstName": "string",
        "MiddleName": "string",
        "LastName": "string",
        "Title": "string",
        "Department": "string",
        "Company": "string",
        "Industry": "string",
        "Phone": "phone",
        "MobilePhone": "phone",
        "Fax": "phone",
        "Website": "url",
        "Address": "text",
        "City": "string",
        "State": "string",
        "PostalCode": "string",
        "Country": "string",
        "NumberOfEmployees": "integer",
        "AnnualRevenue": "currency",
        "LeadSource": "string",
        "LeadStatus": "string",
        "Rating": "string",
        "LeadScore": "integer",
        "Unsubscribed": "boolean",
        "UnsubscribedReason": "text",
        "DoNotCall": "boolean",
        "EmailInvalid": "boolean",
        "DateOfBirth": "date",
        "LastActivityDate": "datetime",
        "AnonymousIP": "string",
        "InferredCompany": "string",
        "SICCode": "string",
    }
)


class FieldCatalog:
    """Field names (matched case-insensitively) -> canonical name and attrType."""

    __slots__ = ("_by_lower", "_order", "_types")

    def __init__(self, custom_fields: Mapping[str, str] = MappingProxyType({})) -> None:
        types = dict(STANDARD_FIELDS)
        types.update(custom_fields)
        self._types: Mapping[str, str] = types
        self._by_lower = {name.lower(): name for name in types}
        self._order = {name: index for index, name in enumerate(types)}

    def canonical(self, name: str) -> str | None:
        """The catalog's spelling of ``name``, or None for an unknown field."""
        return self._by_lower.get(name.strip().lower())

    def attr_type(self, name: str) -> str:
        """The attrType of a canonical field name."""
        return self._types[name]

    def order(self, name: str) -> int:
        """The position of a canonical field, for answering fields in catalog order."""
        return self._order[name]
