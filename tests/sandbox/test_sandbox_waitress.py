"""The sandbox is a WSGI application: a shared team sandbox can run under a production
WSGI server. This runs it once under waitress, as the README shows, with keep-alive
(one Client, one connection), and syncs a few leads through it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import NO_RETRY, clean_env, free_port, wait_for

from mktows import Client, LeadRecord, SyncStatus
from mktows.sandbox import DEFAULT_ENCRYPTION_KEY, DEFAULT_USER_ID

pytest.importorskip("waitress", reason="waitress is in the test extra: pip install -e '.[test]'")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "?WSDL", timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def waitress_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    # The README's command: waitress-serve --listen=HOST:PORT --call mktows.sandbox:make_app
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{port}"),
            *("--call", "mktows.sandbox:make_app"),
        ],
        env=clean_env(),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/soap/mktows/2_2"
    try:
        wait_for(lambda: proc.poll() is not None or _answers(url))
        assert proc.poll() is None, proc.communicate(timeout=10)
        yield url
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


def test_the_sandbox_under_waitress_syncs_leads_over_one_connection(waitress_url: str) -> None:
    wsdl = httpx.get(waitress_url + "?WSDL", timeout=10.0)
    assert f'location="{waitress_url}"' in wsdl.text  # the address it is reached at
    connections: set[object] = set()

    def seen(response: httpx.Response) -> None:
        stream = response.extensions.get("network_stream")
        connections.add(id(stream.get_extra_info("socket")) if stream else None)

    http = httpx.Client(timeout=10.0, event_hooks={"response": [seen]})
    with Client(
        waitress_url, DEFAULT_USER_ID, DEFAULT_ENCRYPTION_KEY, retry=NO_RETRY, http_client=http
    ) as client:
        made = [client.sync_lead(LeadRecord(email=f"team{i}@example.com")) for i in range(3)]
        again = client.sync_lead(
            LeadRecord(email="team0@example.com", attributes={"FirstName": "Ada"}), return_lead=True
        )
    http.close()
    assert [r.status for r in made] == [SyncStatus.CREATED] * 3
    assert len({r.lead_id for r in made}) == 3
    assert again.status is SyncStatus.UPDATED
    assert again.lead_id == made[0].lead_id
    assert again.lead is not None
    assert again.lead.attributes.get("FirstName") == "Ada"
    assert None not in connections  # each answer names its socket
    assert len(connections) == 1  # keep-alive: every call on the one connection
