"""Docstrings a help() reader can use: every public name has one, and the clients
document every argument of their constructors and of sync_lead."""

from __future__ import annotations

import inspect
import pydoc

import pytest

import mktows

CLIENTS = ["Client", "AsyncClient", "RestClient", "AsyncRestClient"]


DOCUMENTED = [
    name
    for name in mktows.__all__
    if inspect.isclass(getattr(mktows, name)) or inspect.isfunction(getattr(mktows, name))
]


def test_the_public_names_are_classes_and_functions() -> None:
    assert sorted(DOCUMENTED) == sorted(n for n in mktows.__all__ if n != "__version__")


@pytest.mark.parametrize("name", DOCUMENTED)
def test_every_public_name_has_a_docstring(name: str) -> None:
    assert (getattr(mktows, name).__doc__ or "").strip(), f"mktows.{name} has no docstring"


@pytest.mark.parametrize("name", ["Client", "RestClient"])
def test_client_documents_every_constructor_argument(name: str) -> None:
    cls = getattr(mktows, name)
    doc = cls.__doc__ or ""
    for parameter in inspect.signature(cls.__init__).parameters:
        if parameter != "self":
            assert f"``{parameter}``" in doc, f"{name} does not document {parameter!r}"


@pytest.mark.parametrize("name", ["Client", "RestClient"])
def test_sync_lead_documents_its_arguments(name: str) -> None:
    method = getattr(mktows, name).sync_lead
    doc = method.__doc__ or ""
    documented = doc if name == "Client" else doc + (mktows.Client.sync_lead.__doc__ or "")
    for parameter in inspect.signature(method).parameters:
        if parameter != "self":
            assert f"``{parameter}``" in documented, f"{name}.sync_lead: {parameter!r}"


@pytest.mark.parametrize("name", CLIENTS)
def test_help_leads_with_the_arguments_and_sync_lead(name: str) -> None:
    text = pydoc.plain(pydoc.render_doc(getattr(mktows, name)))
    arguments = text.index("deadline")
    assert arguments < text.index("Method resolution order")
    defined_here = text.index("Methods defined here")
    assert defined_here < text.index("sync_lead(", defined_here) < text.index("inherited")
