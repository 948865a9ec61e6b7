"""Hints for the elements a request carried that the schema does not know.

The service ignores an unknown element, as Marketo did; a fault that follows from
it (20109 "a lead needs a key" when the key was sent as ``<email>``) names what
was ignored and the spelling the schema expects. Pure: names in, text out.
"""

from __future__ import annotations

import difflib

__all__ = ["LEAD_RECORD_FIELDS", "PARAMS_SYNC_LEAD_FIELDS", "hint", "spelling"]

LEAD_RECORD_FIELDS = ("Id", "Email", "ForeignSysPersonId", "ForeignSysType", "leadAttributeList")
PARAMS_SYNC_LEAD_FIELDS = ("leadRecord", "returnLead", "marketoCookie")


def spelling(name: str, known: tuple[str, ...]) -> str | None:
    """The name in ``known`` that ``name`` most likely meant: the same in another
    case, else a close match (difflib, case-insensitive); None when nothing is close.
    """
    by_lower = {k.lower(): k for k in known}
    exact = by_lower.get(name.lower())
    if exact is not None:
        return exact
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.75)
    return by_lower[close[0]] if close else None


def _one(path: str) -> str:
    parent, _, name = path.rpartition("/")
    known = LEAD_RECORD_FIELDS if parent == "leadRecord" else PARAMS_SYNC_LEAD_FIELDS
    meant = spelling(name, known)
    if meant is None:
        return f"<{name}> in {parent} is no element of the schema (it holds {', '.join(known)})"
    text = f"<{name}> in {parent} is no element of the schema; it spells it {meant}"
    if name == meant[0].lower() + meant[1:] and meant[0].isupper():
        text += f' (savon turns the symbol :{meant} into <{name}>: use the string key "{meant}")'
    return text


def hint(ignored: tuple[str, ...]) -> str | None:
    """What to tell a developer about ``ignored`` (paths like ``leadRecord/email``,
    as :class:`~mktows._parse.ParsedRequest` gives them), or None when nothing was.

    ``hint(("leadRecord/email",))`` names ``Email`` and savon's string key "Email".
    """
    if not ignored:
        return None
    return "ignored " + "; ".join(_one(path) for path in ignored)
