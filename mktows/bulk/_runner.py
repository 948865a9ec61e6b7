"""The bulk runner: many syncLead calls at once over an async client (SOAP or REST),
one result per row.

Holds only a bounded number of rows at a time; paces through a RateLimiter, backs
off from the service's limit faults, runs rows sharing a key one after another and
stops when the server cannot be reached. Each row is one unit of work (``_attempt``).
It reads no files and writes none (see _read and _journal).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from .._codes import FATAL_CODES, RETRYABLE_CODES
from .._errors import ConfigError, FaultError, MktowsError, TransportError, ValidationError
from .._models import LeadRecord, SyncLeadResult
from .._retry import RetryPolicy
from .._transport import connection_failed
from ._keys import KeyChains, Turn
from ._limiter import DispatchStopped, PacingError, RateLimiter
from ._read import NO_KEYS, Keys, Row

__all__ = ["LeadSyncer", "RowResult", "RowStatus", "UnreachableError", "sync_leads"]

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 10
LIMIT_CODES = frozenset({20023, 20024})  # the shared window is full: back-pressure, not a retry
CONNECT_FAILURES = 3  # consecutive failed connections before any answer that stop the run
GIVE_UP_AFTER = 60.0  # seconds without a connection, after answers, that stop the run
SERVICE_WINDOW = 20.0  # the service's rate window (SPEC §5), when no limiter is given
LIMIT_ROUNDS = 10  # limit faults in a row for one row before it ends as that FAULT


class UnreachableError(TransportError):
    """The server could not be reached: ``reason`` says why. The rows not finished
    were not journaled, so nothing was lost: run again to resume."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"cannot reach the server: {reason}")
        self.reason = reason


class LeadSyncer(Protocol):
    """What the runner needs of a client: AsyncClient and AsyncRestClient both fit."""

    async def sync_lead(
        self,
        lead: LeadRecord,
        *,
        return_lead: bool = False,
        workspace: str | None = None,
        marketo_cookie: str | None = None,
    ) -> SyncLeadResult:
        """Insert or update one lead."""


class RowStatus(str, enum.Enum):
    """The outcome of one row of a bulk sync."""

    CREATED = "CREATED"  # synced: a new lead
    UPDATED = "UPDATED"  # synced: an existing lead
    FAILED = "FAILED"  # the service answered FAILED (reason in ``error``)
    INVALID = "INVALID"  # the row cannot be sent (no key, bad Id, …); nothing was sent
    FAULT = "FAULT"  # the service answered a fault (``code``)
    ERROR = "ERROR"  # no usable answer (network, timeout, garbage) after the retries

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True, kw_only=True)
class RowResult:
    """What happened to one row: its ``row`` number, ``status``, the ``lead_id``
    (when synced), the fault ``code`` and the ``error`` text; ``lead`` when asked for;
    ``keys``: the row's Id, Email and ForeignSysPersonId as read ("" when absent).
    """

    row: int
    status: RowStatus
    lead_id: int | None = None
    code: int | None = None
    error: str | None = None
    lead: LeadRecord | None = None
    keys: Keys = NO_KEYS

    @property
    def final(self) -> bool:
        """True when a rerun leaves the row as it is (see the README's table).

        CREATED, UPDATED and FAILED are final, and so is a fault that says the
        row itself is wrong (20103, 20105, ...). INVALID (re-read with the
        rerun's options), ERROR and faults that are transient (20016, 20023,
        20024, 10001, 20011) or stop the run (20013, 20014, 20015) are not.
        """
        if self.status in (RowStatus.ERROR, RowStatus.INVALID):
            return False
        if self.status is RowStatus.FAULT:
            return self.code not in FATAL_CODES and self.code not in RETRYABLE_CODES
        return True


def _from_result(row: Row, result: SyncLeadResult) -> RowResult:
    return RowResult(
        row=row.number,
        status=RowStatus(result.status.value),
        lead_id=result.lead_id,
        error=result.error,
        lead=result.lead,
        keys=row.key_columns,
    )


def _numbered(rows: Iterable[Row | LeadRecord]) -> Iterator[Row]:
    for number, item in enumerate(rows, start=1):
        yield item if isinstance(item, Row) else Row(number, lead=item)


async def _nap(halt: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less when ``halt`` is set meanwhile."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(halt.wait(), seconds)


async def _unless_halted(waiting: Awaitable[None], halt: asyncio.Event) -> bool:
    """Wait for ``waiting``; False (and ``waiting`` cancelled) if ``halt`` is set first."""
    task = asyncio.ensure_future(waiting)
    stopper = asyncio.ensure_future(halt.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, stopper):
            pending.cancel()
        await asyncio.gather(task, stopper, return_exceptions=True)
    return task.done() and not task.cancelled() and task.exception() is None


def _reason(exc: BaseException) -> str:
    """Why a connection failed, as the OS said it ("Connection refused") when it did."""
    seen = exc.__cause__ or exc
    reason = f"{type(seen).__name__}: {seen}"
    link: BaseException | None = seen
    while link is not None:
        if isinstance(link, OSError) and link.strerror:
            reason = f"{type(seen).__name__}: {link.strerror}"
        link = link.__cause__ or link.__context__
    return reason


class _Reach:
    """Whether the server can be reached: stop after ``limit`` failed connections in a row
    before any answer, or after ``give_up_after`` seconds without one after answers."""

    def __init__(self, limit: int, give_up_after: float) -> None:
        self.limit = limit
        self.give_up_after = give_up_after
        self.answered = False
        self.failures = 0
        self.since: float | None = None

    def answer(self) -> None:
        self.answered = True
        self.failures = 0
        self.since = None

    def failed(self) -> bool:
        """Count a failed connection; True when the run should stop."""
        now = time.monotonic()
        self.failures += 1
        if self.since is None:
            self.since = now
        if not self.answered:
            return self.failures >= self.limit
        return now - self.since >= self.give_up_after


class _Run:
    """One sync_leads run: its options, shared state and the attempt of one row."""

    def __init__(
        self,
        client: LeadSyncer,
        *,
        gate: RateLimiter,
        paced: RateLimiter | None,
        return_lead: bool,
        workspace: str | None,
        retries: int,
        limit_rounds: int,
        reach: _Reach,
        halt: asyncio.Event,
    ) -> None:
        self.client = client
        self.gate = gate
        self.gates = [gate] if paced is None or paced is gate else [gate, paced]
        self.return_lead = return_lead
        self.workspace = workspace
        self.backoff = RetryPolicy(attempts=retries + 1)
        self.retries = retries
        self.limit_rounds = limit_rounds
        self.reach = reach
        self.halt = halt
        self.problems: list[BaseException] = []
        self.random = random.Random()

    def stop(self, problem: BaseException | None = None) -> None:
        """Stop dispatching: no row starts and no call goes out any more."""
        if problem is not None and not self.problems:
            self.problems.append(problem)
        self.halt.set()
        for gate in self.gates:
            gate.halt()

    async def _call(self, row: Row) -> SyncLeadResult:
        assert row.lead is not None
        async with self.gate:
            return await self.client.sync_lead(
                row.lead,
                return_lead=self.return_lead,
                workspace=self.workspace,
                marketo_cookie=row.cookie,
            )

    def _invalid(self, row: Row, error: str) -> RowResult:
        return RowResult(
            row=row.number, status=RowStatus.INVALID, error=error, keys=row.key_columns
        )

    def _failure(self, row: Row, exc: MktowsError) -> RowResult:
        if isinstance(exc, FaultError):
            return RowResult(
                row=row.number,
                status=RowStatus.FAULT,
                code=exc.code,
                error=str(exc),
                keys=row.key_columns,
            )
        return RowResult(
            row=row.number, status=RowStatus.ERROR, error=str(exc), keys=row.key_columns
        )

    async def attempt(self, row: Row) -> RowResult | None:
        """The outcome of one row, tried as often as the policy allows; None when the run
        stopped before the row was finished (it stays pending: a rerun sends it)."""
        if row.lead is None:
            return self._invalid(row, row.error or "invalid row")
        tries = reconnects = limited = 0
        last: RowResult | None = None
        while not self.halt.is_set():
            try:
                result = await self._call(row)
            except DispatchStopped:
                return last  # the row waited at the limiter: it was not sent
            except PacingError:
                raise
            except ConfigError as exc:
                check = getattr(self.client, "_check_open", None)
                if check is not None:
                    check()  # a closed client fails every row: that stops the run
                return self._invalid(row, str(exc))  # this row cannot go over this wire
            except ValidationError as exc:
                return self._invalid(row, str(exc))
            except MktowsError as exc:
                if isinstance(exc, FaultError) and exc.code in LIMIT_CODES:
                    self.reach.answer()
                    for gate in self.gates:
                        gate.limited(exc.code)  # all dispatch waits; the row keeps its tries
                    limited += 1
                    if limited < self.limit_rounds:
                        continue
                    return self._failure(row, exc)  # the window never opened: a rerun tries
                if connection_failed(exc):
                    if self.reach.failed():
                        self.stop(UnreachableError(_reason(exc)))
                        return last
                    reconnects += 1
                    wait = min(0.25 * 2**reconnects, 2.0)
                    log.warning("row %d: %s; retry %d in %.2fs", row.number, exc, reconnects, wait)
                    await _nap(self.halt, wait)
                    continue
                if not isinstance(exc, TransportError):
                    self.reach.answer()  # the server answered something
                last = self._failure(row, exc)
                if last.code in FATAL_CODES:
                    self.stop(exc)
                    return last
                if not exc.retryable or tries >= self.retries:
                    return last
            else:
                self.reach.answer()
                return _from_result(row, result)
            tries += 1
            wait = self.backoff.delay(tries, self.random.random())
            log.warning("row %d: %s; retry %d in %.2fs", row.number, last.error, tries, wait)
            await _nap(self.halt, wait)
        return last


async def sync_leads(
    client: LeadSyncer,
    rows: Iterable[Row | LeadRecord],
    *,
    limiter: RateLimiter | None = None,
    transport_limiter: RateLimiter | None = None,
    workers: int | None = None,
    return_lead: bool = False,
    workspace: str | None = None,
    stop: asyncio.Event | None = None,
    retries: int = 0,
    give_up_after: float = GIVE_UP_AFTER,
    connect_failures: int = CONNECT_FAILURES,
    limit_rounds: int = LIMIT_ROUNDS,
) -> AsyncGenerator[RowResult, None]:
    """Sync ``rows`` concurrently; yield one :class:`RowResult` per row, as each finishes.

    >>> limiter = RateLimiter(calls=100, window=20.0, concurrency=10)
    >>> async with AsyncClient(URL, USER, KEY, transport=limiter.transport()) as client:
    ...     async for result in sync_leads(client, leads, transport_limiter=limiter):
    ...         print(result.row, result.status, result.lead_id)

    Pace the calls with a :class:`RateLimiter` in one of two ways, never both
    with the same limiter (that raises ConfigError): as the client's
    ``transport=limiter.transport()``, passed here as ``transport_limiter``
    too, which counts every HTTP attempt, retries included (recommended); or
    as ``limiter=limiter``, which counts each call once, however many attempts
    it makes.

    ``client`` is an AsyncClient or an AsyncRestClient (any :class:`LeadSyncer`).
    ``rows`` holds LeadRecords (numbered from 1) or :class:`Row` objects (from
    :func:`read_rows`); it is consumed lazily, at most about ``2 * workers``
    rows ahead of the results. ``workers`` (default: the limiter's concurrency,
    else 10) rows run at once; rows sharing a key (Id, ForeignSysPersonId, Email
    in any case) run one after another, in file order. A bad row, or one the
    client's wire cannot carry, is INVALID; a failed call becomes its result,
    never an exception. A ConfigError (a closed client, a limiter given both
    ways) stops the run and is raised.

    A 20023/20024 (REST 606/615) pauses all dispatch until the service's window
    can admit a call (the limiters' window, else 20 s) and the row is tried
    again without spending a try (after ``limit_rounds`` such faults in a row it
    ends as that FAULT, which a rerun retries); ``retries`` more tries are given to a row
    after other transient failures (the client's own retries come on top).
    A server that refuses ``connect_failures`` connections in a row before any
    answer, or stays unreachable ``give_up_after`` seconds after answers, stops
    the run: :class:`UnreachableError` is raised once the calls in flight are
    done, and the unfinished rows yield nothing.

    Setting ``stop`` stops dispatch at once: rows waiting for a limiter are not
    sent, the calls in flight finish and their results are yielded. A fault
    that would fail every other call too (20013, 20014, 20015) stops the run
    the same way and is raised once the calls in flight are done. Exceptions
    from ``rows`` itself are raised too.
    """
    count = workers or (limiter.concurrency if limiter and limiter.concurrency else 0)
    count = count or DEFAULT_WORKERS
    todo: asyncio.Queue[tuple[Row, Turn] | None] = asyncio.Queue(maxsize=count)
    done: asyncio.Queue[RowResult | None] = asyncio.Queue(maxsize=2 * count)
    halt = stop if stop is not None else asyncio.Event()
    window = (transport_limiter.window if transport_limiter else 0.0) or SERVICE_WINDOW
    run = _Run(
        client,
        gate=limiter or RateLimiter(calls=0, window=window, concurrency=0),
        paced=transport_limiter,
        return_lead=return_lead,
        workspace=workspace,
        retries=retries,
        limit_rounds=limit_rounds,
        reach=_Reach(connect_failures, give_up_after),
        halt=halt,
    )
    chains = KeyChains()

    async def feed() -> None:
        try:
            for row in _numbered(rows):
                if halt.is_set():
                    break
                await todo.put((row, chains.turn(row.lead)))
        except Exception as exc:  # raised to the caller once the rows read so far are done
            run.problems.append(exc)
        # Not in a finally: a cancelled run has no worker left to take these.
        for _ in range(count):
            await todo.put(None)

    async def work() -> None:
        # Every worker reads until its end marker, even after a failure, so that the
        # feeder is never left blocked on a full queue.
        while (item := await todo.get()) is not None:
            row, turn = item
            result: RowResult | None = None
            try:
                if not halt.is_set() and await _unless_halted(turn.ready(), halt):
                    result = await run.attempt(row)
            except Exception as exc:  # a bug or a run-level ConfigError: stop and raise it
                run.stop(exc)
            finally:
                turn.done()
            if result is not None:
                await done.put(result)
        await done.put(None)

    async def watch() -> None:
        await halt.wait()
        run.stop()

    tasks = [asyncio.ensure_future(feed()), asyncio.ensure_future(watch())]
    tasks += [asyncio.ensure_future(work()) for _ in range(count)]
    try:
        running = count
        while running:
            item = await done.get()
            if item is None:
                running -= 1
            else:
                yield item
        await asyncio.gather(*tasks[:1], *tasks[2:])
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if run.problems:
        raise run.problems[0]
