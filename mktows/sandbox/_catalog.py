"""The lead field catalog: each field's SOAP name, REST name, data type (attrType)
and display name, standard fields plus custom ones.

Pure data and lookups; knows nothing of SQL, XML, JSON or HTTP.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .._errors import ConfigError
from .._values import typed_value

__all__ = [
    "ATTR_TYPES",
    "EMAIL",
    "FOREIGN_ID",
    "ID",
    "KEY_NAMES",
    "STANDARD_FIELDS",
    "Field",
    "FieldCatalog",
    "misfit",
]

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

# REST names of standard fields that are not simply the SOAP name with its first
# letter lowered.
_STANDARD_REST_NAMES: Mapping[str, str] = MappingProxyType({"SICCode": "sicCode"})

ID, EMAIL, FOREIGN_ID = "Id", "Email", "ForeignSysPersonId"
# Names no custom field may take, in either API (compared case-insensitively).
KEY_NAMES = frozenset({"id", "email", "foreignsyspersonid", "foreignsystype"})

_WORDS = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
# The length Describe answers for string-like fields (Marketo's 255; not enforced).
_STRING_LENGTH = 255
_STRING_TYPES = frozenset({"string", "email", "phone", "url"})


# What a value of each typed attrType must look like, as a refusal says it.
_EXPECTED = {
    "integer": "an integer (e.g. 250)",
    "score": "an integer (e.g. 250)",
    "float": "a number (e.g. 2.5)",
    "percent": "a number (e.g. 2.5)",
    "currency": "a decimal number (e.g. 1250.50)",
    "boolean": "a boolean (true, false, 1 or 0)",
    "date": "a date (YYYY-MM-DD)",
    "datetime": "a date-time (YYYY-MM-DDThh:mm:ss, with Z or an offset)",
}


def misfit(attr_type: str, text: str) -> str | None:
    """What a value of ``attr_type`` must be when ``text`` does not fit it, else None.

    The one check both faces of the sandbox make before writing (SOAP answers 20110,
    REST skips the record with 1003); the value codec decides (:func:`typed_value`).
    Empty text fits every type: it clears the field.
    """
    expected = _EXPECTED.get(attr_type)
    if expected is None:
        return None
    try:
        value = typed_value(attr_type, text)
    except ValueError:
        return expected
    if isinstance(value, float) and not math.isfinite(value):
        return expected  # "1e999" is a number to the lexer, not to the field
    return None


def _display(name: str) -> str:
    spaced = _WORDS.sub(" ", name)
    return spaced[:1].upper() + spaced[1:]


@dataclass(frozen=True, slots=True)
class Field:
    """One lead field as both APIs name it. ``key`` fields are leadRecord keys
    (Id, Email, ForeignSysPersonId), stored apart from the attributes.
    """

    soap_name: str
    rest_name: str
    data_type: str
    display_name: str
    key: bool = False
    read_only: bool = False

    @property
    def length(self) -> int | None:
        """The maximum length Describe answers for string-like fields, else None."""
        return _STRING_LENGTH if self.data_type in _STRING_TYPES else None


class FieldCatalog:
    """Field names -> canonical name and attrType; SOAP names and REST names are
    matched case-insensitively. Raises ConfigError when REST names clash.
    """

    __slots__ = ("_by_lower", "_by_rest", "_fields", "_order", "_types")

    def __init__(
        self,
        custom_fields: Mapping[str, str] = MappingProxyType({}),
        *,
        rest_names: Mapping[str, str] = MappingProxyType({}),
        foreign_id_rest_name: str = "externalId",
    ) -> None:
        types = dict(STANDARD_FIELDS)
        types.update(custom_fields)
        self._types: Mapping[str, str] = types
        self._by_lower = {name.lower(): name for name in types}
        self._order = {name: index for index, name in enumerate(types)}
        fields = [
            Field(ID, "id", "integer", "Id", key=True, read_only=True),
            Field(EMAIL, "email", "email", "Email Address", key=True),
            Field(FOREIGN_ID, foreign_id_rest_name, "string", _display(foreign_id_rest_name), True),
        ]
        for name, kind in types.items():
            default = _STANDARD_REST_NAMES.get(name, name[:1].lower() + name[1:])
            rest = rest_names.get(name, default) if name in custom_fields else default
            fields.append(Field(name, rest, kind, _display(name)))
        self._by_rest: dict[str, Field] = {}
        for f in fields:
            if not f.rest_name.isidentifier():
                raise ConfigError(
                    f"REST name {f.rest_name!r} of {f.soap_name} is not an identifier"
                )
            clash = self._by_rest.setdefault(f.rest_name.lower(), f)
            if clash is not f:
                raise ConfigError(
                    f"REST name {f.rest_name!r} of {f.soap_name} clashes with the REST name "
                    f"{clash.rest_name!r} of {clash.soap_name}"
                )
        self._fields = tuple(fields)

    def canonical(self, name: str) -> str | None:
        """The catalog's spelling of the attribute ``name``, or None for an unknown field."""
        return self._by_lower.get(name.strip().lower())

    def attr_type(self, name: str) -> str:
        """The attrType of a canonical field name."""
        return self._types[name]

    def order(self, name: str) -> int:
        """The position of a canonical field, for answering fields in catalog order."""
        return self._order[name]

    @property
    def fields(self) -> tuple[Field, ...]:
        """Every field, keys first, in catalog order (what Describe answers)."""
        return self._fields

    def by_rest(self, name: str) -> Field | None:
        """The field whose REST name is ``name`` (case-insensitive), or None."""
        return self._by_rest.get(name.lower())
