"""syncLead over REST, written once as a generator of Send/Sleep (SPEC §7); no I/O, no clock."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, urlencode

from .._codes import TOKEN_CODES
from .._errors import DeadlineExceeded, FaultError, MktowsError, ValidationError
from .._flow import Flow, Pacing, Send, Sleep, retry_wait, time_left
from .._models import LeadRecord, Secret, SyncLeadResult, SyncStatus, check_xml_text
from ._build import (
    ACCEPT_HEADERS,
    FORM_HEADERS,
    JSON_HEADERS,
    SyncPlan,
    build_get_lead,
    build_sync_body,
    plan_sync,
)
from ._parse import (
    parse_associate,
    parse_describe,
    parse_get_lead,
    parse_sync_result,
    parse_token,
)
from ._settings import Catalog, RestSettings, RestState

__all__ = ["rest_flow"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Request:
    # body and headers stay out of the repr: the identity form carries the client secret.
    url: str
    label: str
    parse: Callable[[bytes, int], Any]
    method: str = "GET"
    body: bytes = field(default=b"", repr=False)
    headers: Mapping[str, str] = field(default_factory=lambda: ACCEPT_HEADERS, repr=False)


class _Call:
    """One sync_lead over REST: the deadline, the retries and the token of each exchange."""

    def __init__(
        self,
        settings: RestSettings,
        state: RestState,
        pacing: Pacing,
    ) -> None:
        self.settings = settings
        self.state = state
        self.pacing = pacing
        self.ends = pacing.ends()

    def token(self) -> Flow[Secret]:
        """The cached token, or a new one from the identity service."""
        # Error reporters capture frame locals: the secret and the token stay inside
        # holders with safe reprs, unwrapped only in the expression that sends them.
        now = self.pacing.clock().timestamp()
        cached = self.state.tokens.current(now)
        if cached is not None:
            return cached
        secret = self.settings.client_secret
        assert isinstance(secret, Secret)  # RestSettings wraps the str it is given
        request = _Request(
            url=f"{self.settings.identity_url}/oauth/token",
            label="identity",
            parse=lambda data, status: parse_token(data, status_code=status),
            method="POST",
            body=urlencode(
                {
                    "grant_type": "client_credentials",
                    "client_id": self.settings.client_id,
                    "client_secret": secret.value,
                }
            ).encode(),
            headers=FORM_HEADERS,
        )
        fresh: tuple[Secret, float] = yield from self.exchange(request, authorized=False)
        self.state.tokens.store(fresh[0], fresh[1], now)
        return fresh[0]

    def exchange(self, request: _Request, *, authorized: bool = True) -> Flow[Any]:
        """Send ``request`` and parse its answer, retrying per the policy; a refused
        token (601/602) is renewed and the request sent again, once.
        """
        tries = renewed = 0
        while True:
            tries += 1
            token = (yield from self.token()) if authorized else None
            try:
                response = yield Send(
                    request.body,
                    time_left(self.ends, self.pacing),
                    method=request.method,
                    url=request.url,
                    headers=(
                        request.headers
                        if token is None
                        else {**request.headers, "Authorization": f"Bearer {token.value}"}
                    ),
                    secret=not authorized,  # the identity exchange carries the secret
                    label=request.label,
                )
                assert response is not None
                return request.parse(response[1], response[0])
            except DeadlineExceeded:
                raise
            except MktowsError as exc:
                if token is not None and _token_refused(exc):
                    self.state.tokens.discard(token)
                    if renewed:
                        raise
                    renewed += 1
                    tries -= 1
                    log.info("%s: access token refused; renewing it and retrying", request.label)
                    continue
                wait = retry_wait(
                    exc, tries, pacing=self.pacing, ends=self.ends, label=request.label
                )
                if wait is None:
                    raise
                yield Sleep(wait)


def _token_refused(exc: MktowsError) -> bool:
    return isinstance(exc, FaultError) and exc.fault.rest_code in TOKEN_CODES


def rest_flow(
    lead: LeadRecord,
    *,
    settings: RestSettings,
    state: RestState,
    return_lead: bool = False,
    workspace: str | None = None,
    marketo_cookie: str | None = None,
    pacing: Pacing,
) -> Flow[SyncLeadResult]:
    """One syncLead over REST: [token] -> [Describe, once per client] -> Sync Leads ->
    [Associate Lead when ``marketo_cookie``] -> [Get Lead when ``return_lead``].

    The lead's keys and workspace are checked here, before the flow starts
    (ValidationError or ConfigError). Each exchange is retried per ``pacing``'s
    policy, within one deadline for the whole call, as :func:`~mktows._soap_flow.call_flow`.
    """
    _optional_text(marketo_cookie, "marketo_cookie")
    _optional_text(workspace, "workspace")
    if not isinstance(return_lead, bool):
        raise ValidationError("return_lead must be True or False", field="returnLead")
    plan = plan_sync(lead, settings, workspace)
    call = _Call(settings, state, pacing)
    return _run(call, plan, lead, return_lead, marketo_cookie)


def _optional_text(value: object, field: str) -> None:
    """The SOAP client's checks of a call option (see ``_build``), with its field names."""
    if value is None:
        return
    check_xml_text(value, field)
    assert isinstance(value, str)  # checked just above
    if not value.strip():
        raise ValidationError(f"{field} is empty; give a value or leave it out", field=field)


def describe(call: _Call) -> Flow[Catalog]:
    """The lead schema: the client's, or read with Describe once per client."""
    catalog = call.state.catalog
    if catalog is None:
        catalog = yield from call.exchange(
            _Request(
                url=f"{call.settings.rest_url}/v1/leads/describe.json",
                label="describe",
                parse=lambda data, status: parse_describe(data, status_code=status),
            )
        )
        call.state.catalog = catalog
    return catalog


def _run(
    call: _Call, plan: SyncPlan, lead: LeadRecord, return_lead: bool, cookie: str | None
) -> Flow[SyncLeadResult]:
    base = call.settings.rest_url
    schema: Catalog = yield from describe(call)
    result: SyncLeadResult = yield from call.exchange(
        _Request(
            url=f"{base}/v1/leads.json",
            label="syncLead",
            parse=lambda data, status: parse_sync_result(data, status_code=status),
            method="POST",
            body=build_sync_body(plan, lead, schema),
            headers=JSON_HEADERS,
        )
    )
    if result.status is SyncStatus.FAILED:
        return result
    lead_id = result.lead_id
    if cookie is not None:
        yield from call.exchange(
            _Request(
                url=f"{base}/v1/leads/{lead_id}/associate.json?cookie={quote(cookie, safe='')}",
                label="associateLead",
                parse=lambda data, status: parse_associate(data, status_code=status),
                method="POST",
            )
        )
    if return_lead:
        method, url, body, headers = build_get_lead(base, lead_id, list(schema.by_rest))
        foreign = call.settings.foreign_id_field
        record: LeadRecord = yield from call.exchange(
            _Request(
                url=url,
                label="getLead",
                parse=lambda data, status: parse_get_lead(data, status, lead_id, schema, foreign),
                method=method,
                body=body,
                headers=headers,
            )
        )
        result = replace(result, lead=record)
    return result
