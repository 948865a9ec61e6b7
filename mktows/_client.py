"""Client and AsyncClient: build -> send -> parse, and nothing else.

The twins share every decision (:func:`~mktows._retry.call_flow`); they differ
only in how they send and sleep.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import random
import time
from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

import httpx

from ._build import build_sync_lead_envelope
from ._errors import ConfigError, MktowsError
from ._models import LeadRecord, SyncLeadResult
from ._retry import Flow, RetryPolicy, Send, call_flow
from ._transport import DEFAULT_TIMEOUT, asend, send

__all__ = ["AsyncClient", "Client"]

log = logging.getLogger(__name__)

DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
DEFAULT_DEADLINE = 120.0


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


H = TypeVar("H", httpx.Client, httpx.AsyncClient)
T = TypeVar("T", httpx.BaseTransport, httpx.AsyncBaseTransport)


class _Secret:
    """Holds the encryption key so that no repr, vars() or debugger dump shows it."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<secret>"


class _Base(Generic[H, T]):
    """Settings and the shared flow of both clients."""

    def __init__(
        self,
        endpoint: str,
        user_id: str,
        encryption_key: str,
        *,
        http_client: H | None = None,
        transport: T | None = None,
        verify: bool = True,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        retry: RetryPolicy | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        try:
            url = httpx.URL(endpoint)
        except (httpx.InvalidURL, TypeError) as exc:
            raise ConfigError(f"endpoint is not a URL: {exc}") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigError(
                f"endpoint must be an http(s) URL such as "
                f"https://123-ABC-456.mktoapi.com/soap/mktows/2_2, got {endpoint!r}"
            )
        if not isinstance(user_id, str) or not user_id.strip():
            raise ConfigError("user_id is required (the account's SOAP user id)")
        if not isinstance(encryption_key, str) or not encryption_key:
            raise ConfigError("encryption_key is required (the account's SOAP encryption key)")
        if deadline <= 0 or max_response_bytes <= 0:
            raise ConfigError("deadline and max_response_bytes must be positive")
        self.endpoint = endpoint
        self._url = url  # parsed once: httpx would parse a str on every request
        self.user_id = user_id
        self._key = _Secret(encryption_key)
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.deadline = deadline
        self.retry = retry or RetryPolicy()
        self.max_response_bytes = max_response_bytes
        self._clock = clock
        self._random = random.Random()
        self._owns_http = http_client is None
        self._http: H = http_client or self._new_http(transport, verify)

    def _new_http(self, transport: T | None, verify: bool) -> H:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(endpoint={self.endpoint!r}, user_id={self.user_id!r})"

    def _flow(
        self,
        lead: LeadRecord,
        return_lead: bool,
        workspace: str | None,
        marketo_cookie: str | None,
    ) -> Flow:
        if self._http.is_closed:
            raise ConfigError(
                f"this {type(self).__name__} is closed; make a new one (or keep using it "
                "inside its with block)"
            )
        # The flow builds (and so validates) the first envelope before any send.
        build = functools.partial(
            self._build,
            lead,
            return_lead=return_lead,
            workspace=workspace,
            marketo_cookie=marketo_cookie,
        )
        return call_flow(
            build,
            policy=self.retry,
            clock=self._clock,
            monotonic=time.monotonic,
            random=self._random.random,
            deadline=self.deadline,
        )

    def _build(
        self,
        lead: LeadRecord,
        timestamp: dt.datetime,
        *,
        return_lead: bool,
        workspace: str | None,
        marketo_cookie: str | None,
    ) -> bytes:
        return build_sync_lead_envelope(
            lead,
            user_id=self.user_id,
            encryption_key=self._key.value,
            return_lead=return_lead,
            workspace=workspace,
            marketo_cookie=marketo_cookie,
            timestamp=timestamp,
        )

    def _log_request(self, send: Send) -> None:
        if log.isEnabledFor(logging.DEBUG):
            text = send.body.decode("utf-8", "replace")
            log.debug("syncLead request to %s:\n%s", self.endpoint, text)

    def _log_response(self, status: int, data: bytes) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("syncLead response, HTTP %d:\n%s", status, data.decode("utf-8", "replace"))


class Client(_Base[httpx.Client, httpx.BaseTransport]):
    """A synchronous syncLead client over ``httpx.Client``.

    >>> with Client(endpoint=URL, user_id=USER, encryption_key=KEY) as client:
    ...     result = client.sync_lead(LeadRecord(email="t@t.com"))

    Pass ``http_client`` to reuse your own httpx.Client (it is then yours to
    close), or ``transport`` to plug an httpx transport into the client this
    one creates. ``verify`` (TLS) is on unless turned off explicitly.
    """

    def _new_http(self, transport: httpx.BaseTransport | None, verify: bool) -> httpx.Client:
        return httpx.Client(transport=transport, verify=verify)

    def sync_lead(
        self,
        lead: LeadRecord,
        *,
        return_lead: bool = False,
        workspace: str | None = None,
        marketo_cookie: str | None = None,
    ) -> SyncLeadResult:
        """Insert or update one lead; a FAILED status is returned, a fault raised.

        Raises ValidationError (nothing sent) for bad input, a FaultError
        subclass for a fault, TransportError or ResponseError for the wire.
        """
        flow = self._flow(lead, return_lead, workspace, marketo_cookie)
        action = next(flow)
        while True:
            try:
                if not isinstance(action, Send):
                    time.sleep(action.seconds)
                    action = flow.send(None)
                    continue
                self._log_request(action)
                try:
                    status, data = send(
                        self._http,
                        self._url,
                        action.body,
                        timeout=self.timeout,
                        remaining=action.timeout,
                        limit=self.max_response_bytes,
                    )
                except MktowsError as exc:
                    action = flow.throw(exc)
                    continue
                self._log_response(status, data)
                action = flow.send((status, data))
            except StopIteration as stop:
                result: SyncLeadResult = stop.value
                return result

    def close(self) -> None:
        """Close the connection pool (unless it was passed in)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient(_Base[httpx.AsyncClient, httpx.AsyncBaseTransport]):
    """The asyncio twin of :class:`Client`, over ``httpx.AsyncClient``.

    >>> async with AsyncClient(endpoint=URL, user_id=USER, encryption_key=KEY) as client:
    ...     result = await client.sync_lead(LeadRecord(email="t@t.com"))
    """

    def _new_http(
        self, transport: httpx.AsyncBaseTransport | None, verify: bool
    ) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=transport, verify=verify)

    async def sync_lead(
        self,
        lead: LeadRecord,
        *,
        return_lead: bool = False,
        workspace: str | None = None,
        marketo_cookie: str | None = None,
    ) -> SyncLeadResult:
        """Insert or update one lead; see :meth:`Client.sync_lead`."""
        flow = self._flow(lead, return_lead, workspace, marketo_cookie)
        action = next(flow)
        while True:
            try:
                if not isinstance(action, Send):
                    import asyncio  # only when a retry waits: asyncio costs ~20 ms at import

                    await asyncio.sleep(action.seconds)
                    action = flow.send(None)
                    continue
                self._log_request(action)
                try:
                    status, data = await asend(
                        self._http,
                        self._url,
                        action.body,
                        timeout=self.timeout,
                        remaining=action.timeout,
                        limit=self.max_response_bytes,
                    )
                except MktowsError as exc:
                    action = flow.throw(exc)
                    continue
                self._log_response(status, data)
                action = flow.send((status, data))
            except StopIteration as stop:
                result: SyncLeadResult = stop.value
                return result

    async def aclose(self) -> None:
        """Close the connection pool (unless it was passed in)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
