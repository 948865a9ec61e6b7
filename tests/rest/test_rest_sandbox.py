"""RestClient against the real sandbox on loopback where the wire shape matters:
a Get Lead whose field list is too long for a URL.
"""

from __future__ import annotations

import httpx
import pytest
from conftest import MakeSandboxServer

from mktows import LeadRecord, RetryPolicy
from mktows.rest._build import GET_URL_LIMIT
from mktows.rest._client import RestClient
from mktows.sandbox import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SandboxConfig


@pytest.mark.parametrize(
    ("fields", "method"),
    [
        pytest.param(5, "GET", id="short-list-get"),
        pytest.param(400, "POST", id="long-list-post-method-get"),
    ],
)
def test_return_lead_with_a_large_schema(
    make_sandbox_server: MakeSandboxServer, fields: int, method: str
) -> None:
    custom = {f"CustomFieldNumber{n:03d}": "string" for n in range(fields)}
    server = make_sandbox_server(SandboxConfig(custom_fields=custom))
    root = server.url.split("/soap/")[0]
    seen: list[httpx.Request] = []
    values = {name: f"v{n}" for n, name in enumerate(custom)}
    lead = LeadRecord(email="wide@example.com", attributes=values)
    with (
        httpx.Client(event_hooks={"request": [seen.append]}) as http,
        RestClient(
            f"{root}/rest",
            f"{root}/identity",
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            http_client=http,
            retry=RetryPolicy(attempts=1),
        ) as client,
    ):
        result = client.sync_lead(lead, return_lead=True)
    get = seen[-1]
    assert get.url.path == f"/rest/v1/lead/{result.lead_id}.json"
    assert get.method == method
    assert len(str(get.url)) <= GET_URL_LIMIT
    if method == "POST":
        assert get.url.params["_method"] == "GET"
        assert get.headers["content-type"] == "application/x-www-form-urlencoded"
        assert b"fields=" in get.content
    assert result.lead is not None
    assert result.lead.email == "wide@example.com"
    assert dict(result.lead.attributes) == values
