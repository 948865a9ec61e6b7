"""The admin API's edges over a real loopback socket: bodies it cannot read, seed values
it converts or refuses, resets that keep parts; and the bounded memory of leads seen.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support import raw_exchange

from mktows.sandbox import RunningServer, SandboxApp, make_app, serve_forever, serve_in_thread
from mktows.sandbox._record import LeadBook
from mktows.sandbox._store import LeadRow


@pytest.fixture
def served() -> Iterator[tuple[SandboxApp, str]]:
    app = make_app()
    try:
        with serve_in_thread(app) as running:
            yield app, running.base_url + "/_sandbox/api"
    finally:
        app.close()


def test_bodies_the_admin_api_cannot_read(served: tuple[SandboxApp, str]) -> None:
    _, api = served
    chunked = httpx.post(api + "/leads", content=iter([b'{"leads": []}']))
    assert chunked.status_code == 411
    assert "Content-Length" in chunked.json()["error"]
    big = httpx.post(api + "/leads", content=b" " * (2 << 20), headers={"Content-Type": "x"})
    assert big.status_code == 413
    assert "the limit is" in big.json()["error"]
    answer = raw_exchange(
        httpx.URL(api).port or 80,
        b"POST /_sandbox/api/reset HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n"
        b"Connection: close\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 400") or answer.startswith(b"HTTP/1.0 400"), answer
    assert b"Content-Length is not a number" in answer


def test_seed_converts_plain_values_and_refuses_others(served: tuple[SandboxApp, str]) -> None:
    _, api = served
    lead = {"email": "ann@seed.test", "attributes": {"Unsubscribed": True, "FirstName": None}}
    [lead_id] = httpx.post(api + "/leads", json={"leads": [lead]}).json()["ids"]
    [stored] = httpx.get(api + "/leads", params={"id": lead_id}).json()["leads"]
    assert stored["attributes"] == {"Unsubscribed": "true"}  # None clears: nothing stored
    bad = httpx.post(api + "/leads", json={"leads": [{"email": "b@x.test", "attributes": [1]}]})
    assert bad.status_code == 400
    assert "attributes must map field names to values" in bad.json()["error"]


def test_seeding_an_id_with_another_leads_foreign_id_is_refused(
    served: tuple[SandboxApp, str],
) -> None:
    _, api = served
    leads = [{"email": "a@x.test", "foreign_sys_person_id": "F1"}, {"email": "b@x.test"}]
    ids = httpx.post(api + "/leads", json={"leads": leads}).json()["ids"]
    taken = {"id": ids[1], "foreign_sys_person_id": "F1"}
    refused = httpx.post(api + "/leads", json={"leads": [taken]})
    assert refused.status_code == 400
    assert "not written: foreign id taken" in refused.json()["error"]
    [b] = httpx.get(api + "/leads", params={"id": ids[1]}).json()["leads"]
    assert b["foreign_sys_person_id"] is None


@pytest.mark.parametrize("kept", ["journal", "faults", "limits"])
def test_reset_keeps_what_it_is_told(served: tuple[SandboxApp, str], kept: str) -> None:
    app, api = served
    httpx.post(api + "/faults", json={"match": {"wire": "rest"}, "code": 606})
    httpx.post(api + "/leads", json={"leads": [{"email": "a@x.test"}]})
    app.journal.record({"email": None, "outcome": "CREATED", "code": None, "wire": "soap"})
    limiter = app.service.limiter
    assert httpx.post(api + "/reset", json={"keep": [kept]}).status_code == 200
    assert httpx.get(api + "/leads").json() == {"leads": []}
    assert bool(app.journal.calls()) is (kept == "journal")
    assert bool(app.faults) is (kept == "faults")
    assert (app.service.limiter is limiter) is (kept == "limits")


def test_a_caller_without_an_ip_address_is_not_loopback() -> None:
    app = make_app()
    try:
        seen: list[str] = []
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/_sandbox/api/calls",
            "REMOTE_ADDR": "",  # a server on a Unix socket gives no address
            "wsgi.input": None,
        }

        def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> Any:
            seen.append(status)

        body = b"".join(app(environ, start_response))
        assert seen == ["403 Forbidden"]
        assert b"loopback" in body
    finally:
        app.close()


def test_the_lead_book_forgets_the_oldest_leads() -> None:
    book = LeadBook(1)  # at least 1,000 last states, 10,000 times

    def row(lead_id: int) -> LeadRow:
        return LeadRow(lead_id, f"{lead_id}@x.test", None, None, "Default", {})

    for lead_id in range(1, 10_002):
        book.written(row(lead_id), "2026-03-14T12:00:00.000Z", created=True)
    before, after = book.written(row(1), "2026-03-14T12:00:01.000Z", created=False)
    assert before is None  # forgotten
    assert after["created_at"] == "2026-03-14T12:00:01.000Z"  # its creation time too
    before, after = book.written(row(10_001), "2026-03-14T12:00:01.000Z", created=False)
    assert before is not None
    assert after["created_at"] == "2026-03-14T12:00:00.000Z"


def test_serve_forever_off_the_main_thread_leaves_signals_alone() -> None:
    app = make_app()
    failures: list[BaseException] = []
    ports: list[int] = []

    def ready(running: RunningServer) -> None:
        ports.append(running.port)
        raise RuntimeError("stop here")

    def run() -> None:
        try:
            serve_forever(app, ready=ready)
        except RuntimeError as exc:
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=10)
    app.close()
    assert [str(f) for f in failures] == ["stop here"]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", ports[0]), timeout=5).close()
