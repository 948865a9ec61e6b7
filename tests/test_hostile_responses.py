"""Every response a server or proxy can send ends in a parsed result or a mktows error.

A real loopback HTTP server answers each canned response; the real Client reads
it. Each row states the outcome: the result, or the error type plus what it
must carry. A canary file and a listening "attacker" socket prove that no file
is read and no connection is made on the parser's behalf.
"""

from __future__ import annotations

import codecs
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support import NO_RETRY

import mktows
from mktows import Client, LeadRecord, SyncStatus

USER = "hostile_user"
KEY = "hostile-key-0123456789"
LEAD = LeadRecord(email="george@jungle.com")

ENV = "http://schemas.xmlsoap.org/soap/envelope/"
MKT = "http://www.marketo.com/mktows/"


def success(result: str = "", *, prefix: str = "SOAP-ENV", ns: str = MKT) -> str:
    inner = result or (
        "<leadId>42</leadId><syncStatus><leadId>42</leadId><status>CREATED</status>"
        '<error xsi:nil="true"/></syncStatus><leadRecord xsi:nil="true"/>'
    )
    return (
        f'<{prefix}:Envelope xmlns:{prefix}="{ENV}" '
        f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:ns1="{ns}">'
        f"<{prefix}:Body><ns1:successSyncLead><result>{inner}</result></ns1:successSyncLead>"
        f"</{prefix}:Body></{prefix}:Envelope>"
    )


def fault_xml(detail: str) -> str:
    return (
        f'<SOAP-ENV:Envelope xmlns:SOAP-ENV="{ENV}" xmlns:ns1="{MKT}"><SOAP-ENV:Body>'
        "<SOAP-ENV:Fault><faultcode>SOAP-ENV:Client</faultcode>"
        f"<faultstring>20014 - Authentication failed</faultstring>{detail}"
        "</SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"
    )


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/xml"})


class Canned(ThreadingHTTPServer):
    daemon_threads = True
    answer = Answer(200, b"")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        answer = self.server.answer  # type: ignore[attr-defined]
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[Canned]:
    httpd = Canned(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def attacker() -> Iterator[socket.socket]:
    """A port that must never receive a connection: entities and DTDs point here."""
    sock = socket.create_server(("127.0.0.1", 0))
    sock.setblocking(False)
    yield sock
    sock.close()


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("canary") / "secret.txt"
    path.write_text("CANARY-7f3e9a-not-to-be-read")
    return path


def _rows(canary: Path, evil_port: int) -> list[tuple[str, Answer, object]]:
    evil = f"http://127.0.0.1:{evil_port}"
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + "".join(
            f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
            for i in range(1, 10)
        )
        + "]>"
        + success("<leadId>&lol9;</leadId>")
    )
    quadratic = f'<?xml version="1.0"?><!DOCTYPE q [<!ENTITY a "{"x" * 50_000}">]>' + success(
        "<leadId>" + "&a;" * 2_000 + "</leadId>"
    )
    deep = success("<leadId>1</leadId>" + "<x>" * 20_000 + "</x>" * 20_000)
    ok = success()
    return [
        ("billion-laughs", Answer(200, laughs.encode()), mktows.ResponseError),
        ("quadratic-blowup", Answer(200, quadratic.encode()), mktows.ResponseError),
        (
            "external-entity-file",
            Answer(
                200,
                (
                    f'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file://{canary}">]>'
                    + success("<leadId>&x;</leadId>")
                ).encode(),
            ),
            mktows.ResponseError,
        ),
        (
            "external-entity-network",
            Answer(
                200,
                (
                    f'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "{evil}/x">]>'
                    + success("<leadId>&x;</leadId>")
                ).encode(),
            ),
            mktows.ResponseError,
        ),
        (
            "external-dtd",
            Answer(
                200,
                (f'<?xml version="1.0"?><!DOCTYPE e SYSTEM "{evil}/evil.dtd">' + ok).encode(),
            ),
            mktows.ResponseError,
        ),
        (
            "xinclude",
            Answer(
                200,
                success(
                    '<leadId><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
                    f'href="file://{canary}" parse="text"/></leadId>'
                ).encode(),
            ),
            mktows.ResponseError,
        ),
        ("deep-nesting", Answer(200, deep.encode()), mktows.ResponseError),
        ("empty-200", Answer(200, b""), mktows.ResponseError),
        ("whitespace-200", Answer(200, b"  \r\n "), mktows.ResponseError),
        ("truncated", Answer(200, ok.encode()[:-40]), mktows.ResponseError),
        (
            "html-502",
            Answer(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", {}),
            mktows.ResponseError,
        ),
        ("json", Answer(200, b'{"error": "nope"}', {}), mktows.ResponseError),
        ("wrong-namespace", Answer(200, success(ns="urn:other").encode()), mktows.ResponseError),
        (
            "not-soap-envelope",
            Answer(200, b'<Envelope xmlns="urn:x"><Body/></Envelope>'),
            mktows.ResponseError,
        ),
        (
            "soap12-fault",
            Answer(
                500,
                b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body>'
                b"<e:Fault><e:Code><e:Value>e:Sender</e:Value></e:Code><e:Reason>"
                b'<e:Text xml:lang="en">20014 - Authentication failed</e:Text></e:Reason>'
                b"</e:Fault></e:Body></e:Envelope>",
            ),
            mktows.AuthenticationError,
        ),
        ("fault-no-detail", Answer(500, fault_xml("").encode()), mktows.AuthenticationError),
        (
            "fault-non-numeric-code",
            Answer(
                500,
                fault_xml(
                    f'<detail><ns1:serviceException xmlns:ns1="{MKT}"><name>x</name>'
                    "<message>nope</message><code>ABC</code></ns1:serviceException></detail>"
                ).encode(),
            ),
            mktows.AuthenticationError,
        ),
        (
            "fault-no-code-at-all",
            Answer(
                500,
                (
                    f'<s:Envelope xmlns:s="{ENV}"><s:Body><s:Fault><faultcode>s:Server</faultcode>'
                    "<faultstring>Something broke</faultstring></s:Fault></s:Body></s:Envelope>"
                ).encode(),
            ),
            mktows.FaultError,
        ),
        (
            "success-missing-leadId",
            Answer(200, success("<syncStatus><status>CREATED</status></syncStatus>").encode()),
            mktows.ResponseError,
        ),
        (
            "success-bad-leadId",
            Answer(
                200,
                success(
                    "<leadId>forty</leadId><syncStatus><status>CREATED</status></syncStatus>"
                ).encode(),
            ),
            mktows.ResponseError,
        ),
        (
            "success-bad-status",
            Answer(
                200,
                success(
                    "<leadId>1</leadId><syncStatus><status>MERGED</status></syncStatus>"
                ).encode(),
            ),
            mktows.ResponseError,
        ),
        (
            "success-missing-result",
            Answer(
                200,
                f'<s:Envelope xmlns:s="{ENV}"><s:Body><m:successSyncLead xmlns:m="{MKT}"/>'
                f"</s:Body></s:Envelope>".encode(),
            ),
            mktows.ResponseError,
        ),
        (
            "success-bad-lead-record",
            Answer(
                200,
                success(
                    "<leadId>1</leadId><syncStatus><status>UPDATED</status></syncStatus>"
                    "<leadRecord><Id>minus one</Id></leadRecord>"
                ).encode(),
            ),
            mktows.ResponseError,
        ),
        ("bom-utf8", Answer(200, codecs.BOM_UTF8 + ok.encode()), SyncStatus.CREATED),
        (
            "utf16",
            Answer(200, ('<?xml version="1.0" encoding="UTF-16"?>' + ok).encode("utf-16")),
            SyncStatus.CREATED,
        ),
        (
            "invalid-utf8-bytes",
            Answer(200, ok.encode().replace(b"<leadId>42", b"<leadId>4\xff\xfe2", 1)),
            mktows.ResponseError,
        ),
        (
            "unknown-encoding",
            Answer(200, ('<?xml version="1.0" encoding="x-klingon"?>' + ok).encode()),
            mktows.ResponseError,
        ),
        ("http-200-fault", Answer(200, fault_xml("").encode()), mktows.AuthenticationError),
        ("http-500-success", Answer(500, ok.encode()), SyncStatus.CREATED),
        ("other-prefix", Answer(200, success(prefix="soapenv").encode()), SyncStatus.CREATED),
    ]


def _ids() -> list[str]:
    return [row[0] for row in _rows(Path("/x"), 1)]


@pytest.mark.parametrize("case", _ids())
def test_every_response_ends_in_a_result_or_a_mktows_error(
    case: str, server: Canned, attacker: socket.socket, canary: Path
) -> None:
    rows = {
        name: (answer, expected)
        for name, answer, expected in _rows(canary, attacker.getsockname()[1])
    }
    answer, expected = rows[case]
    server.answer = answer
    url = f"http://127.0.0.1:{server.server_address[1]}/soap/mktows/2_2"
    with Client(url, USER, KEY, retry=NO_RETRY, deadline=10.0) as client:
        if isinstance(expected, SyncStatus):
            assert client.sync_lead(LEAD).status is expected
        else:
            assert isinstance(expected, type)
            with pytest.raises(expected) as info:
                client.sync_lead(LEAD)
            error = info.value
            assert error.status_code == answer.status  # type: ignore[attr-defined]
            if isinstance(error, mktows.ResponseError):
                assert len(error.body_excerpt) <= 501
                assert "CANARY" not in str(error)
    # The parser touched neither the canary file's contents nor the network.
    with pytest.raises(BlockingIOError):
        attacker.accept()
