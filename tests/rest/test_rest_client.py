"""RestClient and AsyncRestClient wiring: the shell drives the REST flow over httpx
(MockTransport here; see test_rest_sandbox.py for the real sandbox on loopback).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mktows._errors import (
    AuthenticationError,
    ConfigError,
    LeadNotFoundError,
    RateLimitError,
    ResponseError,
    ServiceInternalError,
    UnknownAttributeError,
)
from mktows._models import ForeignSysType, LeadRecord, SyncStatus
from mktows._retry import RetryPolicy
from mktows.rest._client import AsyncRestClient, RestClient, shared_token_cache

from ._fake import IDENTITY_URL, REST_URL, FakeRest, error

SECRET = "client-secret-under-test"
FAST = RetryPolicy(attempts=3, backoff=0.0)
_ids = itertools.count()


@pytest.fixture
def client_id() -> str:
    """A client id of its own per test: token caches are process-wide."""
    return f"client-{next(_ids)}"


@pytest.fixture
def fake(client_id: str) -> FakeRest:
    return FakeRest({client_id: SECRET})


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now


def make(fake: FakeRest, client_id: str, **options: Any) -> RestClient:
    options.setdefault("retry", FAST)
    options.setdefault("foreign_id_field", "externalId")
    options.setdefault("partitions", {"Europe": "EU"})
    return RestClient(
        REST_URL, IDENTITY_URL, client_id, SECRET, transport=fake.transport(), **options
    )


def test_sync_lead_create_update_and_return(fake: FakeRest, client_id: str) -> None:
    with make(fake, client_id) as client:
        lead = LeadRecord(email="ann@example.com", attributes={"FirstName": "Ann"})
        created = client.sync_lead(lead)
        assert (created.lead_id, created.status) == (1, SyncStatus.CREATED)
        lead = LeadRecord(
            id=1,
            foreign_sys_person_id="ext-1",
            foreign_sys_type="CUSTOM",
            attributes={"NumberOfEmployees": 12, "Unsubscribed": True},
        )
        updated = client.sync_lead(lead, return_lead=True, marketo_cookie="id:1&token:x")
    assert updated.status is SyncStatus.UPDATED
    assert updated.lead is not None
    assert updated.lead.email == "ann@example.com"
    assert updated.lead.foreign_sys_person_id == "ext-1"
    assert updated.lead.foreign_sys_type is ForeignSysType.CUSTOM
    assert updated.lead.attributes.typed("NumberOfEmployees") == 12
    assert updated.lead.attributes.typed("Unsubscribed") is True
    assert updated.lead.attributes["FirstName"] == "Ann"
    assert fake.cookies == {"id:1&token:x": 1}
    assert fake.calls() == [
        "/oauth/token",
        "/leads/describe.json",
        "/leads.json",
        "/leads.json",
        "/leads/1/associate.json",
        "/lead/1.json",
    ]
    for request in fake.requests[1:]:
        token = request.headers["Authorization"].removeprefix("Bearer ")
        assert token in fake.tokens
        assert token not in str(request.url)
    identity = fake.requests[0]
    assert identity.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert SECRET not in str(identity.url)


def test_a_long_field_list_goes_as_post_method_get(fake: FakeRest, client_id: str) -> None:
    wide = [
        {"dataType": "string", "rest": {"name": f"wideField{n:04d}"}, "soap": {"name": f"W{n}"}}
        for n in range(600)
    ]
    fake.describe["result"] = [*fake.describe["result"], *wide]
    lead = LeadRecord(email="a@b.c", attributes={"W599": "last"})
    with make(fake, client_id) as client:
        result = client.sync_lead(lead, return_lead=True)
    get = fake.requests[-1]
    assert (get.method, get.url.path) == ("POST", f"/rest/v1/lead/{result.lead_id}.json")
    assert dict(get.url.params) == {"_method": "GET"}
    assert result.lead is not None
    assert result.lead.attributes["W599"] == "last"


def test_skipped_is_failed_and_twins_are_raised(fake: FakeRest, client_id: str) -> None:
    with make(fake, client_id) as client:
        with pytest.raises(LeadNotFoundError) as info:
            client.sync_lead(LeadRecord(id=77))
        assert info.value.fault.rest_code == 1004
        fake.describe["result"].append(
            {"id": 99, "dataType": "string", "rest": {"name": "gone"}, "soap": {"name": "Gone"}}
        )
        client.sync_lead(LeadRecord(email="a@b.c"))  # the schema is now cached, with Gone
        fake.describe["result"].pop()
        with pytest.raises(UnknownAttributeError) as unknown:
            client.sync_lead(LeadRecord(email="a@b.c", attributes={"Gone": "x"}))
        assert unknown.value.fault.rest_code == 1006
        with pytest.raises(UnknownAttributeError):  # refused before sending
            client.sync_lead(LeadRecord(email="a@b.c", attributes={"Nope": "x"}))
        fake.failures["/leads.json"] = [
            httpx.Response(
                200,
                json={
                    "success": True,
                    "result": [
                        {
                            "id": 3,
                            "status": "skipped",
                            "reasons": [{"code": "1015", "message": "m"}],
                        }
                    ],
                },
            )
        ]
        failed = client.sync_lead(LeadRecord(email="a@b.c"), workspace="Europe")
    assert (failed.lead_id, failed.status, failed.error) == (3, SyncStatus.FAILED, "1015: m")
    assert fake.calls().count("/leads/describe.json") == 1


def test_token_is_shared_per_client_id_and_renewed_before_expiry(
    fake: FakeRest, client_id: str
) -> None:
    clock = Clock()
    lead = LeadRecord(email="a@b.c")
    with make(fake, client_id, clock=clock) as one, make(fake, client_id, clock=clock) as two:
        one.sync_lead(lead)
        two.sync_lead(lead)  # same token; its own schema
        assert fake.calls().count("/oauth/token") == 1
        assert fake.calls().count("/leads/describe.json") == 2
        clock.now += dt.timedelta(seconds=3600 - 61)
        one.sync_lead(lead)
        assert fake.issued == 1
        clock.now += dt.timedelta(seconds=2)  # inside the 60 s margin
        two.sync_lead(lead)
        one.sync_lead(lead)
    assert fake.issued == 2
    assert shared_token_cache(one.settings) is shared_token_cache(two.settings)


def test_a_wrong_secret_never_borrows_a_token(fake: FakeRest, client_id: str) -> None:
    with make(fake, client_id) as good:
        good.sync_lead(LeadRecord(email="a@b.c"))
    wrong = RestClient(REST_URL, IDENTITY_URL, client_id, "wrong", transport=fake.transport())
    with wrong, pytest.raises(AuthenticationError, match="Bad client credentials"):
        wrong.sync_lead(LeadRecord(email="a@b.c"))


def test_invalidated_token_is_renewed_once(fake: FakeRest, client_id: str) -> None:
    with make(fake, client_id) as client:
        client.sync_lead(LeadRecord(email="a@b.c"))
        fake.tokens.clear()  # the service forgot every token (e.g. rotated)
        assert client.sync_lead(LeadRecord(email="a@b.c")).status is SyncStatus.UPDATED
        fake.failures["/leads.json"] = [error("602", "Access token expired")] * 2
        with pytest.raises(AuthenticationError) as info:
            client.sync_lead(LeadRecord(email="a@b.c"))
    assert info.value.fault.rest_code == 602
    assert fake.issued == 3


def test_rate_limit_backs_off(fake: FakeRest, client_id: str) -> None:
    fake.failures["/leads.json"] = [error("606", "Max rate limit exceeded")]
    with make(fake, client_id) as client:
        assert client.sync_lead(LeadRecord(email="a@b.c")).lead_id == 1
        fake.failures["/leads.json"] = [error("606")] * 3
        with pytest.raises(RateLimitError):
            client.sync_lead(LeadRecord(email="a@b.c"))


@pytest.mark.parametrize("code", ["502", "604", "608", "611", "614", "713"])
def test_adobes_transient_codes_are_retried(fake: FakeRest, client_id: str, code: str) -> None:
    # Adobe, "Error Codes": 502 "should be retried with exponential backoff", 713 "wait
    # ... and then retry", 614 "temporary inaccessibility", 604/608/611 transient.
    fake.failures["/leads.json"] = [error(code, "transient")] * 2
    with make(fake, client_id) as client:
        assert client.sync_lead(LeadRecord(email="a@b.c")).lead_id == 1
        fake.failures["/leads.json"] = [error(code, "transient")] * 3
        with pytest.raises(ServiceInternalError) as info:
            client.sync_lead(LeadRecord(email="a@b.c"))
    assert info.value.fault.rest_code == int(code)
    assert info.value.request_id == "1#2"  # the evidence Marketo's support asks for


def test_html_answer_is_a_response_error(fake: FakeRest, client_id: str) -> None:
    page = b"<html><body>502 Bad Gateway</body></html>"
    fake.failures["/leads/describe.json"] = [httpx.Response(502, content=page)] * 3
    with make(fake, client_id) as client, pytest.raises(ResponseError) as info:
        client.sync_lead(LeadRecord(email="a@b.c"))
    assert info.value.status_code == 502
    assert info.value.body_excerpt is not None
    assert "502 Bad Gateway" in info.value.body_excerpt


@pytest.mark.parametrize(
    ("args", "match"),
    [
        pytest.param(("ftp://x/rest", IDENTITY_URL, "c", "s"), "rest_url", id="rest-url"),
        pytest.param((REST_URL, "not a url", "c", "s"), "identity_url", id="identity-url"),
        pytest.param((REST_URL, IDENTITY_URL, "", "s"), "client_id", id="client-id"),
        pytest.param((REST_URL, IDENTITY_URL, "c", ""), "client_secret", id="secret"),
        # httpx's URL parser raises a bare UnicodeEncodeError for these
        pytest.param((REST_URL + "/\ud800", IDENTITY_URL, "c", "s"), "rest_url", id="surrogate"),
        pytest.param((REST_URL, IDENTITY_URL + "\udfff", "c", "s"), "identity_url", id="lone"),
    ],
)
def test_bad_settings(args: tuple[str, str, str, str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        RestClient(*args)


def test_repr_and_closed_client(fake: FakeRest, client_id: str) -> None:
    client = make(fake, client_id)
    client.sync_lead(LeadRecord(email="a@b.c"))
    text = repr(client) + repr(vars(client)) + repr(client.settings)
    assert text.startswith(f"RestClient(rest_url={REST_URL!r}, client_id={client_id!r})")
    assert SECRET not in text
    for token in fake.tokens:
        assert token not in text
    client.close()
    with pytest.raises(ConfigError, match="closed"):
        client.sync_lead(LeadRecord(email="a@b.c"))


def test_borrowed_http_client_stays_open(fake: FakeRest, client_id: str) -> None:
    with httpx.Client(transport=fake.transport()) as http:
        with RestClient(REST_URL, IDENTITY_URL, client_id, SECRET, http_client=http) as client:
            client.sync_lead(LeadRecord(email="a@b.c"))
        assert not http.is_closed


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def test_async_client(fake: FakeRest, client_id: str, loop: asyncio.AbstractEventLoop) -> None:
    async def run() -> list[Any]:
        async with AsyncRestClient(
            REST_URL,
            IDENTITY_URL,
            client_id,
            SECRET,
            foreign_id_field="externalId",
            partitions={"Europe": "EU"},
            transport=fake.transport(),
            retry=FAST,
        ) as client:
            assert SECRET not in repr(client)
            leads = [LeadRecord(email=f"{n}@b.c") for n in range(5)]
            results = await asyncio.gather(*(client.sync_lead(lead) for lead in leads))
            again = await client.sync_lead(
                LeadRecord(foreign_sys_person_id="e", foreign_sys_type="CUSTOM", email="0@b.c"),
                return_lead=True,
                workspace="Europe",
            )
            return [*results, again]

    results = loop.run_until_complete(run())
    assert sorted(r.lead_id for r in results[:5]) == [1, 2, 3, 4, 5]
    assert all(r.status is SyncStatus.CREATED for r in results[:5])
    last = results[5]
    assert last.lead is not None
    assert last.lead.foreign_sys_person_id == "e"
    partitions = [r for r in fake.requests if r.url.path.endswith("/leads.json")]
    assert b'"partitionName": "EU"' in partitions[-1].content
    assert b'"lookupField": "externalId"' in partitions[-1].content
