"""Shared inputs of the benchmarks: leads, canned answers, the project's WSDL on disk,
zeep/suds clients and a fixed-response keep-alive HTTP server. Loopback only.
"""

from __future__ import annotations

import datetime as dt
import pathlib
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lxml import etree

import mktows

USER_ID = "bench_user_461839624B16E06BA2D663"
ENCRYPTION_KEY = "bench-key-899756834129871744AAEE88DDCC77CD"
WORKSPACE = "Default"
TIMESTAMP = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=-7)))
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
MKTOWS = "http://www.marketo.com/mktows/"
LEAD_ID = 1_234_567
PLACEHOLDER = "http://127.0.0.1:9/soap/mktows/2_2"
REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def lead(n_attributes: int) -> mktows.LeadRecord:
    """A lead keyed by Email with ``n_attributes`` string attributes, some needing escapes."""
    return mktows.LeadRecord(
        email="george@jungle.com",
        attributes={
            f"Field{i:02d}": (f"R&D <{i}> \"quoted\" 'x'" if i % 4 == 0 else f"value {i} é")
            for i in range(n_attributes)
        },
    )


def returned_lead(n_attributes: int) -> mktows.LeadRecord:
    """The full record a server returns: Id, Email and typed attributes."""
    return mktows.LeadRecord(
        id=LEAD_ID,
        email="george@jungle.com",
        attributes=[
            mktows.Attribute(
                name=f"Field{i:02d}",
                value=(f"R&D <{i}>" if i % 3 == 0 else str(i * 7)),
                type=("string" if i % 3 == 0 else "integer"),
            )
            for i in range(n_attributes)
        ],
    )


def success_body(record: mktows.LeadRecord | None) -> bytes:
    """A successSyncLead answer; a nil leadRecord when ``record`` is None."""
    status = mktows.SyncStatus.UPDATED if record is not None else mktows.SyncStatus.CREATED
    return mktows.build_sync_lead_response(
        mktows.SyncLeadResult(lead_id=LEAD_ID, status=status, lead=record)
    )


def fault_body() -> bytes:
    """Marketo's 20014 fault."""
    return mktows.build_fault_envelope(mktows.Fault.for_code(20014))


# -- correctness ---------------------------------------------------------------------


Tree = tuple[str, str, tuple[Any, ...]]


def content(body: bytes) -> Tree:
    """The content of an envelope: (qualified tag, stripped text, children), recursively.

    Prefixes, the XML declaration, namespace declarations and insignificant
    whitespace do not count; element names, namespaces, order and texts do.
    """
    return _tree(etree.fromstring(body))


def _tree(el: etree._Element) -> Tree:
    kids = tuple(_tree(c) for c in el if isinstance(c.tag, str))
    text = (el.text or "").strip() if not kids else ""
    nil = el.get("{http://www.w3.org/2001/XMLSchema-instance}nil")
    return (str(el.tag) + ("[nil]" if nil in ("true", "1") else ""), text, kids)


# -- the project's WSDL for zeep and suds ------------------------------------------


@contextmanager
def wsdl_file(address: str = PLACEHOLDER) -> Iterator[pathlib.Path]:
    """``mktows.wsdl(address)`` written to a temporary file, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="mktows-bench-") as tmp:
        path = pathlib.Path(tmp, "mktows.wsdl")
        path.write_bytes(mktows.wsdl(address))
        yield path


def zeep_client(path: pathlib.Path) -> Any:
    """A zeep client over ``path`` (zeep's default requests transport)."""
    import zeep

    return zeep.Client(str(path))  # type: ignore[no-untyped-call]


def zeep_async_client(path: pathlib.Path) -> Any:
    """A zeep AsyncClient over ``path`` with its httpx transport."""
    import httpx
    import zeep
    import zeep.transports

    transport = zeep.transports.AsyncTransport(client=httpx.AsyncClient())  # type: ignore[no-untyped-call]
    return zeep.AsyncClient(str(path), transport=transport)  # type: ignore[no-untyped-call]


def suds_client(path: pathlib.Path) -> Any:
    """A suds client over ``path`` that builds but never sends (``nosend``)."""
    from suds.client import Client

    return Client(path.as_uri(), nosend=True, cache=None, prettyxml=False)


# -- the fixed-response server -------------------------------------------------------


class _FixedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: connection reuse is measured fairly
    disable_nagle_algorithm = True  # headers and body go out in two writes
    body = b""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve(body_path: str) -> None:
    """Serve the bytes of ``body_path`` until stdin closes; print the port first."""
    handler = type("Handler", (_FixedHandler,), {"body": pathlib.Path(body_path).read_bytes()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # the parent closes stdin to stop us
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@contextmanager
def fixed_server(body: bytes) -> Iterator[str]:
    """A stdlib ThreadingHTTPServer on 127.0.0.1 answering ``body`` to every POST; yields its URL.

    It runs in its own process, so its work does not share the client's GIL:
    what is measured is the client's cost plus a constant server cost.
    """
    with tempfile.TemporaryDirectory(prefix="mktows-bench-") as tmp:
        path = pathlib.Path(tmp, "body.xml")
        path.write_bytes(body)
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.bench._fixtures", str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=REPO_ROOT,
        )
        try:
            assert proc.stdout is not None
            port = int(proc.stdout.readline())
            yield f"http://127.0.0.1:{port}/soap/mktows/2_2"
        finally:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
            if proc.stdout is not None:
                proc.stdout.close()


if __name__ == "__main__":
    _serve(sys.argv[1])
