"""The bulk runner: many leads synced at once over an async client (SOAP or REST), one
result per row.

Holds only a bounded number of rows at a time; paces through a RateLimiter, backs
off from the service's limit faults, runs rows sharing a key one after another and
stops when the server cannot be reached. A unit of work is one row (``sync_lead``) or,
over a client that takes many leads a call (REST), a batch of rows sharing no key
(``sync_leads_batch``); see _attempt. It reads no files and writes none (see _read and
_journal).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Iterable, Iterator
from typing import cast

from .._errors import ConfigError
from .._models import LeadRecord
from ..rest._batch import MAX_BATCH
from ._attempt import BatchSyncer, LeadSyncer, Reach, Run
from ._keys import KeyChains, Turn, lead_keys
from ._limiter import RateLimiter
from ._outcome import RowResult, RowStatus, UnreachableError
from ._read import Row

__all__ = [
    "BatchSyncer",
    "LeadSyncer",
    "RowResult",
    "RowStatus",
    "UnreachableError",
    "sync_leads",
]

DEFAULT_WORKERS = 10
CONNECT_FAILURES = 3  # consecutive failed connections before any answer that stop the run
GIVE_UP_AFTER = 60.0  # seconds without a connection, after answers, that stop the run
SERVICE_WINDOW = 20.0  # the service's rate window (SPEC §5), when no limiter is given
LIMIT_ROUNDS = 10  # limit faults in a row for one unit before its rows end as that FAULT


def _numbered(rows: Iterable[Row | LeadRecord]) -> Iterator[Row]:
    for number, item in enumerate(rows, start=1):
        yield item if isinstance(item, Row) else Row(number, lead=item)


async def _unless_halted(waiting: Awaitable[object], halt: asyncio.Event) -> bool:
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


def _batch_size(client: LeadSyncer, batch_size: int | None) -> BatchSyncer | None:
    """The client as a BatchSyncer when rows go in batches; None for one row a call."""
    batcher = client if hasattr(client, "sync_leads_batch") else None
    if batch_size is None:
        return cast("BatchSyncer | None", batcher)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise ConfigError(f"batch_size must be a whole number, got {batch_size!r}")
    if not 1 <= batch_size <= MAX_BATCH:
        raise ConfigError(f"batch_size must be 1 to {MAX_BATCH}, got {batch_size}")
    if batch_size > 1 and batcher is None:
        raise ConfigError(
            f"batch_size={batch_size} needs a client that syncs many leads a call "
            f"(AsyncRestClient); {type(client).__name__} sends one: leave batch_size out"
        )
    return cast("BatchSyncer", batcher) if batch_size > 1 else None


async def sync_leads(
    client: LeadSyncer,
    rows: Iterable[Row | LeadRecord],
    *,
    limiter: RateLimiter | None = None,
    transport_limiter: RateLimiter | None = None,
    workers: int | None = None,
    batch_size: int | None = None,
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
    as ``limiter=limiter``, which counts each unit of work once (a row, or a
    batch), however many HTTP requests it makes.

    ``client`` is an AsyncClient or an AsyncRestClient (any :class:`LeadSyncer`).
    Over a client that syncs many leads a call (AsyncRestClient's
    ``sync_leads_batch``) rows go ``batch_size`` to a call (default and at most
    300; 1 sends one lead a call through ``sync_lead``); over SOAP one a call
    (a ``batch_size`` over 1 raises ConfigError). ``rows`` holds LeadRecords
    (numbered from 1) or :class:`Row` objects (from :func:`read_rows`); it is
    consumed lazily, at most about ``2 * workers`` units ahead of the results.
    ``workers`` (default: the limiter's concurrency, else 10) units run at once;
    rows sharing a key (Id, ForeignSysPersonId, Email in any case) never share a
    batch and run one after another, in file order. A bad row, or one the
    client's wire cannot carry (a foreign id with no foreign-id field, a
    workspace with no partition), is INVALID; a failed call becomes its rows'
    results, never an exception. A ConfigError (a closed client, a limiter given
    both ways) stops the run and is raised.

    A 20023/20024 (REST 606/615) pauses all dispatch until the service's window
    can admit a call (the limiters' window, else 20 s) and the unit is tried
    again without spending a try (after ``limit_rounds`` such faults in a row its
    rows end as that FAULT, which a rerun retries); ``retries`` more tries are
    given after other transient failures (the client's own retries come on top).
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
    batcher = _batch_size(client, batch_size)
    size = (batch_size or MAX_BATCH) if batcher is not None else 1
    count = workers or (limiter.concurrency if limiter and limiter.concurrency else 0)
    count = count or DEFAULT_WORKERS
    todo: asyncio.Queue[tuple[list[Row], Turn] | None] = asyncio.Queue(maxsize=count)
    done: asyncio.Queue[RowResult | None] = asyncio.Queue(maxsize=2 * count)
    halt = stop if stop is not None else asyncio.Event()
    window = (transport_limiter.window if transport_limiter else 0.0) or SERVICE_WINDOW
    run = Run(
        client,
        gate=limiter or RateLimiter(calls=0, window=window, concurrency=0),
        paced=transport_limiter,
        return_lead=return_lead,
        workspace=workspace,
        retries=retries,
        limit_rounds=limit_rounds,
        batcher=batcher,
        batch_size=size,
        reach=Reach(connect_failures, give_up_after),
        halt=halt,
    )
    chains = KeyChains()

    async def feed() -> None:
        # A unit holds up to ``size`` rows, no two sharing a key: a row with a key of the
        # unit being filled starts the next one, which waits for this one to finish.
        unit: list[Row] = []
        keys: set[str] = set()
        try:
            for row in _numbered(rows):
                if halt.is_set():
                    break
                row_keys = lead_keys(row.lead)
                if not keys.isdisjoint(row_keys):
                    await todo.put((unit, chains.turn(tuple(keys))))
                    unit, keys = [], set()
                unit.append(row)
                keys.update(row_keys)
                if len(unit) >= size:
                    await todo.put((unit, chains.turn(tuple(keys))))
                    unit, keys = [], set()
            if unit and not halt.is_set():
                await todo.put((unit, chains.turn(tuple(keys))))
        except Exception as exc:  # raised to the caller once the rows read so far are done
            run.problems.append(exc)
        # Not in a finally: a cancelled run has no worker left to take these.
        for _ in range(count):
            await todo.put(None)

    # Over a client that reads a token and a schema before its first sync (REST), the
    # first unit runs alone: the others then find both cached instead of each worker
    # fetching its own, which would spend the first window on identity and Describe.
    warm = asyncio.Event()
    started = False
    if not hasattr(client, "sync_leads_batch"):
        warm.set()

    async def ready(turn: Turn) -> bool:
        nonlocal started
        if not warm.is_set() and started and not await _unless_halted(warm.wait(), halt):
            return False
        started = True
        return not halt.is_set() and await _unless_halted(turn.ready(), halt)

    async def work() -> None:
        # Every worker reads until its end marker, even after a failure, so that the
        # feeder is never left blocked on a full queue.
        while (item := await todo.get()) is not None:
            unit, turn = item
            results: list[RowResult] = []
            try:
                if await ready(turn):
                    if batcher is None:
                        result = await run.attempt(unit[0])
                        results = [] if result is None else [result]
                    else:
                        results = await run.attempt_batch(unit)
            except Exception as exc:  # a bug or a run-level ConfigError: stop and raise it
                run.stop(exc)
            finally:
                turn.done()
                warm.set()
            for result in results:
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
