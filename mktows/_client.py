"""Client and AsyncClient for SOAP syncLead: build -> send -> parse, and nothing else.

The twins share every decision (:func:`~mktows._soap_flow.call_flow`) and the
shell (:mod:`~mktows._shell`); they differ only in how they send and sleep.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable

import httpx

from ._build import build_sync_lead_envelope
from ._errors import ConfigError
from ._flow import Flow, Send
from ._models import LeadRecord, Secret, SyncLeadResult
from ._retry import RetryPolicy
from ._shell import (
    DEFAULT_DEADLINE,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TIMEOUT,
    AsyncShell,
    ShellParts,
    SyncShell,
    parse_url,
    utc_now,
)
from ._soap_flow import call_flow

__all__ = ["AsyncClient", "Client"]

_EXAMPLE = "https://123-ABC-456.mktoapi.com/soap/mktows/2_2"


class _Soap(ShellParts):
    """The SOAP side of both clients: credentials, endpoint and the call flow."""

    def _soap_settings(self, endpoint: str, user_id: str, encryption_key: str | Secret) -> None:
        self._endpoint_url = parse_url(endpoint, "endpoint", _EXAMPLE)
        if not isinstance(user_id, str) or not user_id.strip():
            raise ConfigError("user_id is required (the account's SOAP user id)")
        key = encryption_key.value if isinstance(encryption_key, Secret) else encryption_key
        if not isinstance(key, str) or not key:
            raise ConfigError("encryption_key is required (the account's SOAP encryption key)")
        self.endpoint = endpoint
        self.user_id = user_id
        self._key = Secret(key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(endpoint={self.endpoint!r}, user_id={self.user_id!r})"

    def _url(self, action: Send) -> httpx.URL | str:
        # Parsed once: httpx would parse a str on every request.
        return action.url or self._endpoint_url

    def _flow(
        self,
        lead: LeadRecord,
        return_lead: bool,
        workspace: str | None,
        marketo_cookie: str | None,
    ) -> Flow[SyncLeadResult]:
        self._check_open()
        # The flow builds (and so validates) the first envelope before any send.
        build = functools.partial(
            build_sync_lead_envelope,
            lead,
            user_id=self.user_id,
            encryption_key=self._key,
            return_lead=return_lead,
            workspace=workspace,
            marketo_cookie=marketo_cookie,
        )
        return call_flow(
            lambda when: build(timestamp=when),
            pacing=self._pacing(),
        )


class Client(_Soap, SyncShell):
    """A synchronous syncLead client over ``httpx.Client``; use it in a ``with`` block.

    >>> with Client(endpoint=URL, user_id=USER, encryption_key=KEY) as client:
    ...     result = client.sync_lead(LeadRecord(email="t@t.com"))

    Arguments:

    - ``endpoint``: the account's SOAP endpoint, ``https://123-ABC-456.mktoapi.com/soap/mktows/2_2``
      (or a sandbox's ``server.url``).
    - ``user_id``, ``encryption_key``: the account's SOAP credentials (the key may be a
      :class:`Secret`; it never shows in a repr, a log line or an error).
    - ``timeout``: seconds for each HTTP attempt (a float, or an ``httpx.Timeout``;
      default 30 s, 10 s to connect).
    - ``deadline``: seconds for the whole call, retries and back-off included
      (default 120); past it, :class:`DeadlineExceeded`.
    - ``retry``: a :class:`RetryPolicy` (default ``RetryPolicy()``: 5 tries with
      jittered back-off; 20016 re-signed twice); ``RetryPolicy(attempts=1,
      resign_attempts=0)`` never retries.
    - ``max_response_bytes``: a longer answer is refused (default 10 MiB).
    - ``http_client``: your own ``httpx.Client`` (yours to close); or ``transport``
      to plug an httpx transport into the one this client makes.
    - ``verify``: TLS certificate verification, on unless ``False`` is given.
    - ``clock``: where signing reads the time (default: now, in UTC).
    """

    def __init__(
        self,
        endpoint: str,
        user_id: str,
        encryption_key: str | Secret,
        *,
        http_client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        verify: bool = True,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        retry: RetryPolicy | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self._soap_settings(endpoint, user_id, encryption_key)
        SyncShell.__init__(
            self,
            http_client=http_client,
            transport=transport,
            verify=verify,
            timeout=timeout,
            deadline=deadline,
            retry=retry,
            max_response_bytes=max_response_bytes,
            clock=clock,
        )

    def sync_lead(
        self,
        lead: LeadRecord,
        *,
        return_lead: bool = False,
        workspace: str | None = None,
        marketo_cookie: str | None = None,
    ) -> SyncLeadResult:
        """Insert or update one lead (a SOAP ``syncLead`` call).

        - ``lead``: the :class:`LeadRecord`, keyed by id, email or foreign_sys_person_id.
        - ``return_lead``: also return the whole lead as stored (``result.lead``).
        - ``workspace``: the target workspace (``MktowsContextHeader``).
        - ``marketo_cookie``: the Munchkin cookie to associate with the lead.

        Returns a :class:`SyncLeadResult` (CREATED, UPDATED, or FAILED with its
        ``error``). Raises :class:`ValidationError` (nothing sent) for bad input, a
        :class:`FaultError` subclass for a fault, :class:`TransportError` or
        :class:`ResponseError` for the wire.
        """
        return self._drive(self._flow(lead, return_lead, workspace, marketo_cookie))


class AsyncClient(_Soap, AsyncShell):
    """The asyncio twin of :class:`Client`, over ``httpx.AsyncClient``: the same
    arguments (``http_client`` and ``transport`` are httpx's async ones) and
    ``await client.sync_lead(...)``.

    >>> async with AsyncClient(endpoint=URL, user_id=USER, encryption_key=KEY) as client:
    ...     result = await client.sync_lead(LeadRecord(email="t@t.com"))
    """

    def __init__(
        self,
        endpoint: str,
        user_id: str,
        encryption_key: str | Secret,
        *,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: bool = True,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        retry: RetryPolicy | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self._soap_settings(endpoint, user_id, encryption_key)
        AsyncShell.__init__(
            self,
            http_client=http_client,
            transport=transport,
            verify=verify,
            timeout=timeout,
            deadline=deadline,
            retry=retry,
            max_response_bytes=max_response_bytes,
            clock=clock,
        )

    async def sync_lead(
        self,
        lead: LeadRecord,
        *,
        return_lead: bool = False,
        workspace: str | None = None,
        marketo_cookie: str | None = None,
    ) -> SyncLeadResult:
        """Insert or update one lead; see :meth:`Client.sync_lead`."""
        return await self._adrive(self._flow(lead, return_lead, workspace, marketo_cookie))
