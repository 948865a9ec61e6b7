"""sync_leads_batch against the sandbox over loopback: up to 300 leads a Sync Leads call,
one outcome per lead in input order, keys never shared within a call, leads read back
300 ids a call, cookies per lead."""

from __future__ import annotations

import asyncio
import json
import pickle
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from conftest import MakeSandboxServer, SandboxServer
from support import add_fault, query

from mktows import (
    AuthenticationError,
    ConfigError,
    FaultError,
    LeadNotFoundError,
    LeadRecord,
    ResponseError,
    RetryPolicy,
    SyncStatus,
    UnknownAttributeError,
    ValidationError,
)
from mktows._models import SyncLeadResult
from mktows.rest._batch import key_values
from mktows.rest._client import AsyncRestClient, RestClient
from mktows.rest._parse import parse_describe, parse_leads
from mktows.sandbox import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SandboxConfig

Sent = list[httpx.Request]


def _client(server: SandboxServer, sent: Sent, **options: Any) -> RestClient:
    http = httpx.Client(event_hooks={"request": [sent.append]}, timeout=10)
    return RestClient(
        server.rest_url,
        server.identity_url,
        options.pop("client_id", DEFAULT_CLIENT_ID),
        options.pop("secret", DEFAULT_CLIENT_SECRET),
        http_client=http,
        foreign_id_field="externalId",
        **options,
    )


def _syncs(sent: Sent) -> list[dict[str, Any]]:
    return [
        json.loads(r.content)
        for r in sent
        if r.method == "POST" and r.url.path == "/rest/v1/leads.json"
    ]


def _results(outcomes: list[Any]) -> list[SyncLeadResult]:
    assert all(isinstance(o, SyncLeadResult) for o in outcomes), outcomes
    return outcomes


def _created(outcomes: list[Any]) -> list[int]:
    return [o.lead_id for o in _results(outcomes)]


def test_650_leads_take_three_calls_and_answer_in_order(sandbox_server: SandboxServer) -> None:
    sent: Sent = []
    leads = [LeadRecord(email=f"b{n}@x.com", attributes={"City": f"C{n}"}) for n in range(650)]
    with _client(sandbox_server, sent) as client:
        outcomes = client.sync_leads_batch(leads, return_lead=True)
    assert [len(body["input"]) for body in _syncs(sent)] == [300, 300, 50]
    assert _created(outcomes) == list(range(1, 651))
    last = _results(outcomes)[649].lead
    assert last is not None
    assert last.attributes.typed("City") == "C649"
    reads = [r for r in sent if r.method == "GET" and r.url.path == "/rest/v1/leads.json"]
    assert len(reads) == 3  # Get Leads by Filter Type, 300 ids a call
    assert reads[0].url.params["filterType"] == "id"
    assert len(reads[0].url.params["filterValues"].split(",")) == 300


def test_batch_size_is_at_most_300(sandbox_server: SandboxServer) -> None:
    sent: Sent = []
    with _client(sandbox_server, sent) as client:
        with pytest.raises(ConfigError, match="1 to 300"):
            client.sync_leads_batch([LeadRecord(email="a@x.com")], batch_size=301)
        outcomes = client.sync_leads_batch(
            [LeadRecord(email=f"s{n}@x.com") for n in range(5)], batch_size=2
        )
    assert [len(body["input"]) for body in _syncs(sent)] == [2, 2, 1]
    assert _created(outcomes) == [1, 2, 3, 4, 5]


def test_leads_sharing_a_key_never_share_a_call(sandbox_server: SandboxServer) -> None:
    sent: Sent = []
    leads = [
        LeadRecord(email="same@x.com", attributes={"Title": "A"}),
        LeadRecord(email="other@x.com"),
        LeadRecord(email="SAME@x.com", attributes={"Title": "B"}),
    ]
    with _client(sandbox_server, sent) as client:
        outcomes = client.sync_leads_batch(leads)
    assert [len(body["input"]) for body in _syncs(sent)] == [2, 1]
    assert [(o.status, o.lead_id) for o in _results(outcomes)] == [
        (SyncStatus.CREATED, 1),
        (SyncStatus.CREATED, 2),
        (SyncStatus.UPDATED, 1),
    ]
    assert query(sandbox_server.db_path, "SELECT attrs FROM leads WHERE id = 1") == [
        ('{"Title": "B"}',)
    ]


def test_each_lead_keeps_its_own_outcome(sandbox_server: SandboxServer) -> None:
    sent: Sent = []
    with _client(sandbox_server, sent, partitions={"Default": "Default"}) as client:
        client.sync_leads_batch([LeadRecord(email="one@x.com")])
        outcomes = client.sync_leads_batch(
            [
                LeadRecord(id=1, attributes={"Title": "By id"}),
                LeadRecord(id=999),
                LeadRecord(email="new@x.com", attributes={"Shoe": "42"}),
                LeadRecord(),
                LeadRecord(foreign_sys_person_id="F1", foreign_sys_type="CUSTOM"),
                LeadRecord(email="ok@x.com"),
            ],
            workspace="Default",
        )
    groups = {(b["action"], b["lookupField"], b.get("partitionName")) for b in _syncs(sent)[1:]}
    assert groups == {
        ("updateOnly", "id", None),  # Adobe: id only with updateOnly, no partition
        ("createOrUpdate", "externalId", "Default"),
        ("createOrUpdate", "email", "Default"),
    }
    assert outcomes[0] == SyncLeadResult(lead_id=1, status=SyncStatus.UPDATED)
    assert isinstance(outcomes[1], LeadNotFoundError)
    assert outcomes[1].request_id
    assert isinstance(outcomes[2], UnknownAttributeError)
    assert isinstance(outcomes[3], ValidationError)
    assert [o.status for o in _results(outcomes[4:])] == [SyncStatus.CREATED] * 2


def test_duplicates_are_skipped_1007(sandbox_server: SandboxServer) -> None:
    sent: Sent = []
    with _client(sandbox_server, sent) as client:
        client.sync_leads_batch(
            [
                LeadRecord(
                    email="d@x.com", foreign_sys_person_id=f"D{n}", foreign_sys_type="CUSTOM"
                )
                for n in range(2)
            ]
        )
        nothing = client.sync_leads_batch([LeadRecord(), LeadRecord(foreign_sys_person_id="x")])
        (outcome,) = client.sync_leads_batch([LeadRecord(email="d@x.com")])
    assert outcome == SyncLeadResult(
        lead_id=0, status=SyncStatus.FAILED, error="1007: Multiple leads match the lookup criteria"
    )
    assert [type(o) for o in nothing] == [ValidationError, ValidationError]


def test_cookies_are_associated_per_lead(sandbox_server: SandboxServer) -> None:
    sent: Sent = []
    with _client(sandbox_server, sent) as client:
        outcomes = client.sync_leads_batch(
            [LeadRecord(email="c1@x.com"), LeadRecord(email="c2@x.com")],
            marketo_cookies=[None, "id:1&token:_mch"],
        )
        with pytest.raises(ValidationError, match="2 values for 1 leads"):
            client.sync_leads_batch([LeadRecord(email="c@x.com")], marketo_cookies=["a", "b"])
    assert _created(outcomes) == [1, 2]
    assert query(sandbox_server.db_path, "SELECT cookie, lead_id FROM cookies") == [
        ("id:1&token:_mch", 2)
    ]


def test_a_fatal_call_error_is_every_leads_and_stops(
    make_sandbox_server: MakeSandboxServer,
) -> None:
    server = make_sandbox_server(SandboxConfig(rest_clients={"other": "x"}))
    sent: Sent = []
    with _client(server, sent) as client:
        outcomes = client.sync_leads_batch([LeadRecord(email=f"f{n}@x.com") for n in range(3)])
    assert all(isinstance(o, AuthenticationError) for o in outcomes)
    assert all(r.url.path == "/identity/oauth/token" for r in sent)


def test_the_async_twin(sandbox_server: SandboxServer) -> None:
    async def run() -> list[Any]:
        async with AsyncRestClient(
            sandbox_server.rest_url,
            sandbox_server.identity_url,
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
        ) as client:
            return await client.sync_leads_batch(
                [LeadRecord(email=f"a{n}@x.com") for n in range(4)], return_lead=True
            )

    outcomes = asyncio.run(run())
    assert _created(outcomes) == [1, 2, 3, 4]
    assert [o.lead.email for o in outcomes] == [f"a{n}@x.com" for n in range(4)]


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(lambda: LeadRecord(id=3), {("id", "3")}, id="id"),
        pytest.param(lambda: LeadRecord(email=" A@X.com"), {("email", "a@x.com")}, id="email"),
        pytest.param(
            lambda: LeadRecord(foreign_sys_person_id="F", foreign_sys_type="CUSTOM"),
            {("externalId", "F")},
            id="foreign",
        ),
    ],
)
def test_key_values(make: Callable[[], LeadRecord], expected: set[tuple[str, str]]) -> None:
    assert key_values(make(), "externalId") == expected


def test_percent_goes_as_an_integer(make_sandbox_server: MakeSandboxServer) -> None:
    # Adobe, "Field Types": "Percent: A percentage expressed as an integer".
    server = make_sandbox_server(SandboxConfig(custom_fields={"Share": "percent"}))
    sent: Sent = []
    with _client(server, sent) as client:
        outcomes = client.sync_leads_batch(
            [
                LeadRecord(email="p1@x.com", attributes={"Share": "30.0"}),
                LeadRecord(email="p2@x.com", attributes={"Share": "12.5"}),
            ]
        )
    (body,) = _syncs(sent)
    assert body["input"] == [{"share": 30, "email": "p1@x.com"}]
    assert isinstance(outcomes[0], SyncLeadResult)
    assert isinstance(outcomes[1], ValidationError)
    assert "whole percent" in str(outcomes[1])


def test_call_errors_options_and_settings(make_sandbox_server: MakeSandboxServer) -> None:
    from mktows import RateLimitError
    from mktows._retry import NO_RETRY

    server = make_sandbox_server(SandboxConfig(rate_limit_calls=3))
    sent: Sent = []
    with _client(server, sent, retry=NO_RETRY) as client:
        with pytest.raises(ValidationError, match="return_lead"):
            client.sync_leads_batch([LeadRecord(email="a@x.com")], return_lead="yes")  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="no partition mapping"):
            client.sync_leads_batch([LeadRecord(email="a@x.com")], workspace="Nowhere")
        # Describe and two Sync Leads calls fill the window of 3: the Get Leads is 606.
        first = client.sync_leads_batch([LeadRecord(email="a@x.com")])
        second = client.sync_leads_batch(
            [LeadRecord(email="b@x.com"), LeadRecord(email="c@x.com")], return_lead=True
        )
        third = client.sync_leads_batch([LeadRecord(email="d@x.com")])  # the whole call: 606
    assert _created(first) == [1]
    assert [type(o) for o in second + third] == [RateLimitError] * 3
    assert [o.fault.rest_code for o in second + third if isinstance(o, RateLimitError)] == [606] * 3


def test_a_foreign_id_without_a_configured_field_is_that_leads_error(
    sandbox_server: SandboxServer,
) -> None:
    with RestClient(
        sandbox_server.rest_url,
        sandbox_server.identity_url,
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
    ) as client:
        outcomes = client.sync_leads_batch(
            [
                LeadRecord(foreign_sys_person_id="F", foreign_sys_type="CUSTOM"),
                LeadRecord(email="e@x.com"),
            ]
        )
    assert isinstance(outcomes[0], ConfigError)
    assert isinstance(outcomes[1], SyncLeadResult)


def test_a_cookie_that_cannot_be_associated_is_that_leads_error(
    sandbox_server: SandboxServer,
) -> None:
    sent: Sent = []
    with _client(sandbox_server, sent, retry=RetryPolicy(attempts=1)) as client:
        client.sync_lead(LeadRecord(email="warm@x.com"))  # the token and Describe, cached
        # The first rule takes the Sync Leads call (it carries the email) and does nothing;
        # the second answers the body-less Associate Lead call that follows with 1003.
        add_fault(sandbox_server, {"match": {"email": "a@x.com"}, "delay_ms": 1, "times": 1})
        add_fault(sandbox_server, {"match": {"wire": "rest"}, "code": 1003, "times": 1})
        outcomes = client.sync_leads_batch(
            [LeadRecord(email="a@x.com"), LeadRecord(email="b@x.com")],
            marketo_cookies=["id:1&token:t", None],
        )
    assert isinstance(outcomes[0], FaultError)
    assert outcomes[0].fault.rest_code == 1003
    assert isinstance(outcomes[1], SyncLeadResult)
    assert [r.url.path for r in sent][-1].endswith("/associate.json")


def test_leads_read_back_with_a_wide_schema_go_as_post_with_method_get(
    make_sandbox_server: MakeSandboxServer,
) -> None:
    custom = {f"CustomFieldNumber{n:03d}": "string" for n in range(400)}
    server = make_sandbox_server(SandboxConfig(custom_fields=custom))
    sent: Sent = []
    values = {name: f"v{n}" for n, name in enumerate(custom)}
    leads = [LeadRecord(email=f"w{n}@x.com", attributes=values) for n in range(3)]
    with _client(server, sent) as client:
        outcomes = client.sync_leads_batch(leads, return_lead=True)
    get = sent[-1]
    assert (get.method, get.url.params["_method"]) == ("POST", "GET")
    assert b"filterType=id" in get.content
    found = _results(outcomes)
    assert [r.lead.email if r.lead else None for r in found] == [f"w{n}@x.com" for n in range(3)]
    assert all(r.lead is not None and dict(r.lead.attributes) == values for r in found)


def test_a_malformed_get_leads_answer_keeps_its_request_id_even_pickled() -> None:
    catalog = parse_describe(
        json.dumps(
            {
                "success": True,
                "requestId": "d#1",
                "result": [
                    {
                        "id": 1,
                        "dataType": "email",
                        "soap": {"name": "Email", "readOnly": False},
                        "rest": {"name": "email", "readOnly": False},
                    }
                ],
            }
        ).encode(),
        status_code=200,
    )
    answer = {"success": True, "requestId": "e#42", "result": [{"id": "seven"}]}
    with pytest.raises(ResponseError, match="no positive integer id") as caught:
        parse_leads(json.dumps(answer).encode(), 200, catalog, None)
    error = caught.value
    assert error.request_id == "e#42"
    assert pickle.loads(pickle.dumps(error)).request_id == "e#42"
    assert error.at_status(502).request_id == "e#42"
