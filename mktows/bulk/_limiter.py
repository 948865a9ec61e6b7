"""A client-side limiter for calls per sliding window and concurrent calls (SPEC §5),
with back-pressure from the service's own limit faults and a halt for Ctrl-C.

It only paces callers; it never sends anything itself and knows nothing of SOAP.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import math
import time
from collections.abc import AsyncIterator, Callable
from types import TracebackType

import httpx

from .._errors import ConfigError

__all__ = ["LIMIT_CODES", "DispatchStopped", "PacingError", "RateLimiter", "nap"]

RATE_LIMITED = 20023  # the service's window is full (REST 606)
CONCURRENCY_LIMITED = 20024  # too many calls at once at the service (REST 615)
LIMIT_CODES = frozenset({RATE_LIMITED, CONCURRENCY_LIMITED})  # back-pressure, not a retry


async def nap(halt: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less when ``halt`` is set meanwhile."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(halt.wait(), seconds)


class DispatchStopped(Exception):
    """Raised to a caller waiting for the limiter once :meth:`RateLimiter.halt` was
    called: the call was never let through, so nothing was sent."""


class PacingError(ConfigError):
    """The same limiter paces a client twice (transport and ``async with``)."""


# The limiters the current task is inside of (``async with limiter``). A limited
# transport that finds its own limiter here refuses the request: waiting for a second
# slot while holding one deadlocks as soon as every slot is held by such a waiter.
_HELD: contextvars.ContextVar[tuple[RateLimiter, ...]] = contextvars.ContextVar(
    "mktows_limiters_held", default=()
)


class RateLimiter:
    """Keep a client under ``calls`` per ``window`` seconds and ``concurrency`` calls at once.

    >>> limiter = RateLimiter(calls=100, window=20.0, concurrency=10)
    >>> async with limiter:
    ...     result = await client.sync_lead(lead)

    The defaults are the service's limits (SPEC §5). A limit of 0 turns that
    limit off. The window slides, like the server's, and is counted strictly:
    the server counts a call at some moment between its send and its answer,
    so a call holds its place in the window from the moment it is let through
    until ``window + margin`` seconds after it is released (``margin``
    defaults to 1% of the window, at least 10 ms: the release comes after the
    answer, so the margin covers only what the server does after answering,
    not the network). No latency jitter can then put ``calls + 1`` calls
    inside the server's window.

    Entering the limiter only paces: it never sends. To count every HTTP
    attempt of a client, retries included, build the client with
    ``transport=limiter.transport()`` instead. Use one of the two, never both
    with the same limiter: a call made inside ``async with limiter`` through a
    client whose transport is ``limiter.transport()`` raises ConfigError
    (it would need two slots at once and could wait forever).

    Back-pressure: :meth:`limited` is told of each 20023/20024 the service
    answers; it pauses every caller until the service's window can admit a
    call again and lowers the local rate while such faults keep coming (other
    integrations share the instance's limit); the rate climbs back after calm
    windows. :meth:`seed` counts calls an earlier process made in the window;
    ``on_call`` (if set) is called as each call is let through. :meth:`halt`
    stops it for good: waiting and later callers get :class:`DispatchStopped`.
    """

    def __init__(
        self,
        calls: int = 100,
        window: float = 20.0,
        concurrency: int = 10,
        *,
        margin: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if calls < 0 or window < 0 or concurrency < 0:
            raise ConfigError("RateLimiter limits must be >= 0 (0 turns a limit off)")
        if calls > 0 and window <= 0:
            raise ConfigError("RateLimiter needs a window > 0 seconds when calls > 0")
        if margin is not None and margin < 0:
            raise ConfigError("RateLimiter margin must be >= 0 seconds")
        self.calls = calls
        self.window = window
        self.concurrency = concurrency
        self.margin = max(0.01, window * 0.01) if margin is None else margin
        self._clock = clock
        self._finished: collections.deque[float] = collections.deque()  # release times
        self._open = 0  # calls let through and not released: they hold a window place
        self._in_flight = 0
        # Created lazily: asyncio primitives bind to the loop that first uses them on 3.10.
        # The Event can be made at once: it binds to a loop only when awaited.
        self._window_lock: asyncio.Lock | None = None
        self._released = asyncio.Event()
        self._slots: asyncio.Semaphore | None = None
        self.allowed = calls  # the local rate now: lowered by limit faults, then restored
        self._paused_until = -math.inf
        self._lowered_at = -math.inf
        self._halted = False
        self._halt = asyncio.Event()
        self.on_call: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return (
            f"RateLimiter(calls={self.calls}, window={self.window:g}, "
            f"concurrency={self.concurrency}, margin={self.margin:g})"
        )

    @property
    def in_flight(self) -> int:
        """Calls currently inside the limiter."""
        return self._in_flight

    def halt(self) -> None:
        """Let no call through any more: every waiting and later :meth:`acquire` raises
        :class:`DispatchStopped`. Calls already let through go on and are released as usual.
        """
        self._halted = True
        self._halt.set()
        self._released.set()

    def _check_halt(self) -> None:
        if self._halted:
            raise DispatchStopped("the limiter was halted: the call was not sent")

    def limited(self, code: int | None) -> None:
        """The service answered ``code`` 20023 (window full) or 20024 (too many at once):
        pause all callers (a full window for 20023, a second for 20024) and lower the
        local rate, at most once per window. Other codes are ignored.
        """
        if code not in LIMIT_CODES:
            return
        now = self._clock()
        span = self.window + self.margin if self.window else 1.0
        pause = span if code == RATE_LIMITED else min(span, 1.0)
        self._paused_until = max(self._paused_until, now + pause)
        if self.calls and now - self._lowered_at >= span:
            self._lowered_at = now
            self.allowed = max(1, int(self.allowed * 0.8))

    def seed(self, ages: list[float]) -> None:
        """Count calls made ``ages`` seconds ago (by an earlier run) in the window."""
        now = self._clock()
        span = self.window + self.margin
        times = [now - max(age, 0.0) for age in ages if age < span]
        self._finished = collections.deque(sorted([*self._finished, *times]))

    async def acquire(self) -> None:
        """Wait for a concurrency slot, then for room in the window; pair with :meth:`release`.

        Raises DispatchStopped once the limiter is halted (nothing is held then).
        """
        self._check_halt()
        if self.concurrency:
            if self._slots is None:
                self._slots = asyncio.Semaphore(self.concurrency)
            await self._slots.acquire()
        try:
            self._check_halt()
            await self._wait_for_window()
        except BaseException:
            if self._slots is not None:
                self._slots.release()
            raise
        self._in_flight += 1
        if self.on_call is not None:
            self.on_call()

    async def _wait_for_window(self) -> None:
        if self._window_lock is None:
            self._window_lock = asyncio.Lock()
        # One waiter at a time keeps the order fair and the counts consistent.
        async with self._window_lock:
            span = self.window + self.margin
            while True:
                self._check_halt()
                now = self._clock()
                if now < self._paused_until:  # the service said its window is full
                    await nap(self._halt, self._paused_until - now)
                    continue
                if not self.calls:
                    return
                while self._finished and self._finished[0] + span <= now:
                    self._finished.popleft()
                if self.allowed < self.calls and now - self._lowered_at >= 2 * span:
                    self._lowered_at = now  # calm for two windows: climb back
                    self.allowed = min(self.calls, self.allowed + max(1, self.calls // 10))
                if self._open + len(self._finished) < self.allowed:
                    self._open += 1
                    return
                if self._finished:
                    await nap(self._halt, self._finished[0] + span - now)
                else:  # every place is held by a call still running: wait for one to end
                    self._released.clear()
                    await self._released.wait()

    def release(self) -> None:
        """End a call let through by :meth:`acquire`: free its concurrency slot and
        start the countdown of its window place.
        """
        self._in_flight -= 1
        if self.calls:
            self._open -= 1
            self._finished.append(self._clock())
            self._released.set()
        if self._slots is not None:
            self._slots.release()

    async def __aenter__(self) -> RateLimiter:
        await self.acquire()
        _HELD.set((*_HELD.get(), self))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        held = list(_HELD.get())
        with contextlib.suppress(ValueError):  # exited in another context than entered
            held.remove(self)
        _HELD.set(tuple(held))
        self.release()

    def transport(self, inner: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncBaseTransport:
        """An httpx transport that passes every request through this limiter.

        The concurrency slot is held until the response body is closed, so a
        call counts as running for as long as the server may count it. A request
        made inside ``async with`` this same limiter raises ConfigError: pace a
        client either with its transport or with ``async with``, not both.
        """
        return _LimitedTransport(inner or httpx.AsyncHTTPTransport(), self)


class _LimitedTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, limiter: RateLimiter) -> None:
        self._inner = inner
        self._limiter = limiter

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if any(held is self._limiter for held in _HELD.get()):
            raise PacingError(
                f"{self._limiter!r} paces this client twice: as its transport and with "
                "'async with' (e.g. sync_leads(..., limiter=...)); use one of the two"
            )
        await self._limiter.acquire()
        try:
            response = await self._inner.handle_async_request(request)
        except BaseException:
            self._limiter.release()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_ReleasingStream(response.stream, self._limiter),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


class _ReleasingStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, limiter: RateLimiter) -> None:
        self._inner = inner
        self._limiter: RateLimiter | None = limiter

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            if self._limiter is not None:
                self._limiter.release()
                self._limiter = None
