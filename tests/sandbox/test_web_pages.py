"""The /_sandbox/ page over plain HTTP: filters, missing pages, bodies laid out for
reading (or shown as sent when they do not parse), the fault rule forms and the methods
the pages answer. The same page in a real browser is in test_web_browser.py.
"""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
import pytest
from lxml import etree
from support import SandboxServer, client_for, fault_rules

from mktows import LeadRecord

from ._rest_util import Rest, base_url


def _page(server: SandboxServer, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(
        kwargs.pop("method", "GET"), f"{base_url(server)}/_sandbox{path}", timeout=10.0, **kwargs
    )


def _pre(page: str, element_id: str) -> str:
    found = re.search(rf'<pre id="{element_id}">(.*?)</pre>', page, re.S)
    assert found is not None, page
    return html.unescape(found.group(1))


def _c14n(xml: bytes) -> bytes:
    parser = etree.XMLParser(remove_blank_text=True)
    return etree.tostring(etree.fromstring(xml, parser), method="c14n")


def test_a_bad_filter_is_said_and_every_call_listed(sandbox_server: SandboxServer) -> None:
    with client_for(sandbox_server) as client:
        client.sync_lead(LeadRecord(email="listed@example.com"))
    page = _page(sandbox_server, "/calls", params={"code": "abc"})
    assert page.status_code == 200
    error = re.search(r'<p class="error">(.*?)</p>', page.text)
    assert error is not None
    assert "code" in html.unescape(error.group(1))
    assert "listed@example.com" in page.text  # the filter was dropped, not the calls
    filtered = _page(sandbox_server, "/calls", params={"code": "20014"})
    assert 'class="error"' not in filtered.text
    assert "listed@example.com" not in filtered.text


@pytest.mark.parametrize(
    ("path", "message"),
    [
        pytest.param("/calls/999", "no call 999 in the journal", id="call"),
        pytest.param("/leads/999", "no lead 999", id="lead"),
        pytest.param("/nowhere", "no page '/nowhere'", id="page"),
        pytest.param("/calls/1/2", "no page '/calls/1/2'", id="deeper"),
        pytest.param("/faults/1", "no page '/faults/1'", id="rule"),
    ],
)
def test_what_does_not_exist_is_404(sandbox_server: SandboxServer, path: str, message: str) -> None:
    answer = _page(sandbox_server, path)
    assert answer.status_code == 404
    assert answer.json() == {"error": message}


def test_a_call_page_lays_out_xml_and_json_and_shows_the_rest_as_sent(
    sandbox_server: SandboxServer,
) -> None:
    url = base_url(sandbox_server)
    broken_xml = b"<soapenv:Envelope><unclosed>"
    soap = httpx.post(
        sandbox_server.url, content=broken_xml, headers={"Content-Type": "text/xml"}, timeout=10
    )
    assert soap.status_code == 500
    with Rest(sandbox_server) as rest:
        rest.login()
        answer = rest.http.post(
            "/rest/v1/leads.json",
            content=b'{"input": [',
            headers={**rest.headers(), "Content-Type": "application/json"},
        )
    assert answer.json()["errors"][0]["code"] == "609"
    calls = httpx.get(f"{url}/_sandbox/api/calls", timeout=10).json()["calls"]
    by_wire = {c["wire"]: c["id"] for c in calls if c["operation"] != "identity"}

    soap_page = _page(sandbox_server, f"/calls/{by_wire['soap']}").text
    assert _pre(soap_page, "request-body") == broken_xml.decode()  # not XML: as sent
    fault = _pre(soap_page, "response-body")
    assert "\n  <SOAP-ENV:Body>" in fault  # indented
    assert _c14n(fault.encode()) == _c14n(soap.content)  # the same document

    rest_page = _page(sandbox_server, f"/calls/{by_wire['rest']}").text
    assert _pre(rest_page, "request-body") == '{"input": ['  # not JSON: as sent
    shown = _pre(rest_page, "response-body")
    assert '\n  "success": false,' in shown  # indented two spaces
    assert httpx.Response(200, content=shown.encode()).json() == answer.json()


@pytest.mark.parametrize(
    ("form", "rule", "left"),
    [
        pytest.param(
            {"action": "code", "code": "20023", "times": "2", "email": "*@flaky.test"},
            {"match": {"email": "*@flaky.test"}, "code": 20023, "times": 2},
            "2",
            id="code",
        ),
        pytest.param(
            {"action": "delay", "delay_ms": "15", "wire": "rest", "times": ""},
            {"match": {"wire": "rest"}, "delay_ms": 15},
            "always",
            id="delay",
        ),
        pytest.param(
            {"action": "failed", "error": "no thanks", "user": "u1", "probability": "0.5"},
            {"match": {"user": "u1"}, "status": "FAILED", "error": "no thanks", "probability": 0.5},
            "p=0.5",
            id="failed",
        ),
        pytest.param(
            {"action": "drop", "times": "1"},
            {"match": {}, "drop": True, "times": 1},
            "1",
            id="drop",
        ),
    ],
)
def test_the_form_adds_each_kind_of_rule(
    sandbox_server: SandboxServer, form: dict[str, str], rule: dict[str, Any], left: str
) -> None:
    answer = _page(sandbox_server, "/faults", method="POST", data=form)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/_sandbox/faults"
    [added] = fault_rules(sandbox_server)
    assert {k: v for k, v in added.items() if k not in ("id", "hits", "times_left")} == rule
    row = re.search(
        r'<table id="faults">.*?<tbody><tr>(.*?)</tr>', _page(sandbox_server, "/faults").text
    )
    assert row is not None
    cells = [html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", row.group(1))]
    assert cells[3] == left


@pytest.mark.parametrize(
    ("form", "message"),
    [
        pytest.param({"action": "code", "code": "soon"}, "whole numbers", id="not-a-number"),
        pytest.param(
            {"action": "delay", "delay_ms": "5", "probability": "often"},
            "probability a number",
            id="not-a-probability",
        ),
        pytest.param({"action": "explode"}, "unknown action 'explode'", id="unknown-action"),
        pytest.param({"action": "code", "code": "12345"}, "neither a syncLead", id="unknown-code"),
    ],
)
def test_a_bad_form_is_400_with_the_reason_and_adds_nothing(
    sandbox_server: SandboxServer, form: dict[str, str], message: str
) -> None:
    answer = _page(sandbox_server, "/faults", method="POST", data=form)
    assert answer.status_code == 400
    shown = re.search(r'<p class="error" id="form-error">(.*?)</p>', answer.text)
    assert shown is not None
    assert message in html.unescape(shown.group(1))
    assert fault_rules(sandbox_server) == []


def test_the_remove_form_removes_the_rule(sandbox_server: SandboxServer) -> None:
    _page(sandbox_server, "/faults", method="POST", data={"action": "drop"})
    [rule] = fault_rules(sandbox_server)
    answer = _page(sandbox_server, f"/faults/{rule['id']}/delete", method="POST")
    assert (answer.status_code, answer.headers["Location"]) == (303, "/_sandbox/faults")
    assert fault_rules(sandbox_server) == []


_POST_ONLY_FORMS = "only the fault rule forms take POST"


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        pytest.param("POST", "/calls", _POST_ONLY_FORMS, id="post-calls"),
        pytest.param("POST", "/faults/x/delete", _POST_ONLY_FORMS, id="post-bad-id"),
        pytest.param("DELETE", "/faults", "the pages answer GET", id="delete"),
        pytest.param("PUT", "/", "the pages answer GET", id="put"),
    ],
)
def test_the_pages_answer_get_and_the_forms_post(
    sandbox_server: SandboxServer, method: str, path: str, message: str
) -> None:
    answer = _page(sandbox_server, path, method=method)
    assert answer.status_code == 405
    assert answer.json() == {"error": message}


def test_a_plain_text_answer_is_shown_as_sent(sandbox_server: SandboxServer) -> None:
    refused = httpx.post(
        sandbox_server.url, content=b"plain words", headers={"Content-Type": "text/plain"}
    )
    assert refused.status_code == 415
    [call] = httpx.get(f"{base_url(sandbox_server)}/_sandbox/api/calls", timeout=10).json()["calls"]
    page = _page(sandbox_server, f"/calls/{call['id']}").text
    assert _pre(page, "request-body") == ""  # refused unread
    assert _pre(page, "response-body") == refused.text
