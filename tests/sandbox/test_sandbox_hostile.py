"""Hostile and unusual input: refused with a fault or a 4xx, quickly, and the
sandbox keeps serving; what mainstream SOAP stacks send is accepted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from support import SOAP_HEADERS, SandboxServer, client_for, envelope, query, raw_exchange

from mktows import Fault, LeadRecord, SyncStatus, parse_sync_lead_response, sign


def NOW() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


MKT = "http://www.marketo.com/mktows/"
SECRET = "canary-5f1c0e"


def fresh(server: SandboxServer, lead: LeadRecord | None = None) -> bytes:
    return envelope(server, lead, when=NOW())


def http_head(length: int | str | None, extra: str = "") -> bytes:
    lines = "POST /soap/mktows/2_2 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
    if length is not None:
        lines += f"Content-Length: {length}\r\n"
    return (lines + extra + "\r\n").encode()


def doctype_body(server: SandboxServer, doctype: str, entity_ref: str) -> bytes:
    body = fresh(server, LeadRecord(email="bomb@x.com"))
    body = body.replace(b"bomb@x.com", entity_ref.encode())
    head, rest = body.split(b"?>", 1)
    return head + b"?>" + doctype.encode() + rest


LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i else "&lol;" * 10}">'
        for i in range(9)
    )
    + "]>"
)


def deep(server: SandboxServer) -> bytes:
    body = fresh(server)
    return body.replace(b"<returnLead>", b"<x>" * 50_000 + b"</x>" * 50_000 + b"<returnLead>")


def _canary_xxe(tmp: Path) -> Callable[[SandboxServer], bytes]:
    canary = tmp / "canary.txt"
    canary.write_text(SECRET)
    return lambda s: doctype_body(s, f'<!DOCTYPE e [<!ENTITY x SYSTEM "file://{canary}">]>', "&x;")


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        pytest.param("laughs", 20012, id="billion-laughs"),
        pytest.param("xxe", 20012, id="external-entity"),
        pytest.param("doctype", 20012, id="doctype"),
        pytest.param("deep", 20012, id="deep-nesting"),
        pytest.param("huge", 413, id="2MB-body"),
        pytest.param("not-xml", 20012, id="not-xml"),
        pytest.param("put", 405, id="wrong-method"),
        pytest.param("get-no-wsdl", 405, id="get-without-wsdl"),
        pytest.param("path", 404, id="wrong-path"),
        pytest.param("json", 415, id="wrong-content-type"),
        pytest.param("soap12", 415, id="soap-1.2-content-type"),
        pytest.param("no-type", 415, id="no-content-type"),
        pytest.param("sql-name", 20105, id="sql-attribute-name"),
        pytest.param("replayed", 20016, id="replayed-old-request"),
        pytest.param("future", 20016, id="future-timestamp"),
        pytest.param("forged", 20014, id="forged-signature"),
    ],
)
def test_refused_then_still_serving(
    sandbox_server: SandboxServer, tmp_path: Path, case: str, expected: int
) -> None:
    s = sandbox_server
    url = s.url
    old = NOW() - dt.timedelta(hours=1)
    bodies: dict[str, Callable[[], httpx.Response]] = {
        "laughs": lambda: httpx.post(
            url, content=doctype_body(s, LAUGHS, "&lol8;"), headers=SOAP_HEADERS
        ),
        "xxe": lambda: httpx.post(url, content=_canary_xxe(tmp_path)(s), headers=SOAP_HEADERS),
        "doctype": lambda: httpx.post(
            url, content=doctype_body(s, "<!DOCTYPE x>", "d@x.com"), headers=SOAP_HEADERS
        ),
        "deep": lambda: httpx.post(url, content=deep(s), headers=SOAP_HEADERS),
        "huge": lambda: httpx.post(
            url, content=b"<" + b"a" * 2_000_000 + b"/>", headers=SOAP_HEADERS, timeout=10
        ),
        "not-xml": lambda: httpx.post(url, content=b"hello, world", headers=SOAP_HEADERS),
        "put": lambda: httpx.put(url, content=fresh(s), headers=SOAP_HEADERS),
        "get-no-wsdl": lambda: httpx.get(url),
        "path": lambda: httpx.post(
            url.replace("2_2", "2_1"), content=fresh(s), headers=SOAP_HEADERS
        ),
        "json": lambda: httpx.post(
            url, content=b'{"a": 1}', headers={"Content-Type": "application/json"}
        ),
        "soap12": lambda: httpx.post(
            url, content=fresh(s), headers={"Content-Type": "application/soap+xml; charset=utf-8"}
        ),
        "no-type": lambda: httpx.post(url, content=fresh(s)),
        "sql-name": lambda: httpx.post(
            url,
            content=fresh(
                s, LeadRecord(email="q@x.com", attributes={"x'); DROP TABLE leads;--": "1"})
            ),
            headers=SOAP_HEADERS,
        ),
        "replayed": lambda: httpx.post(url, content=envelope(s, when=old), headers=SOAP_HEADERS),
        "future": lambda: httpx.post(
            url, content=envelope(s, when=NOW() + dt.timedelta(hours=1)), headers=SOAP_HEADERS
        ),
        "forged": lambda: httpx.post(url, content=forged(s), headers=SOAP_HEADERS),
    }
    response = bodies[case]()
    if expected >= 10000:
        fault = parse_sync_lead_response(response.content)
        assert isinstance(fault, Fault)
        assert (response.status_code, fault.code) == (500, expected)
    else:
        assert response.status_code == expected
    assert SECRET not in response.text
    assert query(s.db_path, "SELECT COUNT(*) FROM leads") == [(0,)]
    with client_for(s) as c:
        assert c.sync_lead(LeadRecord(email="after@x.com")).status is SyncStatus.CREATED


def sign_of(body: bytes) -> str:
    return body.split(b"<requestSignature>")[1].split(b"<")[0].decode()


def forged(server: SandboxServer) -> bytes:
    """A signature made with another key for the very timestamp sent."""
    body = fresh(server)
    stamp = body.split(b"<requestTimestamp>")[1].split(b"<")[0].decode()
    return body.replace(sign_of(body).encode(), sign(stamp, server.user_id, "guessed-key").encode())


@pytest.mark.parametrize(
    ("make_request", "status"),
    [
        pytest.param(
            lambda body: (http_head(len(body)) + body[: len(body) // 2], True),
            400,
            id="truncated-body",
        ),
        pytest.param(lambda body: (http_head(None) + body, True), 411, id="no-content-length"),
        pytest.param(
            lambda body: (
                http_head(None, "Transfer-Encoding: chunked\r\n")
                + b"%x\r\n" % len(body)
                + body
                + b"\r\n0\r\n\r\n",
                False,
            ),
            411,
            id="chunked",
        ),
        pytest.param(lambda body: (http_head("12abc") + body, True), 400, id="bad-content-length"),
        pytest.param(lambda body: (http_head(5_000_000), False), 413, id="huge-length-no-body"),
    ],
)
def test_raw_http_refusals(
    sandbox_server: SandboxServer, make_request: Callable[[bytes], tuple[bytes, bool]], status: int
) -> None:
    data, half_close = make_request(fresh(sandbox_server))
    answer = raw_exchange(sandbox_server.port, data, half_close=half_close)
    assert answer.split(b"\r\n", 1)[0].split(b" ")[1] == str(status).encode()
    with client_for(sandbox_server) as c:
        assert c.sync_lead(LeadRecord(email="after@x.com")).status is SyncStatus.CREATED


def _stack_style(server: SandboxServer) -> bytes:
    """What a generic SOAP stack sends: other prefixes, whitespace, a nil context header, Z time."""
    stamp = NOW().strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = sign(stamp, server.user_id, server.encryption_key)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
                  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:tns="{MKT}">
  <soapenv:Header>
    <tns:AuthenticationHeader>
      <mktowsUserId>{server.user_id}</mktowsUserId>
      <requestSignature>{signature.upper()}</requestSignature>
      <requestTimestamp>{stamp}</requestTimestamp>
    </tns:AuthenticationHeader>
    <tns:MktowsContextHeader xsi:nil="true"/>
  </soapenv:Header>
  <soapenv:Body>
    <tns:paramsSyncLead>
      <leadRecord>
        <Email>  stack@x.com  </Email>
        <leadAttributeList>
          <attribute>
            <attrName>FirstName</attrName>
            <attrType>string</attrType>
            <attrValue>Ada &amp; Co &lt;3</attrValue>
          </attribute>
        </leadAttributeList>
      </leadRecord>
      <returnLead>1</returnLead>
    </tns:paramsSyncLead>
  </soapenv:Body>
</soapenv:Envelope>""".encode()


def test_accepts_what_soap_stacks_send(sandbox_server: SandboxServer) -> None:
    response = httpx.post(
        sandbox_server.url,
        content=_stack_style(sandbox_server),
        headers={"Content-Type": "text/xml;charset=UTF-8"},
    )
    assert response.status_code == 200, response.text
    result = parse_sync_lead_response(response.content)
    assert not isinstance(result, Fault)
    assert result.status is SyncStatus.CREATED
    assert result.lead is not None
    assert result.lead.attributes["FirstName"] == "Ada & Co <3"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("x'); DROP TABLE leads;--", id="drop-table"),
        pytest.param("' OR '1'='1", id="or-true"),
        pytest.param('"; DELETE FROM cookies; --', id="delete"),
    ],
)
def test_sql_looking_values_are_stored_verbatim(sandbox_server: SandboxServer, value: str) -> None:
    with client_for(sandbox_server) as c:
        res = c.sync_lead(
            LeadRecord(
                email=value,
                foreign_sys_person_id=value,
                foreign_sys_type="CUSTOM",
                attributes={"Company": value},
            ),
            marketo_cookie=value,
            return_lead=True,
        )
        again = c.sync_lead(LeadRecord(email=value), marketo_cookie=value)
    assert res.lead is not None
    assert (res.lead.email, res.lead.foreign_sys_person_id, res.lead.attributes["Company"]) == (
        value,
    ) * 3
    assert again.lead_id == res.lead_id
    assert query(sandbox_server.db_path, "SELECT COUNT(*) FROM leads") == [(1,)]


@pytest.mark.parametrize("query_string", ["WSDL", "wsdl", "Wsdl=", "foo=1&wsdl"])
def test_wsdl_points_at_the_server(sandbox_server: SandboxServer, query_string: str) -> None:
    response = httpx.get(f"{sandbox_server.url}?{query_string}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert f'location="{sandbox_server.url}"'.encode() in response.content
    assert b"syncLead" in response.content
