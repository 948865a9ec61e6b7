"""The REST face's Sync Leads, Get Lead by Id, Describe and Associate Lead over the
same store and the same SPEC §3 rules as SOAP, against the live sandbox.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from support import MakeSandboxServer, SandboxServer, client_for, query

from mktows import ForeignSysType, LeadRecord, SyncStatus
from mktows.sandbox import AssignmentRule, SandboxConfig, Workspace
from mktows.sandbox._catalog import ATTR_TYPES, STANDARD_FIELDS

from ._rest_util import Rest, error_code, reason

CUSTOM = ForeignSysType.CUSTOM


@pytest.fixture
def rest(sandbox_server: SandboxServer) -> Iterator[Rest]:
    with Rest(sandbox_server) as session:
        yield session


def row(server: SandboxServer, lead_id: int) -> tuple[Any, ...]:
    rows = query(
        server.db_path,
        "SELECT email, fsp_id, fsp_type, partition, attrs FROM leads WHERE id = ?",
        lead_id,
    )
    assert len(rows) == 1
    return rows[0]


def count(server: SandboxServer) -> int:
    ((n,),) = query(server.db_path, "SELECT COUNT(*) FROM leads")
    assert isinstance(n, int)
    return n


def test_create_then_update_by_email(rest: Rest, sandbox_server: SandboxServer) -> None:
    first = rest.sync_one({"email": "g@jungle.com", "firstName": "George"})
    again = rest.sync_one({"email": "G@Jungle.com", "lastName": "J"})
    assert first == {"id": first["id"], "status": "created"}
    assert again == {"id": first["id"], "status": "updated"}
    assert count(sandbox_server) == 1
    assert rest.lead(first["id"]) == {
        "id": first["id"],
        "email": "G@Jungle.com",  # the Email sent last is kept, as through SOAP
        "firstName": "George",
        "lastName": "J",
    }


EXISTING = {"email": "old@x.com", "externalId": "X1"}


@pytest.mark.parametrize(
    ("action", "lookup", "record", "expected"),
    [
        pytest.param("createOnly", "email", {"email": "new@x.com"}, "created", id="create-new"),
        pytest.param("createOnly", "email", {"email": "old@x.com"}, "1005", id="create-exists"),
        pytest.param(
            "createOnly", "externalId", {"externalId": "X1"}, "1005", id="create-exists-foreign"
        ),
        pytest.param("createOnly", "id", {"id": 1}, "1003", id="create-by-id"),
        pytest.param("updateOnly", "email", {"email": "new@x.com"}, "1004", id="update-missing"),
        pytest.param("updateOnly", "email", {"email": "old@x.com"}, "updated", id="update-email"),
        pytest.param("updateOnly", "id", {"id": 1}, "updated", id="update-by-id"),
        pytest.param("updateOnly", "id", {"id": 999}, "1004", id="update-unknown-id"),
        pytest.param("updateOnly", "externalId", {"externalId": "X9"}, "1004", id="update-no-fid"),
        # Adobe, "Leads" > Sync Leads: id "only with the updateOnly action" (else 1003).
        pytest.param("createOrUpdate", "id", {"id": 999}, "1003", id="upsert-unknown-id"),
        pytest.param("createOrUpdate", "id", {"id": 1}, "1003", id="upsert-by-id"),
        pytest.param(
            "createOrUpdate", "externalId", {"externalId": "X2"}, "created", id="upsert-new-fid"
        ),
        pytest.param(
            "createOrUpdate", "EXTERNALID", {"externalId": "X1"}, "updated", id="lookup-any-case"
        ),
        pytest.param(None, None, {"email": "old@x.com"}, "updated", id="defaults"),
        pytest.param("createOrUpdate", "email", {"firstName": "A"}, "1003", id="no-lookup-value"),
        pytest.param(
            "createOrUpdate", "email", {"id": 1, "email": "a@x"}, "1003", id="id-not-lookup"
        ),
    ],
)
def test_actions_and_lookup_fields(
    rest: Rest,
    sandbox_server: SandboxServer,
    action: str | None,
    lookup: str | None,
    record: dict[str, Any],
    expected: str,
) -> None:
    made = rest.sync_one(EXISTING)
    assert made == {"id": 1, "status": "created"}
    options = {k: v for k, v in (("action", action), ("lookupField", lookup)) if v is not None}
    result = rest.sync_one({**record, "city": "Rome"}, **options)
    if expected in ("created", "updated"):
        assert result["status"] == expected
        assert "reasons" not in result
        assert row(sandbox_server, result["id"])[4] == '{"City": "Rome"}'
        assert (result["id"] == 1) is (expected == "updated")
    else:
        assert reason(result) == expected
        # A skipped record names the lead only when one was matched (1005 here).
        assert result.get("id") == (1 if expected == "1005" else None)
        assert row(sandbox_server, 1)[4] == "{}"
    assert count(sandbox_server) == (2 if expected == "created" else 1)


@pytest.mark.parametrize(
    ("options", "code", "message"),
    [
        # Adobe 1011 "Field '%s' not supported": a lookup field it does not support.
        pytest.param({"lookupField": "firstName"}, "1011", "'firstName'", id="lookup-other-field"),
        pytest.param({"lookupField": "shoe"}, "1011", "'shoe'", id="lookup-unknown"),
        pytest.param({"lookupField": 7}, "1011", "lookupField", id="lookup-not-string"),
        pytest.param({"action": "upsert"}, "1003", "action must be one of", id="unknown-action"),
        pytest.param({"action": None}, "1003", "action must be one of", id="action-null"),
        pytest.param({"partitionName": ["EU"]}, "1003", "partitionName must", id="partition-list"),
    ],
)
def test_call_level_refusals(
    rest: Rest, sandbox_server: SandboxServer, options: dict[str, Any], code: str, message: str
) -> None:
    data = rest.post_json("leads.json", {**options, "input": [{"email": "a@x.com"}]})
    assert error_code(data) == code
    assert message in data["errors"][0]["message"]
    assert count(sandbox_server) == 0


def test_several_inputs_answer_in_order(rest: Rest, sandbox_server: SandboxServer) -> None:
    results = rest.sync(
        [
            {"email": "a@x.com"},
            {"email": "b@x.com", "shoeSize": 42},
            {"email": "a@x.com", "title": "CEO"},
            {"email": "c@x.com", "numberOfEmployees": "many"},
        ]
    )
    assert results[0] == {"id": 1, "status": "created"}
    assert reason(results[1]) == "1006"
    assert results[1]["reasons"][0]["message"] == "Field 'shoeSize' not found"
    assert results[2] == {"id": 1, "status": "updated"}
    assert reason(results[3]) == "1003"
    assert count(sandbox_server) == 1


def test_three_hundred_inputs_answer_in_input_order(
    rest: Rest, sandbox_server: SandboxServer
) -> None:
    # Adobe, "Error Codes" > Record-Level: "Records in the result array appear in the same
    # order as records in the request input array"; Sync Leads takes up to 300.
    records: list[dict[str, Any]] = [{"email": f"n{n}@x.com"} for n in range(300)]
    records[150] = {"email": "n150@x.com", "shoeSize": 1}
    results = rest.sync(records)
    assert len(results) == 300
    assert [r.get("id") for r in results[:3]] == [1, 2, 3]
    assert reason(results[150]) == "1006"
    assert results[151] == {"id": 151, "status": "created"}
    assert count(sandbox_server) == 299


def test_id_lookup_updates_foreign_id_and_email(rest: Rest, sandbox_server: SandboxServer) -> None:
    a = rest.sync_one({"email": "a@x.com"})  # no foreign id yet
    b = rest.sync_one({"email": "b@x.com", "externalId": "B1"})
    res = rest.sync_one(
        {"id": a["id"], "email": "b@x.com", "externalId": "A2"},
        lookupField="id",
        action="updateOnly",
    )
    assert res == {"id": a["id"], "status": "updated"}
    assert row(sandbox_server, a["id"])[:3] == ("b@x.com", "A2", "CUSTOM")
    assert row(sandbox_server, b["id"])[:3] == ("b@x.com", "B1", "CUSTOM")


def test_foreign_id_lookup_updates_email_and_keeps_the_soap_type(
    rest: Rest, sandbox_server: SandboxServer
) -> None:
    with client_for(sandbox_server) as soap:
        made = soap.sync_lead(
            LeadRecord(email="old@x.com", foreign_sys_person_id="S1", foreign_sys_type="SFDC")
        )
    res = rest.sync_one({"externalId": "S1", "email": "new@x.com"}, lookupField="externalId")
    assert res == {"id": made.lead_id, "status": "updated"}
    assert row(sandbox_server, made.lead_id)[:3] == ("new@x.com", "S1", "SFDC")


@pytest.mark.parametrize(
    ("lookup", "record", "names_lead"),
    [
        pytest.param("id", {"id": 1, "externalId": "B1"}, True, id="id-lookup"),  # updateOnly
        pytest.param("email", {"email": "a@x.com", "externalId": "B1"}, True, id="email-update"),
        pytest.param("email", {"email": "new@x.com", "externalId": "B1"}, False, id="email-new"),
    ],
)
def test_foreign_id_of_another_lead_is_1003(
    rest: Rest,
    sandbox_server: SandboxServer,
    lookup: str,
    record: dict[str, Any],
    names_lead: bool,
) -> None:
    # 1016 is Adobe's "Too many imports": a clash of a unique key is invalid data (1003).
    rest.sync([{"email": "a@x.com", "externalId": "A1"}, {"email": "b@x.com", "externalId": "B1"}])
    action = "updateOnly" if lookup == "id" else "createOrUpdate"
    result = rest.sync_one({**record, "title": "X"}, lookupField=lookup, action=action)
    assert reason(result) == "1003"
    assert result["reasons"][0]["message"] == (
        "Invalid data: 'externalId' already belongs to lead 2"
    )
    assert result.get("id") == (1 if names_lead else None)
    assert query(sandbox_server.db_path, "SELECT id, fsp_id, attrs FROM leads") == [
        (1, "A1", "{}"),
        (2, "B1", "{}"),
    ]


@pytest.mark.parametrize("action", ["createOrUpdate", "updateOnly"])
def test_email_duplicates_are_skipped_1007(
    rest: Rest, sandbox_server: SandboxServer, action: str
) -> None:
    # Adobe 1007 "Multiple leads match the lookup criteria. Updates can only be performed
    # when the key matches a single record" (SOAP updates the most recent: see
    # tests/test_both_wires.py).
    one = rest.sync_one({"email": "dup@x.com", "externalId": "D1"}, lookupField="externalId")
    two = rest.sync_one({"email": "dup@x.com", "externalId": "D2"}, lookupField="externalId")
    result = rest.sync_one({"email": "DUP@x.com", "city": "Rome"}, action=action)
    assert reason(result) == "1007"
    assert result["reasons"][0]["message"] == "Multiple leads match the lookup criteria"
    assert "id" not in result
    assert [row(sandbox_server, n)[4] for n in (one["id"], two["id"])] == ["{}", "{}"]
    assert count(sandbox_server) == 2


def test_create_duplicate_always_creates(rest: Rest, sandbox_server: SandboxServer) -> None:
    first = rest.sync_one({"email": "twin@x.com"})
    again = rest.sync_one({"email": "twin@x.com"}, action="createDuplicate")
    assert again["status"] == "created"
    assert again["id"] != first["id"]
    assert count(sandbox_server) == 2
    assert reason(rest.sync_one({"email": "twin@x.com"})) == "1007"


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        pytest.param("numberOfEmployees", 250, "250", id="int"),
        pytest.param("numberOfEmployees", "250", "250", id="int-as-text"),
        pytest.param("annualRevenue", 1234.50, "1234.50", id="currency-exact"),
        pytest.param("unsubscribed", True, "true", id="bool"),
        pytest.param("dateOfBirth", "1980-02-29", "1980-02-29", id="date"),
        pytest.param("lastActivityDate", "2026-01-02T03:04:05Z", "2026-01-02T03:04:05Z", id="dt"),
        pytest.param("firstName", 7, "7", id="number-into-string"),
        pytest.param("firstName", False, "false", id="bool-into-string"),
        pytest.param("firstName", "Ada & Co <3", "Ada & Co <3", id="xml-specials"),
    ],
)
def test_values_are_stored_as_text(
    rest: Rest, sandbox_server: SandboxServer, field: str, value: Any, stored: str
) -> None:
    # httpx writes 1234.50 as 1234.5: send the JSON by hand to keep the digits.
    raw = "1234.50" if stored == "1234.50" else json.dumps(value)
    data = rest.post_raw(
        "leads.json", '{"input": [{"email": "v@x.com", "' + field + '": ' + raw + "}]}"
    )
    assert data["result"][0]["status"] == "created"
    (attrs,) = query(sandbox_server.db_path, "SELECT attrs FROM leads")
    assert json.loads(attrs[0]) == {
        next(n for n in STANDARD_FIELDS if n.lower() == field.lower()): stored
    }


@pytest.mark.parametrize(
    "record",
    [
        pytest.param({"numberOfEmployees": "many"}, id="integer-text"),
        pytest.param({"numberOfEmployees": 2.5}, id="integer-fraction"),
        pytest.param({"unsubscribed": "perhaps"}, id="boolean-text"),
        pytest.param({"dateOfBirth": "29/02/1980"}, id="date-format"),
        pytest.param({"firstName": {"a": 1}}, id="object-value"),
        pytest.param({"firstName": ["a"]}, id="list-value"),
        pytest.param({"firstName": "a\x00b"}, id="nul-char"),
        pytest.param({"firstName": "\ud800"}, id="lone-surrogate"),
        pytest.param({"email": 5}, id="email-number"),
        pytest.param({"email": " "}, id="email-blank"),
        pytest.param({"email": None}, id="email-null"),
        pytest.param({"email": "a@x.com", "externalId": "x\x01"}, id="foreign-id-control-char"),
    ],
)
def test_bad_values_skip_the_record_with_1003(
    rest: Rest, sandbox_server: SandboxServer, record: dict[str, Any]
) -> None:
    # json.dumps escapes what httpx could not encode (a lone surrogate is \\ud800 in JSON).
    data = rest.post_raw("leads.json", json.dumps({"input": [{"email": "b@x.com", **record}]}))
    result = data["result"][0]
    assert reason(result) == "1003"
    assert "id" not in result
    assert count(sandbox_server) == 0


@pytest.mark.parametrize(
    "value",
    [pytest.param("1e999", id="overflow"), pytest.param("-1e999", id="negative-overflow")],
)
def test_a_float_that_overflows_is_1003(make_sandbox_server: MakeSandboxServer, value: str) -> None:
    server = make_sandbox_server(SandboxConfig(custom_fields={"Ratio": "float"}))
    with Rest(server) as rest:
        data = rest.post_raw(
            "leads.json", '{"input": [{"email": "f@x.com", "ratio": ' + value + "}]}"
        )
    assert reason(data["result"][0]) == "1003"


@pytest.mark.parametrize(
    "id_value",
    [pytest.param(True, id="bool"), pytest.param(0, id="zero"), pytest.param("x", id="text")],
)
def test_bad_id_values(rest: Rest, id_value: Any) -> None:
    rest.sync_one({"email": "a@x.com"})
    assert reason(rest.sync_one({"id": id_value}, lookupField="id", action="updateOnly")) == "1003"


def test_id_as_digits_text_is_accepted(rest: Rest) -> None:
    rest.sync_one({"email": "a@x.com"})
    assert rest.sync_one({"id": "1", "title": "T"}, lookupField="id", action="updateOnly") == {
        "id": 1,
        "status": "updated",
    }


@pytest.mark.parametrize("empty", [None, ""], ids=["null", "empty-string"])
def test_null_or_empty_clears_a_field(rest: Rest, empty: str | None) -> None:
    made = rest.sync_one({"email": "c@x.com", "city": "Oslo", "title": "CEO"})
    rest.sync_one({"email": "c@x.com", "city": empty})
    assert rest.lead(made["id"], "city,title") == {"id": made["id"], "title": "CEO"}
    fresh = rest.sync_one({"email": "d@x.com", "city": empty})
    assert rest.lead(fresh["id"], "city") == {"id": fresh["id"]}


# -- partitions -----------------------------------------------------------------------

WS_CONFIG = SandboxConfig(
    workspaces=(
        Workspace("Europe", partitions=("EU", "EU-Archive"), primary="EU"),
        Workspace("US", partitions=("US",), primary="US"),
    ),
    assignment_rules=(AssignmentRule(partition="EU-Archive", email_domain="acme.fr"),),
)


@pytest.fixture
def ws_server(make_sandbox_server: MakeSandboxServer) -> SandboxServer:
    return make_sandbox_server(WS_CONFIG)


@pytest.mark.parametrize(
    ("partition", "email", "expected"),
    [
        pytest.param("US", "n@x.com", "US", id="named"),
        pytest.param("US", "n@acme.fr", "US", id="named-beats-rule"),
        pytest.param(None, "n@acme.fr", "EU-Archive", id="rule"),
        pytest.param(None, "n@x.com", "Default", id="default-primary"),
        # 1013 is Adobe's "Object not found" (lists, campaigns): a partition the API user
        # cannot reach is 1008 "Access denied to partition".
        pytest.param("Nowhere", "n@x.com", "1008", id="unknown"),
    ],
)
def test_new_leads_and_partition_name(
    ws_server: SandboxServer, partition: str | None, email: str, expected: str
) -> None:
    options = {"partitionName": partition} if partition else {}
    with Rest(ws_server) as rest:
        result = rest.sync_one({"email": email}, **options)
    if expected == "1008":
        assert reason(result) == "1008"
        assert result["reasons"][0]["message"] == "Access denied to partition 'Nowhere'"
        assert count(ws_server) == 0
    else:
        assert result["status"] == "created"
        assert row(ws_server, result["id"])[3] == expected


@pytest.mark.parametrize(
    ("lookup", "partition", "expected"),
    [
        # Adobe, "Leads" > Sync Leads: "During an update, the API returns an error if the
        # lead does not exist in the specified partition" (1010: "already exists in a
        # separate lead partition"), matched by Email too; partitionName "works only when
        # action is createOnly or createOrUpdate", and id only with updateOnly.
        pytest.param("externalId", "US", "1010", id="foreign-id-elsewhere"),
        pytest.param("email", "US", "1010", id="email-elsewhere"),
        pytest.param("email", "EU", "updated", id="email-in-partition"),
        pytest.param("externalId", "EU", "updated", id="foreign-id-in-partition"),
        pytest.param("id", None, "updated", id="id-no-partition"),
        pytest.param("id", "EU", "1003", id="id-with-partition"),
    ],
)
def test_existing_leads_and_partition_name(
    ws_server: SandboxServer, lookup: str, partition: str | None, expected: str
) -> None:
    with Rest(ws_server) as rest:
        made = rest.sync_one({"email": "eu@x.com", "externalId": "EU1"}, partitionName="EU")
        record = {"id": made["id"], "email": "eu@x.com", "externalId": "EU1"}
        keep = {"id": "id", "email": "email", "externalId": "externalId"}[lookup]
        options: dict[str, Any] = {"lookupField": lookup}
        if lookup == "id":
            options["action"] = "updateOnly"
        if partition:
            options["partitionName"] = partition
        result = rest.sync_one({keep: record[keep], "city": "Paris"}, **options)
    assert row(ws_server, made["id"])[3] == "EU"  # never moved
    if expected in ("1010", "1003"):
        assert reason(result) == expected
        assert result.get("id") == (made["id"] if expected == "1010" else None)
        assert row(ws_server, made["id"])[4] == "{}"
    else:
        assert result == {"id": made["id"], "status": "updated"}
        assert row(ws_server, made["id"])[4] == '{"City": "Paris"}'


@pytest.mark.parametrize(
    ("partition", "ok"),
    [pytest.param("Default", True, id="default"), pytest.param("US", False, id="other-workspace")],
)
def test_partitions_when_workspaces_are_off(
    make_sandbox_server: MakeSandboxServer, partition: str, ok: bool
) -> None:
    server = make_sandbox_server(dataclasses.replace(WS_CONFIG, workspaces_enabled=False))
    with Rest(server) as rest:
        result = rest.sync_one({"email": "w@x.com"}, partitionName=partition)
    assert (result["status"] == "created") is ok
    if not ok:
        assert reason(result) == "1008"


def test_a_default_workspace_spelt_in_lower_case_keeps_its_partitions(
    make_sandbox_server: MakeSandboxServer,
) -> None:
    # Workspace names match in any case over SOAP; the REST face's filter did not.
    config = SandboxConfig(
        workspaces=(Workspace("default", partitions=("Main",), primary="Main"),),
        workspaces_enabled=False,
    )
    server = make_sandbox_server(config)
    with Rest(server) as rest:
        result = rest.sync_one({"email": "w@x.com"}, partitionName="Main")
    assert result["status"] == "created"


# -- Describe -------------------------------------------------------------------------


def test_describe_omits_rest_for_a_field_rest_cannot_write(rest: Rest) -> None:
    # Adobe, "Leads" > Describe: "The REST child objects appear only when the field is
    # valid for the corresponding API".
    (inferred,) = [f for f in rest.describe() if f["soap"]["name"] == "InferredCompany"]
    assert "rest" not in inferred
    result = rest.sync_one({"email": "i@x.com", "inferredCompany": "Acme"})
    assert reason(result) == "1006"


def test_describe_names_every_field_in_both_apis(make_sandbox_server: MakeSandboxServer) -> None:
    config = SandboxConfig(
        custom_fields={"LoyaltyTier": "string", "VIPLevel": "integer"},
        custom_rest_names={"VIPLevel": "vip_level"},
        rest_foreign_id_field="crmId",
    )
    with Rest(make_sandbox_server(config)) as rest:
        fields = rest.describe()
    by_soap = {f["soap"]["name"]: f for f in fields}
    assert len(fields) == len(by_soap) == 3 + len(STANDARD_FIELDS) + 2
    assert len({f["id"] for f in fields}) == len(fields)
    rest_fields = [f for f in fields if "rest" in f]
    assert len(rest_fields) == len(fields) - 1  # InferredCompany is SOAP-only
    assert len({f["rest"]["name"].lower() for f in rest_fields}) == len(rest_fields)
    for f in fields:
        assert f["dataType"] in ATTR_TYPES
        assert f["displayName"]
    for f in rest_fields:
        assert isinstance(f["rest"]["readOnly"], bool)
    names = {f["soap"]["name"]: f["rest"]["name"] for f in rest_fields}
    assert names["Id"] == "id"
    assert names["Email"] == "email"
    assert names["ForeignSysPersonId"] == "crmId"
    assert names["FirstName"] == "firstName"
    assert names["SICCode"] == "sicCode"
    assert names["LoyaltyTier"] == "loyaltyTier"
    assert names["VIPLevel"] == "vip_level"
    assert by_soap["Id"]["rest"]["readOnly"] is True
    assert by_soap["FirstName"] == {
        "id": by_soap["FirstName"]["id"],
        "displayName": "First Name",
        "dataType": "string",
        "length": 255,
        "rest": {"name": "firstName", "readOnly": False},
        "soap": {"name": "FirstName", "readOnly": False},
    }
    assert "length" not in by_soap["NumberOfEmployees"]
    assert by_soap["VIPLevel"]["dataType"] == "integer"


def test_a_configured_foreign_id_field_is_the_lookup(
    make_sandbox_server: MakeSandboxServer,
) -> None:
    server = make_sandbox_server(SandboxConfig(rest_foreign_id_field="crmId"))
    with Rest(server) as rest:
        made = rest.sync_one({"crmId": "C1"}, lookupField="crmId")
        again = rest.sync_one({"crmId": "C1", "email": "c@x.com"}, lookupField="crmId")
        assert reason(rest.sync_one({"externalId": "C1"})) == "1006"
        lead = rest.lead(made["id"], "crmId,email")
    assert again == {"id": made["id"], "status": "updated"}
    assert lead == {"id": made["id"], "crmId": "C1", "email": "c@x.com"}


# -- Get Lead by Id -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "answered"),
    [
        pytest.param("FirstName", "George", "George", id="string"),
        pytest.param("NumberOfEmployees", "250", 250, id="integer"),
        pytest.param("AnnualRevenue", "1234.50", 1234.5, id="currency"),
        pytest.param("Unsubscribed", "true", True, id="boolean"),
        pytest.param("DoNotCall", "0", False, id="boolean-zero"),
        pytest.param("DateOfBirth", "1980-02-29", "1980-02-29", id="date"),
        pytest.param("LastActivityDate", "2026-01-02T03:04:05Z", "2026-01-02T03:04:05Z", id="dt"),
        pytest.param("Ratio", "0.25", 0.25, id="float"),
        pytest.param("Share", "12.5", 12.5, id="percent"),
        pytest.param("Stars", "4", 4, id="score"),
        # Values that do not fit are refused on both faces now, SOAP included
        # (tests/sandbox/test_sandbox_legacy.py), so none is stored as text.
    ],
)
def test_get_lead_types_values(
    make_sandbox_server: MakeSandboxServer, name: str, value: str, answered: Any
) -> None:
    server = make_sandbox_server(
        SandboxConfig(custom_fields={"Ratio": "float", "Share": "percent", "Stars": "score"})
    )
    with client_for(server) as soap:
        made = soap.sync_lead(LeadRecord(email="t@x.com", attributes={name: value}))
    rest_name = name[0].lower() + name[1:]
    with Rest(server) as rest:
        lead = rest.lead(made.lead_id, f"{rest_name},email,id")
    assert lead == {"id": made.lead_id, rest_name: answered, "email": "t@x.com"}
    assert type(lead[rest_name]) is type(answered)


def test_get_lead_fields(rest: Rest) -> None:
    made = rest.sync_one(
        {"email": "f@x.com", "firstName": "Ada", "lastName": "L", "city": "Rome", "externalId": "F"}
    )
    lead_id = made["id"]
    assert rest.lead(lead_id) == {
        "id": lead_id,
        "email": "f@x.com",
        "firstName": "Ada",
        "lastName": "L",
    }
    assert rest.lead(lead_id, "CITY, shoe,,externalId,title") == {
        "id": lead_id,
        "city": "Rome",
        "externalId": "F",
    }
    assert rest.lead(lead_id + 1) is None
    assert rest.lead(9_999_999_999) is None


# -- Associate Lead -------------------------------------------------------------------


def test_associate_moves_the_cookie_and_soap_sees_it(
    rest: Rest, sandbox_server: SandboxServer
) -> None:
    with client_for(sandbox_server) as soap:
        first = soap.sync_lead(LeadRecord(email="a@x.com"), marketo_cookie="id:AAA&token:1")
        second = rest.sync_one({"email": "b@x.com"})
        answer = rest.associate(second["id"], "id:AAA&token:1")
        assert answer["success"] is True
        assert answer["result"] == []
        assert query(sandbox_server.db_path, "SELECT cookie, lead_id FROM cookies") == [
            ("id:AAA&token:1", second["id"])
        ]
        found = soap.sync_lead(LeadRecord(email="other@x.com"), marketo_cookie="id:AAA&token:1")
    assert found.lead_id == second["id"] != first.lead_id
    assert found.status is SyncStatus.UPDATED


@pytest.mark.parametrize(
    ("lead_id", "params", "code"),
    [
        pytest.param(99, {"cookie": "c"}, "1004", id="unknown-lead"),
        # Adobe 1012 "Invalid cookie value" (Associate Lead).
        pytest.param(1, {}, "1012", id="no-cookie"),
        pytest.param(1, {"cookie": " "}, "1012", id="blank-cookie"),
    ],
)
def test_associate_errors(
    rest: Rest, sandbox_server: SandboxServer, lead_id: int, params: dict[str, str], code: str
) -> None:
    rest.sync_one({"email": "a@x.com"})
    response = rest.http.post(
        f"/rest/v1/leads/{lead_id}/associate.json", params=params, headers=rest.headers()
    )
    assert error_code(response.json()) == code
    assert query(sandbox_server.db_path, "SELECT COUNT(*) FROM cookies") == [(0,)]


# -- one store, two faces -------------------------------------------------------------


def test_a_soap_written_lead_reads_back_through_rest(
    rest: Rest, sandbox_server: SandboxServer
) -> None:
    with client_for(sandbox_server) as soap:
        made = soap.sync_lead(
            LeadRecord(
                email="soap@x.com",
                foreign_sys_person_id="S-1",
                foreign_sys_type=CUSTOM,
                attributes={"FirstName": "Ada", "LeadScore": "7", "DoNotCall": "true"},
            )
        )
    lead = rest.lead(made.lead_id, "email,externalId,firstName,leadScore,doNotCall")
    assert lead == {
        "id": made.lead_id,
        "email": "soap@x.com",
        "externalId": "S-1",
        "firstName": "Ada",
        "leadScore": 7,
        "doNotCall": True,
    }
    again = rest.sync_one({"externalId": "S-1", "city": "Rome"}, lookupField="externalId")
    assert again == {"id": made.lead_id, "status": "updated"}


def test_a_rest_written_lead_syncs_through_soap(rest: Rest, sandbox_server: SandboxServer) -> None:
    made = rest.sync_one(
        {"email": "rest@x.com", "externalId": "R-1", "firstName": "Bo", "numberOfEmployees": 12}
    )
    with client_for(sandbox_server) as soap:
        res = soap.sync_lead(
            LeadRecord(foreign_sys_person_id="R-1", foreign_sys_type=CUSTOM), return_lead=True
        )
    assert (res.status, res.lead_id) == (SyncStatus.UPDATED, made["id"])
    assert res.lead is not None
    assert (res.lead.email, res.lead.foreign_sys_person_id) == ("rest@x.com", "R-1")
    assert res.lead.foreign_sys_type is ForeignSysType.CUSTOM
    assert dict(res.lead.attributes) == {"FirstName": "Bo", "NumberOfEmployees": "12"}
    assert res.lead.attributes.typed("NumberOfEmployees") == 12
