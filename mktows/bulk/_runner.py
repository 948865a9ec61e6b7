"""The bulk runner: many syncLead calls at once over an async client (SOAP or REST),
one result per row.

Holds only a bounded number of rows at a time; paces through a RateLimiter.
It reads no files and writes none (see _bulk_read and _bulk_journal).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncGenerator, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from .._codes import FATAL_CODES, RETRYABLE_CODES
from .._errors import ConfigError, FaultError, MktowsError, ValidationError
from .._models import LeadRecord, SyncLeadResult
from ._limiter import RateLimiter
from ._read import Row

__all__ = ["LeadSyncer", "RowResult", "RowStatus", "sync_leads"]

# Faults that will fail every following call as well: the run stops (SPEC §4).

DEFAULT_WORKERS = 10


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
    FAULT = "FAULT"  # the service answered a SOAP fault (``code``)
    ERROR = "ERROR"  # no usable answer (network, timeout, garbage) after the retries

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True, kw_only=True)
class RowResult:
    """What happened to one row: its ``row`` number, ``status``, the ``lead_id``
    (when synced), the fault ``code`` and the ``error`` text; ``lead`` when asked for.
    """

    row: int
    status: RowStatus
    lead_id: int | None = None
    code: int | None = None
    error: str | None = None
    lead: LeadRecord | None = None

    @property
    def final(self) -> bool:
        """True when trying the row again cannot change the outcome.

        False for network errors and for faults that are transient (20016,
        20023, 20024, 10001, 20011) or stop the run (20013, 20014, 20015): a
        resumed run sends those rows again.
        """
        if self.status is RowStatus.ERROR:
            return False
        if self.status is RowStatus.FAULT:
            return self.code not in FATAL_CODES and self.code not in RETRYABLE_CODES
        return True


def _from_result(row: int, result: SyncLeadResult) -> RowResult:
    return RowResult(
        row=row,
        status=RowStatus(result.status.value),
        lead_id=result.lead_id,
        error=result.error,
        lead=result.lead,
    )


async def _sync_one(
    client: LeadSyncer,
    row: Row,
    limiter: RateLimiter | None,
    return_lead: bool,
    workspace: str | None,
) -> tuple[RowResult, FaultError | None]:
    if row.lead is None:
        return RowResult(row=row.number, status=RowStatus.INVALID, error=row.error), None
    try:
        if limiter is None:
            result = await client.sync_lead(
                row.lead, return_lead=return_lead, workspace=workspace, marketo_cookie=row.cookie
            )
        else:
            async with limiter:
                result = await client.sync_lead(
                    row.lead,
                    return_lead=return_lead,
                    workspace=workspace,
                    marketo_cookie=row.cookie,
                )
    except ConfigError:
        raise  # the client cannot work at all (closed, misconfigured): stop the run
    except ValidationError as exc:
        if exc.field == "workspace":
            # A workspace the client cannot map fails every row alike: a settings error,
            # not a bad row (journaled as INVALID, no resume would ever send the rows).
            raise ConfigError(str(exc)) from exc
        return RowResult(row=row.number, status=RowStatus.INVALID, error=str(exc)), None
    except FaultError as exc:
        fatal = exc if exc.code in FATAL_CODES else None
        return RowResult(
            row=row.number, status=RowStatus.FAULT, code=exc.code, error=str(exc)
        ), fatal
    except MktowsError as exc:
        return RowResult(row=row.number, status=RowStatus.ERROR, error=str(exc)), None
    return _from_result(row.number, result), None


def _numbered(rows: Iterable[Row | LeadRecord]) -> Iterator[Row]:
    for number, item in enumerate(rows, start=1):
        yield item if isinstance(item, Row) else Row(number, lead=item)


async def sync_leads(
    client: LeadSyncer,
    rows: Iterable[Row | LeadRecord],
    *,
    limiter: RateLimiter | None = None,
    workers: int | None = None,
    return_lead: bool = False,
    workspace: str | None = None,
    stop: asyncio.Event | None = None,
) -> AsyncGenerator[RowResult, None]:
    """Sync ``rows`` concurrently; yield one :class:`RowResult` per row, as each finishes.

    >>> limiter = RateLimiter(calls=100, window=20.0, concurrency=10)
    >>> async with AsyncClient(URL, USER, KEY, transport=limiter.transport()) as client:
    ...     async for result in sync_leads(client, leads, workers=limiter.concurrency):
    ...         print(result.row, result.status, result.lead_id)

    Pace the calls with a :class:`RateLimiter` in one of two ways, never both
    with the same limiter (that raises ConfigError): as the client's
    ``transport=limiter.transport()``, which counts every HTTP attempt,
    retries included (recommended); or as ``limiter=limiter`` here, which
    counts each row's call once, however many attempts it makes.

    ``client`` is an AsyncClient or an AsyncRestClient (any :class:`LeadSyncer`).
    ``rows`` holds LeadRecords (numbered from 1) or :class:`Row` objects (from
    :func:`read_rows`); it is consumed lazily, at most about ``2 * workers``
    rows ahead of the results. ``workers`` (default: the limiter's concurrency,
    else 10) calls run at once, each inside ``limiter`` when one is given.
    A bad row or a failed call becomes its result, never an exception; a
    ConfigError (a closed client, a workspace the client cannot map, a
    limiter given both ways) stops the run and is raised.

    Setting ``stop`` stops starting new calls: the calls in flight finish and
    their results are yielded. A fault that would fail every other call too
    (20013, 20014, 20015) stops the run the same way and is raised once the
    calls in flight are done. Exceptions from ``rows`` itself are raised too.
    """
    count = workers or (limiter.concurrency if limiter and limiter.concurrency else 0)
    count = count or DEFAULT_WORKERS
    todo: asyncio.Queue[Row | None] = asyncio.Queue(maxsize=count)
    done: asyncio.Queue[RowResult | None] = asyncio.Queue(maxsize=2 * count)
    halt = stop if stop is not None else asyncio.Event()
    problems: list[BaseException] = []

    async def feed() -> None:
        try:
            for row in _numbered(rows):
                if halt.is_set():
                    break
                await todo.put(row)
        except Exception as exc:  # raised to the caller once the rows read so far are done
            problems.append(exc)
        # Not in a finally: a cancelled run has no worker left to take these.
        for _ in range(count):
            await todo.put(None)

    async def work() -> None:
        # Every worker reads until its end marker, even after a failure, so that the
        # feeder is never left blocked on a full queue.
        while (row := await todo.get()) is not None:
            if halt.is_set():
                continue  # not started: a resumed run sends it
            try:
                result, fatal = await _sync_one(client, row, limiter, return_lead, workspace)
            except Exception as exc:  # a bug, not a row's outcome: stop and raise it
                problems.append(exc)
                halt.set()
                continue
            if fatal is not None:
                if not problems:
                    problems.append(fatal)
                halt.set()
            await done.put(result)
        await done.put(None)

    tasks = [asyncio.ensure_future(feed())]
    tasks += [asyncio.ensure_future(work()) for _ in range(count)]
    try:
        running = count
        while running:
            item = await done.get()
            if item is None:
                running -= 1
            else:
                yield item
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if problems:
        raise problems[0]
