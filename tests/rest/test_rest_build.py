"""From a lead to REST requests: the lookup field by SOAP precedence, the partition, and
a Sync Leads body typed by the schema; refusals happen before anything is sent."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support import rest_fixture, rest_settings

from mktows._errors import ConfigError, ConversionError, UnknownAttributeError, ValidationError
from mktows._models import Attribute, LeadRecord
from mktows.rest._build import SyncPlan, build_sync_body, plan_sync
from mktows.rest._parse import parse_describe

CATALOG = parse_describe(rest_fixture("describe.json"), status_code=200)


PLANS = [
    pytest.param(
        LeadRecord(id=7, email="a@b.c", foreign_sys_person_id="x", foreign_sys_type="CUSTOM"),
        None,
        SyncPlan("id", None, {"id": 7, "email": "a@b.c", "externalId": "x"}, "updateOnly"),
        id="id-wins",
    ),
    pytest.param(
        LeadRecord(email="a@b.c", foreign_sys_person_id="x", foreign_sys_type="SFDC"),
        "Europe",
        SyncPlan("externalId", "EU", {"email": "a@b.c", "externalId": "x"}),
        id="foreign-then-email",
    ),
    pytest.param(
        LeadRecord(email="a@b.c"), None, SyncPlan("email", None, {"email": "a@b.c"}), id="email"
    ),
    pytest.param(
        LeadRecord(id=3), None, SyncPlan("id", None, {"id": 3}, "updateOnly"), id="id-only"
    ),
    # Adobe, "Leads" > Sync Leads: id only with updateOnly; partitionName only with
    # createOnly/createOrUpdate, so an Id-keyed lead goes without one.
    pytest.param(
        LeadRecord(id=3), "Europe", SyncPlan("id", None, {"id": 3}, "updateOnly"), id="id-ws"
    ),
]


@pytest.mark.parametrize(("lead", "workspace", "plan"), PLANS)
def test_plan_sync_follows_soap_precedence(
    lead: LeadRecord, workspace: str | None, plan: SyncPlan
) -> None:
    assert plan_sync(lead, rest_settings(), workspace) == plan


@pytest.mark.parametrize(
    ("lead", "changes", "workspace", "error", "match"),
    [
        pytest.param(LeadRecord(), {}, None, ValidationError, "needs a key", id="no-key"),
        pytest.param(
            LeadRecord(foreign_sys_person_id="x", foreign_sys_type="CUSTOM"),
            {"foreign_id_field": None},
            None,
            ConfigError,
            "MKTOWS_FOREIGN_ID_FIELD",
            id="foreign-unconfigured",
        ),
        pytest.param(
            LeadRecord(id=1, foreign_sys_person_id="x", foreign_sys_type="CUSTOM"),
            {"foreign_id_field": None},
            None,
            ConfigError,
            "no foreign-id field",
            id="id-with-foreign-unconfigured",
        ),
        pytest.param(
            LeadRecord(email="a@b.c"),
            {},
            "Asia",
            ValidationError,
            "'Asia' has no partition",
            id="ws",
        ),
        pytest.param(
            LeadRecord(email="a@b.c"),
            {"partitions": {}},
            "Asia",
            ValidationError,
            "mapped: none",
            id="no-map",
        ),
    ],
)
def test_plan_sync_refuses(
    lead: LeadRecord,
    changes: dict[str, Any],
    workspace: str | None,
    error: type[Exception],
    match: str,
) -> None:
    with pytest.raises(error, match=match):
        plan_sync(lead, rest_settings(**changes), workspace)


def test_build_sync_body_types_values_by_the_schema() -> None:
    lead = LeadRecord(
        email="a@b.c",
        attributes=[
            Attribute(name="FirstName", value="Ann"),
            Attribute(name="numberOfEmployees", value="12"),  # a REST name works too
            Attribute(name="Unsubscribed", value="1"),
            Attribute(name="AnnualRevenue", value="1250.50"),
            Attribute(name="DateOfBirth", value="1990-02-03"),
            Attribute(name="LastSeen", value="2026-01-02T03:04:05Z"),
            Attribute(name="LeadScore", value=""),
            Attribute(name="Email", value="other@b.c"),
        ],
    )
    plan = plan_sync(lead, rest_settings(), "Europe")
    assert json.loads(build_sync_body(plan, lead, CATALOG)) == {
        "action": "createOrUpdate",
        "lookupField": "email",
        "partitionName": "EU",
        "input": [
            {
                "firstName": "Ann",
                "numberOfEmployees": 12,
                "unsubscribed": True,
                "annualRevenue": 1250.5,
                "dateOfBirth": "1990-02-03",
                "lastSeen": "2026-01-02T03:04:05+00:00",
                "leadScore": None,
                "email": "a@b.c",  # the key wins over an attribute
            }
        ],
    }


@pytest.mark.parametrize(
    ("attr", "error", "match"),
    [
        pytest.param(
            Attribute(name="Nope", value="1"), UnknownAttributeError, "Field 'Nope'", id="unknown"
        ),
        pytest.param(
            Attribute(name="LeadScore", value="ten"), ConversionError, "LeadScore", id="bad-int"
        ),
        pytest.param(
            Attribute(name="Ratio", value="1e999"), ConversionError, "out of range", id="inf"
        ),
    ],
)
def test_build_sync_body_refuses(attr: Attribute, error: type[Exception], match: str) -> None:
    lead = LeadRecord(email="a@b.c", attributes=[attr])
    with pytest.raises(error, match=match):
        build_sync_body(plan_sync(lead, rest_settings(), None), lead, CATALOG)
