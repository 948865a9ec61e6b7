"""Frozen dataclasses every layer shares. Pure: no XML, no I/O, no clock."""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from ._codes import FAULT_MESSAGES, SERVER_CODES
from ._errors import ConversionError, ValidationError
from ._values import AttrValue, TypedValue, to_wire, typed_value

__all__ = [
    "Attribute",
    "Attributes",
    "AuthHeader",
    "Fault",
    "ForeignSysType",
    "LeadRecord",
    "Secret",
    "SyncLeadRequest",
    "SyncLeadResult",
    "SyncStatus",
    "check_sync_keys",
    "check_xml_text",
]

MAX_LEAD_ID = 2**31 - 1  # Id is an xs:int on the wire

# Characters XML 1.0 cannot carry at all, not even as character references.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def check_xml_text(value: object, field: str) -> str:
    """Return ``value`` if it is a str that XML 1.0 can carry, else raise ValidationError."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a str, not {type(value).__name__}", field=field)
    bad = _NOT_XML.search(value)
    if bad is not None:
        raise ValidationError(
            f"{field} contains U+{ord(bad.group()):04X} at position {bad.start()}, "
            "a character XML 1.0 cannot carry; remove it",
            field=field,
        )
    return value


class Secret:
    """Holds a secret (an encryption key, a client secret, a token); ``.value`` reads it.

    Every secret in mktows is kept in one of these, never in a plain str attribute:
    reprs, log lines and error reporters (which capture the locals of every frame of a
    traceback) then show ``<secret>``. Two secrets are equal when their values are.
    """

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<secret>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self.value.encode(), other.value.encode())

    def __hash__(self) -> int:
        return hash(hashlib.sha256(self.value.encode()).digest())


class SyncStatus(str, enum.Enum):
    """What syncLead did with the lead. Compares equal to its wire string."""

    CREATED = "CREATED"
    UPDATED = "UPDATED"
    FAILED = "FAILED"

    def __str__(self) -> str:
        return self.value


class ForeignSysType(str, enum.Enum):
    """The external system a ForeignSysPersonId comes from."""

    CUSTOM = "CUSTOM"
    SFDC = "SFDC"
    NETSUITE = "NETSUITE"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True, init=False)
class Attribute:
    """One lead field: ``attrName``, optional ``attrType`` and ``attrValue``.

    A non-str ``value`` is written in its wire form and, when ``type`` is not
    given, typed for it (int -> integer, bool -> boolean, float/Decimal -> float,
    date -> date, aware datetime -> datetime).
    """

    name: str
    value: str
    type: str | None

    def __init__(self, *, name: str, value: AttrValue, type: str | None = None) -> None:
        check_xml_text(name, "attribute name")
        if not name.strip():
            raise ValidationError("attribute name is empty", field="attribute name")
        if not isinstance(value, str):
            value, inferred = to_wire(name, value)
            type = type if type is not None else inferred
        check_xml_text(value, f"attribute {name!r} value")
        if type is not None:
            check_xml_text(type, f"attribute {name!r} type")
            type = type.strip() or None  # an empty attrType reads back as none at all
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "type", type)

    @classmethod
    def _from_parser(cls, name: str, value: str, type: str | None) -> Attribute:
        """An Attribute from text an XML parser produced: no character checks needed."""
        attr = object.__new__(cls)
        object.__setattr__(attr, "name", name)
        object.__setattr__(attr, "value", value)
        object.__setattr__(attr, "type", type)
        return attr

    @property
    def typed_value(self) -> TypedValue:
        """The value converted by ``type``: integer/score -> int, boolean -> bool,
        float/percent -> float, currency -> Decimal, date, datetime; else str.
        An empty value of a non-text type is None.
        """
        try:
            return typed_value(self.type, self.value)
        except ValueError as exc:
            raise ConversionError(
                f"attribute {self.name!r} has type {self.type!r} but its value "
                f"{self.value[:80]!r} is not one",
                field=self.name,
            ) from exc


class Attributes(Mapping[str, str]):
    """Read-only, ordered mapping of attribute name -> value (str), keeping each
    :class:`Attribute` (with its ``attrType``) for :meth:`attribute` and :meth:`typed`.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, AttrValue] | Sequence[Attribute] | None = ()) -> None:
        attrs: dict[str, Attribute] = {}
        if items is None:
            items = ()
        if isinstance(items, Attributes):
            attrs = dict(items._items)
        elif not isinstance(items, (Mapping, Iterable)) or isinstance(items, (str, bytes)):
            raise ValidationError(
                "attributes must be a mapping of name -> value or a list of Attribute "
                f"objects, not {type(items).__name__}",
                field="attributes",
            )
        elif isinstance(items, Mapping):
            for name, value in items.items():
                attrs[name] = Attribute(name=name, value=value)
        else:
            for attr in items:
                if not isinstance(attr, Attribute):
                    raise ValidationError(
                        "attributes must be a mapping of name -> value or a list of "
                        f"Attribute objects, not a list holding {type(attr).__name__}",
                        field="attributes",
                    )
                if attr.name in attrs:
                    raise ValidationError(
                        f"attribute {attr.name!r} is given twice", field=attr.name
                    )
                attrs[attr.name] = attr
        self._items: dict[str, Attribute] = attrs

    def __getitem__(self, name: str) -> str:
        return self._items[name].value

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Attributes):
            return list(self._items.values()) == list(other._items.values())
        return super().__eq__(other)

    def __hash__(self) -> int:
        return hash(tuple(self._items.values()))

    def __repr__(self) -> str:
        return f"Attributes({list(self._items.values())!r})"

    def attribute(self, name: str) -> Attribute:
        """The whole :class:`Attribute` (name, type, value) for ``name``."""
        return self._items[name]

    def typed(self, name: str) -> TypedValue:
        """The value of ``name`` converted by its ``attrType`` (see Attribute.typed_value)."""
        return self._items[name].typed_value

    def as_tuple(self) -> tuple[Attribute, ...]:
        """All attributes in order, as :class:`Attribute` objects."""
        return tuple(self._items.values())


def _check_lead_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValidationError(f"Id must be an int, not {type(value).__name__}", field="Id")
    if isinstance(value, str):
        text = value.strip()
        if not text.isascii() or not text.isdigit():
            raise ValidationError(f"Id must be a whole number, got {value[:40]!r}", field="Id")
        value = int(text)
    if not 1 <= value <= MAX_LEAD_ID:
        raise ValidationError(
            f"Id must be between 1 and {MAX_LEAD_ID} (an xs:int lead id), got {value}",
            field="Id",
        )
    return value


@dataclass(frozen=True, slots=True, init=False)
class LeadRecord:
    """A lead: its keys and its attributes.

    >>> LeadRecord(email="george@jungle.com", attributes={"FirstName": "George"})

    ``id`` is the Marketo lead id; ``foreign_sys_person_id`` needs a
    ``foreign_sys_type``. ``attributes`` takes a mapping (name -> value) or
    :class:`Attribute` objects and is always an :class:`Attributes` mapping.
    """

    id: int | None
    email: str | None
    foreign_sys_person_id: str | None
    foreign_sys_type: ForeignSysType | None
    attributes: Attributes

    def __init__(
        self,
        *,
        id: int | str | None = None,
        email: str | None = None,
        foreign_sys_person_id: str | None = None,
        foreign_sys_type: ForeignSysType | str | None = None,
        attributes: Mapping[str, AttrValue] | Sequence[Attribute] | None = (),
    ) -> None:
        if id is not None:
            id = _check_lead_id(id)
        if email is not None:
            check_xml_text(email, "Email")
        if foreign_sys_person_id is not None:
            check_xml_text(foreign_sys_person_id, "ForeignSysPersonId")
        if foreign_sys_type is not None:
            try:
                foreign_sys_type = ForeignSysType(foreign_sys_type)
            except ValueError:
                allowed = ", ".join(t.value for t in ForeignSysType)
                raise ValidationError(
                    f"ForeignSysType must be one of {allowed}, got {str(foreign_sys_type)[:40]!r}",
                    field="ForeignSysType",
                ) from None
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "email", email)
        object.__setattr__(self, "foreign_sys_person_id", foreign_sys_person_id)
        object.__setattr__(self, "foreign_sys_type", foreign_sys_type)
        object.__setattr__(self, "attributes", Attributes(attributes))


def check_sync_keys(lead: LeadRecord) -> None:
    """Raise ValidationError unless ``lead`` can be sent to syncLead (SPEC §1 key rules)."""
    if lead.email is not None and not lead.email.strip():
        raise ValidationError("Email is empty; give an address or leave it out", field="Email")
    if lead.foreign_sys_person_id is not None:
        if not lead.foreign_sys_person_id.strip():
            raise ValidationError(
                "ForeignSysPersonId is empty; give one or leave it out",
                field="ForeignSysPersonId",
            )
        if lead.foreign_sys_type is None:
            raise ValidationError(
                "ForeignSysPersonId needs a ForeignSysType (CUSTOM, SFDC or NETSUITE)",
                field="ForeignSysType",
            )
    if lead.id is None and lead.email is None and lead.foreign_sys_person_id is None:
        raise ValidationError(
            "a lead needs a key: give id, email or foreign_sys_person_id", field="leadRecord"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncLeadResult:
    """What syncLead answered: the lead id, the status, the reason of a FAILED
    status, and the full lead when ``return_lead`` was asked for.
    """

    lead_id: int
    status: SyncStatus
    error: str | None = None
    lead: LeadRecord | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    """A SOAP fault: ``faultcode``/``faultstring`` and, from
    ``detail/serviceException``, ``name``, ``message`` and the integer ``code``.

    Errors that came over REST are described the same way: ``code`` is the
    SOAP twin (606 -> 20023, 1006 -> 20105 ...) and ``rest_code`` the REST code.
    """

    faultcode: str
    faultstring: str
    code: int | None = None
    message: str | None = None
    name: str | None = None
    rest_code: int | None = None  # the REST API's own code, when the error came over REST

    def __str__(self) -> str:
        return self.message or self.faultstring or self.faultcode

    @classmethod
    def for_code(cls, code: int, detail: str | None = None) -> Fault:
        """The fault Marketo sends for ``code`` (SPEC §4), with an optional detail."""
        text = FAULT_MESSAGES.get(code, "Internal Error")
        side = "SOAP-ENV:Server" if code in SERVER_CODES else "SOAP-ENV:Client"
        message = f"{text} ({code})" + (f" - {detail}" if detail else "")
        return cls(
            faultcode=side,
            faultstring=f"{code} - {text}",
            code=code,
            message=message,
            name="mktServiceException",
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthHeader:
    """The AuthenticationHeader as received (server side)."""

    user_id: str
    signature: str
    timestamp: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncLeadRequest:
    """A parsed ``paramsSyncLead`` request with its headers (server side).

    ``auth`` is None when the AuthenticationHeader is missing; ``workspace`` is
    None when no MktowsContextHeader was sent (or it was nil).
    """

    auth: AuthHeader | None
    workspace: str | None
    lead: LeadRecord
    return_lead: bool
    marketo_cookie: str | None = None
