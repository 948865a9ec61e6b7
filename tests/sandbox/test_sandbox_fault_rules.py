"""Fault rules as pure values: the ``--fault`` text form, the JSON form they list as,
which calls they match and how ``times`` and ``probability`` count them; and the journal's
filters and size. (Over the wire they are pinned in test_sandbox_admin.py.)
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from mktows import ConfigError
from mktows.sandbox import SandboxConfig
from mktows.sandbox._faults import FaultRule, FaultRules, parse_rule_text
from mktows.sandbox._journal import CallFilter, Journal


def test_the_text_form_reads_every_field_and_lists_as_json() -> None:
    rule = parse_rule_text(
        "email=*@flaky.test, wire=soap, user=alice, delay_ms=250, drop=yes, probability=0.5"
    )
    assert rule.as_dict() == {
        "match": {"email": "*@flaky.test", "wire": "soap", "user": "alice"},
        "probability": 0.5,
        "delay_ms": 250,
        "drop": True,
    }
    failed = parse_rule_text("status=FAILED,error=boom,times=2,drop=no")
    assert failed.as_dict() == {"match": {}, "status": "FAILED", "error": "boom", "times": 2}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("code", "expected name=value pairs", id="no-equals"),
        pytest.param("=20023", "expected name=value pairs", id="no-name"),
        pytest.param("code=lots", "code must be a whole number", id="code-not-number"),
        pytest.param("code=20023,times=x", "times must be a whole number", id="times-not-number"),
        pytest.param("code=20023,probability=half", "probability must be a number", id="prob"),
        pytest.param("code=20023,colour=red", "colour", id="unknown-name"),
    ],
)
def test_the_text_form_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_rule_text(text)


@pytest.mark.parametrize(
    ("rule", "call", "applies"),
    [
        pytest.param({"match": {"wire": "rest"}, "code": 20023}, {}, False, id="other-wire"),
        pytest.param({"match": {"user": "bob"}, "code": 20023}, {}, False, id="other-user"),
        pytest.param({"match": {"user": "alice"}, "code": 20023}, {}, True, id="same-user"),
        pytest.param({"match": {"email": "*@x.test"}, "code": 20023}, {"email": None}, False,
                     id="no-email"),
        pytest.param({"match": {"email": "*@X.TEST"}, "code": 20023}, {}, True, id="any-case"),
        # 606 has a SOAP twin; 1007 (duplicate email) has none: the rule skips SOAP calls.
        pytest.param({"match": {}, "code": 606}, {}, True, id="rest-code-with-twin"),
        pytest.param({"match": {}, "code": 1007}, {}, False, id="rest-code-no-soap-twin"),
        pytest.param({"match": {}, "status": "FAILED"}, {"wire": "rest"}, False,
                     id="failed-is-soap-only"),
    ],
)  # fmt: skip
def test_which_calls_a_rule_matches(
    rule: dict[str, Any], call: dict[str, Any], applies: bool
) -> None:
    facts = {"wire": "soap", "email": "ann@x.test", "user": "alice", **call}
    assert FaultRule.from_dict(rule).applies(**facts) is applies


def test_times_probability_and_no_rules() -> None:
    soap = {"wire": "soap", "email": "ann@x.test", "user": "alice"}
    assert FaultRules().take(**soap) is None
    rules = FaultRules(
        [
            FaultRule.from_dict({"match": {"wire": "rest"}, "code": 606}),
            FaultRule.from_dict({"match": {}, "code": 20023, "probability": 0.5}),
            FaultRule.from_dict({"match": {}, "code": 20024}),  # no times: never used up
        ],
        rng=random.Random(7),
    )
    codes = [injected.code for injected in (rules.take(**soap) for _ in range(40)) if injected]
    assert len(codes) == 40
    assert {20023, 20024} == set(codes)  # the coin sends some calls on to the next rule
    listed = {rule["id"]: rule for rule in rules.listed()}
    assert listed[1]["hits"] == 0
    assert listed[3]["times_left"] is None
    assert listed[2]["hits"] + listed[3]["hits"] == 40
    twice = FaultRules([FaultRule.from_dict({"match": {}, "code": 20023, "times": 2})])
    assert twice.take(**soap) is not None
    assert twice.listed()[0]["times_left"] == 1  # counted, kept for one more call
    assert twice.take(**soap) is not None
    assert not twice  # used up: gone


def test_journal_filters_by_outcome_and_refuses_a_bad_size() -> None:
    journal = Journal(size=3)
    for outcome in ("CREATED", "FAULT", "CREATED"):
        journal.record({"email": None, "outcome": outcome, "code": None, "wire": "soap"})
    assert [c["id"] for c in journal.calls(CallFilter(outcome="CREATED"))] == [3, 1]
    for size in (0, True, "3"):
        with pytest.raises(ValueError, match="journal size must be a whole number"):
            Journal(size=size)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"journal_size": "10"}, "journal_size must be a whole number", id="size"),
        pytest.param({"faults": [{"code": 20023}]}, "faults must be a list of fault rules",
                     id="rule-not-a-rule"),
    ],
)  # fmt: skip
def test_config_refuses_a_bad_journal_size_or_rule(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SandboxConfig(**changes)
