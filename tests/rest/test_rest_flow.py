"""The REST call flow, driven by a scripted driver (the flow does no I/O of its own):
exchange order, token renewal, retries and one deadline for the whole call."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from support import (
    REST_SECRET,
    REST_TOKEN_ANSWER,
    rest_fixture,
    rest_refusal,
    rest_result,
    rest_settings,
)

from mktows._build import build_sync_lead_envelope
from mktows._errors import (
    AuthenticationError,
    ConcurrencyLimitError,
    DeadlineExceeded,
    FaultError,
    LeadNotFoundError,
    QuotaExceededError,
    RateLimitError,
    ResponseError,
    ServiceInternalError,
    TransportError,
    ValidationError,
)
from mktows._flow import Pacing, Send, Sleep
from mktows._models import LeadRecord, Secret, SyncLeadResult, SyncStatus
from mktows._retry import RetryPolicy
from mktows.rest._flow import rest_flow
from mktows.rest._settings import RestState, TokenCache

Handler = Callable[[Send], "tuple[int, bytes] | Exception"]


class Script:
    """Drives a flow: answers each Send with ``handler``, records sends and sleeps."""

    def __init__(self, handler: Handler, clock_step: float = 0.0) -> None:
        self.handler = handler
        self.sends: list[Send] = []
        self.sleeps: list[float] = []
        self.now = 0.0
        self.wall = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
        self.clock_step = clock_step

    def monotonic(self) -> float:
        return self.now

    def clock(self) -> dt.datetime:
        return self.wall

    def run(self, lead: LeadRecord, state: RestState, **kwargs: Any) -> SyncLeadResult:
        pacing = Pacing(
            policy=kwargs.pop("policy", RetryPolicy(attempts=3, backoff=1.0)),
            deadline=kwargs.pop("deadline", 60.0),
            clock=self.clock,
            monotonic=self.monotonic,
            random=lambda: 0.5,
        )
        options: dict[str, Any] = {"settings": rest_settings(), **kwargs}
        flow = rest_flow(lead, state=state, pacing=pacing, **options)
        action = next(flow)
        while True:
            try:
                if isinstance(action, Sleep):
                    self.sleeps.append(action.seconds)
                    self.now += action.seconds
                    action = flow.send(None)
                    continue
                self.sends.append(action)
                self.now += self.clock_step
                answer = self.handler(action)
                action = flow.throw(answer) if isinstance(answer, Exception) else flow.send(answer)
            except StopIteration as stop:
                result: SyncLeadResult = stop.value
                return result

    def labels(self) -> list[str]:
        return [send.label for send in self.sends]


def describe_sync(sync_answer: bytes) -> Callable[[Send], tuple[int, bytes]]:
    def handle(send: Send) -> tuple[int, bytes]:
        if send.label == "identity":
            return 200, REST_TOKEN_ANSWER
        if send.label == "describe":
            return 200, rest_fixture("describe.json")
        return 200, sync_answer

    return handle


def test_flow_fetches_token_and_schema_once() -> None:
    script = Script(describe_sync(rest_result([{"id": 5, "status": "created"}])))
    state = RestState(tokens=TokenCache())
    lead = LeadRecord(email="a@b.c", attributes={"FirstName": "Ann"})
    assert script.run(lead, state) == SyncLeadResult(lead_id=5, status=SyncStatus.CREATED)
    assert script.run(lead, state).status is SyncStatus.CREATED
    assert script.labels() == ["identity", "describe", "syncLead", "syncLead"]
    identity, describe, sync = script.sends[:3]
    assert identity.secret
    assert identity.method == "POST"
    assert identity.url == "https://mk.test/identity/oauth/token"
    assert (
        identity.body
        == f"grant_type=client_credentials&client_id=cid&client_secret={REST_SECRET}".encode()
    )
    assert identity.headers is not None
    assert "Authorization" not in identity.headers
    assert (describe.method, describe.url, describe.secret) == (
        "GET",
        "https://mk.test/rest/v1/leads/describe.json",
        False,
    )
    assert sync.headers is not None
    assert sync.headers["Authorization"] == "Bearer tok-1"
    assert sync.url == "https://mk.test/rest/v1/leads.json"
    assert sync.method == "POST"
    assert json.loads(sync.body)["input"] == [{"firstName": "Ann", "email": "a@b.c"}]


def test_flow_associates_and_returns_the_lead() -> None:
    def handle(send: Send) -> tuple[int, bytes]:
        if send.label == "syncLead":
            return 200, rest_result([{"id": 42, "status": "updated"}])
        if send.label == "associateLead":
            return 200, rest_result([])
        if send.label == "getLead":
            return 200, rest_fixture("lead.json")
        return describe_sync(b"")(send)

    script = Script(handle)
    result = script.run(
        LeadRecord(email="ann@example.com"),
        RestState(tokens=TokenCache()),
        return_lead=True,
        marketo_cookie="id:123-ABC&token:_mch-x",
    )
    assert script.labels() == ["identity", "describe", "syncLead", "associateLead", "getLead"]
    associate, get = script.sends[3:]
    assert associate.url == (
        "https://mk.test/rest/v1/leads/42/associate.json?cookie=id%3A123-ABC%26token%3A_mch-x"
    )
    assert associate.method == "POST"
    assert associate.body == b""
    assert get.method == "GET"
    assert get.url is not None
    assert get.url.startswith("https://mk.test/rest/v1/lead/42.json?fields=id,email,firstName,")
    assert result.status is SyncStatus.UPDATED
    assert result.lead is not None
    assert result.lead.id == 42
    assert result.lead.attributes.typed("LeadScore") == 7


def test_flow_skipped_stops_after_the_sync() -> None:
    script = Script(describe_sync(rest_fixture("sync_skipped.json")))
    result = script.run(
        LeadRecord(email="a@b.c"),
        RestState(tokens=TokenCache()),
        return_lead=True,
        marketo_cookie="c",
    )
    assert result.status is SyncStatus.FAILED
    assert result.error is not None
    assert script.labels() == ["identity", "describe", "syncLead"]


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        pytest.param(rest_result([]), "just synced, as one record; got 0", id="empty"),
        pytest.param(rest_result([{"id": "x"}]), "malformed", id="bad-record"),
    ],
)
def test_flow_get_lead_refuses(answer: bytes, match: str) -> None:
    def handle(send: Send) -> tuple[int, bytes]:
        if send.label == "getLead":
            return 200, answer
        return describe_sync(rest_result([{"id": 4, "status": "created"}]))(send)

    with pytest.raises(ResponseError, match=match):
        Script(handle).run(
            LeadRecord(email="a@b.c"), RestState(tokens=TokenCache()), return_lead=True
        )


def test_flow_associate_error_is_raised() -> None:
    def handle(send: Send) -> tuple[int, bytes]:
        if send.label == "associateLead":
            return 200, rest_refusal("1004", "Lead not found")
        return describe_sync(rest_result([{"id": 4, "status": "created"}]))(send)

    with pytest.raises(LeadNotFoundError):
        Script(handle).run(
            LeadRecord(email="a@b.c"), RestState(tokens=TokenCache()), marketo_cookie="c"
        )


@pytest.mark.parametrize(
    ("options", "field"),
    [
        pytest.param({"marketo_cookie": ""}, "marketo_cookie", id="cookie-empty"),
        pytest.param({"marketo_cookie": "  "}, "marketo_cookie", id="cookie-blank"),
        pytest.param({"marketo_cookie": 5}, "marketo_cookie", id="cookie-int"),
        pytest.param({"marketo_cookie": b"id:1"}, "marketo_cookie", id="cookie-bytes"),
        pytest.param({"marketo_cookie": "id:\x00"}, "marketo_cookie", id="cookie-nul"),
        pytest.param({"marketo_cookie": "id:\ud800"}, "marketo_cookie", id="cookie-surrogate"),
        pytest.param({"workspace": ""}, "workspace", id="workspace-empty"),
        pytest.param({"workspace": " "}, "workspace", id="workspace-blank"),
        pytest.param({"workspace": 7}, "workspace", id="workspace-int"),
        pytest.param({"workspace": "Eu\x0brope"}, "workspace", id="workspace-control"),
        pytest.param({"workspace": "\ufffe"}, "workspace", id="workspace-non-character"),
        pytest.param({"workspace": "Nowhere"}, "workspace", id="workspace-unmapped"),
        pytest.param({"return_lead": "yes"}, "returnLead", id="return-lead-str"),
        pytest.param({"return_lead": 1}, "returnLead", id="return-lead-int"),
        pytest.param({"return_lead": None}, "returnLead", id="return-lead-none"),
    ],
)
def test_flow_refuses_bad_options_as_soap_does(options: dict[str, Any], field: str) -> None:
    # The same refusals, with the same field names, as build_sync_lead_envelope (SOAP).
    script = Script(describe_sync(b""))
    with pytest.raises(ValidationError) as info:
        script.run(LeadRecord(email="a@b.c"), RestState(tokens=TokenCache()), **options)
    assert info.value.field == field
    assert script.sends == []
    if options.get("workspace") == "Nowhere":
        return  # SOAP has no workspace mapping to miss
    with pytest.raises(ValidationError) as soap:
        build_sync_lead_envelope(
            LeadRecord(email="a@b.c"), user_id="u", encryption_key="k", **options
        )
    assert soap.value.field == field


@pytest.mark.parametrize("code", ["601", "602"])
def test_flow_renews_a_refused_token_once(code: str) -> None:
    issued: list[str] = []
    refuse = {"all": False}

    def handle(send: Send) -> tuple[int, bytes]:
        if send.label == "identity":
            issued.append(f"tok-{len(issued) + 1}")
            return 200, json.dumps({"access_token": issued[-1], "expires_in": 3600}).encode()
        assert send.headers is not None
        token = send.headers["Authorization"].removeprefix("Bearer ")
        if token == "tok-1" or refuse["all"]:
            return 200, rest_refusal(code, "Access token invalid")
        return describe_sync(rest_result([{"id": 4, "status": "created"}]))(send)

    state = RestState(tokens=TokenCache())
    script = Script(handle)
    assert script.run(LeadRecord(email="a@b.c"), state).lead_id == 4
    assert script.labels() == ["identity", "describe", "identity", "describe", "syncLead"]
    assert script.sleeps == []
    refuse["all"] = True  # every token is refused now: renewed once, then raised
    again = Script(handle)
    with pytest.raises(AuthenticationError) as info:
        again.run(LeadRecord(email="a@b.c"), state)
    assert info.value.fault.rest_code == int(code)
    assert again.labels() == ["syncLead", "identity", "syncLead"]
    assert issued == ["tok-1", "tok-2", "tok-3"]
    assert state.tokens.current(0) is None  # the refused token is forgotten


def test_flow_keeps_a_token_another_call_replaced() -> None:
    state = RestState(tokens=TokenCache())
    script: Script

    def handle(send: Send) -> tuple[int, bytes]:
        if send.label == "describe":  # renewed meanwhile by another call, then refused too
            state.tokens.store(Secret("tok-new"), 3600, script.wall.timestamp())
            return 200, rest_refusal("602", "Access token expired")
        return 200, REST_TOKEN_ANSWER

    script = Script(handle)
    with pytest.raises(AuthenticationError):
        script.run(LeadRecord(email="a@b.c"), state)
    assert script.labels() == ["identity", "describe", "describe"]  # tok-new was used
    assert script.sends[2].headers == {
        "Accept": "application/json",
        "Authorization": "Bearer tok-new",
    }
    assert state.tokens.current(script.wall.timestamp()) is None


def test_flow_uses_a_cached_token_until_it_is_due() -> None:
    script = Script(describe_sync(rest_result([{"id": 1, "status": "updated"}])))
    state = RestState(tokens=TokenCache())
    lead = LeadRecord(email="a@b.c")
    script.run(lead, state)
    script.wall += dt.timedelta(seconds=3539)
    script.run(lead, state)
    script.wall += dt.timedelta(seconds=1)  # inside the renewal margin
    script.run(lead, state)
    assert script.labels() == [
        "identity",
        "describe",
        "syncLead",
        "syncLead",
        "identity",
        "syncLead",
    ]


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        pytest.param(
            (200, rest_refusal("606", "Max rate limit '100' exceeded")), RateLimitError, id="606"
        ),
        pytest.param((200, rest_refusal("615")), ConcurrencyLimitError, id="615"),
        pytest.param((200, rest_refusal("611")), ServiceInternalError, id="611"),
        pytest.param((503, b"<html>busy</html>"), ResponseError, id="503"),
        pytest.param(TransportError("reset"), TransportError, id="transport"),
    ],
)
def test_flow_backs_off_and_retries(
    failure: tuple[int, bytes] | Exception, error: type[Exception]
) -> None:
    failures = [failure, failure]

    def handle(send: Send) -> tuple[int, bytes] | Exception:
        if send.label == "syncLead" and failures:
            return failures.pop()
        return describe_sync(rest_result([{"id": 8, "status": "created"}]))(send)

    script = Script(handle)
    assert script.run(LeadRecord(email="a@b.c"), RestState(tokens=TokenCache())).lead_id == 8
    assert script.sleeps == [0.5, 1.0]  # backoff 1, 2 with jitter 0.5
    failures[:] = [failure] * 3
    with pytest.raises(error):
        script.run(LeadRecord(email="a@b.c"), RestState(tokens=TokenCache()))


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        pytest.param(rest_refusal("607", "Daily quota reached"), QuotaExceededError, id="607"),
        pytest.param(rest_refusal("609"), FaultError, id="609"),
        pytest.param(rest_refusal("1003", "Invalid lookupField"), FaultError, id="1003"),
        pytest.param(b"<html>Not JSON</html>", ResponseError, id="html-200"),
    ],
)
def test_flow_never_retries_permanent_errors(failure: bytes, error: type[Exception]) -> None:
    def handle(send: Send) -> tuple[int, bytes]:
        if send.label == "syncLead":
            return 200, failure
        return describe_sync(b"")(send)

    script = Script(handle)
    with pytest.raises(error):
        script.run(LeadRecord(email="a@b.c"), RestState(tokens=TokenCache()))
    assert script.labels().count("syncLead") == 1
    assert script.sleeps == []


def test_identity_refusal_is_not_retried() -> None:
    def handle(send: Send) -> tuple[int, bytes]:
        return 401, b'{"error": "invalid_client", "error_description": "Bad client credentials"}'

    script = Script(handle)
    with pytest.raises(AuthenticationError, match="Bad client credentials"):
        script.run(LeadRecord(email="a@b.c"), RestState(tokens=TokenCache()))
    assert script.labels() == ["identity"]


def test_identity_transport_failures_are_retried() -> None:
    answers: list[tuple[int, bytes] | Exception] = [
        TransportError("refused"),
        (200, REST_TOKEN_ANSWER),
    ]

    def handle(send: Send) -> tuple[int, bytes] | Exception:
        if send.label == "identity":
            return answers.pop(0)
        return describe_sync(rest_result([{"id": 2, "status": "created"}]))(send)

    script = Script(handle)
    assert script.run(LeadRecord(email="a@b.c"), RestState(tokens=TokenCache())).lead_id == 2
    assert script.labels() == ["identity", "identity", "describe", "syncLead"]


def test_deadline_covers_the_whole_call() -> None:
    script = Script(describe_sync(rest_result([{"id": 2, "status": "created"}])), clock_step=5.0)
    with pytest.raises(DeadlineExceeded, match="10s"):
        script.run(LeadRecord(email="a@b.c"), RestState(tokens=TokenCache()), deadline=10.0)
    assert script.labels() == ["identity", "describe"]


def test_backoff_past_the_deadline_raises_at_once() -> None:
    def handle(send: Send) -> tuple[int, bytes]:
        if send.label == "syncLead":
            return 200, rest_refusal("606")
        return describe_sync(b"")(send)

    script = Script(handle)
    with pytest.raises(RateLimitError):
        script.run(
            LeadRecord(email="a@b.c"),
            RestState(tokens=TokenCache()),
            policy=RetryPolicy(attempts=5, backoff=100.0, max_backoff=100.0),
            deadline=30.0,
        )
    assert script.sleeps == []


def test_deadline_error_thrown_in_is_not_retried() -> None:
    def handle(send: Send) -> tuple[int, bytes] | Exception:
        if send.label == "syncLead":
            return DeadlineExceeded("ran out while reading")
        return describe_sync(b"")(send)

    script = Script(handle)
    with pytest.raises(DeadlineExceeded, match="while reading"):
        script.run(LeadRecord(email="a@b.c"), RestState(tokens=TokenCache()))
    assert script.sleeps == []
