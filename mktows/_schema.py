"""The project's own WSDL 2_2 and schema (package data), and validation of
syncLead messages against it. Reads package data with importlib.resources only: it works from a
vendored copy and from a zip.
"""

from __future__ import annotations

import functools
import threading
from importlib import resources

from lxml import etree

from ._models import check_xml_text
from ._xml import MKTOWS, SOAP_ENV, parse_xml

__all__ = ["validate_envelope", "wsdl"]

_PACKAGE = __name__.rpartition(".")[0]
_WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
_SOAP_BINDING_NS = "http://schemas.xmlsoap.org/wsdl/soap/"
_XS_NS = "http://www.w3.org/2001/XMLSchema"


@functools.lru_cache(maxsize=1)
def _wsdl_bytes() -> bytes:
    return (resources.files(_PACKAGE) / "data" / "mktows.wsdl").read_bytes()


_local = threading.local()  # a validator keeps its error log: one per thread


# The elements of a syncLead message: what the client validates. The WSDL declares the
# other operations' elements too; a client of syncLead must not accept them.
_SYNC_LEAD_ELEMENTS = frozenset(
    {"AuthenticationHeader", "MktowsContextHeader", "paramsSyncLead", "successSyncLead"}
    | {"serviceException"}
)


def _schema() -> etree.XMLSchema:
    schema: etree.XMLSchema | None = getattr(_local, "schema", None)
    if schema is None:
        root = etree.fromstring(_wsdl_bytes())
        node = root.find(f"{{{_WSDL_NS}}}types/{{{_XS_NS}}}schema")
        assert node is not None, "the packaged WSDL has no schema"
        for element in node.findall(f"{{{_XS_NS}}}element"):
            if element.get("name") not in _SYNC_LEAD_ELEMENTS:
                node.remove(element)
        schema = _local.schema = etree.XMLSchema(etree.ElementTree(node))
    return schema


def wsdl(address: str | None = None) -> bytes:
    """The WSDL, every operation of the 2_2 port type; with ``address``, its
    soap:address points there (ValidationError for an address XML cannot carry)."""
    data = _wsdl_bytes()
    if address is None:
        return data
    check_xml_text(address, "address")
    root = etree.fromstring(data)
    for node in root.iter(f"{{{_SOAP_BINDING_NS}}}address"):
        node.set("location", address)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def validate_envelope(body: bytes) -> list[str]:
    """Schema problems of a syncLead SOAP message (request, response or fault).

    Checks the SOAP 1.1 envelope shape, then validates every header block and
    body element of the service namespace against the packaged schema. An empty
    list means valid; bytes that are not XML raise ResponseError.
    """
    root = parse_xml(body)
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        return [f"root is <{root.tag}>, not a SOAP 1.1 Envelope"]
    parts = [el for el in root if isinstance(el.tag, str)]
    names = [el.tag for el in parts]
    if names not in ([f"{{{SOAP_ENV}}}Body"], [f"{{{SOAP_ENV}}}Header", f"{{{SOAP_ENV}}}Body"]):
        return [f"the Envelope must hold an optional Header then a Body, got {names}"]
    problems: list[str] = []
    schema = _schema()
    for part in parts:
        for block in part:
            if part.tag == f"{{{SOAP_ENV}}}Header" and not block.tag.startswith(f"{{{MKTOWS}}}"):
                continue  # another namespace's header block (WS-Addressing…) is not ours
            if block.tag == f"{{{SOAP_ENV}}}Fault":
                block = next(iter(block.iterfind(f"detail/{{{MKTOWS}}}serviceException")), block)
                if block.tag == f"{{{SOAP_ENV}}}Fault":
                    continue
            if not schema.validate(block):
                problems.extend(str(err.message) for err in schema.error_log)  # type: ignore[attr-defined]
    return problems
