"""Fixtures of the command-line tests: no credentials (the embedded sandbox), a port
nothing listens on, and a server that never answers."""

from __future__ import annotations

import os
import selectors
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import free_port


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No MKTOWS_* setting anywhere; the embedded sandbox keeps its state in tmp_path."""
    for name in [name for name in os.environ if name.startswith("MKTOWS_")]:
        monkeypatch.delenv(name)
    db = tmp_path / "data" / "sandbox.sqlite3"
    monkeypatch.setenv("MKTOWS_SANDBOX_DB", str(db))
    return db


@pytest.fixture
def refused_url() -> str:
    """A SOAP endpoint on a loopback port nothing listens on: connections are refused."""
    port = free_port()  # closed again: nothing listens there
    return f"http://127.0.0.1:{port}/soap/mktows/2_2"


@dataclass
class BlackHole:
    """A server that takes connections and requests and never answers."""

    url: str
    received: list[int]


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    hole = BlackHole(f"http://127.0.0.1:{port}/soap/mktows/2_2", [0])
    stop = threading.Event()
    conns: list[socket.socket] = []

    def swallow() -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            while not stop.is_set():
                for key, _ in selector.select(timeout=0.05):
                    if key.fileobj is listener:
                        conn, _ = listener.accept()
                        conns.append(conn)
                        selector.register(conn, selectors.EVENT_READ)
                        continue
                    assert isinstance(key.fileobj, socket.socket)
                    try:
                        data = key.fileobj.recv(65536)
                    except OSError:
                        data = b""
                    if data:
                        hole.received[0] += len(data)
                    else:
                        selector.unregister(key.fileobj)

    thread = threading.Thread(target=swallow, daemon=True)
    thread.start()
    try:
        yield hole
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in conns:
            conn.close()
        listener.close()
