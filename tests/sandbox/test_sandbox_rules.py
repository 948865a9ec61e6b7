"""SPEC §3 matching rules, against the live sandbox over a loopback socket."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import MakeSandboxServer, SandboxServer, client_for, query

from mktows import (
    Client,
    FaultError,
    ForeignSysType,
    LeadNotFoundError,
    LeadRecord,
    SyncStatus,
    UnknownAttributeError,
)
from mktows.sandbox import AssignmentRule, SandboxConfig, Workspace

CUSTOM = ForeignSysType.CUSTOM


@pytest.fixture
def client(sandbox_server: SandboxServer) -> Iterator[Client]:
    with client_for(sandbox_server) as c:
        yield c


def lead_row(server: SandboxServer, lead_id: int) -> tuple[str | None, str | None, str]:
    rows = query(server.db_path, "SELECT email, fsp_id, partition FROM leads WHERE id = ?", lead_id)
    assert len(rows) == 1
    email, fsp_id, partition = rows[0]
    return email, fsp_id, partition


def test_create_then_update_by_email(client: Client, sandbox_server: SandboxServer) -> None:
    first = client.sync_lead(LeadRecord(email="g@jungle.com", attributes={"FirstName": "George"}))
    again = client.sync_lead(LeadRecord(email="G@Jungle.com", attributes={"LastName": "J"}))
    assert first.status is SyncStatus.CREATED
    assert again.status is SyncStatus.UPDATED
    assert again.lead_id == first.lead_id
    assert query(sandbox_server.db_path, "SELECT COUNT(*) FROM leads") == [(1,)]


def test_id_wins_and_updates_foreign_id_and_email(
    client: Client, sandbox_server: SandboxServer
) -> None:
    a = client.sync_lead(
        LeadRecord(email="a@x.com", foreign_sys_person_id="A1", foreign_sys_type=CUSTOM)
    )
    b = client.sync_lead(
        LeadRecord(email="b@x.com", foreign_sys_person_id="B1", foreign_sys_type=CUSTOM)
    )
    res = client.sync_lead(
        LeadRecord(
            id=a.lead_id, email="b@x.com", foreign_sys_person_id="A2", foreign_sys_type="SFDC"
        ),
        return_lead=True,
    )
    assert (res.status, res.lead_id) == (SyncStatus.UPDATED, a.lead_id)
    assert res.lead is not None
    assert (res.lead.email, res.lead.foreign_sys_person_id) == ("b@x.com", "A2")
    assert res.lead.foreign_sys_type is ForeignSysType.SFDC
    assert lead_row(sandbox_server, b.lead_id)[:2] == ("b@x.com", "B1")


def test_id_with_a_foreign_id_of_another_lead_fails(
    client: Client, sandbox_server: SandboxServer
) -> None:
    a = client.sync_lead(LeadRecord(foreign_sys_person_id="A1", foreign_sys_type=CUSTOM))
    client.sync_lead(LeadRecord(foreign_sys_person_id="B1", foreign_sys_type=CUSTOM))
    res = client.sync_lead(
        LeadRecord(id=a.lead_id, foreign_sys_person_id="B1", foreign_sys_type=CUSTOM)
    )
    assert res.status is SyncStatus.FAILED
    assert res.error is not None
    assert "B1" in res.error
    assert lead_row(sandbox_server, a.lead_id)[1] == "A1"


def test_foreign_id_updates_email(client: Client, sandbox_server: SandboxServer) -> None:
    a = client.sync_lead(
        LeadRecord(email="old@x.com", foreign_sys_person_id="F1", foreign_sys_type=CUSTOM)
    )
    res = client.sync_lead(
        LeadRecord(email="new@x.com", foreign_sys_person_id="F1", foreign_sys_type=CUSTOM)
    )
    assert (res.status, res.lead_id) == (SyncStatus.UPDATED, a.lead_id)
    assert lead_row(sandbox_server, a.lead_id)[0] == "new@x.com"


def test_unmatched_foreign_id_creates_even_when_email_exists(client: Client) -> None:
    a = client.sync_lead(LeadRecord(email="same@x.com"))
    res = client.sync_lead(
        LeadRecord(email="same@x.com", foreign_sys_person_id="F9", foreign_sys_type=CUSTOM)
    )
    assert res.status is SyncStatus.CREATED
    assert res.lead_id != a.lead_id


def test_anonymous_cookie_lead_becomes_known(client: Client, sandbox_server: SandboxServer) -> None:
    anon = client.sync_lead(
        LeadRecord(foreign_sys_person_id="V1", foreign_sys_type=CUSTOM),
        marketo_cookie="id:AAA&token:1",
    )
    assert lead_row(sandbox_server, anon.lead_id)[0] is None
    res = client.sync_lead(LeadRecord(email="known@x.com"), marketo_cookie="id:AAA&token:1")
    assert (res.status, res.lead_id) == (SyncStatus.UPDATED, anon.lead_id)
    assert lead_row(sandbox_server, anon.lead_id)[0] == "known@x.com"


def test_cookie_beats_email(client: Client) -> None:
    by_email = client.sync_lead(LeadRecord(email="e@x.com"))
    cookie_lead = client.sync_lead(LeadRecord(email="c@x.com"), marketo_cookie="ck-1")
    res = client.sync_lead(LeadRecord(email="e@x.com"), marketo_cookie="ck-1")
    assert res.lead_id == cookie_lead.lead_id != by_email.lead_id


def test_unmatched_cookie_is_associated_with_the_synced_lead(
    client: Client, sandbox_server: SandboxServer
) -> None:
    known = client.sync_lead(LeadRecord(email="k@x.com"))
    res = client.sync_lead(LeadRecord(email="k@x.com"), marketo_cookie="ck-new")
    assert res.lead_id == known.lead_id
    assert query(sandbox_server.db_path, "SELECT lead_id FROM cookies WHERE cookie = 'ck-new'") == [
        (known.lead_id,)
    ]
    other = client.sync_lead(LeadRecord(email="other@x.com"), marketo_cookie="ck-new")
    assert other.lead_id == known.lead_id  # found by the cookie now


def test_cookie_moves_to_the_lead_matched_by_id(
    client: Client, sandbox_server: SandboxServer
) -> None:
    a = client.sync_lead(LeadRecord(email="a@x.com"), marketo_cookie="ck-move")
    b = client.sync_lead(LeadRecord(email="b@x.com"))
    res = client.sync_lead(LeadRecord(id=b.lead_id), marketo_cookie="ck-move")
    assert res.lead_id == b.lead_id != a.lead_id
    rows = query(sandbox_server.db_path, "SELECT lead_id FROM cookies WHERE cookie = 'ck-move'")
    assert rows == [(b.lead_id,)]


def test_email_duplicates_update_the_most_recently_updated(client: Client) -> None:
    one = client.sync_lead(
        LeadRecord(email="dup@x.com", foreign_sys_person_id="D1", foreign_sys_type=CUSTOM)
    )
    two = client.sync_lead(
        LeadRecord(email="dup@x.com", foreign_sys_person_id="D2", foreign_sys_type=CUSTOM)
    )
    assert client.sync_lead(LeadRecord(email="dup@x.com")).lead_id == two.lead_id
    client.sync_lead(
        LeadRecord(foreign_sys_person_id="D1", foreign_sys_type=CUSTOM, attributes={"City": "Rome"})
    )
    assert client.sync_lead(LeadRecord(email="dup@x.com")).lead_id == one.lead_id


def test_unknown_id_is_lead_not_found(client: Client, sandbox_server: SandboxServer) -> None:
    with pytest.raises(LeadNotFoundError) as info:
        client.sync_lead(LeadRecord(id=424242, email="x@x.com"))
    assert info.value.code == 20103
    assert query(sandbox_server.db_path, "SELECT COUNT(*) FROM leads") == [(0,)]


def test_unknown_attribute_is_20105_and_stores_nothing(
    client: Client, sandbox_server: SandboxServer
) -> None:
    with pytest.raises(UnknownAttributeError) as info:
        client.sync_lead(
            LeadRecord(email="x@x.com", attributes={"FirstName": "a", "Shoe'; DROP": "1"})
        )
    assert info.value.code == 20105
    assert query(sandbox_server.db_path, "SELECT COUNT(*) FROM leads") == [(0,)]


@pytest.mark.parametrize(
    ("name", "value", "attr_type"),
    [
        pytest.param("FirstName", "George", "string", id="string"),
        pytest.param("NumberOfEmployees", "250", "integer", id="integer"),
        pytest.param("AnnualRevenue", "1234.50", "currency", id="currency"),
        pytest.param("Unsubscribed", "true", "boolean", id="boolean"),
        pytest.param("DateOfBirth", "1980-02-29", "date", id="date"),
        pytest.param("LeadScore", "42", "integer", id="score"),
        pytest.param("Website", "https://jungle.com", "url", id="url"),
        pytest.param("Phone", "+1 555 0100", "phone", id="phone"),
        pytest.param("LoyaltyTier", "gold", "string", id="custom-string"),
        pytest.param("Visits", "7", "integer", id="custom-integer"),
    ],
)
def test_return_lead_answers_attr_type_from_the_catalog(
    make_sandbox_server: MakeSandboxServer, name: str, value: str, attr_type: str
) -> None:
    server = make_sandbox_server(
        SandboxConfig(custom_fields={"LoyaltyTier": "string", "Visits": "integer"})
    )
    with client_for(server) as c:
        res = c.sync_lead(
            LeadRecord(email="t@x.com", attributes={name.lower(): value}), return_lead=True
        )
    assert res.lead is not None
    attr = res.lead.attributes.attribute(name)  # answered under the catalog's spelling
    assert (attr.value, attr.type) == (value, attr_type)
    assert res.lead.id == res.lead_id


def test_return_lead_false_answers_no_record_and_empty_value_clears(client: Client) -> None:
    created = client.sync_lead(
        LeadRecord(email="c@x.com", attributes={"City": "Oslo", "Title": "CEO"})
    )
    assert created.lead is None
    res = client.sync_lead(LeadRecord(email="c@x.com", attributes={"City": ""}), return_lead=True)
    assert res.lead is not None
    assert dict(res.lead.attributes) == {"Title": "CEO"}


# -- workspaces and partitions -------------------------------------------------------

WS_CONFIG = SandboxConfig(
    workspaces=(
        Workspace("Europe", partitions=("EU", "EU-Archive"), primary="EU"),
        Workspace("US", partitions=("US",), primary="US"),
    ),
    assignment_rules=(
        AssignmentRule(partition="EU-Archive", email_domain="acme.fr"),
        AssignmentRule(partition="EU", field="Country", equals="germany"),
    ),
)


@pytest.fixture
def ws_server(make_sandbox_server: MakeSandboxServer) -> SandboxServer:
    return make_sandbox_server(WS_CONFIG)


@pytest.mark.parametrize(
    ("workspace", "lead", "partition"),
    [
        pytest.param("Europe", LeadRecord(email="n@x.com"), "EU", id="header-primary"),
        pytest.param("US", LeadRecord(email="n@x.com"), "US", id="header-other-primary"),
        pytest.param(
            "US", LeadRecord(email="n@sub.acme.fr"), "EU-Archive", id="header-rule-domain"
        ),
        pytest.param(None, LeadRecord(email="n@x.com"), "Default", id="no-header-default"),
        pytest.param(
            None,
            LeadRecord(email="n@x.com", attributes={"Country": "Germany"}),
            "EU",
            id="no-header-rule-field",
        ),
        pytest.param("Default", LeadRecord(email="n@acme.fr"), "EU-Archive", id="default-rule"),
        pytest.param(
            "US",
            LeadRecord(foreign_sys_person_id="N1", foreign_sys_type=CUSTOM),
            "US",
            id="no-email-no-rule",
        ),
    ],
)
def test_new_leads_go_to_rule_or_primary_partition(
    ws_server: SandboxServer, workspace: str | None, lead: LeadRecord, partition: str
) -> None:
    with client_for(ws_server) as c:
        res = c.sync_lead(lead, workspace=workspace)
    assert res.status is SyncStatus.CREATED
    assert lead_row(ws_server, res.lead_id)[2] == partition


@pytest.mark.parametrize(
    "field", [pytest.param("industry", id="lower"), pytest.param("INDUSTRY", id="upper")]
)
def test_a_rule_field_in_any_case_places_new_leads(
    make_sandbox_server: MakeSandboxServer, field: str
) -> None:
    config = SandboxConfig.from_dict(
        {
            "workspaces": [{"name": "Shops", "partitions": ["Retail"]}],
            "assignment_rules": [{"partition": "Retail", "field": field, "equals": "retail"}],
        }
    )
    server = make_sandbox_server(config)
    with client_for(server) as c:
        shop = c.sync_lead(LeadRecord(email="s@x.com", attributes={"Industry": "Retail"}))
        other = c.sync_lead(LeadRecord(email="o@x.com", attributes={"industry": "Banking"}))
    assert lead_row(server, shop.lead_id)[2] == "Retail"
    assert lead_row(server, other.lead_id)[2] == "Default"


@pytest.mark.parametrize(
    ("key", "workspace", "status"),
    [
        pytest.param("id", "US", SyncStatus.FAILED, id="id-outside-primary"),
        pytest.param("fsp", "US", SyncStatus.FAILED, id="foreign-id-outside-primary"),
        pytest.param("cookie", "US", SyncStatus.FAILED, id="cookie-outside-primary"),
        pytest.param("email", "US", SyncStatus.UPDATED, id="email-ignores-workspace"),
        pytest.param("id", "Europe", SyncStatus.UPDATED, id="id-in-primary"),
        pytest.param("id", None, SyncStatus.UPDATED, id="id-no-header"),
        pytest.param("cookie", None, SyncStatus.UPDATED, id="cookie-no-header"),
    ],
)
def test_existing_leads_and_the_named_workspace(
    ws_server: SandboxServer, key: str, workspace: str | None, status: SyncStatus
) -> None:
    with client_for(ws_server) as c:
        made = c.sync_lead(
            LeadRecord(email="eu@x.com", foreign_sys_person_id="EU1", foreign_sys_type=CUSTOM),
            workspace="Europe",
            marketo_cookie="ck-eu",
        )
        lead = {
            "id": LeadRecord(id=made.lead_id, attributes={"City": "Paris"}),
            "fsp": LeadRecord(
                foreign_sys_person_id="EU1", foreign_sys_type=CUSTOM, attributes={"City": "Paris"}
            ),
            "cookie": LeadRecord(email="eu@x.com", attributes={"City": "Paris"}),
            "email": LeadRecord(email="eu@x.com", attributes={"City": "Paris"}),
        }[key]
        res = c.sync_lead(
            lead,
            workspace=workspace,
            marketo_cookie="ck-eu" if key == "cookie" else None,
            return_lead=True,
        )
    assert (res.status, res.lead_id) == (status, made.lead_id)
    city = query(ws_server.db_path, "SELECT json_extract(attrs, '$.City') FROM leads")
    assert lead_row(ws_server, made.lead_id)[2] == "EU"  # never moved
    if status is SyncStatus.FAILED:
        assert res.error is not None
        assert "primary partition 'US'" in res.error
        assert res.lead is None
        assert city == [(None,)]  # nothing written
    else:
        assert city == [("Paris",)]


@pytest.mark.parametrize(
    ("enabled", "workspace", "ok"),
    [
        pytest.param(True, "Nowhere", False, id="enabled-unknown"),
        pytest.param(True, "US", True, id="enabled-known"),
        pytest.param(False, "Default", True, id="disabled-default"),
        pytest.param(False, None, True, id="disabled-no-header"),
        pytest.param(False, "US", False, id="disabled-other"),
    ],
)
def test_workspace_names(
    make_sandbox_server: MakeSandboxServer, enabled: bool, workspace: str | None, ok: bool
) -> None:
    import dataclasses

    server = make_sandbox_server(dataclasses.replace(WS_CONFIG, workspaces_enabled=enabled))
    with client_for(server) as c:
        if ok:
            assert (
                c.sync_lead(LeadRecord(email="w@x.com"), workspace=workspace).status
                is SyncStatus.CREATED
            )
        else:
            with pytest.raises(FaultError) as info:
                c.sync_lead(LeadRecord(email="w@x.com"), workspace=workspace)
            assert info.value.code == 20110
