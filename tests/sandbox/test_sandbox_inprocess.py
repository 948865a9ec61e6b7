"""The same application in-process (httpx.WSGITransport, SQLite in memory)."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator

import httpx
import pytest
from support import NO_RETRY, SOAP_HEADERS, count_leads

from mktows import Client, LeadRecord, SyncStatus
from mktows.sandbox import (
    DEFAULT_ENCRYPTION_KEY,
    DEFAULT_USER_ID,
    SandboxApp,
    SandboxConfig,
    make_app,
)

URL = "http://sandbox.test/soap/mktows/2_2"


@pytest.fixture
def app() -> Iterator[SandboxApp]:
    application = make_app(SandboxConfig(rate_limit_calls=0, concurrency_limit=0))
    try:
        yield application
    finally:
        application.close()


def in_process_client(app: SandboxApp) -> Client:
    return Client(
        URL,
        DEFAULT_USER_ID,
        DEFAULT_ENCRYPTION_KEY,
        transport=httpx.WSGITransport(app=app),
        retry=NO_RETRY,
    )


def test_in_memory_from_several_threads(app: SandboxApp) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            with in_process_client(app) as c:
                for i in range(10):
                    c.sync_lead(LeadRecord(email=f"m{i}@x.com", attributes={"City": str(n)}))
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert not errors
    assert count_leads(app) == 10
    with in_process_client(app) as c:
        assert c.sync_lead(LeadRecord(email="m0@x.com")).status is SyncStatus.UPDATED


def test_wsdl_in_process_points_at_the_host(app: SandboxApp) -> None:
    with httpx.Client(transport=httpx.WSGITransport(app=app)) as http:
        response = http.get(f"{URL}?wsdl")
    assert b'location="http://sandbox.test/soap/mktows/2_2"' in response.content


def test_a_body_that_cannot_be_read_is_400(app: SandboxApp) -> None:
    class Broken(io.RawIOBase):
        def read(self, size: int = -1) -> bytes:
            raise OSError("connection reset")  # what a vanished client looks like

    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/soap/mktows/2_2",
        "CONTENT_TYPE": SOAP_HEADERS["Content-Type"],
        "CONTENT_LENGTH": "100",
        "wsgi.input": Broken(),
        "SERVER_NAME": "x",
        "SERVER_PORT": "80",
    }
    seen: list[str] = []
    body = b"".join(app(environ, lambda status, headers, exc_info=None: seen.append(status)))  # type: ignore[arg-type]
    assert seen == ["400 Bad Request"]
    assert b"ended after 0 of 100 bytes" in body


def test_wrong_content_type_in_process_is_415(app: SandboxApp) -> None:
    with httpx.Client(transport=httpx.WSGITransport(app=app)) as http:
        response = http.post(URL, content=b"{}", headers={"Content-Type": "application/json"})
    assert response.status_code == 415
