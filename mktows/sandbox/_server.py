"""A real socket for the sandbox: the stdlib WSGI server with a pool of worker
threads, run in a background thread (``serve_in_thread``) or in this one
(``serve_forever``). No service rules here, and no command line (that is
``mktows.cli.serve``).
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from ._wsgi import DROP, ENDPOINT_PATH, REST_PATH, UNREAD_BODY

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["RunningServer", "serve_forever", "serve_in_thread"]

log = logging.getLogger(__name__)

_SOCKET_TIMEOUT = 15.0  # a client that stalls mid-request loses its thread after this
_DRAIN_SECONDS = 2.0
_DRAIN_BYTES = 16 * 1024 * 1024
_IDLE_SECONDS = 30.0  # a worker left idle this long after a burst ends
_ACCEPT_PAUSE = 0.05  # seconds a worker waits after accept() ran out of descriptors or memory
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class _Writer:
    """The response stream, which a fault rule's "drop" turns into a sink."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.dropped = False

    def write(self, data: bytes) -> int:
        return len(data) if self.dropped else int(self.inner.write(data))

    def flush(self) -> None:
        if not self.dropped:
            self.inner.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _Handler(WSGIRequestHandler):
    """wsgiref's handler, quiet (the app logs each call), with a socket timeout, a
    bounded drain of bodies the app refused unread, and connections closed
    unanswered when the app says drop.
    """

    timeout = _SOCKET_TIMEOUT
    _unread = False

    def setup(self) -> None:
        super().setup()
        self.wfile = _Writer(self.wfile)  # type: ignore[assignment]

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        # wsgiref hands the app a copy of this dict: a callback survives the copy.
        environ[UNREAD_BODY] = self._mark_unread
        environ[DROP] = self._drop
        return environ

    def _drop(self) -> None:
        self.wfile.dropped = True  # type: ignore[attr-defined]

    def _mark_unread(self) -> None:
        self._unread = True

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the application logs one line per call."""

    def finish(self) -> None:
        super().finish()
        if self._unread:
            _drain(self.connection)


def _drain(conn: socket.socket) -> None:
    """Read and discard what the client is still sending, within bounds."""
    ends = time.monotonic() + _DRAIN_SECONDS
    total = 0
    try:
        conn.shutdown(socket.SHUT_WR)
        while total < _DRAIN_BYTES:
            remaining = ends - time.monotonic()
            if remaining <= 0:
                break
            conn.settimeout(remaining)
            chunk = conn.recv(65536)
            if not chunk:
                break
            total += len(chunk)
    except OSError:
        pass


class _PooledServer(WSGIServer):
    """wsgiref's server, its connections accepted and answered by a pool of threads.

    Every idle worker waits in accept() on the listening socket, and the one that
    gets a connection answers it itself: no thread hands a connection to another,
    and a sequential client is served by warm threads (their XML parser, their
    CPU's caches) instead of a new thread per connection. A worker that accepts
    while no other is idle first starts another, so one is always accepting and a
    burst gets a worker per connection (no limit beyond the sandbox's own rules).
    A worker idle for ``idle_seconds`` ends, unless it is the last one waiting.
    """

    allow_reuse_address = True
    request_queue_size = 128
    daemon_threads = True  # serve_forever sets False: closing then joins the workers
    idle_seconds = _IDLE_SECONDS

    def __init__(self, address: tuple[str, int], handler: type[_Handler]) -> None:
        self._lock = threading.Lock()
        self._left_accept = threading.Condition(self._lock)
        self._idle = 0  # workers waiting in accept()
        self._workers: set[threading.Thread] = set()
        self._stopping = threading.Event()
        super().__init__(address, handler)  # a failure to listen calls server_close

    @property
    def workers(self) -> int:
        """The worker threads alive now, busy or idle."""
        with self._lock:
            return len(self._workers)

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Start the first worker, then wait for shutdown() (or Ctrl-C in this thread).
        Workers look for the stop every ``poll_interval`` seconds."""
        try:
            self.socket.settimeout(poll_interval)
        except OSError:  # closed before this thread got to start
            return
        self._start_worker()
        try:
            while not self._stopping.wait(poll_interval):
                pass
        finally:
            self._stopping.set()

    def shutdown(self) -> None:
        """Stop accepting: once this returns no worker accepts again (each waiting one
        notices within the poll interval); calls in flight are still answered."""
        self._stopping.set()
        with self._left_accept:
            self._left_accept.wait_for(lambda: not self._idle)

    def _start_worker(self) -> None:
        worker = threading.Thread(
            target=self._work,
            daemon=self.daemon_threads,
            name=f"mktows-sandbox-worker-{self.server_address[1]}",
        )
        with self._lock:
            self._workers.add(worker)
        try:
            worker.start()
        except RuntimeError:  # no thread to be had: the running workers carry on
            log.warning("sandbox: cannot start another worker thread")
            with self._lock:
                self._workers.discard(worker)

    def _work(self) -> None:
        try:
            while (accepted := self._accept()) is not None:
                request, client_address = accepted
                try:
                    self.finish_request(request, client_address)
                except Exception:
                    self.handle_error(request, client_address)
                finally:
                    self.shutdown_request(request)
        finally:
            with self._lock:
                self._workers.discard(threading.current_thread())

    def _accept(self) -> tuple[Any, Any] | None:
        """The next connection (after starting another worker if none is left
        waiting), or None when this worker should end."""
        idle_since = time.monotonic()
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return None
                self._idle += 1
            try:
                accepted = self.socket.accept()
            except TimeoutError:
                with self._lock:
                    self._left()
                    if time.monotonic() - idle_since >= self.idle_seconds and self._idle:
                        return None  # idle too long, and another worker is waiting
                continue
            except OSError as exc:  # the connection was reset before it was taken, or EMFILE
                with self._lock:
                    self._left()
                if exc.errno in _OUT_OF_RESOURCES:
                    self._stopping.wait(_ACCEPT_PAUSE)  # retrying at once would only spin
                continue
            with self._lock:
                self._left()
                alone = not self._idle
            if alone:
                self._start_worker()
            return accepted

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (a reset, a broken pipe, a stall past the socket
        timeout) is routine and logged at debug level; anything else is logged with
        its traceback (socketserver would print both to stderr)."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            log.debug("sandbox: a client went away: %r", exc)
        else:
            log.exception("sandbox: failure serving a connection")

    def _left(self) -> None:
        """A worker left accept() (the lock is held)."""
        self._idle -= 1
        self._left_accept.notify_all()

    def server_close(self) -> None:
        """Stop, close the socket, and (unless daemons) join the workers: each ends
        after its current call."""
        self.shutdown()
        super().server_close()
        if not self.daemon_threads:
            with self._lock:
                workers = list(self._workers)
            for worker in workers:
                worker.join()


@dataclass(frozen=True, slots=True)
class RunningServer:
    """A live sandbox: ``url`` is the full SOAP endpoint, e.g.
    http://127.0.0.1:PORT/soap/mktows/2_2; ``rest_url`` (http://127.0.0.1:PORT/rest)
    and ``identity_url`` (http://127.0.0.1:PORT/identity) are the REST face's bases.
    """

    host: str
    port: int
    url: str

    @property
    def base_url(self) -> str:
        """http://HOST:PORT, what every path is served under."""
        return self.url[: -len(ENDPOINT_PATH)]

    @property
    def rest_url(self) -> str:
        """The REST base URL (Marketo's ``https://123-ABC-456.mktorest.com/rest``)."""
        return self.base_url + REST_PATH

    @property
    def identity_url(self) -> str:
        """The identity base URL; tokens come from ``{identity_url}/oauth/token``."""
        return self.base_url + "/identity"


def _make_server(app: WSGIApplication, host: str, port: int) -> _PooledServer:
    server = _PooledServer((host, port), _Handler)
    server.set_app(app)
    return server


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{ENDPOINT_PATH}"


@contextmanager
def serve_in_thread(
    app: WSGIApplication, host: str = "127.0.0.1", port: int = 0
) -> Iterator[RunningServer]:
    """Serve ``app`` on a threaded server in a background thread; stop and join on exit.

    >>> with serve_in_thread(make_app()) as server:
    ...     Client(server.url, DEFAULT_USER_ID, DEFAULT_ENCRYPTION_KEY).sync_lead(lead)
    """
    server = _make_server(app, host, port)
    bound = int(server.server_address[1])
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        daemon=True,
        name=f"mktows-sandbox-{bound}",
    )
    thread.start()
    try:
        yield RunningServer(host=host, port=bound, url=_url(host, bound))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def serve_forever(
    app: WSGIApplication,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    ready: Callable[[RunningServer], object],
) -> None:
    """Serve ``app`` in this thread until KeyboardInterrupt, which propagates once
    the socket is closed and the calls in flight are answered. In the main thread,
    SIGTERM (what containers and process managers send) stops it the same way.
    ``ready`` gets the :class:`RunningServer` once the socket listens; a failure to
    listen raises OSError (or OverflowError) before it.
    """
    server = _make_server(app, host, port)
    # Joined on close: a stop answers the calls in flight (a stalled client is cut off
    # by the socket timeout). serve_in_thread keeps daemon threads: tests stop at once.
    server.daemon_threads = False
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main else None
    try:
        bound = int(server.server_address[1])
        ready(RunningServer(host=host, port=bound, url=_url(host, bound)))
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()  # joins the threads of the calls in flight
        if main:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C: the clean stop of :func:`serve_forever`."""
    raise KeyboardInterrupt
