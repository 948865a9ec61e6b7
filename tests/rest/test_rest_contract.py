"""The client and the sandbox against examples from Adobe's own pages (fixtures/adobe/,
each naming its page and section): what the client sends, what it makes of Adobe's
answers, and what the sandbox answers, all match them.
"""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import SandboxServer

from mktows import AuthenticationError, LeadRecord, SyncStatus
from mktows._models import SyncLeadResult
from mktows.rest._client import RestClient
from mktows.rest._parse import parse_sync_results, parse_token
from mktows.sandbox import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

ADOBE = Path(__file__).parent / "fixtures" / "adobe"


def adobe(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ADOBE / name).read_text(encoding="utf-8"))
    assert data.pop("_source")  # every fixture names the page it comes from
    return data


def test_every_fixture_names_its_page() -> None:
    listed = (ADOBE / "README.md").read_text(encoding="utf-8")
    for path in ADOBE.glob("*.json"):
        source = json.loads(path.read_text(encoding="utf-8"))["_source"]
        assert "Adobe" in source
        assert path.name in listed


def _client(server: SandboxServer, sent: list[httpx.Request]) -> RestClient:
    http = httpx.Client(event_hooks={"request": [sent.append]}, timeout=10)
    return RestClient(
        server.rest_url,
        server.identity_url,
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        http_client=http,
    )


def _leads(example: dict[str, Any]) -> list[LeadRecord]:
    return [
        LeadRecord(
            email=record["email"],
            attributes={"FirstName": record["firstName"], "PostalCode": record["postalCode"]},
        )
        for record in example["request"]["input"]
    ]


def test_the_client_sends_adobes_sync_leads_body(sandbox_server: SandboxServer) -> None:
    example = adobe("sync_leads.json")
    sent: list[httpx.Request] = []
    with _client(sandbox_server, sent) as client:
        results = client.sync_leads_batch(_leads(example))
    (sync,) = [r for r in sent if r.url.path == "/rest/v1/leads.json"]
    body = json.loads(sync.content)
    # Adobe's example creates only; SOAP's syncLead is an upsert, so the client says so.
    assert body == {**example["request"], "action": "createOrUpdate"}
    assert sync.headers["content-type"] == "application/json"
    assert sync.headers["authorization"].startswith("Bearer ")
    assert [r.status for r in results if isinstance(r, SyncLeadResult)] == [SyncStatus.CREATED] * 3


def test_the_sandbox_answers_adobes_sync_leads_example(sandbox_server: SandboxServer) -> None:
    example = adobe("sync_leads.json")
    with httpx.Client(base_url=f"http://127.0.0.1:{sandbox_server.port}", timeout=10) as http:
        token = http.post(
            "/identity/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
            },
        ).json()
        answer = http.post(
            "/rest/v1/leads.json",
            json=example["request"],
            headers={"Authorization": f"Bearer {token['access_token']}"},
        ).json()
    expected = example["response"]
    assert set(answer) == set(expected)
    assert answer["success"] is expected["success"]
    assert re.fullmatch(r"[0-9a-f]+#[0-9a-f]+", answer["requestId"])
    assert [r["status"] for r in answer["result"]] == [r["status"] for r in expected["result"]]
    assert all(set(r) == {"id", "status"} for r in answer["result"])
    ids = [r["id"] for r in answer["result"]]
    assert ids == sorted(ids)
    assert len(set(ids)) == 3
    token_example = adobe("token.json")["response"]
    assert set(token) == set(token_example)
    assert token["token_type"] == token_example["token_type"]


def test_adobes_record_level_answer_is_one_outcome_per_record_in_order() -> None:
    example = json.dumps(adobe("record_level_response.json")).encode()
    outcomes = parse_sync_results(example, 3, status_code=200)
    assert outcomes == [
        SyncLeadResult(lead_id=50, status=SyncStatus.CREATED),
        SyncLeadResult(lead_id=51, status=SyncStatus.CREATED),
        SyncLeadResult(lead_id=0, status=SyncStatus.FAILED, error="1005: Lead already exists"),
    ]


def test_adobes_response_level_error_keeps_its_request_id() -> None:
    example = json.dumps(adobe("response_level_error.json")).encode()
    with pytest.raises(AuthenticationError) as info:
        parse_sync_results(example, 1, status_code=200)
    assert info.value.request_id == "e42b#14272d07d78"
    assert info.value.fault.rest_code == 601
    copy = pickle.loads(pickle.dumps(info.value))
    assert copy.request_id == "e42b#14272d07d78"
    assert str(copy) == str(info.value)


def test_adobes_token_answer() -> None:
    example = json.dumps(adobe("token.json")["response"]).encode()
    token, lifespan = parse_token(example, status_code=200)
    assert (token.value, lifespan) == ("cdf01657-110d-4155-99a7-f986b2ff13a0:int", 3599.0)
