"""Namespaces, the element factory and the ONE hardened parser for untrusted XML.

Pure: no network, no files. The parser resolves no entities, loads no DTD,
refuses any document that carries a DOCTYPE, and never recovers from errors.
"""

from __future__ import annotations

import threading

from lxml import etree

from ._errors import ResponseError

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
MKTOWS = "http://www.marketo.com/mktows/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"

# The prefixes Marketo itself writes (SPEC §1 examples); readers never rely on them.
NSMAP = {"SOAP-ENV": SOAP_ENV, "ns1": MKTOWS}

XSI_NIL = f"{{{XSI}}}nil"
_MKTOWS_PREFIX = f"{{{MKTOWS}}}"

_local = threading.local()  # lxml parsers must not be shared between threads


def _parser() -> etree.XMLParser:
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
            collect_ids=False,
        )
        _local.parser = parser
    return parser


def parse_xml(body: bytes) -> etree._Element:
    """Parse untrusted bytes into an element tree, or raise ResponseError.

    A DOCTYPE of any kind is refused: SOAP forbids it (SOAP 1.1 §3), and that
    alone stops entity expansion bombs and external entities.
    """
    if not isinstance(body, bytes):
        raise TypeError(f"body must be bytes, not {type(body).__name__}")
    if not body.strip():
        raise ResponseError("empty body where a SOAP envelope was expected", body=body)
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as exc:  # an unknown encoding lands here too
        raise ResponseError(f"not well-formed XML ({exc.msg})", body=body) from exc
    docinfo = root.getroottree().docinfo
    if getattr(docinfo, "doctype", "") or docinfo.internalDTD is not None:
        raise ResponseError("the document carries a DOCTYPE, which SOAP forbids", body=body)
    return root


def local_name(el: etree._Element) -> str | None:
    """The name of a child element of the service schema, or None for anything else.

    The schema has no elementFormDefault, so children are unqualified; children
    qualified in the service namespace (a common misconfiguration) are accepted too.
    """
    tag = el.tag
    if not isinstance(tag, str):
        return None  # comments, processing instructions, entities
    if tag[0] != "{":
        return tag
    if tag.startswith(_MKTOWS_PREFIX):
        return tag[len(_MKTOWS_PREFIX) :]
    return None


def children(el: etree._Element) -> dict[str, etree._Element]:
    """The first element child of ``el`` by local name (unqualified or service-qualified)."""
    found: dict[str, etree._Element] = {}
    for child in el:
        name = local_name(child)
        if name is not None and name not in found:
            found[name] = child
    return found


def is_nil(el: etree._Element | None) -> bool:
    """True when ``el`` is absent, ``xsi:nil="true"`` (or "1"), or empty."""
    if el is None:
        return True
    if el.get(XSI_NIL) in ("true", "1"):
        return True
    return len(el) == 0 and not (el.text or "").strip()


def text_of(el: etree._Element | None) -> str | None:
    """The text of a simple element; None when nil, empty or absent."""
    if is_nil(el):
        return None
    assert el is not None
    return el.text or ""


def sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    """Append an unqualified child (with optional text) and return it."""
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def to_bytes(root: etree._Element) -> bytes:
    """Serialise with an XML declaration, UTF-8, no pretty-printing."""
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
