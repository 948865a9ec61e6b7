"""The sandbox's server keeps a pool of worker threads that accept connections
themselves: sequential calls reuse warm workers instead of a thread per connection,
a burst gets a worker per connection, idle workers retire but the last, a reset
connection costs no worker, and a failed accept() is retried (with a pause when it ran
out of descriptors).
"""

from __future__ import annotations

import errno
import socket
import struct
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from support import wait_for

from mktows.sandbox import _server
from mktows.sandbox._server import _PooledServer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse


class ThreadRecorder:
    """A WSGI app that notes which thread answered, optionally meeting a barrier first."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []  # kept alive: identities stay distinct
        self.barrier: threading.Barrier | None = None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        self.threads.append(threading.current_thread())
        if self.barrier is not None:
            self.barrier.wait(timeout=10)  # BrokenBarrierError unless all are in flight
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]


@pytest.fixture
def pooled() -> Iterator[tuple[_PooledServer, ThreadRecorder, str]]:
    app = ThreadRecorder()
    server = _server._make_server(app, "127.0.0.1", 0)
    runner = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    runner.start()
    try:
        wait_for(lambda: server._idle == 1)  # the first worker waits in accept()
        yield server, app, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        runner.join(timeout=10)


def test_sequential_calls_reuse_a_worker(pooled: tuple[_PooledServer, ThreadRecorder, str]) -> None:
    server, app, url = pooled
    for _ in range(30):
        assert httpx.get(url, timeout=10).text == "ok"  # a new connection each time
    # One worker, or two taking turns while one closes its connection; not 30 threads.
    assert len(set(app.threads)) <= 2, len(set(app.threads))
    assert server.workers <= 2


def test_a_burst_gets_a_worker_per_connection_and_idle_ones_retire(
    pooled: tuple[_PooledServer, ThreadRecorder, str],
) -> None:
    server, app, url = pooled
    server.idle_seconds = 0.05
    app.barrier = threading.Barrier(8)  # all 8 calls must be in flight at once
    answers: list[str] = []

    def call() -> None:
        answers.append(httpx.get(url, timeout=20).text)

    callers = [threading.Thread(target=call) for _ in range(8)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=30)
    assert answers == ["ok"] * 8
    assert len(set(app.threads)) == 8
    app.barrier = None
    wait_for(lambda: server.workers == 1)  # the last one waiting stays
    time.sleep(0.3)
    assert server.workers == 1
    assert httpx.get(url, timeout=10).text == "ok"


def test_a_reset_connection_costs_no_worker(
    pooled: tuple[_PooledServer, ThreadRecorder, str], capsys: pytest.CaptureFixture[str]
) -> None:
    server, _, url = pooled
    with socket.create_connection(("127.0.0.1", int(server.server_address[1])), timeout=10) as conn:
        conn.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10")  # no end of headers
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    # The worker that met the reset started another before answering, and is back.
    wait_for(lambda: server._idle == 2)
    assert httpx.get(url, timeout=10).text == "ok"
    assert server.workers == 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_failure_in_the_handler_is_logged_not_printed(
    pooled: tuple[_PooledServer, ThreadRecorder, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, _, url = pooled
    real_finish = server.finish_request

    def finish_request(request: Any, client_address: Any) -> None:
        monkeypatch.setattr(server, "finish_request", real_finish)  # once
        raise RuntimeError("a bug in the handler")

    monkeypatch.setattr(server, "finish_request", finish_request)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url, timeout=10)  # closed unanswered
    assert httpx.get(url, timeout=10).text == "ok"
    [record] = [r for r in caplog.records if r.name == "mktows.sandbox._server"]
    assert record.getMessage() == "sandbox: failure serving a connection"
    assert record.exc_info is not None
    assert "a bug in the handler" in str(record.exc_info[1])
    assert "Traceback" not in capsys.readouterr().err


class _Failing:
    """The listening socket, whose accept() fails with ``code`` (EMFILE: too many open
    files) while ``failing`` is set."""

    def __init__(self, sock: socket.socket, code: int) -> None:
        self.sock = sock
        self.code = code
        self.failing = True
        self.calls = 0

    def accept(self) -> tuple[socket.socket, Any]:
        self.calls += 1
        if self.failing:
            raise OSError(self.code, "accept failed on purpose")
        return self.sock.accept()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


@pytest.mark.parametrize("code", [errno.EMFILE, errno.ECONNABORTED])
def test_a_failed_accept_does_not_end_the_pool(
    pooled: tuple[_PooledServer, ThreadRecorder, str],
    monkeypatch: pytest.MonkeyPatch,
    code: int,
) -> None:
    server, _, url = pooled
    failing = _Failing(server.socket, code)
    monkeypatch.setattr(server, "socket", failing)
    wait_for(lambda: failing.calls >= 2)  # the worker that failed accepts again
    assert server.workers == 1  # the failures ended no worker and started none
    failing.failing = False
    assert httpx.get(url, timeout=10).text == "ok"


def test_out_of_descriptors_a_worker_pauses_between_accepts(
    pooled: tuple[_PooledServer, ThreadRecorder, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _, url = pooled
    failing = _Failing(server.socket, errno.EMFILE)
    started = time.monotonic()
    monkeypatch.setattr(server, "socket", failing)
    wait_for(lambda: failing.calls >= 3)
    time.sleep(0.2)
    # Each failure is followed by a pause, so the calls are bounded by the time spent;
    # a worker retrying at once would have made thousands.
    assert failing.calls <= (time.monotonic() - started) / _server._ACCEPT_PAUSE + 1
    failing.failing = False
    assert httpx.get(url, timeout=10).text == "ok"


def test_a_server_closed_before_serving_returns_at_once() -> None:
    server = _server._make_server(ThreadRecorder(), "127.0.0.1", 0)
    server.server_close()
    server.serve_forever(poll_interval=0.05)  # returns: nothing to serve
    assert server.workers == 0


def test_without_threads_to_be_had_the_last_worker_carries_on(
    pooled: tuple[_PooledServer, ThreadRecorder, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, _, url = pooled
    real_start = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        if thread.name.startswith("mktows-sandbox-worker"):
            raise RuntimeError("can't start new thread")  # as when the process has no more
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    for _ in range(3):
        assert httpx.get(url, timeout=10).text == "ok"
    assert server.workers == 1
    assert "cannot start another worker thread" in caplog.text
