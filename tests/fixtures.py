"""Locate and load the hand-written wire messages under fixtures/ and compare XML canonically."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from lxml import etree

FIXTURES = Path(__file__).parent.parent / "fixtures"

# Fixtures are trusted files, but they include hostile documents: never resolve anything.
_TRUSTED = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def path(folder: str, name: str) -> Path:
    """The path of ``fixtures/<folder>/<name>``; fails loudly when it does not exist."""
    found = FIXTURES / folder / name
    if not found.is_file():
        raise FileNotFoundError(f"missing fixture {found}")
    return found


def load(folder: str, name: str) -> bytes:
    """The exact bytes of ``fixtures/<folder>/<name>``."""
    return path(folder, name).read_bytes()


def names(folder: str) -> list[str]:
    """The file names in ``fixtures/<folder>``, sorted."""
    return sorted(p.name for p in (FIXTURES / folder).iterdir() if p.is_file())


def c14n(
    body: bytes,
    *,
    replace_text: Mapping[str, str] | None = None,
    exclusive: bool = False,
) -> bytes:
    """Canonical XML (C14N 1.0) of ``body`` without the whitespace-only text between elements.

    Text of leaf elements is kept as is. ``replace_text`` maps a local element name to the
    text it gets in the copy (to set aside values the comparison cannot know, like a
    signature).
    """
    root = etree.fromstring(body, _TRUSTED)
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        if len(el) and el.text is not None and not el.text.strip():
            el.text = None
        if el.tail is not None and not el.tail.strip():
            el.tail = None
        if replace_text and etree.QName(el).localname in replace_text:
            el.text = replace_text[etree.QName(el).localname]
    return etree.tostring(root, method="c14n", exclusive=exclusive)


# What fixtures/responses/full_lead.xml holds: (attrName, attrType, attrValue) in order.
FULL_LEAD_ATTRIBUTES: tuple[tuple[str, str, str], ...] = (
    ("FirstName", "string", "George"),
    ("LastName", "string", "of the Jungle"),
    ("Company", "string", 'Jungle & Co <Ltd> "Vines"'),
    ("Description", "string", "Jörg 東京 שלום 🌴"),
    ("NumberOfEmployees", "integer", "250"),
    ("LeadScore", "score", "-3"),
    ("Unsubscribed", "boolean", "false"),
    ("DoNotCall", "boolean", "1"),
    ("IsCustomer", "boolean", "true"),
    ("AnnualRevenue", "currency", "1234567.89"),
    ("Rating", "float", "4.5"),
    ("Probability", "percent", "12.5"),
    ("DateOfBirth", "date", "1970-01-31"),
    ("LastActivityAt", "datetime", "2013-07-31T12:38:47-07:00"),
    ("CreatedAt", "datetime", "2013-07-31T19:38:47Z"),
    ("SecondaryEmail", "email", "george@jungle.com"),
    ("MobilePhone", "phone", "+1 (555) 010-0199"),
    ("Website", "url", "https://jungle.example/?a=1&b=2"),
    ("Notes", "text", "Line one\nLine two"),
    ("EmptyScore", "integer", ""),
    ("LeadSource", "string", "Web"),
)


# SPEC §4: every fault code with its message and the side it blames.
SPEC_FAULTS = {
    10001: ("Internal Error", "SOAP-ENV:Server"),
    20011: ("Internal Error", "SOAP-ENV:Server"),
    20012: ("Request Not Understood", "SOAP-ENV:Client"),
    20013: ("Access Denied", "SOAP-ENV:Client"),
    20014: ("Authentication failed", "SOAP-ENV:Client"),
    20015: ("Request Limit Exceeded", "SOAP-ENV:Client"),
    20016: ("Request Expired", "SOAP-ENV:Client"),
    20017: ("Invalid Request", "SOAP-ENV:Client"),
    20019: ("Unsupported Operation", "SOAP-ENV:Client"),
    20023: ("Rate Limit Exceeded", "SOAP-ENV:Client"),
    20024: ("Concurrency Limit Exceeded", "SOAP-ENV:Client"),
    20103: ("Lead Not Found", "SOAP-ENV:Client"),
    20105: ("Lead Attribute Bad", "SOAP-ENV:Client"),
    20106: ("Lead Sync Failed", "SOAP-ENV:Server"),
    20109: ("Parameter Required", "SOAP-ENV:Client"),
    20110: ("Bad Parameter", "SOAP-ENV:Client"),
}
