"""The sandbox's REST face on points where Adobe's pages say how Marketo behaves: REST's
daily quota and when it resets, the same token until it expires, Get Leads by Filter
Type, and percent values as integers."""

from __future__ import annotations

import datetime as dt

import pytest
from support import MakeSandboxServer, SandboxServer

from mktows.sandbox import SandboxConfig
from mktows.sandbox._rest import REST_DAILY_QUOTA, DailyQuota, RestError

from ._rest_util import T0, FakeClock, Rest, error_code

CENTRAL_MIDNIGHT = dt.datetime(2026, 3, 15, 5, 0, tzinfo=dt.timezone.utc)  # CDT is UTC-5


def test_rest_quota_is_50000_and_resets_at_midnight_us_central() -> None:
    # Adobe, "Error Codes", 607: "resets daily at 12:00AM CST"; SPEC §7: 50,000 by default.
    assert REST_DAILY_QUOTA == 50_000
    quota = DailyQuota(2)
    before = CENTRAL_MIDNIGHT - dt.timedelta(seconds=1)
    quota.admit("c", before - dt.timedelta(hours=6))  # 18:00 Central: same day
    quota.admit("c", before)
    with pytest.raises(RestError) as info:
        quota.admit("c", before)
    assert info.value.code == 607
    quota.admit("c", CENTRAL_MIDNIGHT)  # a new Central day, though UTC's began at 00:00Z
    quota.admit("other", before)  # per API user


def test_the_sandbox_counts_rest_calls_against_rests_own_quota(
    make_sandbox_server: MakeSandboxServer,
) -> None:
    server = make_sandbox_server(SandboxConfig())  # SOAP's default 10,000: REST gets 50,000
    assert server.app.rest.quota.limit == 50_000


def test_identity_returns_the_same_token_until_it_expires(
    make_sandbox_server: MakeSandboxServer,
) -> None:
    # Adobe, "Authentication": "If you call the Identity endpoint before the token
    # expires, the response returns the same token and its remaining lifespan."
    clock = FakeClock(T0)
    server = make_sandbox_server(SandboxConfig(token_lifetime=3600), clock=clock)
    with Rest(server) as rest:
        first = rest.login()
        clock.advance(3000)
        answer = rest.http.post(
            "/identity/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": rest.client_id,
                "client_secret": rest.secret,
            },
        ).json()
        assert (answer["access_token"], answer["expires_in"]) == (first, 600)
        clock.advance(600)
        assert error_code(rest.get("leads/describe.json")) == "602"
        assert rest.login() != first


def test_get_leads_by_filter_type(sandbox_server: SandboxServer) -> None:
    with Rest(sandbox_server) as rest:
        ids = [rest.sync_one({"email": f"g{n}@x.com", "city": f"C{n}"})["id"] for n in range(3)]
        data = rest.get(
            "leads.json", filterType="id", filterValues=f"{ids[2]},{ids[0]},999", fields="city"
        )
        assert data["result"] == [{"id": ids[2], "city": "C2"}, {"id": ids[0], "city": "C0"}]
        by_email = rest.get("leads.json", filterType="email", filterValues="g1@x.com")
        assert [r["id"] for r in by_email["result"]] == [ids[1]]
        too_many = ",".join(str(n) for n in range(1, 302))
        assert error_code(rest.get("leads.json", filterType="id", filterValues=too_many)) == "1003"
        assert error_code(rest.get("leads.json", filterType="id")) == "1002"
        assert error_code(rest.get("leads.json", filterType="firstName", filterValues="x")) == (
            "1011"
        )
        assert error_code(rest.get("leads.json", filterType="id", filterValues="x")) == "1001"


def test_percent_is_answered_as_an_integer(make_sandbox_server: MakeSandboxServer) -> None:
    # Adobe, "Field Types": "Percent: A percentage expressed as an integer".
    server = make_sandbox_server(SandboxConfig(custom_fields={"Share": "percent"}))
    with Rest(server) as rest:
        made = rest.sync_one({"email": "p@x.com", "share": 30})
        assert rest.lead(made["id"], "share") == {"id": made["id"], "share": 30}
