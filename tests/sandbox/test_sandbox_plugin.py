"""The pytest plugin: the ``mktows_sandbox`` fixture as a test of legacy code uses it,
and the plugin itself run by pytest in a subprocess (its entry point, the external
sandbox option, pytest-xdist).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from mktows import AuthenticationError, FaultError, LeadRecord, RetryPolicy
from mktows.sandbox import make_app, serve_in_thread
from mktows.sandbox.pytest_plugin import MktowsSandbox, SandboxAssertionError


def legacy_signup(email: str, endpoint: str, user_id: str, key: str) -> int:
    """Stands for a team's legacy function: it syncs one lead and returns its id."""
    from mktows import Client

    with Client(endpoint, user_id, key) as client:
        return client.sync_lead(LeadRecord(email=email)).lead_id


def test_the_fixture_sees_what_legacy_code_sent(mktows_sandbox: MktowsSandbox) -> None:
    lead_id = legacy_signup(
        "ann@example.com", mktows_sandbox.url, mktows_sandbox.user_id, mktows_sandbox.encryption_key
    )
    [call] = mktows_sandbox.assert_synced(email="ann@example.com", outcome="CREATED")
    assert call["lead_id"] == lead_id
    assert call["user"] == mktows_sandbox.user_id
    [lead] = mktows_sandbox.leads(email="ann@example.com")
    assert lead["id"] == lead_id
    assert "ann@example.com" in mktows_sandbox.call(call["id"])["request"]["body"]


def test_assert_synced_lists_what_did_arrive(mktows_sandbox: MktowsSandbox) -> None:
    with mktows_sandbox.client() as client:
        client.sync_lead(LeadRecord(email="bob@example.com"))
    with pytest.raises(SandboxAssertionError) as caught:
        mktows_sandbox.assert_synced(email="ann@example.com")
    message = str(caught.value)
    assert "expected 1 sync(s) of 'ann@example.com', found 0" in message
    assert "email='bob@example.com' outcome=CREATED" in message
    with pytest.raises(SandboxAssertionError, match="with outcome UPDATED, found 0"):
        mktows_sandbox.assert_synced(email="bob@example.com", outcome="UPDATED")


def test_seed_fault_and_wait(mktows_sandbox: MktowsSandbox) -> None:
    [lead_id] = mktows_sandbox.seed([{"email": "old@example.com", "attributes": {"City": "Oslo"}}])
    mktows_sandbox.add_fault(code=20014, times=1, email="*@flaky.test", wire="soap")
    with mktows_sandbox.client() as client:
        with pytest.raises(FaultError) as caught:
            client.sync_lead(LeadRecord(email="x@flaky.test"))
        assert caught.value.code == 20014
        updated = client.sync_lead(LeadRecord(email="old@example.com"))
    assert updated.lead_id == lead_id
    calls = mktows_sandbox.wait_for(count=2, timeout=5)
    assert [c["outcome"] for c in calls] == ["UPDATED", "FAULT"]
    assert mktows_sandbox.wait_for(count=3, timeout=0.2) == calls  # 408: what did match
    assert mktows_sandbox.env["MKTOWS_ENDPOINT"] == mktows_sandbox.url
    assert repr(mktows_sandbox).startswith("MktowsSandbox('http://127.0.0.1:")
    with pytest.raises(RuntimeError, match="400"):
        mktows_sandbox.add_fault(code=1)


def test_external_sandbox_is_reset_and_its_faults_removed() -> None:
    with serve_in_thread(make_app()) as running:
        sandbox = MktowsSandbox(running.base_url)
        with sandbox.client() as client:
            client.sync_lead(LeadRecord(email="a@example.com"))
        sandbox.add_fault({"match": {"wire": "rest"}, "code": 606})
        sandbox.reset(keep=("leads",))
        assert sandbox.calls() == []
        assert len(sandbox.leads()) == 1
        sandbox.add_fault(code=606)
        sandbox.remove_faults()
        assert httpx.get(running.base_url + "/_sandbox/api/faults").json() == {"faults": []}
        sandbox.close()


_PLUGIN_TEST = """
import pytest
from mktows import LeadRecord


@pytest.mark.parametrize("n", range(4))
def test_each_gets_a_fresh_sandbox(mktows_sandbox, n):
    assert mktows_sandbox.leads() == []
    assert mktows_sandbox.calls() == []
    with mktows_sandbox.client() as client:
        client.sync_lead(LeadRecord(email=f"user{n}@example.com"))
    mktows_sandbox.assert_synced(email=f"user{n}@example.com", outcome="CREATED")
    mktows_sandbox.add_fault(code=20023, times=1)
"""


def _run_pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_legacy.py").write_text(textwrap.dedent(_PLUGIN_TEST), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_entry_point_loads_the_plugin_under_xdist(tmp_path: Path) -> None:
    done = _run_pytest(tmp_path, "-n", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout


def test_the_url_option_points_every_test_at_one_sandbox(tmp_path: Path) -> None:
    with serve_in_thread(make_app()) as running:
        done = _run_pytest(tmp_path, f"--mktows-sandbox-url={running.url}")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "4 passed" in done.stdout
        # The last test's call is still there; its fault rule was removed.
        base = running.base_url + "/_sandbox/api"
        assert httpx.get(base + "/calls/count").json() == {"count": 1}
        assert httpx.get(base + "/faults").json() == {"faults": []}


def test_a_20014_from_a_fault_rule_is_journaled_as_one(mktows_sandbox: MktowsSandbox) -> None:
    mktows_sandbox.add_fault(code=20014, times=1)
    with (
        mktows_sandbox.client(retry=RetryPolicy(attempts=1)) as client,
        pytest.raises(AuthenticationError),
    ):
        client.sync_lead(LeadRecord(email="signed@example.com"))
    (call,) = mktows_sandbox.calls(code=20014)
    check = mktows_sandbox.call(call["id"])["auth_check"]
    assert check["mismatch"] is None
    assert check["note"] == "the signature is right: this 20014 came from a fault rule"
    assert check["signed"] == check["request_timestamp"] + mktows_sandbox.user_id
