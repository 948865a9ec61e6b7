"""Group "end-to-end": syncLead calls over loopback against a fixed-response keep-alive
server, sequential, 10 threads and 10 asyncio tasks.

Rows: mktows Client / AsyncClient, zeep (Client / AsyncClient), and bare httpx
POSTing a prebuilt envelope (the floor: no build, no parse).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

import mktows

from ._fixtures import (
    ENCRYPTION_KEY,
    LEAD_ID,
    MKTOWS,
    TIMESTAMP,
    USER_ID,
    WORKSPACE,
    fixed_server,
    lead,
    success_body,
    wsdl_file,
    zeep_async_client,
    zeep_client,
)
from ._harness import BenchError, Row, throughput

GROUP = "end-to-end"
CONCURRENCY = 10
HEADERS = {
    "Content-Type": "text/xml; charset=utf-8",
    "SOAPAction": '"http://www.marketo.com/mktows/syncLead"',
}
WARMUP = 20

Call = Callable[[], object]
Run = Callable[[int, float], tuple[int, float]]


def _check(name: str, out: Any) -> None:
    """Every row's answer: lead 1234567 CREATED (bare httpx: the canned body itself)."""
    if isinstance(out, mktows.SyncLeadResult):
        ok = (out.lead_id, out.status, out.error, out.lead) == (
            LEAD_ID,
            mktows.SyncStatus.CREATED,
            None,
            None,
        )
    elif isinstance(out, bytes):
        ok = out == success_body(None)
    else:  # zeep's ResultSyncLead
        ok = (out.leadId, out.syncStatus.status) == (LEAD_ID, "CREATED")
    if not ok:
        raise BenchError(f"end-to-end: {name} got {out!r}")


def sequential(call: Call) -> Run:
    def run(max_calls: int, seconds: float) -> tuple[int, float]:
        for _ in range(WARMUP):
            call()
        start = time.perf_counter()
        ends = start + seconds
        done = 0
        while done < max_calls and time.perf_counter() < ends:
            call()
            done += 1
        return done, time.perf_counter() - start

    return run


def threaded(call: Call) -> Run:
    """``CONCURRENCY`` threads sharing one client, sharing one count and one deadline."""

    def run(max_calls: int, seconds: float) -> tuple[int, float]:
        for _ in range(WARMUP):
            call()
        lock = threading.Lock()
        count = [0]
        errors: list[BaseException] = []
        start = time.perf_counter()
        ends = start + seconds

        def worker() -> None:
            try:
                while time.perf_counter() < ends:
                    with lock:
                        if count[0] >= max_calls:
                            return
                        count[0] += 1
                    call()
            except BaseException as exc:  # reported below, never swallowed
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=seconds + 30)
        elapsed = time.perf_counter() - start
        if errors:
            raise BenchError(f"end-to-end: a thread failed: {errors[0]!r}")
        return count[0], elapsed

    return run


def concurrent_tasks(
    open_client: Callable[[], Any],
    call: Callable[[Any], Awaitable[object]],
    close: Callable[[Any], Awaitable[object]],
) -> Run:
    """``CONCURRENCY`` asyncio tasks sharing one client made inside a fresh event loop."""

    async def main(max_calls: int, seconds: float) -> tuple[int, float]:
        client = open_client()
        try:
            for _ in range(WARMUP):
                await call(client)
            count = 0
            start = time.perf_counter()
            ends = start + seconds

            async def worker() -> None:
                nonlocal count
                while count < max_calls and time.perf_counter() < ends:
                    count += 1
                    await call(client)

            await asyncio.wait_for(
                asyncio.gather(*(worker() for _ in range(CONCURRENCY))), timeout=seconds + 30
            )
            return count, time.perf_counter() - start
        finally:
            await close(client)

    def run(max_calls: int, seconds: float) -> tuple[int, float]:
        return asyncio.run(main(max_calls, seconds))

    return run


def _zeep_call(client: Any, record: mktows.LeadRecord) -> Callable[[], Any]:
    auth_el = client.get_element(f"{{{MKTOWS}}}AuthenticationHeader")
    ctx_el = client.get_element(f"{{{MKTOWS}}}MktowsContextHeader")
    data = {"Email": record.email}

    def call() -> Any:
        when = mktows.format_timestamp(TIMESTAMP)
        sig = mktows.sign(when, USER_ID, ENCRYPTION_KEY)
        headers = [
            auth_el(mktowsUserId=USER_ID, requestSignature=sig, requestTimestamp=when),
            ctx_el(targetWorkspace=WORKSPACE),
        ]
        return client.service.syncLead(leadRecord=data, returnLead=False, _soapheaders=headers)

    return call


def run(*, repeat: int, seconds: float, max_calls: int) -> list[Row]:
    """Check every row's answer against the canned server, then measure calls/s."""
    record = lead(2)
    prebuilt = mktows.build_sync_lead_envelope(
        record,
        user_id=USER_ID,
        encryption_key=ENCRYPTION_KEY,
        workspace=WORKSPACE,
        timestamp=TIMESTAMP,
    )
    rows: list[Row] = []
    with fixed_server(success_body(None)) as url, wsdl_file(url) as wsdl:
        client = mktows.Client(url, USER_ID, ENCRYPTION_KEY)
        bare = httpx.Client()
        zclient = zeep_client(wsdl)
        try:
            mk_call: Call = lambda: client.sync_lead(record, workspace=WORKSPACE)  # noqa: E731
            bare_call: Call = lambda: bare.post(url, content=prebuilt, headers=HEADERS).content  # noqa: E731
            z_call = _zeep_call(zclient, record)

            async def mk_async(c: mktows.AsyncClient) -> object:
                return await c.sync_lead(record, workspace=WORKSPACE)

            async def bare_async(c: httpx.AsyncClient) -> object:
                return (await c.post(url, content=prebuilt, headers=HEADERS)).content

            def open_zeep_async() -> Any:
                return zeep_async_client(wsdl)

            async def zeep_async(c: Any) -> object:
                when = mktows.format_timestamp(TIMESTAMP)
                sig = mktows.sign(when, USER_ID, ENCRYPTION_KEY)
                auth = c.get_element(f"{{{MKTOWS}}}AuthenticationHeader")
                ctx = c.get_element(f"{{{MKTOWS}}}MktowsContextHeader")
                headers = [
                    auth(mktowsUserId=USER_ID, requestSignature=sig, requestTimestamp=when),
                    ctx(targetWorkspace=WORKSPACE),
                ]
                return await c.service.syncLead(
                    leadRecord={"Email": record.email}, returnLead=False, _soapheaders=headers
                )

            async def zeep_close(c: Any) -> None:
                await c.transport.aclose()

            for name, call in (
                ("mktows Client", mk_call),
                ("zeep", z_call),
                ("bare httpx POST", bare_call),
            ):
                _check(name, call())

            async def aclose(c: Any) -> None:
                await c.aclose()

            def mk_async_client() -> mktows.AsyncClient:
                return mktows.AsyncClient(url, USER_ID, ENCRYPTION_KEY)

            async_rows: list[
                tuple[
                    str,
                    Callable[[], Any],
                    Callable[[Any], Awaitable[object]],
                    Callable[[Any], Awaitable[object]],
                ]
            ] = [
                ("mktows AsyncClient", mk_async_client, mk_async, aclose),
                ("zeep AsyncClient", open_zeep_async, zeep_async, zeep_close),
                ("bare httpx AsyncClient POST", httpx.AsyncClient, bare_async, aclose),
            ]

            async def check_async() -> None:
                for name, opener, acall, closer in async_rows:
                    c = opener()
                    try:
                        _check(name, await acall(c))
                    finally:
                        await closer(c)

            asyncio.run(check_async())

            plan: list[tuple[str, str, Run]] = [
                ("sequential", "mktows Client", sequential(mk_call)),
                ("sequential", "zeep", sequential(z_call)),
                ("sequential", "bare httpx POST", sequential(bare_call)),
                ("10 threads", "mktows Client", threaded(mk_call)),
                ("10 threads", "zeep", threaded(z_call)),
                ("10 threads", "bare httpx POST", threaded(bare_call)),
            ]
            plan += [
                ("10 asyncio tasks", name, concurrent_tasks(o, c, x))
                for name, o, c, x in async_rows
            ]
            for case in ("sequential", "10 threads", "10 asyncio tasks"):
                chosen = [(name, runner) for c, name, runner in plan if c == case]
                found = throughput(
                    [r for _, r in chosen], repeat=repeat, max_calls=max_calls, seconds=seconds
                )
                rows += [
                    Row(GROUP, case, n, v, "calls/s")
                    for (n, _), v in zip(chosen, found, strict=True)
                ]
        finally:
            client.close()
            bare.close()
            zclient.transport.session.close()
    return rows
