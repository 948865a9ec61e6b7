"""A real socket for the sandbox: a threaded stdlib WSGI server, a context
manager that runs one in a thread, and the ``mktows serve`` command. No service
rules here.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from .._errors import ConfigError, MktowsError
from ._config import SandboxConfig
from ._wsgi import ENDPOINT_PATH, REST_PATH, UNREAD_BODY, make_app

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["RunningServer", "configure_serve_parser", "run_serve", "serve_in_thread"]

KEY_ENV = "MKTOWS_ENCRYPTION_KEY"
SECRET_ENV = "MKTOWS_CLIENT_SECRET"  # noqa: S105  # the name of a variable, not a secret
_SOCKET_TIMEOUT = 15.0  # a client that stalls mid-request loses its thread after this
_DRAIN_SECONDS = 2.0
_DRAIN_BYTES = 16 * 1024 * 1024


class _Handler(WSGIRequestHandler):
    """wsgiref's handler, quiet (the app logs each call), with a socket timeout and
    a bounded drain of bodies the app refused unread.
    """

    timeout = _SOCKET_TIMEOUT
    _unread = False

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        # wsgiref hands the app a copy of this dict: a callback survives the copy.
        environ[UNREAD_BODY] = self._mark_unread
        return environ

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


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


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


def _make_server(app: WSGIApplication, host: str, port: int) -> _ThreadingServer:
    server = _ThreadingServer((host, port), _Handler)
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


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}")
    return value


def configure_serve_parser(parser: argparse.ArgumentParser) -> None:
    """Add the ``mktows serve`` options to ``parser``."""
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=_port, default=8080, help="port to listen on (default 8080; 0 = any)"
    )
    parser.add_argument(
        "--user-id",
        help="a SOAP user id to accept (added to the configuration's users)",
    )
    parser.add_argument(
        "--encryption-key",
        help=f"that user's encryption key; better given in the {KEY_ENV} environment variable",
    )
    parser.add_argument(
        "--client-id",
        help="a REST client id to accept (added to the configuration's rest_clients)",
    )
    parser.add_argument(
        "--client-secret",
        help=f"that client's secret; better given in the {SECRET_ENV} environment variable",
    )
    parser.add_argument(
        "--db",
        default=":memory:",
        help="SQLite file for the leads (default: in memory, lost on exit)",
    )
    parser.add_argument("--config", help="JSON configuration file (see templates/sandbox.json)")


def _config(args: argparse.Namespace) -> SandboxConfig:
    config = SandboxConfig.load(args.config) if args.config else SandboxConfig()
    key = args.encryption_key or os.environ.get(KEY_ENV)
    if args.user_id:
        if not key:
            raise ConfigError(
                f"--user-id needs --encryption-key or the {KEY_ENV} environment variable"
            )
        config = config.with_user(args.user_id, key)
    elif args.encryption_key:
        raise ConfigError("--encryption-key needs --user-id")
    secret = args.client_secret or os.environ.get(SECRET_ENV)
    if args.client_id:
        if not secret:
            raise ConfigError(
                f"--client-id needs --client-secret or the {SECRET_ENV} environment variable"
            )
        config = config.with_client(args.client_id, secret)
    elif args.client_secret:
        raise ConfigError("--client-secret needs --client-id")
    return config


def run_serve(args: argparse.Namespace) -> int:
    """Run the sandbox until Ctrl-C.

    Returns 0 on a clean stop, 2 for bad settings, 1 when it cannot open the
    database or listen.
    """
    try:
        config = _config(args)
    except ConfigError as exc:
        print(f"mktows serve: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(format="%(asctime)s %(message)s")  # a no-op if logging is set up
    logging.getLogger(__name__.rpartition(".")[0]).setLevel(logging.INFO)
    try:
        app = make_app(config, args.db)
    except MktowsError as exc:
        print(f"mktows serve: cannot open the database {args.db!r}: {exc}", file=sys.stderr)
        return 1
    try:
        server = _make_server(app, args.host, args.port)
    except (OSError, OverflowError) as exc:  # OverflowError: a port run_serve was handed raw
        app.close()
        print(f"mktows serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    port = int(server.server_address[1])
    url = _url(args.host, port)
    running = RunningServer(args.host, port, url)
    clients = ", ".join(sorted(config.rest_clients)) or "none"
    print(
        f"mktows sandbox listening on {url} (WSDL: {url}?WSDL); users: "
        f"{', '.join(sorted(config.users))}\n"
        f"REST: {running.rest_url} (identity: {running.identity_url}, tokens live "
        f"{config.token_lifetime:g} s); clients: {clients}; Ctrl-C stops it",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("mktows serve: stopping", file=sys.stderr)
    finally:
        server.server_close()
        app.close()
    return 0
