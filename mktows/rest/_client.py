"""RestClient and AsyncRestClient: syncLead over Marketo's REST API (SPEC §7).

The shell (:mod:`~mktows._shell`) runs :func:`~mktows.rest._flow.rest_flow`; this
module only holds settings, the per-client schema and the process-wide token
caches. No protocol logic here, and the client secret and token are never shown.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Callable, Mapping, Sequence

import httpx

from .._errors import MktowsError
from .._flow import Flow, Send
from .._models import LeadRecord, Secret, SyncLeadResult
from .._retry import RetryPolicy
from .._shell import (
    DEFAULT_DEADLINE,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TIMEOUT,
    AsyncShell,
    ShellParts,
    SyncShell,
    parse_url,
    utc_now,
)
from ._batch import MAX_BATCH, batch_flow
from ._flow import rest_flow
from ._settings import RestSettings, RestState, TokenCache

__all__ = ["AsyncRestClient", "RestClient"]

_REST_EXAMPLE = "https://123-ABC-456.mktorest.com/rest"
_IDENTITY_EXAMPLE = "https://123-ABC-456.mktorest.com/identity"

# One token per API user in the process, shared by every client (sync or async).
# Keyed by a digest of the secret too: a client with a wrong secret never borrows
# a token another client obtained with the right one.
_TOKENS: dict[tuple[str, str, str], TokenCache] = {}
_TOKENS_LOCK = threading.Lock()


def shared_token_cache(settings: RestSettings) -> TokenCache:
    """The process-wide token cache of ``settings``' identity URL and client id."""
    secret = settings.client_secret
    assert isinstance(secret, Secret)  # RestSettings wraps the str it is given
    digest = hashlib.sha256(secret.value.encode()).hexdigest()
    key = (settings.identity_url, settings.client_id, digest)
    with _TOKENS_LOCK:
        cache = _TOKENS.get(key)
        if cache is None:
            cache = _TOKENS[key] = TokenCache()
        return cache


class _Rest(ShellParts):
    """The REST side of both clients: settings, schema, token cache and the call flow."""

    def _rest_settings(
        self,
        rest_url: str,
        identity_url: str,
        client_id: str,
        client_secret: str | Secret,
        foreign_id_field: str | None,
        partitions: Mapping[str, str] | None,
    ) -> None:
        # The settings first: they refuse text no request could carry (a lone
        # surrogate), which httpx's URL parser would raise as a bare UnicodeError.
        self.settings = RestSettings(
            rest_url=rest_url,
            identity_url=identity_url,
            client_id=client_id,
            client_secret=client_secret,
            foreign_id_field=foreign_id_field,
            partitions=partitions or {},
        )
        parse_url(self.settings.rest_url, "rest_url", _REST_EXAMPLE)
        parse_url(self.settings.identity_url, "identity_url", _IDENTITY_EXAMPLE)
        self._state = RestState(tokens=shared_token_cache(self.settings))

    def __repr__(self) -> str:
        s = self.settings
        return f"{type(self).__name__}(rest_url={s.rest_url!r}, client_id={s.client_id!r})"

    def _url(self, action: Send) -> httpx.URL | str:
        assert action.url is not None  # every REST exchange names its URL
        return action.url

    def _flow(
        self,
        lead: LeadRecord,
        return_lead: bool,
        workspace: str | None,
        marketo_cookie: str | None,
    ) -> Flow[SyncLeadResult]:
        self._check_open()
        return rest_flow(
            lead,
            settings=self.settings,
            state=self._state,
            return_lead=return_lead,
            workspace=workspace,
            marketo_cookie=marketo_cookie,
            pacing=self._pacing(),
        )

    def _batch_flow(
        self,
        leads: Sequence[LeadRecord],
        return_lead: bool,
        workspace: str | None,
        marketo_cookies: Sequence[str | None] | None,
        batch_size: int,
    ) -> Flow[list[SyncLeadResult | MktowsError]] | list[SyncLeadResult | MktowsError]:
        self._check_open()
        return batch_flow(
            leads,
            settings=self.settings,
            state=self._state,
            return_lead=return_lead,
            workspace=workspace,
            marketo_cookies=marketo_cookies,
            batch_size=batch_size,
            pacing=self._pacing(),
        )


class RestClient(_Rest, SyncShell):
    """A synchronous syncLead client over Marketo's REST API, on ``httpx.Client``.

    >>> with RestClient(REST_URL, IDENTITY_URL, CLIENT_ID, CLIENT_SECRET) as client:
    ...     result = client.sync_lead(LeadRecord(email="t@t.com"))

    Same call, results and errors as :class:`~mktows.Client`. Arguments:

    - ``rest_url``, ``identity_url``: ``https://123-ABC-456.mktorest.com/rest`` and
      ``…/identity`` (or a sandbox's ``server.rest_url`` and ``server.identity_url``).
    - ``client_id``, ``client_secret``: the API user's OAuth client (the secret may be
      a :class:`~mktows.Secret`; it is never shown).
    - ``foreign_id_field``: the REST name of the custom field that holds
      ForeignSysPersonId (None: leads keyed by it are refused, nothing sent).
    - ``partitions``: workspace name -> partition name, for ``workspace=``.
    - ``timeout``, ``deadline``, ``retry``, ``max_response_bytes``, ``http_client``,
      ``transport``, ``verify``, ``clock``: as for :class:`~mktows.Client`; one
      ``deadline`` covers every HTTP call of one sync (token, Describe, Sync Leads…).

    The OAuth token is fetched when needed, shared by every client of the same API
    user in the process, and renewed on 601/602 or when it really expires.
    """

    def __init__(
        self,
        rest_url: str,
        identity_url: str,
        client_id: str,
        client_secret: str | Secret,
        *,
        foreign_id_field: str | None = None,
        partitions: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        verify: bool = True,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        retry: RetryPolicy | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self._rest_settings(
            rest_url, identity_url, client_id, client_secret, foreign_id_field, partitions
        )
        del client_secret  # kept in the settings only: error reporters dump frame locals
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
        """Insert or update one lead; a FAILED status (skipped) is returned, an error raised.

        Raises ValidationError or ConfigError (nothing sent) for a lead or
        workspace that cannot be mapped, a FaultError subclass for a REST error
        (``.fault.rest_code`` keeps its code), TransportError or ResponseError.
        """
        return self._drive(self._flow(lead, return_lead, workspace, marketo_cookie))

    def sync_leads_batch(
        self,
        leads: Sequence[LeadRecord],
        *,
        return_lead: bool = False,
        workspace: str | None = None,
        marketo_cookies: Sequence[str | None] | None = None,
        batch_size: int = MAX_BATCH,
    ) -> list[SyncLeadResult | MktowsError]:
        """Insert or update many leads in Sync Leads calls of up to ``batch_size``
        (at most 300) records; one outcome per lead, in input order.

        An outcome is a SyncLeadResult (FAILED for a skipped record: 1007 several
        leads match, 1008/1010 partition ...) or the error of that lead alone
        (ValidationError for a lead that cannot be sent, LeadNotFoundError,
        UnknownAttributeError, or its call's error after the retries); nothing is
        raised for one lead. Leads sharing a key go in separate calls, in order.
        ``marketo_cookies`` holds one cookie (or None) per lead; ``return_lead``
        reads the leads back with Get Leads by Filter Type, 300 ids a call.
        A workspace without a partition mapping raises ValidationError (nothing sent).
        """
        flow = self._batch_flow(leads, return_lead, workspace, marketo_cookies, batch_size)
        return flow if isinstance(flow, list) else self._drive(flow)


class AsyncRestClient(_Rest, AsyncShell):
    """The asyncio twin of :class:`RestClient`, over ``httpx.AsyncClient``.

    >>> async with AsyncRestClient(REST_URL, IDENTITY_URL, CLIENT_ID, SECRET) as client:
    ...     result = await client.sync_lead(LeadRecord(email="t@t.com"))
    """

    def __init__(
        self,
        rest_url: str,
        identity_url: str,
        client_id: str,
        client_secret: str | Secret,
        *,
        foreign_id_field: str | None = None,
        partitions: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: bool = True,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        retry: RetryPolicy | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self._rest_settings(
            rest_url, identity_url, client_id, client_secret, foreign_id_field, partitions
        )
        del client_secret  # kept in the settings only: error reporters dump frame locals
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
        """Insert or update one lead; see :meth:`RestClient.sync_lead`."""
        return await self._adrive(self._flow(lead, return_lead, workspace, marketo_cookie))

    async def sync_leads_batch(
        self,
        leads: Sequence[LeadRecord],
        *,
        return_lead: bool = False,
        workspace: str | None = None,
        marketo_cookies: Sequence[str | None] | None = None,
        batch_size: int = MAX_BATCH,
    ) -> list[SyncLeadResult | MktowsError]:
        """Insert or update many leads; see :meth:`RestClient.sync_leads_batch`."""
        flow = self._batch_flow(leads, return_lead, workspace, marketo_cookies, batch_size)
        return flow if isinstance(flow, list) else await self._adrive(flow)
