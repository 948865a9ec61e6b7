"""Client and AsyncClient wiring: headers, signing per attempt, retries, limits, errors, logs.

httpx.MockTransport stands in for faults a real server cannot be made to send
on demand; behaviour against a real server lives in the sandbox tests.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from support import KEY, free_port

import mktows
from mktows import (
    AsyncClient,
    Client,
    Fault,
    LeadRecord,
    RetryPolicy,
    SyncLeadResult,
    SyncStatus,
    build_fault_envelope,
    build_sync_lead_response,
    parse_sync_lead_request,
    validate_envelope,
)
from mktows._signing import verify

URL = "http://mktows.test/soap/mktows/2_2"
USER = "bigcorp1_461839624B16E06BA2D663"
LEAD = LeadRecord(email="george@jungle.com", attributes={"FirstName": "George"})
FAST = RetryPolicy(attempts=4, backoff=0.0, max_backoff=0.0)

Handler = Callable[[httpx.Request], httpx.Response]


def ok(status: SyncStatus = SyncStatus.CREATED, *, http: int = 200) -> httpx.Response:
    body = build_sync_lead_response(SyncLeadResult(lead_id=7, status=status))
    return httpx.Response(http, content=body, headers={"Content-Type": "text/xml"})


def fault(code: int, *, http: int = 500) -> httpx.Response:
    return httpx.Response(http, content=build_fault_envelope(Fault.for_code(code)))


class Script:
    """A MockTransport handler that answers from a list and records every request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer.stream, httpx.ByteStream):
            # A fresh copy, so one table row can serve several requests and both clients.
            return httpx.Response(
                answer.status_code, headers=answer.headers, content=answer.content
            )
        return answer


class Ticking:
    """A clock that moves one second per reading."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 28, 12, 0, 0, tzinfo=dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


def call(kind: str, handler: Handler, lead: LeadRecord = LEAD, /, **kw: Any) -> SyncLeadResult:
    """Run one sync_lead through Client or AsyncClient with ``handler`` as the server."""
    call_kw = {k: kw.pop(k) for k in ("return_lead", "workspace", "marketo_cookie") if k in kw}
    kw.setdefault("retry", FAST)
    transport = httpx.MockTransport(handler)
    if kind == "sync":
        with Client(URL, USER, KEY, transport=transport, **kw) as client:
            return client.sync_lead(lead, **call_kw)

    async def go() -> SyncLeadResult:
        async with AsyncClient(URL, USER, KEY, transport=transport, **kw) as client:
            return await client.sync_lead(lead, **call_kw)

    return asyncio.run(go())


KINDS = [pytest.param("sync", id="Client"), pytest.param("async", id="AsyncClient")]


@pytest.mark.parametrize("kind", KINDS)
def test_posts_a_signed_valid_envelope_with_soapaction(kind: str) -> None:
    script = Script(ok())
    result = call(kind, script, workspace="Default", marketo_cookie="id:123", return_lead=True)
    assert result == SyncLeadResult(lead_id=7, status=SyncStatus.CREATED)
    (request,) = script.requests
    assert request.method == "POST"
    assert str(request.url) == URL
    assert request.headers["SOAPAction"] == '"http://www.marketo.com/mktows/syncLead"'
    assert request.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert validate_envelope(request.content) == []
    sent = parse_sync_lead_request(request.content)
    assert sent.lead == LEAD
    assert (sent.workspace, sent.marketo_cookie, sent.return_lead) == ("Default", "id:123", True)
    assert sent.auth is not None
    assert sent.auth.user_id == USER
    assert verify(sent.auth.signature, sent.auth.timestamp, USER, KEY)


@pytest.mark.parametrize("kind", KINDS)
def test_failed_status_is_returned_not_raised(kind: str) -> None:
    body = build_sync_lead_response(
        SyncLeadResult(lead_id=0, status=SyncStatus.FAILED, error="Lead is locked")
    )
    result = call(kind, Script(httpx.Response(200, content=body)))
    assert result.status is SyncStatus.FAILED
    assert result.error == "Lead is locked"


def _retry_table() -> Iterator[Any]:
    """(answers, expected outcome, number of requests)."""
    yield pytest.param([fault(20016), ok()], SyncStatus.CREATED, 2, id="20016-resigned")
    yield pytest.param(
        [fault(20016)] * 3, mktows.RequestExpiredError, 3, id="20016-gives-up-after-resigns"
    )
    for code in (20023, 20024, 10001, 20011):
        yield pytest.param([fault(code), ok()], SyncStatus.CREATED, 2, id=f"{code}-backoff")
    yield pytest.param([fault(20023)] * 4, mktows.RateLimitError, 4, id="20023-exhausted")
    for code, error in [
        (20013, mktows.AccessDeniedError),
        (20014, mktows.AuthenticationError),
        (20015, mktows.QuotaExceededError),
        (20103, mktows.LeadNotFoundError),
        (20105, mktows.UnknownAttributeError),
        (20109, mktows.FaultError),
        (20110, mktows.FaultError),
    ]:
        yield pytest.param([fault(code)], error, 1, id=f"{code}-never-retried")
    yield pytest.param(
        [httpx.ConnectError("refused"), ok()], SyncStatus.CREATED, 2, id="connect-error"
    )
    yield pytest.param([httpx.ReadTimeout("slow"), ok()], SyncStatus.CREATED, 2, id="read-timeout")
    yield pytest.param(
        [httpx.ConnectError("refused")] * 4, mktows.TransportError, 4, id="transport-exhausted"
    )
    html = httpx.Response(502, content=b"<html><body>Bad Gateway</body></html>")
    yield pytest.param([html, ok()], SyncStatus.CREATED, 2, id="502-html-retried")
    yield pytest.param(
        [httpx.Response(500, content=b"<html>oops</html>")],
        mktows.ResponseError,
        1,
        id="500-html-not-retried",
    )
    yield pytest.param([fault(20014, http=200)], mktows.AuthenticationError, 1, id="200-fault")
    yield pytest.param([ok(http=500)], SyncStatus.CREATED, 1, id="500-success")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("answers", "expected", "requests"), list(_retry_table()))
def test_retry_policy(
    kind: str, answers: list[httpx.Response | Exception], expected: Any, requests: int
) -> None:
    script = Script(*answers)
    clock = Ticking()
    if isinstance(expected, SyncStatus):
        assert call(kind, script, clock=clock).status is expected
    else:
        with pytest.raises(expected) as info:
            call(kind, script, clock=clock)
        if isinstance(info.value, mktows.FaultError):
            assert isinstance(info.value.code, int)
            assert info.value.status_code in (200, 500)
    assert len(script.requests) == requests
    # Every attempt is signed afresh, over its own timestamp.
    stamps = []
    for request in script.requests:
        auth = parse_sync_lead_request(request.content).auth
        assert auth is not None
        assert verify(auth.signature, auth.timestamp, USER, KEY)
        stamps.append(auth.timestamp)
    assert len(set(stamps)) == len(stamps)


def test_backoff_sleeps_grow_and_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    policy = RetryPolicy(attempts=4, backoff=1.0, multiplier=2.0, max_backoff=3.0)
    script = Script(fault(20024), fault(20024), fault(20024), ok())
    assert call("sync", script, retry=policy).status is SyncStatus.CREATED
    assert len(slept) == 3
    for retry, seconds in enumerate(slept, start=1):
        assert 0.0 <= seconds <= min(3.0, 2.0 ** (retry - 1))


def test_no_retry_when_the_backoff_would_pass_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(time, "sleep", lambda s: pytest.fail("slept past the deadline"))
    policy = RetryPolicy(attempts=5, backoff=100.0, max_backoff=100.0)
    script = Script(fault(20023), ok())
    monkeypatch.setattr("random.Random.random", lambda self: 0.99)
    with pytest.raises(mktows.RateLimitError):
        call("sync", script, retry=policy, deadline=5.0)
    assert len(script.requests) == 1


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("lead", "kw", "field"),
    [
        pytest.param(LeadRecord(), {}, "leadRecord", id="no-key"),
        pytest.param(
            LeadRecord(foreign_sys_person_id="X1"), {}, "ForeignSysType", id="fsp-without-type"
        ),
        pytest.param(LEAD, {"workspace": "bad\x01"}, "workspace", id="control-char-workspace"),
        pytest.param(LEAD, {"marketo_cookie": ""}, "marketo_cookie", id="empty-cookie"),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(
    kind: str, lead: LeadRecord, kw: dict[str, Any], field: str
) -> None:
    script = Script()
    with pytest.raises(mktows.ValidationError) as info:
        call(kind, script, lead, **kw)
    assert info.value.field == field
    assert script.requests == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("not a url", USER, KEY), r"http\(s\) URL", id="endpoint"),
        pytest.param(("ftp://x/soap", USER, KEY), r"http\(s\) URL", id="scheme"),
        pytest.param(("http://host:notaport/x", USER, KEY), "Invalid port", id="port"),
        pytest.param((None, USER, KEY), "not a URL", id="none"),
        pytest.param((URL, " ", KEY), "user_id", id="user"),
        pytest.param((URL, USER, ""), "encryption_key", id="key"),
    ],
)
def test_bad_settings_raise_config_error(args: tuple[Any, str, str], message: str) -> None:
    with pytest.raises(mktows.ConfigError, match=message):
        Client(*args)


def test_bad_limits_raise_config_error() -> None:
    with pytest.raises(mktows.ConfigError):
        Client(URL, USER, KEY, deadline=0)
    with pytest.raises(mktows.ConfigError):
        RetryPolicy(attempts=0)
    with pytest.raises(mktows.ConfigError):
        RetryPolicy(multiplier=0.5)


@pytest.mark.parametrize("kind", KINDS)
def test_response_size_cap_from_content_length(kind: str) -> None:
    big = httpx.Response(200, content=b"x" * 5000)
    with pytest.raises(mktows.ResponseTooLarge) as info:
        call(kind, Script(big), max_response_bytes=1000)
    assert info.value.status_code == 200


@pytest.mark.parametrize("kind", KINDS)
def test_response_size_cap_while_streaming(kind: str) -> None:
    def endless() -> Iterator[bytes]:
        while True:
            yield b"<a>" * 1000

    async def aendless() -> Any:
        for chunk in endless():
            yield chunk

    stream = endless() if kind == "sync" else aendless()
    answer = httpx.Response(200, content=stream)
    with pytest.raises(mktows.ResponseTooLarge, match="max_response_bytes=10000"):
        call(kind, Script(answer), max_response_bytes=10_000)


@pytest.mark.parametrize("kind", KINDS)
def test_debug_log_shows_bodies_and_never_the_key(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mktows")
    with pytest.raises(mktows.AuthenticationError) as info:
        call(kind, Script(fault(20016), fault(20014)))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "paramsSyncLead" in text
    assert "successSyncLead" not in text
    assert "Authentication failed" in text
    assert KEY not in text
    assert KEY not in str(info.value)
    assert KEY not in repr(info.value.fault)


@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_repr_and_vars_never_show_the_key(cls: type[Client] | type[AsyncClient]) -> None:
    client = cls(URL, USER, KEY)
    try:
        assert KEY not in repr(client)
        assert KEY not in str(client)
        assert USER in repr(client)
    finally:
        if isinstance(client, Client):
            client.close()
        else:
            asyncio.run(client.aclose())


def test_injected_http_client_is_used_and_left_open() -> None:
    script = Script(ok())
    http = httpx.Client(transport=httpx.MockTransport(script))
    with Client(URL, USER, KEY, http_client=http) as client:
        assert client.sync_lead(LEAD).status is SyncStatus.CREATED
    assert not http.is_closed
    http.close()
    assert len(script.requests) == 1


def test_injected_async_http_client_is_left_open() -> None:
    script = Script(ok())

    async def go() -> bool:
        http = httpx.AsyncClient(transport=httpx.MockTransport(script))
        async with AsyncClient(URL, USER, KEY, http_client=http) as client:
            await client.sync_lead(LEAD)
        still_open = not http.is_closed
        await http.aclose()
        return still_open

    assert asyncio.run(go())


def test_tls_verification_is_on_by_default() -> None:
    with Client("https://example.invalid/soap/mktows/2_2", USER, KEY) as client:
        pool = client._http._transport._pool  # type: ignore[attr-defined]
        assert pool._ssl_context.verify_mode.name == "CERT_REQUIRED"


# -- a real loopback peer for what MockTransport cannot do: time -------------------


class Dripper:
    """A TCP server that answers HTTP slowly: headers, then one byte per ``pause``."""

    def __init__(self, pause: float) -> None:
        self.pause = pause
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/soap/mktows/2_2"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
                while not self.stop.wait(self.pause):
                    try:
                        conn.sendall(b" ")
                    except OSError:
                        break

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def dripper() -> Iterator[Dripper]:
    server = Dripper(pause=0.05)
    yield server
    server.close()


@pytest.mark.parametrize("kind", KINDS)
def test_a_dripping_server_is_cut_off_by_the_total_deadline(kind: str, dripper: Dripper) -> None:
    kw: dict[str, Any] = {"deadline": 0.5, "retry": FAST}

    def run() -> None:
        if kind == "sync":
            with Client(dripper.url, USER, KEY, **kw) as client:
                client.sync_lead(LEAD)
            return

        async def go() -> None:
            async with AsyncClient(dripper.url, USER, KEY, **kw) as client:
                await client.sync_lead(LEAD)

        asyncio.run(go())

    start = time.monotonic()
    with pytest.raises(mktows.DeadlineExceeded):
        run()
    # Bounded, not timed: every read waits at most what is left of the deadline.
    assert time.monotonic() - start < 5.0


def test_connection_refused_is_a_transport_error() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/soap/mktows/2_2"
    with (
        Client(url, USER, KEY, retry=RetryPolicy(attempts=1)) as client,
        pytest.raises(mktows.TransportError, match="ConnectError") as info,
    ):
        client.sync_lead(LEAD)
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert info.value.retryable


def test_flow_stops_when_the_deadline_has_passed_before_a_retry() -> None:
    """A retry whose turn comes after the deadline (a long sleep overshot) is not sent."""
    from mktows._flow import Pacing, Send, Sleep
    from mktows._soap_flow import call_flow

    now = [0.0]
    pacing = Pacing(
        policy=FAST, deadline=10.0, clock=Ticking(), monotonic=lambda: now[0], random=lambda: 0.0
    )
    flow = call_flow(lambda when: b"<envelope/>", pacing)
    first = next(flow)
    assert isinstance(first, Send)
    assert first.timeout == 10.0
    wait = flow.throw(mktows.TransportError("reset"))
    assert isinstance(wait, Sleep)
    now[0] = 11.0  # the sleep overshot the deadline
    with pytest.raises(mktows.DeadlineExceeded, match="10s ran out"):
        flow.send(None)


@pytest.mark.parametrize("kind", KINDS)
def test_a_closed_client_says_so_and_sends_nothing(kind: str) -> None:
    script = Script()
    transport = httpx.MockTransport(script)
    if kind == "sync":
        client = Client(URL, USER, KEY, transport=transport)
        client.close()
        with pytest.raises(mktows.ConfigError, match="Client is closed"):
            client.sync_lead(LEAD)
    else:

        async def go() -> None:
            client = AsyncClient(URL, USER, KEY, transport=transport)
            await client.aclose()
            with pytest.raises(mktows.ConfigError, match="AsyncClient is closed"):
                await client.sync_lead(LEAD)

        asyncio.run(go())
    assert script.requests == []


def test_transport_or_verify_with_your_own_http_client_is_refused() -> None:
    with httpx.Client() as http:
        with pytest.raises(mktows.ConfigError, match="set them on it instead"):
            Client(URL, USER, KEY, http_client=http, transport=httpx.MockTransport(Script()))
        with pytest.raises(mktows.ConfigError, match="set them on it instead"):
            Client(URL, USER, KEY, http_client=http, verify=False)


class Silent:
    """A TCP server that accepts and reads, and never answers."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/soap/mktows/2_2"
        self.conns: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(conn)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for conn in self.conns:
            conn.close()
        self.sock.close()


@pytest.mark.parametrize("kind", KINDS)
def test_a_silent_server_ends_in_deadline_exceeded(kind: str) -> None:
    """The read timeout that fires is the deadline's: the error says so, and its cause
    is httpx's ReadTimeout."""
    server = Silent()
    kw: dict[str, Any] = {"deadline": 0.4, "retry": FAST}

    def run() -> None:
        if kind == "sync":
            with Client(server.url, USER, KEY, **kw) as client:
                client.sync_lead(LEAD)
            return

        async def go() -> None:
            async with AsyncClient(server.url, USER, KEY, **kw) as client:
                await client.sync_lead(LEAD)

        asyncio.run(go())

    try:
        with pytest.raises(mktows.DeadlineExceeded, match="deadline ran out") as info:
            run()
        assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    finally:
        server.close()


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_refused_server_is_given_up_instead_of_backing_off(asynchronous: bool) -> None:
    """Connections refused: the next back-off (here over 8 s) would end past the
    connect budget, so the call raises the connection error at once instead."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/soap/mktows/2_2"
    policy = RetryPolicy(attempts=10, backoff=10.0, multiplier=1.0)
    start = time.monotonic()
    if asynchronous:

        async def run() -> None:
            async with AsyncClient(url, USER, KEY, retry=policy) as client:
                client._random = random.Random(0)  # first draw 0.84: a wait of 8.4 s
                await client.sync_lead(LEAD)

        with pytest.raises(mktows.TransportError, match="ConnectError") as info:
            asyncio.run(run())
    else:
        with Client(url, USER, KEY, retry=policy) as client:
            client._random = random.Random(0)
            with pytest.raises(mktows.TransportError, match="ConnectError") as info:
                client.sync_lead(LEAD)
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert time.monotonic() - start < 8.0, "it waited out a back-off"
