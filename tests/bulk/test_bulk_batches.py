"""sync_leads over REST with the runner's batches: each way a batch (or a REST row sent
one a call) can end, against the sandbox's REST face on loopback, its faults set with the
sandbox's fault rules (the admin API)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
from conftest import SandboxServer
from support import add_fault, fault_rules, free_port, lead_counts

from mktows import ConfigError, FaultError, LeadRecord, RetryPolicy, SyncLeadResult
from mktows.bulk import (
    RateLimiter,
    Row,
    RowResult,
    RowStatus,
    UnreachableError,
    sync_leads,
)
from mktows.rest._client import AsyncRestClient
from mktows.sandbox import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, serve_in_thread
from mktows.sandbox import make_app as make_sandbox_app

ONE_TRY = RetryPolicy(attempts=1)


def rest_client(
    server: SandboxServer | str, transport: httpx.AsyncBaseTransport | None = None
) -> AsyncRestClient:
    root = server if isinstance(server, str) else server.url.split("/soap/")[0]
    return AsyncRestClient(
        f"{root}/rest",
        f"{root}/identity",
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        transport=transport,
        retry=ONE_TRY,
    )


def leads(count: int, domain: str = "x.com") -> list[LeadRecord]:
    return [LeadRecord(email=f"b{n}@{domain}") for n in range(count)]


async def collect(
    client: AsyncRestClient, rows: Sequence[object], **options: object
) -> list[RowResult]:
    async with client:
        found = sync_leads(client, rows, **options)  # type: ignore[arg-type]
        return [r async for r in found]


def quick() -> RateLimiter:
    """A limiter whose window (the pause after a limit fault) is 50 ms."""
    return RateLimiter(calls=1000, window=0.05, concurrency=0, margin=0)


@pytest.mark.parametrize("batch_size", [300, 1])
def test_a_window_that_never_opens_ends_the_rows_as_that_fault(
    sandbox_server: SandboxServer, batch_size: int
) -> None:
    add_fault(sandbox_server, {"match": {"email": "*@x.com"}, "code": 606, "times": 20})
    rows = leads(2)
    found = asyncio.run(
        collect(
            rest_client(sandbox_server),
            rows,
            batch_size=batch_size,
            limiter=quick(),
            limit_rounds=2,
        )
    )
    assert sorted(r.row for r in found) == [1, 2]
    assert {(r.status, r.code) for r in found} == {(RowStatus.FAULT, 20023)}
    assert not any(r.final for r in found)  # a rerun tries them again
    assert lead_counts(sandbox_server.db_path)[0] == 0


@pytest.mark.parametrize("batch_size", [300, 1])
def test_a_dropped_call_is_tried_again_within_retries(
    sandbox_server: SandboxServer, batch_size: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="mktows.bulk")
    add_fault(sandbox_server, {"match": {"email": "*@x.com"}, "drop": True, "times": 1})
    found = asyncio.run(
        collect(rest_client(sandbox_server), leads(3), batch_size=batch_size, retries=1)
    )
    assert {r.status for r in found} == {RowStatus.CREATED}
    assert len(found) == 3
    assert any("retry 1 in" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("batch_size", [300, 1])
def test_a_dropped_call_without_retries_left_is_an_error_row(
    sandbox_server: SandboxServer, batch_size: int
) -> None:
    add_fault(sandbox_server, {"match": {"email": "b0@x.com"}, "drop": True, "times": 1})
    found = asyncio.run(collect(rest_client(sandbox_server), leads(1), batch_size=batch_size))
    [result] = found
    assert (result.status, result.final) == (RowStatus.ERROR, False)


def test_a_refused_call_of_one_batch_fails_its_rows_only(sandbox_server: SandboxServer) -> None:
    # 1003 for the whole call: not transient, so the batch's rows end as that fault.
    add_fault(sandbox_server, {"match": {"email": "b0@x.com"}, "code": 1003, "times": 1})
    rows = leads(4)
    found = asyncio.run(collect(rest_client(sandbox_server), rows, batch_size=2, workers=1))
    statuses = {r.row: r.status for r in found}
    assert statuses == {
        1: RowStatus.FAULT,
        2: RowStatus.FAULT,
        3: RowStatus.CREATED,
        4: RowStatus.CREATED,
    }


def test_a_fault_that_stops_every_call_stops_the_run(sandbox_server: SandboxServer) -> None:
    # 607 (daily quota, SOAP 20015) on the first Sync Leads call: the batch holds two
    # groups (an Id is updateOnly, an email createOrUpdate), the second is not sent.
    add_fault(sandbox_server, {"match": {"email": "b0@x.com"}, "code": 607, "times": 1})
    rows = [LeadRecord(email="b0@x.com"), LeadRecord(id=5, email="c@y.com")]

    found: list[RowResult] = []

    async def run() -> None:
        async with rest_client(sandbox_server) as client:
            async for result in sync_leads(client, rows):
                found.append(result)

    with pytest.raises(FaultError, match="quota") as caught:
        asyncio.run(run())
    assert caught.value.code == 20015
    assert {(r.row, r.status, r.code) for r in found} == {
        (1, RowStatus.FAULT, 20015),
        (2, RowStatus.FAULT, 20015),
    }
    assert lead_counts(sandbox_server.db_path)[0] == 0


def test_a_stop_leaves_batches_waiting_at_the_limiter_unsent(sandbox_server: SandboxServer) -> None:
    # One batch a 30 s window: once the first batch is answered, the next waits at the
    # limiter; the stop comes while it waits, and it is never sent.
    limiter = RateLimiter(calls=1, window=30.0, concurrency=0)
    stop = asyncio.Event()

    async def run() -> list[RowResult]:
        found: list[RowResult] = []
        async with rest_client(sandbox_server) as client:
            async for result in sync_leads(
                client, leads(6), batch_size=2, workers=2, limiter=limiter, stop=stop
            ):
                found.append(result)
                if len(found) == 1:
                    asyncio.get_running_loop().call_later(0.5, stop.set)
        return found

    found = asyncio.run(asyncio.wait_for(run(), 20))
    assert sorted(r.row for r in found) == [1, 2]
    assert lead_counts(sandbox_server.db_path)[0] == 2


def test_a_stop_while_the_first_batch_runs_alone_starts_no_other(
    sandbox_server: SandboxServer,
) -> None:
    # Over REST the first batch runs alone (the token and Describe, once); the others
    # wait for it, and a stop meanwhile means they never start.
    add_fault(sandbox_server, {"match": {"email": "b0@x.com"}, "delay_ms": 800, "times": 1})
    stop = asyncio.Event()

    async def stop_once_in_flight() -> None:
        # The rule is used up as the first batch arrives, before its delay.
        while await asyncio.to_thread(fault_rules, sandbox_server):
            await asyncio.sleep(0.01)
        stop.set()

    async def run() -> list[RowResult]:
        stopper = asyncio.create_task(stop_once_in_flight())
        found = await collect(rest_client(sandbox_server), leads(6), batch_size=2, stop=stop)
        await stopper
        return found

    found = asyncio.run(asyncio.wait_for(run(), 20))
    assert sorted((r.row, r.status) for r in found) == [
        (1, RowStatus.CREATED),
        (2, RowStatus.CREATED),
    ]
    assert lead_counts(sandbox_server.db_path)[0] == 2


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param({"code": 713}, id="713-transient"),
        # The server waits past the client's 0.5 s timeout, then drops the call unanswered
        # and unapplied, so the retry (after up to 1 s of jitter) is the one that creates.
        pytest.param({"delay_ms": 1500, "drop": True}, id="read-timeout"),
    ],
)
def test_a_transient_batch_failure_is_tried_again_within_retries(
    sandbox_server: SandboxServer, rule: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="mktows.bulk")
    add_fault(sandbox_server, {"match": {"email": "b0@x.com"}, "times": 1, **rule})
    root = sandbox_server.url.split("/soap/")[0]
    client = AsyncRestClient(
        f"{root}/rest",
        f"{root}/identity",
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        retry=ONE_TRY,
        timeout=0.5,
    )
    found = asyncio.run(collect(client, leads(3), retries=1))
    assert sorted((r.row, r.status) for r in found) == [
        (1, RowStatus.CREATED),
        (2, RowStatus.CREATED),
        (3, RowStatus.CREATED),
    ]
    assert any(
        "rows 1-3:" in r.getMessage() and "retry 1 in" in r.getMessage() for r in caplog.records
    )


def test_a_stop_during_reconnect_waits_ends_the_run_at_once() -> None:
    unused_port = free_port()  # closed again: nothing listens there
    stop = asyncio.Event()
    stopped_at: list[float] = []

    class StopInALongWait(logging.Handler):
        """Sets the stop as the run logs its first 2 s reconnect wait."""

        def emit(self, record: logging.LogRecord) -> None:
            if "in 2.00s" in record.getMessage() and not stop.is_set():
                stopped_at.append(time.monotonic())
                stop.set()

    async def run() -> list[RowResult]:
        client = rest_client(f"http://127.0.0.1:{unused_port}")
        return await collect(client, leads(3), stop=stop, connect_failures=100)

    watcher = StopInALongWait()
    logging.getLogger("mktows.bulk").addHandler(watcher)
    try:
        assert asyncio.run(asyncio.wait_for(run(), 20)) == []
    finally:
        logging.getLogger("mktows.bulk").removeHandler(watcher)
    assert stopped_at, "the run never waited 2 s to reconnect"
    assert time.monotonic() - stopped_at[0] < 1.0  # the 2 s wait was cut short


def test_a_server_gone_after_answers_stops_the_run_after_give_up_after(
    tmp_path: Path,
) -> None:
    app = make_sandbox_app(None, str(tmp_path / "gone.db"))
    server = serve_in_thread(app)
    running = server.__enter__()
    root = running.url.split("/soap/")[0]

    async def run() -> tuple[list[RowResult], BaseException | None]:
        found: list[RowResult] = []
        try:
            async with rest_client(root) as client:
                async for result in sync_leads(
                    client, leads(6), batch_size=2, workers=1, give_up_after=0.5
                ):
                    found.append(result)
                    if len(found) == 2:
                        server.__exit__(None, None, None)  # the server goes away
        except UnreachableError as exc:
            return found, exc
        return found, None

    try:
        found, error = asyncio.run(asyncio.wait_for(run(), 30))
    finally:
        server.__exit__(None, None, None)  # when the run failed first; else a no-op
        app.close()
    assert isinstance(error, UnreachableError)
    assert "Connect" in error.reason
    assert sorted(r.row for r in found) == [1, 2]


def test_a_closed_client_stops_the_batched_run(sandbox_server: SandboxServer) -> None:
    async def run() -> None:
        client = rest_client(sandbox_server)
        async with client:
            pass
        async for _ in sync_leads(client, leads(2)):
            pass

    with pytest.raises(ConfigError, match="closed"):
        asyncio.run(run())


def test_one_limiter_pacing_twice_is_raised_from_a_batch(sandbox_server: SandboxServer) -> None:
    limiter = RateLimiter(calls=100, window=20.0, concurrency=5)
    client = rest_client(sandbox_server, transport=limiter.transport())
    with pytest.raises(ConfigError, match="paces this client twice"):
        asyncio.run(collect(client, leads(2), limiter=limiter))


def test_batch_size_must_be_a_whole_number_and_needs_a_batching_client(
    sandbox_server: SandboxServer,
) -> None:
    with pytest.raises(ConfigError, match="whole number"):
        asyncio.run(collect(rest_client(sandbox_server), leads(1), batch_size=True))
    with pytest.raises(ConfigError, match="whole number"):
        asyncio.run(collect(rest_client(sandbox_server), leads(1), batch_size=2.5))

    class OneByOne:  # a client of the user's own: one lead a call
        async def sync_lead(self, lead: LeadRecord, **options: object) -> SyncLeadResult:
            raise ConfigError("this client cannot send that lead")

    async def own(batch_size: int | None) -> list[RowResult]:
        rows = [Row(1, lead=LeadRecord(email="o@x.com"))]
        return [r async for r in sync_leads(OneByOne(), rows, batch_size=batch_size)]

    with pytest.raises(ConfigError, match="OneByOne sends one: leave batch_size out"):
        asyncio.run(own(2))
    # One a call is fine, and the client's ConfigError is that row's INVALID.
    for size in (1, None):
        [result] = asyncio.run(own(size))
        assert (result.status, result.error) == (
            RowStatus.INVALID,
            "this client cannot send that lead",
        )
