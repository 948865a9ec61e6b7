"""The bulk runner's units of work: one row through ``sync_lead``, or a batch of rows
through ``sync_leads_batch`` (REST: up to 300 leads a Sync Leads call). Both share the
run's pacing, back-pressure, reach and halt, and give one :class:`RowResult` per row.

Sends only through the client it is given; reads and writes no files.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence
from typing import Protocol

from .._codes import FATAL_CODES
from .._errors import ConfigError, FaultError, MktowsError, TransportError, ValidationError
from .._models import LeadRecord, SyncLeadResult
from .._retry import RetryPolicy
from .._transport import connection_failed
from ._limiter import LIMIT_CODES, DispatchStopped, PacingError, RateLimiter, nap
from ._outcome import RowResult, UnreachableError, failure, invalid, synced
from ._read import Row

__all__ = ["BatchSyncer", "LeadSyncer", "Reach", "Run"]

log = logging.getLogger(__name__)


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


class BatchSyncer(LeadSyncer, Protocol):
    """A client that also syncs many leads a call: AsyncRestClient fits."""

    async def sync_leads_batch(
        self,
        leads: Sequence[LeadRecord],
        *,
        return_lead: bool = False,
        workspace: str | None = None,
        marketo_cookies: Sequence[str | None] | None = None,
        batch_size: int = ...,
    ) -> list[SyncLeadResult | MktowsError]:
        """Insert or update many leads; one outcome per lead, in input order."""


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


class Reach:
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


class Run:
    """One sync_leads run: its options, shared state and the attempt of one unit."""

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
        batcher: BatchSyncer | None,
        batch_size: int,
        reach: Reach,
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
        self.batcher = batcher  # the client, when rows go in batches
        self.batch_size = batch_size
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

    def _limited(self, code: int) -> None:
        self.reach.answer()  # the service answered: it is there, only full
        for gate in self.gates:
            gate.limited(code)  # all dispatch waits; the rows keep their tries

    def _heard(self, exc: MktowsError) -> None:
        """A call failed: unless it never got an answer, the server is there."""
        if not isinstance(exc, TransportError):
            self.reach.answer()

    def _check_client(self) -> None:
        check = getattr(self.client, "_check_open", None)
        if check is not None:
            check()  # a closed client fails every row: that stops the run

    async def _reconnect(self, label: str, exc: MktowsError, reconnects: int) -> bool:
        """After a failed connection: False when the run stops (unreachable), else wait."""
        if self.reach.failed():
            self.stop(UnreachableError(_reason(exc)))
            return False
        wait = min(0.25 * 2**reconnects, 2.0)
        log.warning("%s: %s; retry %d in %.2fs", label, exc, reconnects, wait)
        await nap(self.halt, wait)
        return True

    async def _backoff(self, label: str, error: str | None, tries: int) -> None:
        wait = self.backoff.delay(tries, self.random.random())
        log.warning("%s: %s; retry %d in %.2fs", label, error, tries, wait)
        await nap(self.halt, wait)

    async def _call(self, row: Row) -> SyncLeadResult:
        assert row.lead is not None
        async with self.gate:
            return await self.client.sync_lead(
                row.lead,
                return_lead=self.return_lead,
                workspace=self.workspace,
                marketo_cookie=row.cookie,
            )

    async def attempt(self, row: Row) -> RowResult | None:
        """The outcome of one row, tried as often as the policy allows; None when the run
        stopped before the row was finished (it stays pending: a rerun sends it)."""
        if row.lead is None:
            return invalid(row, row.error or "invalid row")
        tries = reconnects = limited = 0
        last: RowResult | None = None
        label = f"row {row.number}"
        while not self.halt.is_set():
            try:
                result = await self._call(row)
            except DispatchStopped:
                return last  # the row waited at the limiter: it was not sent
            except PacingError:
                raise
            except ConfigError as exc:
                self._check_client()
                return invalid(row, str(exc))  # this row cannot go over this wire
            except ValidationError as exc:
                return invalid(row, str(exc))
            except MktowsError as exc:
                if isinstance(exc, FaultError) and exc.code in LIMIT_CODES:
                    self._limited(exc.code)
                    limited += 1
                    if limited < self.limit_rounds:
                        continue
                    return failure(row, exc)  # the window never opened: a rerun tries
                if connection_failed(exc):
                    reconnects += 1
                    if not await self._reconnect(label, exc, reconnects):
                        return last
                    continue
                self._heard(exc)
                last = failure(row, exc)
                if last.code in FATAL_CODES:
                    self.stop(exc)
                    return last
                if not exc.retryable or tries >= self.retries:
                    return last
            else:
                self.reach.answer()
                return synced(row, result)
            tries += 1
            await self._backoff(label, last.error, tries)
        return last

    async def _call_batch(self, rows: list[Row]) -> list[SyncLeadResult | MktowsError]:
        assert self.batcher is not None  # sync_leads batches only with a BatchSyncer
        leads = [row.lead for row in rows if row.lead is not None]
        async with self.gate:
            return await self.batcher.sync_leads_batch(
                leads,
                return_lead=self.return_lead,
                workspace=self.workspace,
                marketo_cookies=[row.cookie for row in rows],
                batch_size=self.batch_size,
            )

    async def attempt_batch(self, rows: list[Row]) -> list[RowResult]:
        """The outcomes of a batch of rows sharing no key, sent together and tried as the
        one-row attempt tries a row: a limit fault of a call puts its rows back without
        spending a try, a failed connection counts toward the stop, other transient
        failures are tried again ``retries`` times. A row the wire cannot carry is
        INVALID. The rows not finished when the run stops give no result (a rerun sends
        them)."""
        results = [invalid(row, row.error or "invalid row") for row in rows if row.lead is None]
        todo = [row for row in rows if row.lead is not None]
        last: dict[int, RowResult] = {}
        tries = reconnects = limited = 0
        label = f"rows {todo[0].number}-{todo[-1].number}" if todo else ""
        while todo and not self.halt.is_set():
            try:
                outcomes = await self._call_batch(todo)
            except DispatchStopped:
                break  # the batch waited at the limiter: it was not sent
            except MktowsError as exc:  # a closed client, or a workspace with no partition
                if isinstance(exc, ConfigError):
                    self._check_client()
                outcomes = [exc] * len(todo)
            again: list[Row] = []
            limit: int | None = None  # the limit fault's code
            unreached: MktowsError | None = None
            retry: MktowsError | None = None
            for row, outcome in zip(todo, outcomes, strict=True):
                if isinstance(outcome, SyncLeadResult):
                    self.reach.answer()
                    results.append(synced(row, outcome))
                elif isinstance(outcome, PacingError):
                    raise outcome
                elif isinstance(outcome, (ConfigError, ValidationError)):
                    results.append(invalid(row, str(outcome)))  # this row only
                elif isinstance(outcome, FaultError) and outcome.code in LIMIT_CODES:
                    limit = outcome.code
                    last[row.number] = failure(row, outcome)
                    again.append(row)
                elif connection_failed(outcome):
                    unreached = outcome
                    again.append(row)
                else:
                    self._heard(outcome)
                    last[row.number] = failed = failure(row, outcome)
                    if failed.code in FATAL_CODES:
                        self.stop(outcome)
                        results.append(failed)
                    elif outcome.retryable and tries < self.retries:
                        retry = outcome
                        again.append(row)
                    else:
                        results.append(failed)
            todo = again
            if not todo:
                break
            if limit is not None:
                self._limited(limit)
                limited += 1
                if limited < self.limit_rounds:
                    continue
                break  # the window never opened: these rows end as the fault (a rerun tries)
            if unreached is not None:
                reconnects += 1
                if not await self._reconnect(label, unreached, reconnects):
                    break
                continue
            assert retry is not None
            tries += 1
            await self._backoff(label, str(retry), tries)
        results.extend(last[row.number] for row in todo if row.number in last)
        return results
