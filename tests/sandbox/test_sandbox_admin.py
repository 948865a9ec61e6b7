"""The admin API under /_sandbox/: the journal, leads, reset, fault rules and who may
use it, against a real ``mktows serve`` process and the threaded in-process server.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import NO_RETRY, clean_env, envelope, post, spawn

from mktows import Fault, FaultError, LeadRecord, build_fault_envelope
from mktows.sandbox import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_ENCRYPTION_KEY,
    DEFAULT_USER_ID,
    make_app,
    serve_in_thread,
)
from mktows.sandbox.pytest_plugin import MktowsSandbox


def _started(proc: subprocess.Popen[str]) -> str:
    """The base URL a ``mktows serve --port 0`` announces."""
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert "listening on http://" in line, line
    url = line.split("listening on ", 1)[1].split(" ", 1)[0]
    return url.rsplit("/soap/", 1)[0]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """A ``mktows serve`` process with two fault rules (CLI and config) and a small journal."""
    config = tmp_path / "sandbox.json"
    rule = {"match": {"email": "*@rest-flaky.test", "wire": "rest"}, "code": 1007, "times": 1}
    config.write_text(json.dumps({"faults": [rule]}), encoding="utf-8")
    args = ["serve", "--port", "0", "--config", str(config), "--journal-size", "5"]
    proc = spawn([*args, "--fault", "code=20023,times=1,email=*@flaky.test"], clean_env(), tmp_path)
    try:
        yield _started(proc)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def _token(base: str) -> str:
    answer = httpx.post(
        base + "/identity/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
        },
    ).json()
    return str(answer["access_token"])


def test_journal_faults_and_redaction_over_a_real_serve(served: str) -> None:
    api = served + "/_sandbox/api"
    assert httpx.get(served + "/_sandbox/health").json() == {"status": "ok"}
    sandbox = MktowsSandbox(served)
    with sandbox.client(retry=NO_RETRY) as client:
        with pytest.raises(FaultError):
            client.sync_lead(LeadRecord(email="a@flaky.test"))
        assert client.sync_lead(LeadRecord(email="a@flaky.test")).status == "CREATED"
    [fault, created] = sorted(sandbox.calls(), key=lambda c: c["id"])
    assert (fault["outcome"], fault["code"], fault["http_status"]) == ("FAULT", 20023, 500)
    # Exactly the fault the real rate limit answers.
    expected = build_fault_envelope(Fault.for_code(20023)).decode()
    assert sandbox.call(fault["id"])["response"]["body"] == expected
    assert created["user"] == DEFAULT_USER_ID
    assert created["lead_id"] == 1

    token = _token(served)
    rest = httpx.Client(base_url=served + "/rest/v1", headers={"Authorization": f"Bearer {token}"})
    body = {"input": [{"email": "b@rest-flaky.test"}]}
    assert rest.post("/leads.json", json=body).json()["errors"][0]["code"] == "1007"
    assert rest.post("/leads.json", json=body).json()["result"][0]["status"] == "created"
    calls = sandbox.calls(wire="rest")
    assert [(c["operation"], c["outcome"], c["code"]) for c in calls] == [
        ("leads.json", "CREATED", None),
        ("leads.json", "FAULT", 1007),
        ("identity", None, None),
    ]
    assert calls[0]["user"] == DEFAULT_CLIENT_ID
    assert calls[0]["email"] == "b@rest-flaky.test"
    # Secrets and tokens never reach the journal; the journal keeps 5 calls.
    everything = json.dumps([sandbox.call(c["id"]) for c in sandbox.calls()])
    assert DEFAULT_CLIENT_SECRET not in everything
    assert token not in everything
    assert DEFAULT_ENCRYPTION_KEY not in everything
    rest.post("/leads.json", json=body)
    assert httpx.get(api + "/calls/count").json() == {"count": 5}
    assert httpx.get(api + "/faults").json() == {"faults": []}  # both rules spent
    rest.close()
    sandbox.close()


def test_refused_and_filtered_calls(mktows_sandbox: MktowsSandbox) -> None:
    base = mktows_sandbox.base_url
    assert (
        httpx.post(mktows_sandbox.url, content=b"x", headers={"Content-Type": "a/b"}).status_code
        == 415
    )
    [refused] = mktows_sandbox.calls(outcome="refused")
    assert (refused["operation"], refused["http_status"], refused["code"]) == (
        "syncLead",
        415,
        None,
    )
    assert httpx.get(mktows_sandbox.url + "?WSDL").status_code == 200  # not a call
    assert httpx.get(base + "/nowhere").status_code == 404  # not recorded either
    with mktows_sandbox.client() as client:
        client.sync_lead(LeadRecord(email="A@Example.com"))
    assert [c["outcome"] for c in mktows_sandbox.calls(email="a@example.com")] == ["CREATED"]
    assert mktows_sandbox.calls(since=refused["id"], limit=5)[0]["email"] == "A@Example.com"
    api = base + "/_sandbox/api"
    bad = {
        "/calls?colour=red": (400, "unknown filter 'colour'"),
        "/calls?outcome=GREAT": (400, "outcome must be one of"),
        "/calls?code=x": (400, "code must be a whole number"),
        "/calls?wire=ftp": (400, "wire must be soap or rest"),
        "/calls/wait?timeout=99": (400, "timeout 0-60"),
        "/calls/wait?count=x": (400, "count must be a whole number"),
        "/calls/999": (404, "no call 999"),
        "/calls/abc": (404, "whole numbers"),
        "/leads?name=x": (400, "unknown filter 'name'"),
        "/leads?id=x": (400, "whole numbers"),
        "/nothing": (404, "no admin resource"),
    }
    for path, (status, text) in bad.items():
        answer = httpx.get(api + path)
        assert (answer.status_code, text in answer.json()["error"]) == (status, True), path
    assert httpx.put(api + "/calls").status_code == 405
    assert httpx.post(api + "/calls/count").status_code == 405
    assert httpx.post(base + "/_sandbox/health").status_code == 405
    assert httpx.delete(api + "/calls").json() == {"cleared": True}
    assert mktows_sandbox.calls() == []


def test_leads_seed_reset_and_fault_rules(mktows_sandbox: MktowsSandbox) -> None:
    api = mktows_sandbox.base_url + "/_sandbox/api"
    ids = mktows_sandbox.seed(
        [
            {"id": 40, "email": "s@example.com", "attributes": {"firstname": "Sam", "Rating": 3}},
            {"email": "t@example.com", "cookies": ["id:123-ABC-456&token:_mch-x"]},
            {"foreign_sys_person_id": "crm-9", "foreign_sys_type": "SFDC", "partition": "Default"},
        ]
    )
    assert ids[0] == 40
    [lead] = mktows_sandbox.leads(id=40)
    assert lead["attributes"] == {"FirstName": "Sam", "Rating": "3"}
    assert lead["created_at"] is not None
    assert lead["cookies"] == []
    assert mktows_sandbox.leads(email="t@example.com")[0]["cookies"] == [
        "id:123-ABC-456&token:_mch-x"
    ]
    assert mktows_sandbox.seed([{"id": 40, "attributes": {"FirstName": "Samuel"}}]) == [40]
    refusals = {
        "[]": "non-empty list",
        '[{"colour": 1}]': "unknown key 'colour'",
        '[{"attributes": {}}]': "needs a key",
        '[{"email": "x@y.z", "attributes": {"Nope": "1"}}]': "unknown attribute 'Nope'",
        '[{"email": "x@y.z", "attributes": {"City": []}}]': "must be text",
        '[{"email": "x@y.z", "partition": "Mars"}]': "unknown partition 'Mars'",
        '[{"email": "x@y.z", "cookies": "c"}]': "cookies must be a list",
        '[{"id": 99, "foreign_sys_person_id": "crm-9"}]': "belongs to another lead",
        '[{"id": "x"}]': "leads[0]",
        "[1]": "leads[0] must be a JSON object",
    }
    for leads, text in refusals.items():
        answer = httpx.post(api + "/leads", json={"leads": json.loads(leads)})
        assert answer.status_code == 400, leads
        assert text in answer.json()["error"], leads
    assert (
        httpx.post(
            api + "/leads", content=b"{", headers={"Content-Type": "application/json"}
        ).status_code
        == 400
    )
    assert (
        httpx.post(
            api + "/leads", content=b"[]", headers={"Content-Type": "application/json"}
        ).status_code
        == 400
    )
    assert (
        httpx.post(
            api + "/leads", content=b"{}", headers={"Content-Type": "text/plain"}
        ).status_code
        == 415
    )

    rule_id = mktows_sandbox.add_fault(status="FAILED", error="on purpose", email="s@example.com")
    with mktows_sandbox.client() as client:
        result = client.sync_lead(LeadRecord(email="s@example.com"))
    assert (result.status, result.error) == ("FAILED", "on purpose")
    [listed] = httpx.get(api + "/faults").json()["faults"]
    assert (listed["id"], listed["hits"], listed["times_left"]) == (rule_id, 1, None)
    assert httpx.delete(api + f"/faults/{rule_id}").json() == {"removed": True}
    assert httpx.delete(api + f"/faults/{rule_id}").status_code == 404
    bad_rules = {
        "{}": "give one of code",
        '{"code": 1}': "neither a syncLead fault code",
        '{"code": 20023, "drop": true}': "give one of code",
        '{"code": 20023, "times": 0}': "times must be >= 1",
        '{"code": 20023, "times": 1, "probability": 0.5}': "not both",
        '{"code": 20023, "probability": 2}': "probability must be in (0, 1]",
        '{"delay_ms": -1}': "delay_ms must be >= 0",
        '{"status": "OK"}': "status can only be 'FAILED'",
        '{"error": "x", "code": 20023}': "error is the text",
        '{"drop": "yes"}': "drop must be true or false",
        '{"code": 20023, "match": {"wire": "ftp"}}': "match.wire",
        '{"code": 20023, "match": {"colour": 1}}': "match.colour is unknown",
        '{"code": 20023, "match": []}': "match must be a JSON object",
        '{"code": 20023, "match": {"email": ""}}': "match.email must be a non-empty string",
        '{"code": "x"}': "code must be a whole number",
        '{"code": 20023, "when": 1}': "unknown key 'when'",
        "[]": "must be a JSON object",
    }
    for rule, text in bad_rules.items():
        answer = httpx.post(
            api + "/faults", content=rule, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 400, rule
        assert text in answer.json()["error"], rule
    mktows_sandbox.add_fault(code=20023)
    assert httpx.delete(api + "/faults").json() == {"cleared": True}

    assert httpx.post(api + "/reset", json={"keep": ["leads"]}).json()["kept"] == ["leads"]
    assert len(mktows_sandbox.leads()) == 3
    assert mktows_sandbox.calls() == []
    assert httpx.post(api + "/reset", json={"keep": ["everything"]}).status_code == 400
    assert httpx.post(api + "/reset").json() == {"reset": True, "kept": []}
    assert mktows_sandbox.leads() == []
    limits = httpx.get(api + "/limits").json()
    assert limits["users"] == []
    assert limits["daily_quota"] == 10_000


def test_drop_delay_and_rest_codes(mktows_sandbox: MktowsSandbox) -> None:
    mktows_sandbox.add_fault(drop=True, times=1, wire="soap")
    with mktows_sandbox.client(retry=NO_RETRY) as client:
        with pytest.raises(Exception, match=r"(?i)disconnect|closed|reset|transport"):
            client.sync_lead(LeadRecord(email="d@example.com"))
        mktows_sandbox.add_fault(delay_ms=20, times=1)
        assert client.sync_lead(LeadRecord(email="d@example.com")).status == "CREATED"
    dropped = mktows_sandbox.calls()[-1]
    assert (dropped["outcome"], dropped["http_status"], dropped["dropped"]) == ("FAULT", None, True)
    # A SOAP code with a REST twin answers the twin over REST; REST codes answer REST's shape.
    mktows_sandbox.add_fault(code=20023, times=1, wire="rest")
    mktows_sandbox.add_fault(code=606, times=1, wire="soap")
    token = _token(mktows_sandbox.base_url)
    headers = {"Authorization": f"Bearer {token}"}
    answer = httpx.get(mktows_sandbox.rest_url + "/v1/lead/1.json", headers=headers).json()
    assert answer["errors"][0]["code"] == "606"
    with mktows_sandbox.client(retry=NO_RETRY) as client, pytest.raises(FaultError) as caught:
        client.sync_lead(LeadRecord(email="d@example.com"))
    assert caught.value.code == 20023
    [lead_call] = mktows_sandbox.calls(wire="rest", code=606)
    assert (lead_call["operation"], lead_call["lead_id"]) == ("lead/{id}.json", 1)


def test_a_bad_signature_says_what_was_signed_never_the_key(mktows_sandbox: MktowsSandbox) -> None:
    from mktows import Client

    for user, key in ((mktows_sandbox.user_id, "wrong-key"), ("nobody", "k")):
        client = Client(mktows_sandbox.url, user, key, retry=NO_RETRY)
        with client, pytest.raises(FaultError):
            client.sync_lead(LeadRecord(email="k@example.com"))
    unknown, bad_key = (mktows_sandbox.call(c["id"]) for c in mktows_sandbox.calls(code=20014))
    check = bad_key["auth_check"]
    assert check["signed"] == check["request_timestamp"] + mktows_sandbox.user_id
    assert "is not the HMAC-SHA1" in check["mismatch"]
    assert "'nobody' is not a user" in unknown["auth_check"]["mismatch"]
    assert DEFAULT_ENCRYPTION_KEY not in json.dumps(bad_key)
    page = httpx.get(f"{mktows_sandbox.base_url}/_sandbox/calls/{bad_key['id']}").text
    assert check["signed"] in page
    assert DEFAULT_ENCRYPTION_KEY not in page


def test_only_loopback_or_the_token(tmp_path: Path) -> None:
    app = make_app()
    remote = httpx.Client(
        transport=httpx.WSGITransport(app=app, remote_addr="10.1.2.3"), base_url="http://s"
    )
    assert remote.get("/_sandbox/health").status_code == 200
    answer = remote.get("/_sandbox/api/calls")
    assert answer.status_code == 403
    assert "loopback" in answer.json()["error"]
    app.close()
    secured = make_app(admin_token="s3cret-admin")
    assert "s3cret" not in repr(secured.admin)
    with serve_in_thread(secured) as running:
        base = running.base_url + "/_sandbox"
        assert httpx.get(base + "/health").status_code == 200
        refused = httpx.get(base + "/api/calls")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert httpx.get(base + "/", headers={"Authorization": "Bearer nope"}).status_code == 401
        ok = {"Authorization": "Bearer s3cret-admin"}
        assert httpx.get(base + "/api/calls", headers=ok).json() == {"calls": []}
        cross = {**ok, "Origin": "http://evil.example"}
        assert httpx.post(base + "/api/reset", headers=cross).status_code == 403
    secured.close()
    # Off loopback, serve refuses to start without a token; the token is never printed.
    env = clean_env()
    own = tmp_path / "own.json"  # credentials of its own: the published ones stay on loopback
    own.write_text(json.dumps({"users": {"u": "k-1"}, "rest_clients": {"c": "s-1"}}), "utf-8")
    args = ["serve", "--host", "0.0.0.0", "--port", "0", "--config", str(own)]
    proc = spawn(args, env, tmp_path)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "--admin-token" in err
    env["MKTOWS_SANDBOX_ADMIN_TOKEN"] = "tok-123456"
    proc = spawn(args, env, tmp_path)
    try:
        port = _started(proc).rsplit(":", 1)[1]
        base = f"http://127.0.0.1:{port}/_sandbox"
        assert httpx.get(base + "/api/calls").status_code == 401
        headers = {"Authorization": "Bearer tok-123456"}
        assert httpx.get(base + "/api/calls", headers=headers).status_code == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "tok-123456" not in err


def test_an_ignored_element_leaves_a_hint_in_the_journal(mktows_sandbox: MktowsSandbox) -> None:
    body = (
        envelope(mktows_sandbox).replace(b"<Email>", b"<email>").replace(b"</Email>", b"</email>")
    )
    answer = post(mktows_sandbox.url, body)
    assert answer.status_code == 500
    [call] = mktows_sandbox.calls()
    assert call["code"] == 20109
    assert "<email> in leadRecord is no element of the schema; it spells it Email" in call["hint"]
