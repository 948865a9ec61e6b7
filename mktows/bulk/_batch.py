"""The bulk runner's REST path: rows go out up to 300 a Sync Leads call through a client's
``sync_leads_batch``, one :class:`RowResult` per row.

Rows that share a key never share a batch, and a batch waits for any batch in flight
that holds one of its keys (concurrent upserts of one key can create duplicate leads).
Holds only the rows of the batches in flight. Reads no files and writes none.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable, Sequence
from typing import Protocol

from .._codes import FATAL_CODES
from .._errors import ConfigError, FaultError, MktowsError, ValidationError
from .._models import LeadRecord, SyncLeadResult
from ..rest._batch import MAX_BATCH, key_values
from ._read import Row
from ._runner import RowResult, RowStatus

__all__ = ["BatchSyncer", "sync_leads_batched"]

DEFAULT_BATCHES = 5  # batches in flight: Adobe's advice of 5 concurrent calls per integration

Keys = frozenset[tuple[str, str]]


class BatchSyncer(Protocol):
    """What the batched runner needs of a client: AsyncRestClient fits."""

    async def sync_leads_batch(
        self,
        leads: Sequence[LeadRecord],
        *,
        return_lead: bool = False,
        workspace: str | None = None,
        marketo_cookies: Sequence[str | None] | None = None,
        batch_size: int = MAX_BATCH,
    ) -> list[SyncLeadResult | MktowsError]:
        """Insert or update many leads; one outcome per lead, in input order."""


def row_result(number: int, outcome: SyncLeadResult | MktowsError) -> RowResult:
    """One lead's outcome of a batch as its row's result (as the one-call runner makes
    it); a ConfigError (the client cannot send such rows at all) is raised."""
    if isinstance(outcome, SyncLeadResult):
        return RowResult(
            row=number,
            status=RowStatus(outcome.status.value),
            lead_id=outcome.lead_id,
            error=outcome.error,
            lead=outcome.lead,
        )
    if isinstance(outcome, ConfigError):
        raise outcome
    if isinstance(outcome, ValidationError):
        return RowResult(row=number, status=RowStatus.INVALID, error=str(outcome))
    if isinstance(outcome, FaultError):
        return RowResult(row=number, status=RowStatus.FAULT, code=outcome.code, error=str(outcome))
    return RowResult(row=number, status=RowStatus.ERROR, error=str(outcome))


def _numbered(rows: Iterable[Row | LeadRecord]) -> Iterable[Row]:
    for number, item in enumerate(rows, start=1):
        yield item if isinstance(item, Row) else Row(number, lead=item)


async def sync_leads_batched(
    client: BatchSyncer,
    rows: Iterable[Row | LeadRecord],
    *,
    batch_size: int = MAX_BATCH,
    workers: int = DEFAULT_BATCHES,
    return_lead: bool = False,
    workspace: str | None = None,
    stop: asyncio.Event | None = None,
) -> AsyncGenerator[RowResult, None]:
    """Sync ``rows`` in batches of up to ``batch_size`` (at most 300) leads, ``workers``
    batches at once; yield one :class:`RowResult` per row as its batch finishes.

    Pace the calls with the client's ``transport=limiter.transport()``: every HTTP
    request counts. A row without a lead is INVALID at once. A fault that would fail
    every other call too (20013, 20014, 20015) stops the run and is raised once the
    batches in flight are done; so is a ConfigError. Setting ``stop`` stops starting
    batches (the rows not started get no result: a resumed run sends them).
    """
    if not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH:
        raise ConfigError(f"batch_size must be 1 to {MAX_BATCH}, got {batch_size!r}")
    halt = stop if stop is not None else asyncio.Event()
    pending: dict[asyncio.Task[list[RowResult]], Keys] = {}
    fatal: list[FaultError] = []

    async def call(batch: list[Row]) -> list[RowResult]:
        leads = [row.lead for row in batch if row.lead is not None]
        outcomes = await client.sync_leads_batch(
            leads,
            return_lead=return_lead,
            workspace=workspace,
            marketo_cookies=[row.cookie for row in batch],
            batch_size=batch_size,
        )
        found = []
        for row, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, FaultError) and outcome.code in FATAL_CODES and not fatal:
                fatal.append(outcome)
                halt.set()
            found.append(row_result(row.number, outcome))
        return found

    async def harvest(tasks: Iterable[asyncio.Task[list[RowResult]]]) -> list[RowResult]:
        done: list[RowResult] = []
        for task in tasks:
            del pending[task]
            done.extend(task.result())  # a bug or a ConfigError is raised from here
        return done

    async def dispatch(batch: list[Row], keys: Keys) -> AsyncGenerator[RowResult, None]:
        while True:
            blocking = [task for task, held in pending.items() if held & keys]
            if not blocking and len(pending) >= workers:
                blocking = list(pending)
            if not blocking:
                break
            finished, _ = await asyncio.wait(blocking, return_when=asyncio.FIRST_COMPLETED)
            for result in await harvest(finished):
                yield result
        if not halt.is_set():
            pending[asyncio.ensure_future(call(batch))] = keys

    batch: list[Row] = []
    keys: set[tuple[str, str]] = set()
    try:
        for row in _numbered(rows):
            if halt.is_set():
                break
            if row.lead is None:
                yield RowResult(row=row.number, status=RowStatus.INVALID, error=row.error)
                continue
            row_keys = key_values(row.lead, None)
            if batch and (row_keys & keys or len(batch) >= batch_size):
                async for result in dispatch(batch, frozenset(keys)):
                    yield result
                batch, keys = [], set()
            batch.append(row)
            keys |= row_keys
        if batch and not halt.is_set():
            async for result in dispatch(batch, frozenset(keys)):
                yield result
        while pending:
            finished, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for result in await harvest(finished):
                yield result
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    if fatal:
        raise fatal[0]
