"""The sandbox's REST face (SPEC §7): OAuth tokens, routes, limits and errors, Describe
and Associate Lead, as JSON in and JSON-ready answers out; the lead resources are in
``_rest_leads``. Translates requests into the service core; no matching rules here, no
HTTP, no sockets.
"""

from __future__ import annotations

import collections
import datetime as dt
import hmac
import json
import math
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from .._codes import REST_FOR_SOAP, REST_MESSAGES
from .._errors import FaultError
from ._config import DEFAULT_WORKSPACE
from ._limits import Limiter
from ._rest_leads import MAX_BATCH, SOAP_ONLY_FIELDS, RestLeads, RestRefusal
from ._service import SyncService

__all__ = [
    "MAX_BATCH",
    "REST_DAILY_QUOTA",
    "DailyQuota",
    "RestApi",
    "RestError",
    "Route",
    "TokenStore",
]

JsonObject = dict[str, Any]

_MAX_TOKENS = 1000  # live and recently expired tokens kept in memory, oldest dropped first
REST_DAILY_QUOTA = 50_000  # Adobe: REST's default daily quota, reset at 12:00 AM US Central
_SOAP_DEFAULT_QUOTA = 10_000  # SandboxConfig's default daily_quota: SOAP's (SPEC §5)


def _central() -> dt.tzinfo:
    """US Central time, where Marketo's day (and REST's quota) starts; a fixed UTC-6
    when the system has no time zone database (zoneinfo without tzdata)."""
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("America/Chicago")
    except (ImportError, LookupError, OSError):  # ZoneInfoNotFoundError is a KeyError
        return dt.timezone(dt.timedelta(hours=-6), "CST")


CENTRAL = _central()


class RestError(Exception):
    """A call-level REST error: ``code`` and Adobe's message for it (with detail)."""

    def __init__(self, code: int, detail: str | None = None) -> None:
        text = REST_MESSAGES.get(code, "System error")
        super().__init__(f"{text}: {detail}" if detail else text)
        self.code = code


@dataclass(frozen=True, slots=True)
class Route:
    """A REST resource: its name, the methods it answers, and the lead id in its path."""

    name: str
    methods: tuple[str, ...]
    lead_id: int | None = None

    @property
    def takes_body(self) -> bool:
        """Whether the call carries a JSON body (Sync Leads)."""
        return self.name == "sync"

    def for_method(self, method: str) -> Route:
        """The resource a ``method`` reaches here: GET on ``leads.json`` is Get Leads
        by Filter Type, POST Sync Leads."""
        if self.name == "sync" and method == "GET":
            return Route("leads", self.methods, self.lead_id)
        return self


_ROUTES: tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...] = (
    (re.compile(r"/rest/v1/leads\.json"), "sync", ("POST", "GET")),
    (re.compile(r"/rest/v1/leads/describe\.json"), "describe", ("GET",)),
    (re.compile(r"/rest/v1/lead/([0-9]{1,10})\.json"), "lead", ("GET",)),
    (re.compile(r"/rest/v1/leads/([0-9]{1,10})/associate\.json"), "associate", ("POST",)),
)


def route(path: str) -> Route:
    """The resource at ``path``, or RestError 610."""
    for pattern, name, methods in _ROUTES:
        found = pattern.fullmatch(path)
        if found is not None:
            lead_id = int(found.group(1)) if found.groups() else None
            return Route(name, methods, lead_id)
    raise RestError(610)


class TokenStore:
    """Opaque bearer tokens in memory: issued for a client, valid for ``lifetime``
    seconds of ``clock``. Expired tokens are remembered a while (602, not 601).
    """

    def __init__(self, lifetime: float, clock: Callable[[], float]) -> None:
        self.lifetime = lifetime
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: collections.OrderedDict[str, tuple[str, float]] = collections.OrderedDict()

    def issue(self, client_id: str) -> tuple[str, int]:
        """The token of ``client_id`` and its remaining lifespan in whole seconds: the
        same token until it expires, then a new one (Adobe, "Authentication": "If you
        call the Identity endpoint before the token expires, the response returns the
        same token and its remaining lifespan")."""
        now = self._clock()
        with self._lock:
            for token, (owner, expires) in reversed(self._tokens.items()):
                if owner == client_id and now < expires:
                    return token, max(1, math.floor(expires - now))
            for old, (_, expires) in list(self._tokens.items()):
                if expires + self.lifetime < now or len(self._tokens) >= _MAX_TOKENS:
                    del self._tokens[old]
            token = secrets.token_urlsafe(32)
            self._tokens[token] = (client_id, now + self.lifetime)
        return token, max(1, math.ceil(self.lifetime))

    def check(self, token: str) -> str:
        """The client a valid token was issued to, or RestError 601 / 602."""
        with self._lock:
            found = self._tokens.get(token)
        if found is None:
            raise RestError(601)
        client_id, expires = found
        now = self._clock()
        if now >= expires + self.lifetime:  # long expired: forgotten, as if never issued
            raise RestError(601)
        if now >= expires:
            raise RestError(602)
        return client_id


class DailyQuota:
    """REST's daily quota per API user, reset at midnight US Central (Adobe, "Error
    Codes", 607: "resets daily at 12:00AM CST"); 0 turns it off."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._days: dict[str, tuple[dt.date, int]] = {}

    def admit(self, user: str, now: dt.datetime) -> None:
        """Count one call by ``user`` at ``now`` (aware), or raise RestError 607."""
        day = now.astimezone(CENTRAL).date()
        with self._lock:
            used_day, used = self._days.get(user, (day, 0))
            if used_day != day:
                used = 0
            if self.limit and used >= self.limit:
                raise RestError(607, f"the daily quota of {self.limit} calls is spent")
            self._days[user] = (day, used + 1)


def _request_id() -> str:
    return f"{secrets.token_hex(2)}#{time.time_ns() // 1_000_000:x}"


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _json(body: bytes) -> object:
    """Parse a request body, or RestError 609 (not UTF-8, not JSON, nested too deep)."""
    try:
        return json.loads(
            body.decode("utf-8-sig"), parse_float=Decimal, parse_constant=_no_constant
        )
    except (ValueError, RecursionError):
        raise RestError(609) from None


class RestApi:
    """The REST resources over a :class:`SyncService` (its store, catalog, clock
    and limiter). ``token()`` serves the identity endpoint; ``call()`` every
    ``/rest/v1`` resource, answering a JSON object (errors included).
    """

    def __init__(self, service: SyncService) -> None:
        self.service = service
        self.config = service.config
        self.catalog = service.catalog
        self.tokens = TokenStore(self.config.token_lifetime, lambda: service.clock().timestamp())
        config = self.config
        # The rate window is REST's own (the SOAP limiter keeps SOAP's); the calls in
        # flight are the instance's, shared with SOAP. The daily quota is REST's 50,000
        # unless the configuration sets a quota of its own (or 0, off) for both faces.
        self.limiter = Limiter(
            rate_calls=config.rate_limit_calls,
            rate_window=config.rate_limit_window,
            concurrency=0,
            daily_quota=0,
        )
        quota = config.daily_quota
        self.quota = DailyQuota(REST_DAILY_QUOTA if quota == _SOAP_DEFAULT_QUOTA else quota)
        self.leads = RestLeads(
            service, config.rest_foreign_id_field, self._partitions, self._default_primary
        )

    # -- identity -------------------------------------------------------------------

    def token(self, params: Mapping[str, str]) -> tuple[int, JsonObject]:
        """The identity endpoint: (HTTP status, JSON answer) for the request's parameters."""
        if params.get("grant_type") != "client_credentials":
            return 400, {
                "error": "unsupported_grant_type",
                "error_description": "grant_type must be client_credentials",
            }
        client_id = params.get("client_id", "")
        secret = params.get("client_secret", "")
        expected = self.config.rest_clients.get(client_id)
        if expected is None or not hmac.compare_digest(expected.encode(), secret.encode()):
            # One answer for both: do not tell a caller which client ids exist.
            return 401, {"error": "invalid_client", "error_description": "Bad client credentials"}
        token, expires_in = self.tokens.issue(client_id)
        return 200, {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": expires_in,
            "scope": f"{client_id}@mktows.sandbox",
        }

    # -- /rest/v1 -------------------------------------------------------------------

    def error(self, exc: RestError) -> JsonObject:
        """The JSON answer of a call-level error."""
        return {
            "requestId": _request_id(),
            "success": False,
            "errors": [{"code": str(exc.code), "message": str(exc)}],
        }

    def call(
        self,
        resource: Route,
        *,
        authorization: str | None,
        query: Sequence[tuple[str, str]],
        read_body: Callable[[], bytes],
        form: bool = False,
    ) -> JsonObject:
        """Run one REST call: concurrency slot, body, token, rate/quota, resource.

        ``form``: the body is a form whose parameters join the query's (Marketo's
        ``POST ...?_method=GET`` for a query too long for a URL).
        """
        limiter = self.limiter
        try:
            with self.service.limiter.in_flight():
                body = read_body()
                if form:
                    text = body.decode("utf-8", "replace")
                    query = [*query, *parse_qsl(text, keep_blank_values=True)]
                    body = b""
                client_id = self._authenticate(authorization, query)
                now = self.service.clock()
                limiter.admit(f"rest:{client_id}", now)
                self.quota.admit(client_id, now)
                result = self._dispatch(resource, query, body)
        except RestRefusal as exc:
            return self.error(RestError(exc.code, exc.detail))
        except RestError as exc:
            return self.error(exc)
        except FaultError as exc:
            code = REST_FOR_SOAP.get(exc.code or 0, 611)  # the limiter speaks SOAP (SPEC §4/§5)
            detail = None
            if code == 606:
                detail = f"more than {limiter.rate_calls} calls in {limiter.rate_window:g} s"
            return self.error(RestError(code, detail))
        return {"requestId": _request_id(), "success": True, "result": result}

    def _authenticate(self, authorization: str | None, query: Sequence[tuple[str, str]]) -> str:
        if any(name == "access_token" for name, _ in query):
            # The query parameter is withdrawn (SPEC §7); tokens do not belong in URLs.
            raise RestError(601, "send the token in the Authorization header, not in the URL")
        if authorization is None or not authorization.strip():
            raise RestError(601, "send the Authorization header 'Bearer <token>'")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise RestError(601, "use the Authorization header 'Bearer <token>'")
        return self.tokens.check(token.strip())

    def _dispatch(
        self, resource: Route, query: Sequence[tuple[str, str]], body: bytes
    ) -> list[JsonObject]:
        if resource.name == "sync":
            return self.leads.sync(_json(body))
        if resource.name == "leads":
            return self.leads.leads(query)
        if resource.name == "describe":
            return self._describe()
        assert resource.lead_id is not None
        if resource.name == "lead":
            fields = ",".join(value for name, value in query if name == "fields")
            return self.leads.lead(resource.lead_id, fields)
        cookie = next((value for name, value in reversed(query) if name == "cookie"), "")
        if not cookie.strip():
            raise RestError(1012, "the cookie query parameter is required")
        if not self.service.associate(resource.lead_id, cookie):
            raise RestError(1004)
        return []

    # -- Describe and Get Lead by Id ------------------------------------------------

    def _describe(self) -> list[JsonObject]:
        answer = []
        for number, f in enumerate(self.catalog.fields, start=1):
            entry: JsonObject = {
                "id": number,
                "displayName": f.display_name,
                "dataType": f.data_type,
            }
            if f.length is not None:
                entry["length"] = f.length
            if f.soap_name not in SOAP_ONLY_FIELDS:  # "only when the field is valid" for REST
                entry["rest"] = {"name": f.rest_name, "readOnly": f.read_only}
            entry["soap"] = {"name": f.soap_name, "readOnly": f.read_only}
            answer.append(entry)
        return answer

    def _partitions(self) -> set[str]:
        spaces = self.config.workspaces
        if not self.config.workspaces_enabled:
            wanted = DEFAULT_WORKSPACE.casefold()  # in any case, as SOAP matches names
            spaces = tuple(ws for ws in spaces if ws.name.casefold() == wanted)
        return {p for ws in spaces for p in ws.partitions}

    def _default_primary(self) -> str:
        default = self.config.workspace(DEFAULT_WORKSPACE)
        assert default is not None
        return default.primary
