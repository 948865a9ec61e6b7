"""SPEC §4 faults from the live sandbox, in Marketo's exact shape."""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
import sqlite3
import time
from collections.abc import Callable

import pytest
from lxml import etree
from support import FakeClock, MakeSandboxServer, SandboxServer, client_for, envelope, post, query

from mktows import (
    AuthenticationError,
    ConcurrencyLimitError,
    Fault,
    FaultError,
    LeadRecord,
    QuotaExceededError,
    RateLimitError,
    RequestExpiredError,
    ServiceInternalError,
    SyncStatus,
    parse_sync_lead_response,
    sign,
    validate_envelope,
)
from mktows.sandbox import SandboxConfig

T0 = dt.datetime(2026, 3, 14, 23, 59, 0, tzinfo=dt.timezone.utc)
MKT = "{http://www.marketo.com/mktows/}"


def fault_of(response_status: int, content_type: str, body: bytes) -> Fault:
    assert response_status == 500
    assert content_type == "text/xml; charset=utf-8"
    assert validate_envelope(body) == []
    fault = parse_sync_lead_response(body)
    assert isinstance(fault, Fault)
    return fault


def edit(body: bytes, path: str, text: str | None) -> bytes:
    """Change (or with None remove) the element at ``path`` of a request envelope."""
    root = etree.fromstring(body)
    node = root.find(path)
    assert node is not None
    if text is None:
        parent = node.getparent()
        assert parent is not None
        parent.remove(node)
    else:
        node.text = text
    return etree.tostring(root)


AUTH = f"*/{MKT}AuthenticationHeader"


def resigned(server: SandboxServer, stamp: str) -> bytes:
    body = edit(envelope(server), f"{AUTH}/requestTimestamp", stamp)
    return edit(
        body, f"{AUTH}/requestSignature", sign(stamp, server.user_id, server.encryption_key)
    )


@pytest.mark.parametrize(
    ("make_body", "code"),
    [
        pytest.param(lambda s: edit(envelope(s), AUTH, None), 20014, id="no-auth-header"),
        pytest.param(
            lambda s: edit(envelope(s), f"{AUTH}/mktowsUserId", "nobody"), 20014, id="unknown-user"
        ),
        pytest.param(
            lambda s: edit(envelope(s), f"{AUTH}/requestSignature", "00" * 20),
            20014,
            id="bad-signature",
        ),
        pytest.param(
            lambda s: edit(envelope(s), f"{AUTH}/requestTimestamp", "2026-01-01T00:00:00Z"),
            20014,
            id="forged-timestamp",
        ),
        pytest.param(lambda s: resigned(s, "2026-03-14T23:59:00"), 20016, id="naive-timestamp"),
        pytest.param(lambda s: resigned(s, "yesterday"), 20016, id="unreadable-timestamp"),
        pytest.param(lambda s: resigned(s, "2026-03-14T23:40:00Z"), 20016, id="stale-z"),
        pytest.param(lambda s: resigned(s, "2026-03-15T01:20:00+01:00"), 20016, id="future-offset"),
        pytest.param(
            lambda s: edit(envelope(s), f"*/{MKT}paramsSyncLead/returnLead", None),
            20017,
            id="no-returnLead",
        ),
        pytest.param(
            lambda s: edit(envelope(s), f"*/{MKT}paramsSyncLead/leadRecord", None),
            20017,
            id="no-leadRecord",
        ),
        pytest.param(
            lambda s: edit(envelope(s), f"*/{MKT}paramsSyncLead/leadRecord/Email", None),
            20109,
            id="no-key",
        ),
        pytest.param(lambda s: b"<hello/>", 20012, id="not-soap"),
        pytest.param(lambda s: b"\x00\xffnot xml", 20012, id="not-xml"),
        pytest.param(
            lambda s: envelope(s).replace(b"paramsSyncLead", b"paramsGetLead"),
            20019,
            id="other-operation",
        ),
    ],
)
def test_faults(
    make_sandbox_server: MakeSandboxServer, make_body: Callable[[SandboxServer], bytes], code: int
) -> None:
    server = make_sandbox_server(clock=FakeClock(T0))
    # Requests are signed at T0 unless a case changes the timestamp.
    response = post(server.url, make_body(server))
    fault = fault_of(response.status_code, response.headers["content-type"], response.content)
    assert fault.code == code
    assert fault.faultstring.startswith(f"{code} - ")
    assert fault.name == "mktServiceException"
    assert query(server.db_path, "SELECT COUNT(*) FROM leads") == [(0,)]


@pytest.fixture(autouse=True)
def _sign_at_t0(monkeypatch: pytest.MonkeyPatch) -> None:
    """Envelopes built by support.envelope without ``when`` carry T0."""
    import support as _util

    real = _util.build_sync_lead_envelope

    def at_t0(*args: object, **kw: object) -> bytes:
        if kw.get("timestamp") is None:
            kw["timestamp"] = T0
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(_util, "build_sync_lead_envelope", at_t0)


@pytest.mark.parametrize(
    ("skew", "ok"),
    [
        pytest.param(-301, False, id="past-outside"),
        pytest.param(-299, True, id="past-inside"),
        pytest.param(299, True, id="future-inside"),
        pytest.param(301, False, id="future-outside"),
    ],
)
def test_freshness_window(make_sandbox_server: MakeSandboxServer, skew: int, ok: bool) -> None:
    server = make_sandbox_server(SandboxConfig(freshness_window=300), clock=FakeClock(T0))
    client_clock = lambda: T0 + dt.timedelta(seconds=skew)  # noqa: E731
    with client_for(server, clock=client_clock) as c:
        if ok:
            assert c.sync_lead(LeadRecord(email="f@x.com")).status is SyncStatus.CREATED
        else:
            with pytest.raises(RequestExpiredError):
                c.sync_lead(LeadRecord(email="f@x.com"))


@pytest.mark.parametrize(
    ("soap_action", "ok"),
    [
        pytest.param('"http://www.marketo.com/mktows/syncLead"', True, id="quoted"),
        pytest.param("http://www.marketo.com/mktows/syncLead", True, id="unquoted"),
        pytest.param('""', True, id="empty"),
        pytest.param(None, True, id="absent"),
        pytest.param('"http://www.marketo.com/mktows/getLead"', False, id="other"),
    ],
)
def test_soap_action(sandbox_server: SandboxServer, soap_action: str | None, ok: bool) -> None:
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    if soap_action is not None:
        headers["SOAPAction"] = soap_action
    response = post(
        sandbox_server.url, envelope(sandbox_server, when=dt.datetime.now(dt.timezone.utc)), headers
    )
    if ok:
        assert response.status_code == 200
    else:
        assert (
            fault_of(response.status_code, response.headers["content-type"], response.content).code
            == 20019
        )


def test_rate_limit_slides_and_refused_calls_change_nothing(
    make_sandbox_server: MakeSandboxServer,
) -> None:
    clock = FakeClock(T0)
    server = make_sandbox_server(
        SandboxConfig(rate_limit_calls=2, rate_limit_window=20), clock=clock
    )
    with client_for(server, clock=clock) as c:
        c.sync_lead(LeadRecord(email="r@x.com", attributes={"City": "A"}))
        clock.now += dt.timedelta(seconds=10)
        c.sync_lead(LeadRecord(email="r@x.com", attributes={"City": "B"}))
        with pytest.raises(RateLimitError) as info:
            c.sync_lead(LeadRecord(email="r@x.com", attributes={"City": "C"}))
        assert info.value.code == 20023
        assert query(server.db_path, "SELECT json_extract(attrs, '$.City') FROM leads") == [("B",)]
        clock.now += dt.timedelta(seconds=10)  # the first call leaves the window
        c.sync_lead(LeadRecord(email="r@x.com", attributes={"City": "D"}))
    assert query(server.db_path, "SELECT json_extract(attrs, '$.City') FROM leads") == [("D",)]


def test_daily_quota_resets_on_the_next_utc_day(make_sandbox_server: MakeSandboxServer) -> None:
    clock = FakeClock(T0)
    server = make_sandbox_server(SandboxConfig(daily_quota=2), clock=clock)
    with client_for(server, clock=clock) as c:
        c.sync_lead(LeadRecord(email="q1@x.com"))
        c.sync_lead(LeadRecord(email="q2@x.com"))
        with pytest.raises(QuotaExceededError) as info:
            c.sync_lead(LeadRecord(email="q3@x.com"))
        assert info.value.code == 20015
        clock.now += dt.timedelta(minutes=2)  # T0 is 23:59 UTC
        c.sync_lead(LeadRecord(email="q3@x.com"))
    assert query(server.db_path, "SELECT COUNT(*) FROM leads") == [(3,)]


def test_limits_of_zero_are_off(make_sandbox_server: MakeSandboxServer) -> None:
    server = make_sandbox_server(
        SandboxConfig(rate_limit_calls=0, daily_quota=0, concurrency_limit=0)
    )
    with client_for(server) as c:
        for n in range(5):
            c.sync_lead(LeadRecord(email=f"z{n}@x.com"))
    assert query(server.db_path, "SELECT COUNT(*) FROM leads") == [(5,)]


def test_concurrency_limit(make_sandbox_server: MakeSandboxServer) -> None:
    server = make_sandbox_server(SandboxConfig(concurrency_limit=1))
    body = envelope(server, LeadRecord(email="held@x.com"), when=dt.datetime.now(dt.timezone.utc))
    head = (
        "POST /soap/mktows/2_2 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: text/xml; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as held:
        held.sendall(head + body[:50])  # the call is in flight, waiting for the rest of its body
        for _ in range(500):
            if server.app.in_flight == 1:
                break
            time.sleep(0.01)
        assert server.app.in_flight == 1
        with client_for(server) as c, pytest.raises(ConcurrencyLimitError) as info:
            c.sync_lead(LeadRecord(email="second@x.com"))
        assert info.value.code == 20024
        held.sendall(body[50:])
        answer = held.makefile("rb").read()
    assert answer.startswith(b"HTTP/1.0 200")
    assert query(server.db_path, "SELECT email FROM leads") == [("held@x.com",)]


def test_storage_failure_is_20011_and_never_leaks(sandbox_server: SandboxServer) -> None:
    with client_for(sandbox_server) as c:
        c.sync_lead(LeadRecord(email="s@x.com"))
        conn = sqlite3.connect(sandbox_server.db_path)
        conn.execute("DROP TABLE cookies")
        conn.execute("DROP TABLE leads")
        conn.commit()
        conn.close()
        with pytest.raises(ServiceInternalError) as info:
            c.sync_lead(LeadRecord(email="s@x.com"))
    assert info.value.code == 20011
    assert "no such table" not in str(info.value)


def test_closed_store_is_20011(sandbox_server: SandboxServer) -> None:
    sandbox_server.app.close()
    with client_for(sandbox_server) as c, pytest.raises(ServiceInternalError):
        c.sync_lead(LeadRecord(email="s@x.com"))


def test_unexpected_failure_is_10001(
    sandbox_server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bug cannot be produced for real: this is the one mocked fault.
    def broken(request: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(sandbox_server.app.service, "handle", broken)
    with client_for(sandbox_server) as c, pytest.raises(FaultError) as info:
        c.sync_lead(LeadRecord(email="s@x.com"))
    assert info.value.code == 10001
    assert "boom" not in str(info.value)


def test_bad_credentials_via_client(sandbox_server: SandboxServer) -> None:
    wrong = dataclasses.replace(sandbox_server, encryption_key="not-the-key")  # type: ignore[type-var]
    with client_for(wrong) as c, pytest.raises(AuthenticationError) as info:
        c.sync_lead(LeadRecord(email="s@x.com"))
    assert info.value.code == 20014
