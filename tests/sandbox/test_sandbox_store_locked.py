"""A store locked by another SQLite connection (someone's sqlite3 shell mid-write) is a
20011 that names no SQLite text, and the sandbox recovers once the lock is gone.
"""

from __future__ import annotations

import sqlite3

import pytest
from support import MakeSandboxServer, client_for

from mktows import LeadRecord, ServiceInternalError, SyncStatus


def test_store_locked_by_another_connection_is_20011_then_recovers(
    make_sandbox_server: MakeSandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sandbox waits up to 30 s for a lock; the wait is cut short, the lock is real.
    real_connect = sqlite3.connect

    def impatient(*args: object, **kwargs: object) -> sqlite3.Connection:
        kwargs["timeout"] = 0.2
        return real_connect(*args, **kwargs)  # type: ignore[call-overload, no-any-return]

    monkeypatch.setattr(sqlite3, "connect", impatient)
    server = make_sandbox_server()
    blocker = real_connect(server.db_path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # e.g. someone's sqlite3 shell mid-write
        with client_for(server) as client, pytest.raises(ServiceInternalError) as info:
            client.sync_lead(LeadRecord(email="locked@x.com"))
        assert info.value.code == 20011
        assert "OperationalError" in str(info.value)
        assert "locked" not in str(info.value)  # no SQLite text reaches the client
        blocker.execute("ROLLBACK")
        # The connection that failed to begin went back to the pool in a usable state.
        with client_for(server) as client:
            assert client.sync_lead(LeadRecord(email="after@x.com")).status is SyncStatus.CREATED
    finally:
        blocker.close()
