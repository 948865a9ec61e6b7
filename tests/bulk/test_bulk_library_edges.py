"""The bulk runner and limiter used as a library, at their edges: a row status prints as
its name, a closed client ends a run with its error, a caller that gives up waiting
leaves the limiter usable, and a response closed twice frees its place once.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from support import Endpoint, lead_counts

from mktows import AsyncClient, ConfigError, LeadRecord
from mktows.bulk._limiter import RateLimiter
from mktows.bulk._runner import RowResult, RowStatus, sync_leads


@pytest.mark.parametrize("status", [pytest.param(s, id=s.value) for s in RowStatus])
def test_row_status_prints_as_its_name(status: RowStatus) -> None:
    # What `print(result.row, result.status)` shows (the sync_leads docstring does that).
    assert str(status) == status.value
    assert f"{status}" == status.value


@pytest.mark.parametrize("workers", [pytest.param(1, id="one-worker"), pytest.param(3, id="three")])
def test_a_closed_client_ends_the_run_with_its_error(
    sandbox_server: Endpoint, workers: int
) -> None:
    """More rows than workers: the run must end (not hang) and raise the client's error."""
    leads = [LeadRecord(email=f"closed{i}@x.com") for i in range(8)]
    seen: list[RowResult] = []

    async def run() -> None:
        client = AsyncClient(
            sandbox_server.url, sandbox_server.user_id, sandbox_server.encryption_key
        )
        await client.aclose()
        async for result in sync_leads(client, leads, workers=workers):
            seen.append(result)

    with pytest.raises(ConfigError, match="is closed"):
        asyncio.run(asyncio.wait_for(run(), 10))
    assert seen == []
    assert lead_counts(sandbox_server.db_path) == (0, 0)


def test_giving_up_on_a_window_wait_leaves_the_limiter_usable() -> None:
    limiter = RateLimiter(calls=1, window=0.05, concurrency=0, margin=0.0)

    async def run() -> None:
        await limiter.acquire()
        # The one place is held by a running call: a caller who stops waiting gets out
        # without a place and without blocking the next caller.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(limiter.acquire(), 0.05)
        assert limiter.in_flight == 1
        limiter.release()
        await asyncio.wait_for(limiter.acquire(), 5)  # the place frees one window later
        assert limiter.in_flight == 1
        limiter.release()

    asyncio.run(run())
    assert limiter.in_flight == 0


def test_closing_a_limited_response_twice_releases_it_once(sandbox_server: Endpoint) -> None:
    limiter = RateLimiter(calls=0, window=0, concurrency=1)

    async def run() -> bytes:
        transport = limiter.transport()
        try:
            request = httpx.Request("GET", f"{sandbox_server.url}?WSDL")
            response = await transport.handle_async_request(request)
            assert limiter.in_flight == 1
            body = await response.aread()  # reads to the end and closes the stream
            assert limiter.in_flight == 0
            stream = response.stream
            assert isinstance(stream, httpx.AsyncByteStream)
            await stream.aclose()  # closing again must not free a second slot
            assert limiter.in_flight == 0
            await limiter.acquire()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(limiter.acquire(), 0.05)
            limiter.release()
            return body
        finally:
            await transport.aclose()

    assert b"syncLead" in asyncio.run(run())
    assert limiter.in_flight == 0
