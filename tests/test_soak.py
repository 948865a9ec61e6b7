"""Soak: many concurrent clients against the sandbox over a real socket, bounded in
count and time, ending with no lost or duplicated lead and no unexpected error.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from conftest import MakeSandboxServer

import mktows
from mktows import Client, LeadRecord, RetryPolicy
from mktows.sandbox import SandboxConfig

CLIENTS = 50
CALLS = 40  # per client: 2,000 calls in all
EMAILS = 120
TIME_LIMIT = 120.0  # seconds; the loops stop by themselves well before
NO_LIMITS = SandboxConfig(rate_limit_calls=0, concurrency_limit=0, daily_quota=0)


def _lead(worker: int, call: int) -> LeadRecord:
    n = (worker * 7 + call * 13) % EMAILS
    return LeadRecord(
        email=f"soak{n}@example.com",
        attributes={"LastName": f"w{worker}", "LeadScore": call},
    )


def _run(url: str, user: str, key: str, retry: RetryPolicy) -> tuple[Counter[str], int]:
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    ends = time.monotonic() + TIME_LIMIT

    def worker(index: int) -> None:
        with Client(url, user, key, retry=retry, deadline=30.0) as client:
            for call in range(CALLS):
                if time.monotonic() > ends:
                    break
                try:
                    outcome = client.sync_lead(_lead(index, call)).status.value
                except mktows.FaultError as exc:
                    outcome = f"fault {exc.code}"
                except mktows.MktowsError as exc:
                    outcome = type(exc).__name__
                with lock:
                    outcomes[outcome] += 1

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(worker, range(CLIENTS)))
    return outcomes, sum(outcomes.values())


def _leads_by_email(db: str) -> Counter[str]:
    with sqlite3.connect(db) as conn:
        return Counter(email for (email,) in conn.execute("SELECT email FROM leads"))


def test_soak_no_lost_or_duplicated_leads(make_sandbox_server: MakeSandboxServer) -> None:
    server = make_sandbox_server(NO_LIMITS)
    outcomes, total = _run(server.url, server.user_id, server.encryption_key, RetryPolicy())
    assert total == CLIENTS * CALLS
    assert set(outcomes) <= {"CREATED", "UPDATED"}, outcomes
    by_email = _leads_by_email(str(server.db_path))
    touched = {_lead(w, c).email for w in range(CLIENTS) for c in range(CALLS)}
    assert set(by_email) == touched
    assert max(by_email.values()) == 1, "a lead was duplicated"
    assert outcomes["CREATED"] == len(touched)


def test_soak_with_limits_only_limit_faults(make_sandbox_server: MakeSandboxServer) -> None:
    config = SandboxConfig(rate_limit_calls=0, concurrency_limit=10, daily_quota=0)
    server = make_sandbox_server(config)
    no_retry = RetryPolicy(attempts=1, resign_attempts=0)
    outcomes, total = _run(server.url, server.user_id, server.encryption_key, no_retry)
    assert total == CLIENTS * CALLS
    assert set(outcomes) <= {"CREATED", "UPDATED", "fault 20024"}, outcomes
    assert outcomes["CREATED"] + outcomes["UPDATED"] > 0
    by_email = _leads_by_email(str(server.db_path))
    assert max(by_email.values()) == 1, "a lead was duplicated"
    assert outcomes["CREATED"] == len(by_email)
