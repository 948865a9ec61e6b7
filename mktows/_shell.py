"""The I/O shell every client shares: an httpx client, limits, a clock, and the two
drivers that run a pure call flow (send and sleep, sync or async). No protocol here:
SOAP and REST clients supply the flows.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Generic, TypeVar

import httpx

from ._errors import ConfigError, MktowsError
from ._flow import Flow, Pacing, Send
from ._retry import RetryPolicy
from ._transport import DEFAULT_TIMEOUT, asend, connection_failed, send

log = logging.getLogger(__name__)

DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
DEFAULT_DEADLINE = 120.0
# Retries of a call whose connections are refused (or fail DNS, TLS) stop once the next
# wait would end this many seconds after the first such failure: a server that is not
# there is reported in seconds, not after the whole backoff series.
CONNECT_RETRY_BUDGET = 3.0

H = TypeVar("H", httpx.Client, httpx.AsyncClient)
T = TypeVar("T", httpx.BaseTransport, httpx.AsyncBaseTransport)
R = TypeVar("R")
S = TypeVar("S")


def utc_now() -> dt.datetime:
    """The default clock: now, in UTC."""
    return dt.datetime.now(dt.timezone.utc)


def parse_url(value: object, what: str, example: str) -> httpx.URL:
    """An http(s) URL, or ConfigError saying what was expected."""
    try:
        url = httpx.URL(value)  # type: ignore[arg-type]
    except (httpx.InvalidURL, TypeError) as exc:
        raise ConfigError(f"{what} is not a URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigError(f"{what} must be an http(s) URL such as {example}, got {value!r}")
    return url


class ShellParts:
    """What a protocol mixin (SOAP, REST) uses of the shell it is mixed with; declared
    for type checkers only, so it shadows nothing at run time."""

    if TYPE_CHECKING:

        def _check_open(self) -> None: ...

        def _pacing(self) -> Pacing: ...


class _Unreachable:
    """Tracks a call's failed connections and bounds the time spent retrying them."""

    def __init__(self) -> None:
        self.error: MktowsError | None = None
        self.since = 0.0

    def failed(self, exc: MktowsError) -> None:
        if not connection_failed(exc):
            self.error = None
            return
        if self.error is None:
            self.since = time.monotonic()
        self.error = exc

    def give_up(self, wait: float) -> MktowsError | None:
        """The connection error to raise instead of waiting ``wait`` seconds, if any."""
        if self.error is not None and time.monotonic() + wait > self.since + CONNECT_RETRY_BUDGET:
            return self.error
        return None


class Shell(Generic[H, T]):
    """Settings shared by every client, and the logging of exchanges."""

    def __init__(
        self,
        http_client: H | None,
        transport: T | None,
        verify: bool,
        timeout: httpx.Timeout | float,
        deadline: float,
        retry: RetryPolicy | None,
        max_response_bytes: int,
        clock: Callable[[], dt.datetime],
    ) -> None:
        if deadline <= 0 or max_response_bytes <= 0:
            raise ConfigError("deadline and max_response_bytes must be positive")
        if http_client is not None and (transport is not None or not verify):
            raise ConfigError(
                "transport and verify apply to the httpx client mktows makes; with your own "
                "http_client, set them on it instead"
            )
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.deadline = deadline
        self.retry = retry or RetryPolicy()
        self.max_response_bytes = max_response_bytes
        self._clock = clock
        self._random = random.Random()
        self._owns_http = http_client is None
        self._http: H = http_client or self._new_http(transport, verify)

    def _pacing(self) -> Pacing:
        """The pacing of a call that starts now: this client's policy, deadline and clocks."""
        return Pacing(
            policy=self.retry,
            deadline=self.deadline,
            clock=self._clock,
            monotonic=time.monotonic,
            random=self._random.random,
        )

    def _new_http(self, transport: T | None, verify: bool) -> H:
        raise NotImplementedError

    def _check_open(self) -> None:
        if self._http.is_closed:
            raise ConfigError(
                f"this {type(self).__name__} is closed; make a new one (or keep using it "
                "inside its with block)"
            )

    def _url(self, action: Send) -> httpx.URL | str:
        raise NotImplementedError

    def _log_request(self, action: Send, url: httpx.URL | str) -> None:
        if log.isEnabledFor(logging.DEBUG):
            shown = "(withheld: it carries credentials)" if action.secret else action.body
            if isinstance(shown, bytes):
                shown = shown.decode("utf-8", "replace")
            log.debug("%s %s %s:\n%s", action.label, action.method, url, shown)

    def _log_response(self, action: Send, status: int, data: bytes) -> None:
        if log.isEnabledFor(logging.DEBUG):
            shown = "(withheld: it carries credentials)" if action.secret else data
            if isinstance(shown, bytes):
                shown = shown.decode("utf-8", "replace")
            log.debug("%s response, HTTP %d:\n%s", action.label, status, shown)


class SyncShell(Shell[httpx.Client, httpx.BaseTransport]):
    """A shell over ``httpx.Client`` that runs flows by blocking."""

    def _new_http(self, transport: httpx.BaseTransport | None, verify: bool) -> httpx.Client:
        return httpx.Client(transport=transport, verify=verify)

    def _drive(self, flow: Flow[R]) -> R:
        """Run a call flow: send what it asks, sleep when it says, return what it returns."""
        action = next(flow)
        refused = _Unreachable()
        while True:
            try:
                if not isinstance(action, Send):
                    stop = refused.give_up(action.seconds)
                    if stop is not None:
                        flow.close()
                        raise stop
                    time.sleep(action.seconds)
                    action = flow.send(None)
                    continue
                url = self._url(action)
                self._log_request(action, url)
                try:
                    status, data = send(
                        self._http, url, action, timeout=self.timeout, limit=self.max_response_bytes
                    )
                except MktowsError as exc:
                    refused.failed(exc)
                    action = flow.throw(exc)
                    continue
                self._log_response(action, status, data)
                action = flow.send((status, data))
            except StopIteration as stop:
                result: R = stop.value
                return result

    def close(self) -> None:
        """Close the connection pool (unless it was passed in)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self: S) -> S:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncShell(Shell[httpx.AsyncClient, httpx.AsyncBaseTransport]):
    """A shell over ``httpx.AsyncClient`` that runs flows with ``await``."""

    def _new_http(
        self, transport: httpx.AsyncBaseTransport | None, verify: bool
    ) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=transport, verify=verify)

    async def _adrive(self, flow: Flow[R]) -> R:
        """The async twin of :meth:`SyncShell._drive`."""
        action = next(flow)
        refused = _Unreachable()
        while True:
            try:
                if not isinstance(action, Send):
                    stop = refused.give_up(action.seconds)
                    if stop is not None:
                        flow.close()
                        raise stop
                    import asyncio  # only when a retry waits: asyncio costs ~20 ms at import

                    await asyncio.sleep(action.seconds)
                    action = flow.send(None)
                    continue
                url = self._url(action)
                self._log_request(action, url)
                try:
                    status, data = await asend(
                        self._http, url, action, timeout=self.timeout, limit=self.max_response_bytes
                    )
                except MktowsError as exc:
                    refused.failed(exc)
                    action = flow.throw(exc)
                    continue
                self._log_response(action, status, data)
                action = flow.send((status, data))
            except StopIteration as stop:
                result: R = stop.value
                return result

    async def aclose(self) -> None:
        """Close the connection pool (unless it was passed in)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self: S) -> S:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


__all__ = [
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TIMEOUT",
    "AsyncShell",
    "Shell",
    "ShellParts",
    "SyncShell",
    "parse_url",
    "utc_now",
]
