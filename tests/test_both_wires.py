"""One table of syncLead behaviours, run over SOAP and over REST against the sandbox.

Each row is a scenario: it syncs through the wire under test and states the
outcome (status, lead ids, the error class and its SOAP code, what the store
holds). The same expectations hold on both wires; the few places where the
wires differ by design are spelled out per wire and explained in the README's
migration guide.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from conftest import MakeSandboxServer, SandboxServer
from support import NO_RETRY

import mktows
from mktows import (
    Client,
    LeadRecord,
    RestClient,
    SyncLeadResult,
    SyncStatus,
)
from mktows.sandbox import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    AssignmentRule,
    SandboxConfig,
    Workspace,
)

WORKSPACES = (
    Workspace("Default"),
    Workspace("Europe", partitions=("EU", "EU-Archive"), primary="EU"),
)
PARTITIONS = {"Default": "Default", "Europe": "EU"}


@dataclass
class Wire:
    """A client of one wire against one sandbox, and a way to look at its store."""

    name: str
    client: Client | RestClient
    server: SandboxServer

    def sync(self, lead: LeadRecord, **kw: Any) -> SyncLeadResult:
        return self.client.sync_lead(lead, **kw)

    def rows(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.server.db_path) as conn:
            return conn.execute(sql, args).fetchall()

    def lead(self, lead_id: int) -> tuple[Any, ...]:
        (row,) = self.rows("SELECT email, fsp_id, partition FROM leads WHERE id = ?", lead_id)
        return row


Connect = Callable[..., Wire]


@pytest.fixture(params=["soap", "rest"])
def connect(
    request: pytest.FixtureRequest, make_sandbox_server: MakeSandboxServer
) -> Iterator[Connect]:
    """``connect(config=None, *, wrong_secret=False)``: a client of the wire under test."""
    opened: list[Client | RestClient] = []

    def factory(config: SandboxConfig | None = None, *, wrong_secret: bool = False) -> Wire:
        config = config or SandboxConfig(
            workspaces=WORKSPACES,
            assignment_rules=(AssignmentRule("EU-Archive", email_domain="archive.example"),),
        )
        server = make_sandbox_server(config)
        client: Client | RestClient
        if request.param == "soap":
            key = server.encryption_key + ("-wrong" if wrong_secret else "")
            client = Client(server.url, server.user_id, key, retry=NO_RETRY)
        else:
            secret = DEFAULT_CLIENT_SECRET + ("-wrong" if wrong_secret else "")
            client = RestClient(
                server.rest_url,
                server.identity_url,
                DEFAULT_CLIENT_ID,
                secret,
                foreign_id_field="externalId",
                partitions=PARTITIONS,
                retry=NO_RETRY,
            )
        opened.append(client)
        return Wire(request.param, client, server)

    yield factory
    for client in opened:
        client.close()


# -- keys and precedence ---------------------------------------------------------------


def test_new_email_is_created_then_updated(connect: Connect) -> None:
    wire = connect()
    first = wire.sync(LeadRecord(email="george@jungle.com", attributes={"FirstName": "George"}))
    again = wire.sync(LeadRecord(email="george@jungle.com", attributes={"LastName": "Jungle"}))
    assert (first.status, again.status) == (SyncStatus.CREATED, SyncStatus.UPDATED)
    assert first.lead_id == again.lead_id > 0
    assert wire.rows("SELECT COUNT(*) FROM leads") == [(1,)]


def test_id_wins_and_sets_the_foreign_id(connect: Connect) -> None:
    wire = connect()
    created = wire.sync(LeadRecord(email="id@example.com"))
    lead = LeadRecord(id=created.lead_id, foreign_sys_person_id="EXT-1", foreign_sys_type="CUSTOM")
    updated = wire.sync(lead)
    assert (updated.status, updated.lead_id) == (SyncStatus.UPDATED, created.lead_id)
    assert wire.lead(created.lead_id)[:2] == ("id@example.com", "EXT-1")


def test_an_unknown_id_is_lead_not_found(connect: Connect) -> None:
    wire = connect()
    with pytest.raises(mktows.LeadNotFoundError) as info:
        wire.sync(LeadRecord(id=424242, email="nobody@example.com"))
    assert info.value.code == 20103
    assert wire.rows("SELECT COUNT(*) FROM leads") == [(0,)]


def test_foreign_id_is_the_key_and_updates_the_email(connect: Connect) -> None:
    wire = connect()
    first = wire.sync(
        LeadRecord(foreign_sys_person_id="EXT-2", foreign_sys_type="CUSTOM", email="old@x.com")
    )
    second = wire.sync(
        LeadRecord(foreign_sys_person_id="EXT-2", foreign_sys_type="CUSTOM", email="new@x.com")
    )
    assert (first.status, second.status) == (SyncStatus.CREATED, SyncStatus.UPDATED)
    assert second.lead_id == first.lead_id
    assert wire.lead(first.lead_id)[:2] == ("new@x.com", "EXT-2")


def test_email_is_not_unique_and_duplicates_differ_by_wire(connect: Connect) -> None:
    """SOAP updates the most recently updated duplicate. REST skips the record with 1007
    "Multiple leads match the lookup criteria" (Adobe, "Error Codes"): a FAILED result,
    nothing written."""
    wire = connect()
    older = wire.sync(
        LeadRecord(foreign_sys_person_id="A", foreign_sys_type="CUSTOM", email="dup@x.com")
    )
    newer = wire.sync(
        LeadRecord(foreign_sys_person_id="B", foreign_sys_type="CUSTOM", email="dup@x.com")
    )
    assert older.lead_id != newer.lead_id
    touched = wire.sync(LeadRecord(foreign_sys_person_id="A", foreign_sys_type="CUSTOM"))
    assert touched.lead_id == older.lead_id
    by_email = wire.sync(LeadRecord(email="dup@x.com", attributes={"Title": "Chief"}))
    if wire.name == "soap":
        assert (by_email.status, by_email.lead_id) == (SyncStatus.UPDATED, older.lead_id)
    else:
        assert (by_email.status, by_email.lead_id) == (SyncStatus.FAILED, 0)
        assert by_email.error == "1007: Multiple leads match the lookup criteria"
        assert all("Chief" not in attrs for (attrs,) in wire.rows("SELECT attrs FROM leads"))


def test_the_cookie_is_associated_with_the_synced_lead(connect: Connect) -> None:
    wire = connect()
    result = wire.sync(LeadRecord(email="cookie@x.com"), marketo_cookie="id:561-HYG-937&token:_mch")
    assert result.status is SyncStatus.CREATED
    assert wire.rows("SELECT cookie, lead_id FROM cookies") == [
        ("id:561-HYG-937&token:_mch", result.lead_id)
    ]


# -- returnLead -------------------------------------------------------------------------


def test_return_lead_gives_the_full_typed_record(connect: Connect) -> None:
    wire = connect()
    attributes: dict[str, Any] = {
        "FirstName": "Ann",
        "NumberOfEmployees": 42,
        "Unsubscribed": False,
        "AnnualRevenue": Decimal("1234.5"),
    }
    result = wire.sync(LeadRecord(email="typed@x.com", attributes=attributes), return_lead=True)
    assert result.lead is not None
    assert (result.lead.id, result.lead.email) == (result.lead_id, "typed@x.com")
    got = result.lead.attributes
    assert got.typed("FirstName") == "Ann"
    assert got.typed("NumberOfEmployees") == 42
    assert got.typed("Unsubscribed") is False
    assert got.typed("AnnualRevenue") == Decimal("1234.5")
    assert {name: got.attribute(name).type for name in attributes} == {
        "FirstName": "string",
        "NumberOfEmployees": "integer",
        "Unsubscribed": "boolean",
        "AnnualRevenue": "currency",
    }
    plain = wire.sync(LeadRecord(email="typed@x.com"))
    assert plain.lead is None


# -- workspaces and partitions ----------------------------------------------------------


def test_a_new_lead_goes_to_the_named_workspaces_primary_partition(connect: Connect) -> None:
    wire = connect()
    result = wire.sync(LeadRecord(email="eu@x.com"), workspace="Europe")
    assert result.status is SyncStatus.CREATED
    assert wire.lead(result.lead_id)[2] == "EU"


def test_an_assignment_rule_picks_a_new_leads_partition(connect: Connect) -> None:
    """SOAP: the first matching assignment rule wins over the named workspace. REST: a
    partitionName is explicit, so the lead goes where the workspace maps; without one,
    the rules apply on both wires."""
    wire = connect()
    named = wire.sync(LeadRecord(email="x@archive.example"), workspace="Europe")
    expected = {"soap": "EU-Archive", "rest": "EU"}[wire.name]
    assert wire.lead(named.lead_id)[2] == expected
    unnamed = wire.sync(LeadRecord(email="y@archive.example"))
    assert wire.lead(unnamed.lead_id)[2] == "EU-Archive"


def test_a_lead_outside_the_primary_partition_is_not_updated(connect: Connect) -> None:
    """Keyed by ForeignSysPersonId, on both wires. REST: 1010 "Partition update not
    allowed" (Adobe, "Leads" > Sync Leads: "the API returns an error if the lead does not
    exist in the specified partition")."""
    wire = connect()
    key = {"foreign_sys_person_id": "P-1", "foreign_sys_type": "CUSTOM"}
    home = wire.sync(LeadRecord(email="home@x.com", attributes={"Title": "Before"}, **key))
    result = wire.sync(LeadRecord(attributes={"Title": "After"}, **key), workspace="Europe")
    assert (result.status, result.lead_id) == (SyncStatus.FAILED, home.lead_id)
    assert result.error is not None
    assert "partition" in result.error.lower()
    if wire.name == "rest":
        assert result.error == "1010: Partition update not allowed"
    assert "Before" in wire.rows("SELECT attrs FROM leads")[0][0]


def test_an_id_keyed_lead_and_the_workspace(connect: Connect) -> None:
    """SOAP: an Id outside the workspace's primary partition is FAILED. REST: an Id goes
    as updateOnly with lookupField id and no partitionName (Adobe: id "only with the
    updateOnly action"; partitionName "works only when action is createOnly or
    createOrUpdate"), so the lead is updated where it is."""
    wire = connect()
    home = wire.sync(LeadRecord(email="home@x.com", attributes={"Title": "Before"}))
    result = wire.sync(
        LeadRecord(id=home.lead_id, attributes={"Title": "After"}), workspace="Europe"
    )
    if wire.name == "soap":
        assert result.status is SyncStatus.FAILED
        assert result.error is not None
        assert "partition" in result.error
        assert "Before" in wire.rows("SELECT attrs FROM leads")[0][0]
    else:
        assert (result.status, result.lead_id) == (SyncStatus.UPDATED, home.lead_id)
        assert "After" in wire.rows("SELECT attrs FROM leads")[0][0]
    assert wire.lead(home.lead_id)[2] == "Default"


def test_a_lead_matched_by_email_and_the_workspace(connect: Connect) -> None:
    """SOAP: a lead matched by Email is updated in whatever partition it is. REST: the
    named partition must hold it: 1010."""
    wire = connect()
    home = wire.sync(LeadRecord(email="stay@x.com"))
    result = wire.sync(LeadRecord(email="stay@x.com"), workspace="Europe")
    expected = {"soap": SyncStatus.UPDATED, "rest": SyncStatus.FAILED}[wire.name]
    assert (result.status, result.lead_id) == (expected, home.lead_id)
    assert wire.lead(home.lead_id)[2] == "Default"


def test_an_unknown_workspace_is_refused_and_nothing_is_stored(connect: Connect) -> None:
    """SOAP: the service answers 20110. REST: the workspace has no partition mapping,
    so the client refuses it before sending (a ValidationError naming it)."""
    wire = connect()
    expected = {"soap": mktows.FaultError, "rest": mktows.ValidationError}[wire.name]
    with pytest.raises(expected) as info:
        wire.sync(LeadRecord(email="lost@x.com"), workspace="Atlantis")
    assert "Atlantis" in str(info.value)
    if wire.name == "soap":
        assert info.value.code == 20110  # type: ignore[attr-defined]
    assert wire.rows("SELECT COUNT(*) FROM leads") == [(0,)]


# -- every error class -------------------------------------------------------------------


def test_an_unknown_attribute_is_20105(connect: Connect) -> None:
    wire = connect()
    with pytest.raises(mktows.UnknownAttributeError) as info:
        wire.sync(LeadRecord(email="a@x.com", attributes={"NoSuchField": "x"}))
    assert info.value.code == 20105
    assert not info.value.retryable
    assert wire.rows("SELECT COUNT(*) FROM leads") == [(0,)]


def test_wrong_credentials_are_20014(connect: Connect) -> None:
    wire = connect(wrong_secret=True)
    with pytest.raises(mktows.AuthenticationError) as info:
        wire.sync(LeadRecord(email="a@x.com"))
    assert info.value.code == 20014
    assert not info.value.retryable


def test_a_lead_without_a_key_is_refused_before_sending(connect: Connect) -> None:
    wire = connect()
    with pytest.raises(mktows.ValidationError) as info:
        wire.sync(LeadRecord(attributes={"FirstName": "Nobody"}))
    assert info.value.field == "leadRecord"


@pytest.mark.parametrize(
    ("limits", "error", "code", "retryable"),
    [
        pytest.param({"rate_limit_calls": 3, "rate_limit_window": 60.0}, mktows.RateLimitError,
                     20023, True, id="rate"),
        pytest.param({"daily_quota": 3}, mktows.QuotaExceededError, 20015, False, id="quota"),
    ],
)  # fmt: skip
def test_the_service_limits(
    connect: Connect, limits: dict[str, Any], error: type[mktows.FaultError], code: int,
    retryable: bool,
) -> None:  # fmt: skip
    """Both wires count against the same limiter (REST also counts describe)."""
    defaults = {"rate_limit_calls": 0, "concurrency_limit": 0, "daily_quota": 0}
    wire = connect(SandboxConfig(**{**defaults, **limits}))

    def sync_five() -> None:
        for n in range(5):
            wire.sync(LeadRecord(email=f"limit{n}@x.com"))

    with pytest.raises(error) as info:
        sync_five()
    assert info.value.code == code
    assert info.value.retryable is retryable
    assert wire.rows("SELECT COUNT(*) FROM leads")[0][0] < 5


def test_what_one_wire_writes_the_other_reads(make_sandbox_server: MakeSandboxServer) -> None:
    server = make_sandbox_server()
    with (
        Client(server.url, server.user_id, server.encryption_key) as soap,
        RestClient(
            server.rest_url, server.identity_url, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
        ) as rest,
    ):
        written = soap.sync_lead(
            LeadRecord(email="both@x.com", attributes={"FirstName": "Soap", "LeadScore": 7})
        )
        read = rest.sync_lead(LeadRecord(id=written.lead_id), return_lead=True)
        assert (read.status, read.lead_id) == (SyncStatus.UPDATED, written.lead_id)
        assert read.lead is not None
        assert read.lead.attributes.typed("LeadScore") == 7
        rest.sync_lead(LeadRecord(email="both@x.com", attributes={"FirstName": "Rest"}))
        back = soap.sync_lead(LeadRecord(id=written.lead_id), return_lead=True)
        assert back.lead is not None
        assert back.lead.attributes["FirstName"] == "Rest"


@pytest.mark.parametrize(
    "client_clock",
    [
        pytest.param("real", id="renewed-before-expiry"),
        pytest.param("frozen", id="renewed-on-602"),
    ],
)
def test_token_expiry_mid_run_fails_no_call(
    make_sandbox_server: MakeSandboxServer, caplog: pytest.LogCaptureFixture, client_clock: str
) -> None:
    """Tokens live 0.2 s; 25 calls over ~1 s all succeed. A client whose clock stands still
    never renews ahead of time, so it meets 602 and must renew then."""
    caplog.set_level(logging.DEBUG)
    server = make_sandbox_server(SandboxConfig(token_lifetime=0.2, rate_limit_calls=0))
    frozen = dt.datetime(2026, 11, 28, tzinfo=dt.timezone.utc)
    clock = (
        (lambda: frozen) if client_clock == "frozen" else (lambda: dt.datetime.now(dt.timezone.utc))
    )
    statuses = []
    with RestClient(
        server.rest_url, server.identity_url, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET,
        retry=NO_RETRY, clock=clock,
    ) as client:  # fmt: skip
        for n in range(25):
            statuses.append(client.sync_lead(LeadRecord(email=f"t{n % 5}@x.com")).status)
            time.sleep(0.04)
    assert set(statuses) == {SyncStatus.CREATED, SyncStatus.UPDATED}
    assert statuses.count(SyncStatus.CREATED) == 5
    logged = "\n".join(r.getMessage() for r in caplog.get_records("call"))
    assert logged.count("POST /identity/oauth/token") >= 3, "the token was never renewed"
    assert DEFAULT_CLIENT_SECRET not in logged
