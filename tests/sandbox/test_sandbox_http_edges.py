"""HTTP edge cases a real client can send raw: the sandbox answers 4xx, never a 500."""

from __future__ import annotations

import socket

import pytest
from conftest import SandboxServer


def _raw(server: SandboxServer, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(request)
        conn.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        pytest.param(
            b"POST /soap/mktows/2_2 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
            b"Content-Length: \xb2\r\n\r\n<a/>",
            b"400",
            id="superscript-digit-length",
        ),
        pytest.param(
            b"GET /soap/mktows/2_2?WSDL HTTP/1.1\r\nHost: a\x01b\r\n\r\n",
            b"400",
            id="control-char-host-for-wsdl",
        ),
    ],
)
def test_odd_http_is_a_4xx(
    sandbox_server: SandboxServer, request_bytes: bytes, status: bytes
) -> None:
    answer = _raw(sandbox_server, request_bytes)
    assert answer.split(b" ", 2)[1] == status, answer[:200]
    # and the server keeps serving
    follow = _raw(sandbox_server, b"GET /soap/mktows/2_2?WSDL HTTP/1.1\r\nHost: ok\r\n\r\n")
    assert follow.split(b" ", 2)[1] == b"200"
