"""What the journal keeps of a call when the call goes wrong around it: a signature
computed in the wrong order is explained, a lead reset before the journal looked is
journaled without its before/after, and a journal that cannot look costs the caller
nothing. The last two drive the app through its WSGI interface, where the server's
``start_response`` runs between the answer and the journal.
"""

from __future__ import annotations

import io
import logging
import re
import wsgiref.util
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from support import SandboxServer, envelope, post

from mktows import LeadRecord, build_sync_lead_envelope
from mktows._signing import sign
from mktows.sandbox import DEFAULT_ENCRYPTION_KEY, DEFAULT_USER_ID, SandboxApp, make_app

from ._rest_util import Rest, base_url


def test_a_signature_over_user_then_timestamp_is_named_as_such(
    sandbox_server: SandboxServer,
) -> None:
    body = envelope(sandbox_server, LeadRecord(email="order@example.com"))
    when = re.search(rb"<requestTimestamp>(.*?)</requestTimestamp>", body)
    assert when is not None
    user = sandbox_server.user_id
    # Marketo signs requestTimestamp + mktowsUserId; this one signed them the other way.
    reversed_signature = sign(user, when.group(1).decode(), sandbox_server.encryption_key)
    body = re.sub(
        rb"<requestSignature>[0-9a-f]+</requestSignature>",
        f"<requestSignature>{reversed_signature}</requestSignature>".encode(),
        body,
    )
    answer = post(sandbox_server.url, body)
    assert answer.status_code == 500
    assert b"20014" in answer.content
    api = f"{base_url(sandbox_server)}/_sandbox/api/calls"
    [call] = httpx.get(api, timeout=10.0).json()["calls"]
    check = httpx.get(f"{api}/{call['id']}", timeout=10.0).json()["auth_check"]
    assert check["signed"] == when.group(1).decode() + user
    assert check["mismatch"] == (
        "requestSignature was computed over mktowsUserId + requestTimestamp; "
        "Marketo signs requestTimestamp + mktowsUserId"
    )


def _call(
    app: SandboxApp,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    content_type: str = "text/xml; charset=utf-8",
    between: Callable[[], None] = lambda: None,
) -> tuple[str, bytes]:
    """One request through the WSGI interface; ``between`` runs as the server's
    start_response does, after the answer is made and before the journal records it."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    wsgiref.util.setup_testing_defaults(environ)
    seen: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen.append(status)
        between()
        return lambda data: None

    answer = b"".join(app(environ, start_response))
    return seen[0], answer


def _sync_body(email: str) -> bytes:
    return build_sync_lead_envelope(
        LeadRecord(email=email), user_id=DEFAULT_USER_ID, encryption_key=DEFAULT_ENCRYPTION_KEY
    )


def _journaled(app: SandboxApp) -> list[dict[str, Any]]:
    """Every call in the journal with its bodies and leads, oldest first."""
    found = [app.journal.get(c["id"]) for c in reversed(app.journal.calls())]
    return [c for c in found if c is not None]


def test_a_lead_reset_before_the_journal_looks_is_journaled_as_it_was_written() -> None:
    app = make_app()
    try:
        status, _ = _call(app, "POST", "/soap/mktows/2_2", _sync_body("before@example.com"))
        assert status == "200 OK"

        def reset_leads() -> None:  # another client's reset, arriving just then
            reset = b'{"keep": ["journal"]}'
            status, _ = _call(
                app, "POST", "/_sandbox/api/reset", reset, content_type="application/json"
            )
            assert status == "200 OK"

        status, body = _call(
            app, "POST", "/soap/mktows/2_2", _sync_body("raced@example.com"), between=reset_leads
        )
        assert status == "200 OK"
        assert b"<status>CREATED</status>" in body
        first, raced = _journaled(app)
        assert first["lead_after"]["email"] == "before@example.com"
        assert (raced["outcome"], raced["lead_id"], raced["email"]) == (
            "CREATED",
            2,
            "raced@example.com",
        )
        # The journal keeps the lead as the call committed it, not as the store is now.
        assert raced["lead_after"]["email"] == "raced@example.com"
        assert raced["lead_before"] is None
    finally:
        app.close()


def test_a_journal_that_fails_costs_the_caller_nothing(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app()

    def full(entry: object) -> None:  # no real journal fails on demand: this one does
        raise MemoryError("journal full")

    monkeypatch.setattr(app.journal, "record", full)
    try:
        with caplog.at_level(logging.ERROR, logger="mktows.sandbox._wsgi"):
            status, body = _call(app, "POST", "/soap/mktows/2_2", _sync_body("late@example.com"))
        assert status == "200 OK"
        assert b"<status>CREATED</status>" in body
        assert [r.getMessage() for r in caplog.records] == ["sandbox journal failure"]
        assert "journal full" in caplog.text  # logged with its traceback
    finally:
        app.close()


def test_a_rest_sync_and_a_lookup_are_journaled_with_their_lead(
    sandbox_server: SandboxServer,
) -> None:
    with Rest(sandbox_server) as rest:
        made = rest.sync_one({"email": "look@x.com"})
        found = rest.get("leads.json", filterType="email", filterValues="look@x.com")
    assert found["result"][0]["id"] == made["id"]
    api = f"{base_url(sandbox_server)}/_sandbox/api/calls"
    calls = httpx.get(api, params={"wire": "rest"}, timeout=10.0).json()["calls"]
    facts = [
        (c["method"], c["operation"], c["outcome"], c["lead_id"], c["email"], c["code"])
        for c in reversed(calls)
    ]
    assert facts == [
        ("POST", "identity", None, None, None, None),
        ("POST", "leads.json", "CREATED", made["id"], "look@x.com", None),
        ("GET", "leads.json", None, made["id"], None, None),  # a lookup writes nothing
    ]
