"""Fault rules on the REST face: a rule's email is read from the body's first input
record, so a body without one (not JSON, no input list, no record object) matches only
rules that name no email; a delay-only rule slows the call, which then succeeds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from support import SandboxServer, add_fault, fault_rules

from ._rest_util import Rest, error_code


@pytest.fixture
def rest(sandbox_server: SandboxServer) -> Iterator[Rest]:
    with Rest(sandbox_server) as session:
        session.login()
        yield session


def _hits(server: SandboxServer) -> dict[int, int]:
    return {rule["id"]: rule["hits"] for rule in fault_rules(server)}


@pytest.mark.parametrize(
    ("body", "answered"),
    [
        pytest.param(b'{"input": [{"email": "a@flaky.test"', "609", id="not-json"),
        pytest.param(b'[{"email": "a@flaky.test"}]', "1003", id="not-an-object"),
        pytest.param(b'{"input": []}', "1003", id="no-record"),
        pytest.param(b'{"input": ["a@flaky.test"]}', "1003", id="record-not-an-object"),
    ],
)
def test_a_body_without_an_input_email_matches_only_rules_without_one(
    rest: Rest, sandbox_server: SandboxServer, body: bytes, answered: str
) -> None:
    by_email = add_fault(sandbox_server, {"match": {"email": "*@flaky.test"}, "code": 615})
    assert error_code(rest.post_raw("leads.json", body)) == answered
    assert _hits(sandbox_server) == {by_email: 0}
    any_rest = add_fault(sandbox_server, {"match": {"wire": "rest"}, "code": 615, "times": 1})
    assert error_code(rest.post_raw("leads.json", body)) == "615"
    assert _hits(sandbox_server) == {by_email: 0}  # the wire rule, used up, is gone
    assert any_rest not in _hits(sandbox_server)
    # The same rule does match a body that names the email.
    sent = b'{"input": [{"email": "a@flaky.test"}]}'
    assert error_code(rest.post_raw("leads.json", sent)) == "615"
    assert _hits(sandbox_server) == {by_email: 1}


def test_a_delay_rule_slows_a_rest_call_that_then_succeeds(
    rest: Rest, sandbox_server: SandboxServer
) -> None:
    add_fault(sandbox_server, {"match": {"wire": "rest"}, "delay_ms": 400, "times": 1})
    started = time.monotonic()
    [created] = rest.sync([{"email": "slow@x.com"}])
    assert time.monotonic() - started >= 0.4
    assert created["status"] == "created"
    assert _hits(sandbox_server) == {}  # used up
