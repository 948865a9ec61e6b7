"""A body the sandbox refuses unread (413) is drained so the client can read the answer,
and the draining stops: after its byte budget, at its deadline while the client trickles,
or when the client resets the connection. The server keeps serving after each.
"""

from __future__ import annotations

import itertools
import socket
import struct
import threading
import time
import types
from collections.abc import Callable

import pytest
from support import SandboxServer, client_for

import mktows.sandbox._server as server_module
from mktows import LeadRecord, SyncStatus

# Content-Length over the 1 MiB cap: the sandbox answers 413 without reading the body,
# then drains what the client keeps sending so the client can read that answer.
REFUSED_HEAD = (
    b"POST /soap/mktows/2_2 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
    b"Content-Length: 100000000\r\n\r\n"
)


def refused(port: int) -> tuple[socket.socket, bytes]:
    """Send the refused head; return the connection and the whole answer (up to EOF)."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn.sendall(REFUSED_HEAD)
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    return conn, b"".join(chunks)


def send_until_refused(conn: socket.socket, block: bytes, limit: int) -> tuple[int, bool]:
    """Keep sending ``block``; return (bytes the OS accepted, whether the peer cut us off)."""
    sent = 0
    try:
        while sent < limit:
            conn.sendall(block)
            sent += len(block)
            time.sleep(0 if len(block) > 1024 else 0.01)
    except OSError:
        return sent, True
    return sent, False


def assert_still_serving(server: SandboxServer) -> None:
    with client_for(server) as client:
        assert client.sync_lead(LeadRecord(email="after@x.com")).status is SyncStatus.CREATED


def test_drain_stops_after_its_byte_budget(
    sandbox_server: SandboxServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server_module, "_DRAIN_SECONDS", 60.0)  # the budget ends it, not time
    conn, answer = refused(sandbox_server.port)
    with conn:
        assert answer.startswith(b"HTTP/1.0 413")
        # Far more than the 16 MiB the server is willing to read and throw away.
        sent, cut_off = send_until_refused(conn, b"x" * (1 << 20), 256 << 20)
    assert cut_off
    assert 16 << 20 <= sent < 256 << 20
    assert "Traceback" not in capsys.readouterr().err
    assert_still_serving(sandbox_server)


def test_drain_stops_at_its_deadline_while_the_client_trickles(
    sandbox_server: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A client trickling bytes for longer than the drain window ends either while the
    # server waits (a socket timeout) or between two chunks; which one depends on timing.
    # A clock that moves one second per reading makes it the latter, every time.
    ticks: Callable[[], float] = itertools.count(time.monotonic(), 1.0).__next__
    monkeypatch.setattr(server_module, "time", types.SimpleNamespace(monotonic=ticks))
    conn, answer = refused(sandbox_server.port)
    with conn:
        assert answer.startswith(b"HTTP/1.0 413")
        sent, cut_off = send_until_refused(conn, b"more", 4 * 1000)
    assert cut_off
    assert sent < 4 * 1000
    assert "Traceback" not in capsys.readouterr().err
    assert_still_serving(sandbox_server)


def test_drain_survives_a_client_reset(
    sandbox_server: SandboxServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drained = threading.Event()
    real_drain = server_module._drain

    def drain(conn: socket.socket) -> None:
        try:
            real_drain(conn)
        finally:
            drained.set()

    monkeypatch.setattr(server_module, "_drain", drain)
    conn, answer = refused(sandbox_server.port)
    assert answer.startswith(b"HTTP/1.0 413")
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()  # linger 0: a reset, which the draining server meets as an error
    assert drained.wait(10)  # the drain met the reset and is over: its error was handled
    assert_still_serving(sandbox_server)
    assert "Traceback" not in capsys.readouterr().err
