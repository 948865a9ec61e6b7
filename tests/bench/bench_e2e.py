"""Group "end-to-end": syncLead calls over loopback against a fixed-response keep-alive
server, sequential, 10 threads and 10 asyncio tasks.

Rows: mktows Client / AsyncClient, zeep (Client / AsyncClient), and bare httpx
POSTing a prebuilt envelope (the floor: no build, no parse).

The mktows and bare httpx clients run over httpx's own transport with a counting
httpcore pool: each round reports how often the pool handed a connection that was
no longer free (``ConnectionNotAvailable``, retried inside httpcore), so a slow
round can be told from a slow client. Nothing of httpcore is patched.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpcore
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
from ._harness import BenchError, Row, rounds

GROUP = "end-to-end"
CONCURRENCY = 10
HEADERS = {
    "Content-Type": "text/xml; charset=utf-8",
    "SOAPAction": '"http://www.marketo.com/mktows/syncLead"',
}
WARMUP = 20
ASYNC_CASE = f"{CONCURRENCY} asyncio tasks"
# httpx's DEFAULT_LIMITS, so the counting pool behaves as the one httpx.Client() makes.
MAX_CONNECTIONS, MAX_KEEPALIVE, KEEPALIVE_EXPIRY = 100, 20, 5.0
# A round "churned" at this many pool retries per 100 calls. Calm rounds show a few
# (2-10: the race is open on every hand-over); churned ones 30-250, all round long.
CHURNED = 25.0

Call = Callable[[], object]
Run = Callable[[int, float], tuple[int, float]]


# -- connection-pool churn -----------------------------------------------------------
#
# httpcore 1.0.x assigns every queued request to the first idle connection; several
# requests can be handed the same one before the first marks it busy (the async
# stack yields inside anyio's Lock.acquire in between). The losers get
# ConnectionNotAvailable and go round the pool again (encode/httpcore #822, #1035,
# #1110). httpcore logs and traces nothing for this, so the pool below counts it at
# the one public seam: create_connection() wraps each connection it makes.


@dataclass
class PoolChurn:
    """Pool retries of one client: a running count, and (calls, retries) per timed round."""

    retries: int = 0
    per_round: list[tuple[int, int]] = field(default_factory=list)

    def start_round(self) -> None:
        self.retries = 0

    def end_round(self, calls: int) -> None:
        self.per_round.append((calls, self.retries))

    def summary(self, rates: list[float]) -> str:
        """E.g. ``churned 1/3; calls/s @ retries per 100 calls: 1,503 @ 4, 1,027 @ 191, ...``."""
        per_100 = [100 * r / max(c, 1) for c, r in self.per_round]
        churned = sum(1 for p in per_100 if p >= CHURNED)
        each = ", ".join(f"{rate:,.0f} @ {p:.0f}" for rate, p in zip(rates, per_100, strict=True))
        return f"churned {churned}/{len(per_100)}; calls/s @ retries per 100 calls: {each}"


class _Delegating:
    """What a counting connection answers by asking the connection it wraps."""

    _inner: httpcore.ConnectionInterface | httpcore.AsyncConnectionInterface

    def info(self) -> str:
        return self._inner.info()

    def can_handle_request(self, origin: httpcore.Origin) -> bool:
        return self._inner.can_handle_request(origin)

    def is_available(self) -> bool:
        return self._inner.is_available()

    def has_expired(self) -> bool:
        return self._inner.has_expired()

    def is_idle(self) -> bool:
        return self._inner.is_idle()

    def is_closed(self) -> bool:
        return self._inner.is_closed()


class _CountingConnection(_Delegating, httpcore.ConnectionInterface):
    _inner: httpcore.ConnectionInterface

    def __init__(self, inner: httpcore.ConnectionInterface, churn: PoolChurn) -> None:
        self._inner, self._churn = inner, churn

    def handle_request(self, request: httpcore.Request) -> httpcore.Response:
        try:
            return self._inner.handle_request(request)
        except httpcore.ConnectionNotAvailable:
            self._churn.retries += 1
            raise

    def close(self) -> None:
        self._inner.close()


class _AsyncCountingConnection(_Delegating, httpcore.AsyncConnectionInterface):
    _inner: httpcore.AsyncConnectionInterface

    def __init__(self, inner: httpcore.AsyncConnectionInterface, churn: PoolChurn) -> None:
        self._inner, self._churn = inner, churn

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        try:
            return await self._inner.handle_async_request(request)
        except httpcore.ConnectionNotAvailable:
            self._churn.retries += 1
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()


class _CountingPool(httpcore.ConnectionPool):
    def __init__(self, churn: PoolChurn) -> None:
        super().__init__(
            max_connections=MAX_CONNECTIONS,
            max_keepalive_connections=MAX_KEEPALIVE,
            keepalive_expiry=KEEPALIVE_EXPIRY,
        )
        self.churn = churn

    def create_connection(self, origin: httpcore.Origin) -> httpcore.ConnectionInterface:
        return _CountingConnection(super().create_connection(origin), self.churn)


class _AsyncCountingPool(httpcore.AsyncConnectionPool):
    def __init__(self, churn: PoolChurn) -> None:
        super().__init__(
            max_connections=MAX_CONNECTIONS,
            max_keepalive_connections=MAX_KEEPALIVE,
            keepalive_expiry=KEEPALIVE_EXPIRY,
        )
        self.churn = churn

    def create_connection(self, origin: httpcore.Origin) -> httpcore.AsyncConnectionInterface:
        return _AsyncCountingConnection(super().create_connection(origin), self.churn)


def counting_transport(churn: PoolChurn) -> httpx.HTTPTransport:
    """httpx's own transport over a pool that counts its retries into ``churn``."""
    transport = httpx.HTTPTransport()
    if not isinstance(transport._pool, httpcore.ConnectionPool):  # httpx changed: say so
        raise BenchError("end-to-end: httpx.HTTPTransport no longer holds a ConnectionPool")
    transport._pool = _CountingPool(churn)
    return transport


def async_counting_transport(churn: PoolChurn) -> httpx.AsyncHTTPTransport:
    """The asyncio twin of :func:`counting_transport`."""
    transport = httpx.AsyncHTTPTransport()
    if not isinstance(transport._pool, httpcore.AsyncConnectionPool):
        raise BenchError("end-to-end: httpx.AsyncHTTPTransport no longer holds a pool")
    transport._pool = _AsyncCountingPool(churn)
    return transport


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


def sequential(call: Call, churn: PoolChurn | None = None) -> Run:
    def run(max_calls: int, seconds: float) -> tuple[int, float]:
        for _ in range(WARMUP):
            call()
        if churn:
            churn.start_round()
        start = time.perf_counter()
        ends = start + seconds
        done = 0
        while done < max_calls and time.perf_counter() < ends:
            call()
            done += 1
        elapsed = time.perf_counter() - start
        if churn:
            churn.end_round(done)
        return done, elapsed

    return run


def threaded(call: Call, churn: PoolChurn | None = None) -> Run:
    """``CONCURRENCY`` threads sharing one client, sharing one count and one deadline."""

    def run(max_calls: int, seconds: float) -> tuple[int, float]:
        for _ in range(WARMUP):
            call()
        if churn:
            churn.start_round()
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
        if churn:
            churn.end_round(count[0])
        return count[0], elapsed

    return run


def concurrent_tasks(
    open_client: Callable[[], Any],
    call: Callable[[Any], Awaitable[object]],
    close: Callable[[Any], Awaitable[object]],
    churn: PoolChurn | None = None,
) -> Run:
    """``CONCURRENCY`` asyncio tasks sharing one client made inside a fresh event loop."""

    async def main(max_calls: int, seconds: float) -> tuple[int, float]:
        client = open_client()
        try:
            for _ in range(WARMUP):
                await call(client)
            if churn:
                churn.start_round()
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
            elapsed = time.perf_counter() - start
            if churn:
                churn.end_round(count)
            return count, elapsed
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


def run(*, repeat: int, async_repeat: int, seconds: float, max_calls: int) -> list[Row]:
    """Check every row's answer against the canned server, then measure calls/s.

    The asyncio case runs ``async_repeat`` rounds (its spread is the widest); each
    mktows and bare httpx rate row notes its rounds' range and pool churn.
    """
    record = lead(2)
    prebuilt = mktows.build_sync_lead_envelope(
        record,
        user_id=USER_ID,
        encryption_key=ENCRYPTION_KEY,
        workspace=WORKSPACE,
        timestamp=TIMESTAMP,
    )
    churn = {
        (case, name): PoolChurn()
        for case in ("sequential", "10 threads", ASYNC_CASE)
        for name in ("mktows", "bare httpx")
    }
    rows: list[Row] = []
    with fixed_server(success_body(None)) as url, wsdl_file(url) as wsdl:
        # one client per sync row, so each counts its own pool's retries
        clients = {
            case: mktows.Client(
                url, USER_ID, ENCRYPTION_KEY, transport=counting_transport(churn[case, "mktows"])
            )
            for case in ("sequential", "10 threads")
        }
        bares = {
            case: httpx.Client(transport=counting_transport(churn[case, "bare httpx"]))
            for case in ("sequential", "10 threads")
        }
        zclient = zeep_client(wsdl)
        try:

            def mk_call(case: str) -> Call:
                return lambda: clients[case].sync_lead(record, workspace=WORKSPACE)

            def bare_call(case: str) -> Call:
                return lambda: bares[case].post(url, content=prebuilt, headers=HEADERS).content

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

            for case in ("sequential", "10 threads"):
                _check("mktows Client", mk_call(case)())
                _check("bare httpx POST", bare_call(case)())
            _check("zeep", z_call())

            async def aclose(c: Any) -> None:
                await c.aclose()

            mk_async_churn = churn[ASYNC_CASE, "mktows"]
            bare_async_churn = churn[ASYNC_CASE, "bare httpx"]

            def mk_async_client() -> mktows.AsyncClient:
                transport = async_counting_transport(mk_async_churn)
                return mktows.AsyncClient(url, USER_ID, ENCRYPTION_KEY, transport=transport)

            def bare_async_client() -> httpx.AsyncClient:
                return httpx.AsyncClient(transport=async_counting_transport(bare_async_churn))

            async_rows: list[
                tuple[
                    str,
                    Callable[[], Any],
                    Callable[[Any], Awaitable[object]],
                    Callable[[Any], Awaitable[object]],
                    PoolChurn | None,
                ]
            ] = [
                ("mktows AsyncClient", mk_async_client, mk_async, aclose, mk_async_churn),
                ("zeep AsyncClient", open_zeep_async, zeep_async, zeep_close, None),
                (
                    "bare httpx AsyncClient POST",
                    bare_async_client,
                    bare_async,
                    aclose,
                    bare_async_churn,
                ),
            ]

            async def check_async() -> None:
                for name, opener, acall, closer, _ in async_rows:
                    c = opener()
                    try:
                        _check(name, await acall(c))
                    finally:
                        await closer(c)

            asyncio.run(check_async())

            plan: list[tuple[str, str, Run, PoolChurn | None]] = []
            for case, runner in (("sequential", sequential), ("10 threads", threaded)):
                mk, bare_churn = churn[case, "mktows"], churn[case, "bare httpx"]
                plan += [
                    (case, "mktows Client", runner(mk_call(case), mk), mk),
                    (case, "zeep", runner(z_call), None),
                    (case, "bare httpx POST", runner(bare_call(case), bare_churn), bare_churn),
                ]
            plan += [
                (ASYNC_CASE, name, concurrent_tasks(o, c, x, ch), ch)
                for name, o, c, x, ch in async_rows
            ]
            for case in ("sequential", "10 threads", ASYNC_CASE):
                chosen = [(name, runner, ch) for c, name, runner, ch in plan if c == case]
                per_round = rounds(
                    [r for _, r, _ in chosen],
                    repeat=async_repeat if case == ASYNC_CASE else repeat,
                    max_calls=max_calls,
                    seconds=seconds,
                )
                rows += [
                    Row(GROUP, case, n, statistics.median(rates), "calls/s", _note(rates, ch))
                    for (n, _, ch), rates in zip(chosen, per_round, strict=True)
                ]
        finally:
            for c in clients.values():
                c.close()
            for b in bares.values():
                b.close()
            zclient.transport.session.close()
    return rows


def _note(rates: list[float], churn: PoolChurn | None) -> str:
    """The spread of a rate row's rounds and, where counted, its pool churn."""
    spread = f"{min(rates):,.0f} to {max(rates):,.0f} in {len(rates)}"
    return spread if churn is None else f"{spread}; {churn.summary(rates)}"
