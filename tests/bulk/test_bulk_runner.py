"""sync_leads as a library feature: over the live sandbox, and its wiring with MockTransport."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from support import NO_RETRY, Endpoint, lead_counts

from mktows import AsyncClient, AuthenticationError, ConfigError, LeadRecord
from mktows._build import build_fault_envelope, build_sync_lead_response
from mktows._models import Fault, SyncLeadResult, SyncStatus
from mktows.bulk._limiter import RateLimiter
from mktows.bulk._read import Row
from mktows.bulk._runner import RowResult, RowStatus, sync_leads


async def collect(client: AsyncClient, rows: object, **options: object) -> list[RowResult]:
    return [r async for r in sync_leads(client, rows, **options)]  # type: ignore[arg-type]


async def collect_into(
    seen: list[RowResult], client: AsyncClient, rows: object, **options: object
) -> None:
    async for result in sync_leads(client, rows, **options):  # type: ignore[arg-type]
        seen.append(result)


def test_library_run_against_the_sandbox(sandbox_server: Endpoint) -> None:
    leads = [
        LeadRecord(email=f"lib{i}@x.com", attributes={"FirstName": f"L{i}"}) for i in range(12)
    ]
    limiter = RateLimiter(calls=100, window=20.0, concurrency=4)

    async def main() -> list[RowResult]:
        async with AsyncClient(
            sandbox_server.url, sandbox_server.user_id, sandbox_server.encryption_key
        ) as client:
            return await collect(client, leads, limiter=limiter, return_lead=True)

    results = asyncio.run(main())
    assert sorted(r.row for r in results) == list(range(1, 13))
    assert {r.status for r in results} == {RowStatus.CREATED}
    assert all(r.lead is not None and r.lead.attributes["FirstName"] for r in results)
    assert lead_counts(sandbox_server.db_path) == (12, 12)


def mock_client(handler: object) -> AsyncClient:
    transport = httpx.MockTransport(handler)  # type: ignore[arg-type]
    return AsyncClient(
        "http://127.0.0.1:9/soap", "user", "key", transport=transport, retry=NO_RETRY
    )


def reply(status: SyncStatus = SyncStatus.CREATED) -> httpx.Response:
    body = build_sync_lead_response(SyncLeadResult(lead_id=1, status=status, error="no"))
    return httpx.Response(200, content=body)


def test_a_fatal_fault_stops_the_run_and_is_raised() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(500, content=build_fault_envelope(Fault.for_code(20014)))

    async def main() -> list[RowResult]:
        seen: list[RowResult] = []
        async with mock_client(handler) as client:
            leads = (LeadRecord(email=f"{i}@x.com") for i in range(50))
            with pytest.raises(AuthenticationError):
                await collect_into(seen, client, leads, workers=2)
        return seen

    seen = asyncio.run(main())
    assert calls <= 4  # the calls already in flight, not the 50
    assert seen
    assert all(r.code == 20014 and not r.final for r in seen)


@pytest.mark.parametrize(
    ("answer", "status", "final"),
    [
        pytest.param(lambda: reply(SyncStatus.FAILED), RowStatus.FAILED, True, id="failed"),
        pytest.param(
            lambda: httpx.Response(500, content=build_fault_envelope(Fault.for_code(20105))),
            RowStatus.FAULT,
            True,
            id="permanent-fault",
        ),
        pytest.param(
            lambda: httpx.Response(500, content=build_fault_envelope(Fault.for_code(20011))),
            RowStatus.FAULT,
            False,
            id="transient-fault",
        ),
        pytest.param(
            lambda: httpx.Response(502, text="<html>"), RowStatus.ERROR, False, id="garbage"
        ),
    ],
)
def test_outcomes_become_row_results(answer: object, status: RowStatus, final: bool) -> None:
    async def main() -> list[RowResult]:
        async with mock_client(lambda request: answer()) as client:  # type: ignore[operator]
            return await collect(client, [LeadRecord(email="a@x.com")])

    (result,) = asyncio.run(main())
    assert (result.status, result.final) == (status, final)


def test_invalid_rows_are_not_sent() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return reply()

    rows = [
        Row(5, error="no key"),
        Row(6, lead=LeadRecord(email=" ")),  # the client's own check refuses it
        Row(7, lead=LeadRecord(email="ok@x.com"), cookie="id:1"),
    ]

    async def main() -> list[RowResult]:
        async with mock_client(handler) as client:
            return await collect(client, rows, workers=1)

    results = {r.row: r for r in asyncio.run(main())}
    assert results[5].status is RowStatus.INVALID
    assert results[5].error == "no key"
    assert results[6].status is RowStatus.INVALID
    assert results[7].status is RowStatus.CREATED
    assert len(sent) == 1


def test_a_failing_source_is_raised_after_the_calls_in_flight() -> None:
    def rows() -> Iterator[LeadRecord]:
        yield LeadRecord(email="a@x.com")
        raise ConfigError("the file went away")

    async def main() -> list[RowResult]:
        async with mock_client(lambda request: reply()) as client:
            seen: list[RowResult] = []
            with pytest.raises(ConfigError, match="went away"):
                await collect_into(seen, client, rows())
            return seen

    assert [r.row for r in asyncio.run(main())] == [1]


def test_stop_and_early_exit() -> None:
    async def main() -> int:
        stop = asyncio.Event()
        async with mock_client(lambda request: reply()) as client:
            count = 0
            async for _ in sync_leads(
                client, (LeadRecord(email=f"{i}@x.com") for i in range(1000)), stop=stop
            ):
                count += 1
                stop.set()
            # Leaving a run early cancels its workers cleanly.
            results = sync_leads(client, [LeadRecord(email="x@x.com")] * 50, workers=3)
            async for _ in results:
                break
            await results.aclose()
            return count

    assert asyncio.run(main()) < 1000
