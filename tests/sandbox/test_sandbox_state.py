"""State: concurrent writers lose nothing and duplicate nothing; data survives a restart,
and a file an earlier sandbox made keeps working."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections import defaultdict
from pathlib import Path

import httpx
from support import MakeSandboxServer, client_for, query

from mktows import LeadRecord, SyncStatus
from mktows.sandbox import SandboxConfig

from ._rest_util import base_url

THREADS, CALLS, KEYS = 20, 50, 10
UNLIMITED = SandboxConfig(
    rate_limit_calls=0,
    concurrency_limit=0,
    daily_quota=0,
    custom_fields={f"T{t}": "integer" for t in range(THREADS)},
)


def call_plan(thread: int, call: int) -> tuple[str, LeadRecord]:
    key = (thread + call) % KEYS
    attrs = {f"T{thread}": str(call)}
    if call % 2:
        return f"email:{key}", LeadRecord(email=f"e{key}@x.com", attributes=attrs)
    return f"fsp:{key}", LeadRecord(
        foreign_sys_person_id=f"P{key}", foreign_sys_type="CUSTOM", attributes=attrs
    )


def test_concurrent_calls_on_overlapping_keys(make_sandbox_server: MakeSandboxServer) -> None:
    server = make_sandbox_server(UNLIMITED)
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def worker(thread: int) -> None:
        try:
            with client_for(server) as c:
                start.wait(timeout=10)
                for call in range(CALLS):
                    c.sync_lead(call_plan(thread, call)[1])
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not errors
    assert not any(w.is_alive() for w in workers)

    expected: dict[str, dict[str, str]] = defaultdict(dict)
    for thread in range(THREADS):
        for call in range(CALLS):
            key, _ = call_plan(thread, call)
            expected[key][f"T{thread}"] = str(call)  # the last call of a thread on a key wins
    assert query(server.db_path, "SELECT COUNT(*) FROM leads") == [(2 * KEYS,)]
    assert (
        query(
            server.db_path,
            "SELECT COUNT(*) FROM leads GROUP BY fsp_id HAVING COUNT(*) > 1 AND fsp_id IS NOT NULL",
        )
        == []
    )
    rows = query(server.db_path, "SELECT email, fsp_id, attrs FROM leads")
    import json

    stored = {
        (f"email:{email[1 : -len('@x.com')]}" if email else f"fsp:{fsp[1:]}"): json.loads(attrs)
        for email, fsp, attrs in rows
    }
    assert stored == expected


def test_data_survives_a_restart(make_sandbox_server: MakeSandboxServer) -> None:
    first = make_sandbox_server()
    with client_for(first) as c:
        made = c.sync_lead(
            LeadRecord(
                email="keep@x.com",
                foreign_sys_person_id="K1",
                foreign_sys_type="SFDC",
                attributes={"City": "Lima", "LeadScore": "7"},
            ),
            marketo_cookie="ck-keep",
        )
    first.app.close()
    again = make_sandbox_server(db_path=first.db_path)
    with client_for(again) as c:
        res = c.sync_lead(
            LeadRecord(email="other@x.com"), marketo_cookie="ck-keep", return_lead=True
        )
        fresh = c.sync_lead(LeadRecord(email="new@x.com"))
    assert (res.status, res.lead_id) == (SyncStatus.UPDATED, made.lead_id)
    assert res.lead is not None
    assert res.lead.foreign_sys_person_id == "K1"
    assert dict(res.lead.attributes) == {"City": "Lima", "LeadScore": "7"}
    assert res.lead.attributes.typed("LeadScore") == 7
    assert fresh.lead_id > made.lead_id


# The leads table as earlier sandboxes made it: AUTOINCREMENT, and a UNIQUE foreign id.
_EARLIER_SCHEMA = """
CREATE TABLE leads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT COLLATE NOCASE,
    fsp_id TEXT UNIQUE,
    fsp_type TEXT,
    partition TEXT NOT NULL,
    touched INTEGER NOT NULL,
    attrs TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO leads (email, partition, touched) VALUES ('old@x.com', 'Default', 1);
"""


def test_a_file_from_an_earlier_sandbox_keeps_working(
    make_sandbox_server: MakeSandboxServer, tmp_path: Path
) -> None:
    path = tmp_path / "earlier.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.executescript(_EARLIER_SCHEMA)
    server = make_sandbox_server(db_path=path)
    with client_for(server) as c:
        assert c.sync_lead(LeadRecord(email="old@x.com")).lead_id == 1  # UPDATED
        made = c.sync_lead(LeadRecord(foreign_sys_person_id="F1", foreign_sys_type="CUSTOM"))
        assert (made.status, made.lead_id) == (SyncStatus.CREATED, 2)
        assert httpx.post(f"{base_url(server)}/_sandbox/api/reset", timeout=10).status_code == 200
        again = c.sync_lead(LeadRecord(email="first@x.com"))
    assert (again.status, again.lead_id) == (SyncStatus.CREATED, 1)  # Ids start again at 1
