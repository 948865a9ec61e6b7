"""The sandbox's REST face (SPEC §7): OAuth tokens, Sync Leads, Get Lead by Id,
Describe and Associate Lead, as JSON in and JSON-ready answers out. Translates
requests into the service core; no matching rules here, no HTTP, no sockets.
"""

from __future__ import annotations

import collections
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
from .._errors import FaultError, ValidationError
from .._models import Attribute, LeadRecord
from ._catalog import EMAIL, FOREIGN_ID, ID, Field, misfit
from ._config import DEFAULT_WORKSPACE
from ._service import Keys, Lookup, Mode, Outcome, Placement, SyncService, Upserted
from ._store import LeadRow

__all__ = ["MAX_BATCH", "RestApi", "RestError", "Route", "TokenStore"]

JsonObject = dict[str, Any]

MAX_BATCH = 300  # Marketo's limit of records per Sync Leads call
_MAX_TOKENS = 1000  # live and recently expired tokens kept in memory, oldest dropped first

_LOOKUPS: Mapping[str, Lookup] = {ID: Lookup.ID, EMAIL: Lookup.EMAIL, FOREIGN_ID: Lookup.FOREIGN_ID}
_MODES: Mapping[str, Mode] = {mode.value: mode for mode in Mode}
_DEFAULT_FIELDS = ("id", "email", "firstName", "lastName", "updatedAt", "createdAt")
_NUMBER_TYPES = frozenset({"integer", "score", "float", "percent", "currency"})


class RestError(Exception):
    """A call-level REST error: ``code`` and Marketo's message (with detail)."""

    def __init__(self, code: int, detail: str | None = None) -> None:
        text = REST_MESSAGES.get(code, "System error")
        super().__init__(f"{text}: {detail}" if detail else text)
        self.code = code


def _short(text: str) -> str:
    """Request text echoed in a message: cut short, a lone surrogate (JSON can carry
    one, UTF-8 cannot) escaped so that the answer can be encoded."""
    text = text if len(text) <= 60 else text[:57] + "..."
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


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


_ROUTES: tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...] = (
    (re.compile(r"/rest/v1/leads\.json"), "sync", ("POST",)),
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
        """A new token for ``client_id`` and its lifetime in whole seconds."""
        now = self._clock()
        token = secrets.token_urlsafe(32)
        with self._lock:
            for old, (_, expires) in list(self._tokens.items()):
                if expires + self.lifetime < now or len(self._tokens) >= _MAX_TOKENS:
                    del self._tokens[old]
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


def _reason(code: int, message: str) -> JsonObject:
    return {"code": str(code), "message": message}


class _Skip(Exception):
    """One input record skipped, with its reason (and the lead it matched)."""

    def __init__(self, code: int, message: str, lead_id: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.lead_id = lead_id


@dataclass(frozen=True, slots=True)
class _SyncCall:
    mode: Mode
    lookup: Lookup
    lookup_name: str
    partition: str | None


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
            "errors": [_reason(exc.code, str(exc))],
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
        limiter = self.service.limiter
        try:
            with limiter.in_flight():
                body = read_body()
                if form:
                    text = body.decode("utf-8", "replace")
                    query = [*query, *parse_qsl(text, keep_blank_values=True)]
                    body = b""
                client_id = self._authenticate(authorization, query)
                limiter.admit(f"rest:{client_id}", self.service.clock())
                result = self._dispatch(resource, query, body)
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
            raise RestError(600)
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise RestError(601, "use the Authorization header 'Bearer <token>'")
        return self.tokens.check(token.strip())

    def _dispatch(
        self, resource: Route, query: Sequence[tuple[str, str]], body: bytes
    ) -> list[JsonObject]:
        if resource.name == "sync":
            return self._sync(body)
        if resource.name == "describe":
            return self._describe()
        assert resource.lead_id is not None
        if resource.name == "lead":
            fields = ",".join(value for name, value in query if name == "fields")
            return self._lead(resource.lead_id, fields)
        cookie = next((value for name, value in reversed(query) if name == "cookie"), "")
        if not cookie.strip():
            raise RestError(1003, "the cookie query parameter is required")
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
            entry["rest"] = {"name": f.rest_name, "readOnly": f.read_only}
            entry["soap"] = {"name": f.soap_name, "readOnly": f.read_only}
            answer.append(entry)
        return answer

    def _lead(self, lead_id: int, fields: str) -> list[JsonObject]:
        row = self.service.lead(lead_id)
        if row is None:
            return []
        names = [name.strip() for name in fields.split(",") if name.strip()] or _DEFAULT_FIELDS
        answer: JsonObject = {"id": row.id}
        for name in names:
            f = self.catalog.by_rest(name)
            if f is None:
                continue  # unknown names are ignored (and updatedAt/createdAt are not kept)
            value = _typed(f, _stored(row, f))
            if value is not None:
                answer[f.rest_name] = value
        return [answer]

    # -- Sync Leads ------------------------------------------------------------------

    def _sync(self, body: bytes) -> list[JsonObject]:
        data = _json(body)
        if not isinstance(data, dict):
            raise RestError(1003, "the body must be a JSON object")
        action = data.get("action", Mode.UPSERT.value)
        mode = _MODES.get(action) if isinstance(action, str) else None
        if mode is None:
            raise RestError(1003, f"action must be one of {', '.join(_MODES)}")
        lookup_name = data.get("lookupField", "email")
        field = self.catalog.by_rest(lookup_name) if isinstance(lookup_name, str) else None
        lookup = _LOOKUPS.get(field.soap_name) if field is not None else None
        if field is None or lookup is None:
            raise RestError(
                1003,
                f"Invalid lookupField; use id, email or {self.config.rest_foreign_id_field}",
            )
        partition = data.get("partitionName")
        if partition is not None and not isinstance(partition, str):
            raise RestError(1003, "partitionName must be a string")
        records = data.get("input")
        if not isinstance(records, list) or not records:
            raise RestError(1003, "input must be a non-empty list of lead objects")
        if len(records) > MAX_BATCH:
            raise RestError(1003, f"input holds {len(records)} records; the limit is {MAX_BATCH}")
        if not all(isinstance(record, dict) for record in records):
            raise RestError(1003, "each input record must be a JSON object")
        call = _SyncCall(mode, lookup, field.rest_name, partition)
        return [self._sync_one(record, call) for record in records]

    def _partitions(self) -> set[str]:
        spaces = self.config.workspaces
        if not self.config.workspaces_enabled:
            spaces = tuple(ws for ws in spaces if ws.name == DEFAULT_WORKSPACE)
        return {p for ws in spaces for p in ws.partitions}

    def _sync_one(self, record: Mapping[str, object], call: _SyncCall) -> JsonObject:
        try:
            done = self._upsert(record, call)
        except _Skip as skip:
            answer: JsonObject = {}
            if skip.lead_id is not None:
                answer["id"] = skip.lead_id
            answer["status"] = "skipped"
            answer["reasons"] = [_reason(skip.code, str(skip))]
            return answer
        assert done.row is not None
        return {"id": done.row.id, "status": done.outcome.value}

    def _upsert(self, record: Mapping[str, object], call: _SyncCall) -> Upserted:
        keys: dict[str, object] = {}
        attrs: dict[str, str] = {}
        for name, value in record.items():
            f = self.catalog.by_rest(name)
            if f is None:
                raise _Skip(1006, f"Field '{_short(name)}' not found")
            if f.key:
                keys[f.soap_name] = _key(f, value)
            else:
                attrs[f.soap_name] = _text(f, value)
        if call.partition is not None and call.partition not in self._partitions():
            raise _Skip(1013, f"Partition '{_short(call.partition)}' not found")
        if call.mode is Mode.CREATE and call.lookup is Lookup.ID:
            raise _Skip(1003, "createOnly cannot look leads up by id")
        if call.lookup is not Lookup.ID and ID in keys:
            raise _Skip(1003, "id may only be given with lookupField id")
        if call.lookup.value not in keys:
            raise _Skip(1003, f"the lookupField '{call.lookup_name}' is missing from the input")
        lead_id = keys.get(ID)
        done = self.service.upsert(
            Keys(
                id=lead_id if isinstance(lead_id, int) else None,
                email=_str_or_none(keys.get(EMAIL)),
                fsp_id=_str_or_none(keys.get(FOREIGN_ID)),
            ),
            attrs,
            lookup=call.lookup,
            mode=call.mode,
            placement=Placement(
                fallback=self._default_primary(),
                required=call.partition,
                partition=call.partition,
            ),
        )
        row_id = done.row.id if done.row is not None else None
        if done.outcome is Outcome.NOT_FOUND:
            raise _Skip(1004, "Lead not found")
        if done.outcome is Outcome.EXISTS:
            raise _Skip(1005, "Lead already exists", row_id)
        if done.outcome is Outcome.WRONG_PARTITION:
            assert done.row is not None
            raise _Skip(
                1015,
                f"Lead is in partition '{done.row.partition}', not '{call.partition}'",
                row_id,
            )
        if done.outcome is Outcome.FOREIGN_ID_TAKEN:
            raise _Skip(1016, f"ForeignSysPersonId already belongs to lead {done.holder}", row_id)
        return done

    def _default_primary(self) -> str:
        default = self.config.workspace(DEFAULT_WORKSPACE)
        assert default is not None
        return default.primary


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _key(f: Field, value: object) -> object:
    """A key's value checked: id a lead id, Email and the foreign id non-empty strings."""
    if f.soap_name == ID:
        try:
            return LeadRecord(id=value).id  # type: ignore[arg-type]  # checked right here
        except ValidationError:
            raise _Skip(1003, f"Invalid value for field '{f.rest_name}'") from None
    if not isinstance(value, str) or not value.strip():
        raise _Skip(1003, f"'{f.rest_name}' must be a non-empty string")
    try:
        LeadRecord(email=value)  # the same characters any stored text must allow
    except ValidationError:
        raise _Skip(1003, f"Invalid value for field '{f.rest_name}'") from None
    return value


def _text(f: Field, value: object) -> str:
    """A JSON value as the text the store keeps, checked against the field's type.
    null (or "") clears the field.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, Decimal)):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise _Skip(1003, f"Invalid value for field '{f.rest_name}': not a string, number or bool")
    try:
        Attribute(name=f.soap_name, value=text)  # the characters any stored text must allow
    except ValidationError:
        raise _Skip(1003, f"Invalid value for field '{f.rest_name}'") from None
    if misfit(f.data_type, text) is not None:  # the check SOAP makes too
        raise _Skip(1003, f"Invalid value for field '{f.rest_name}'")
    return text


def _stored(row: LeadRow, f: Field) -> str | None:
    if f.soap_name == ID:
        return str(row.id)
    if f.soap_name == EMAIL:
        return row.email
    if f.soap_name == FOREIGN_ID:
        return row.fsp_id
    return row.attrs.get(f.soap_name)


def _typed(f: Field, text: str | None) -> object:
    """Stored text as a JSON value: numbers and booleans typed, the rest as text."""
    if text is None or f.data_type not in _NUMBER_TYPES | {"boolean"}:
        return text
    try:
        value = Attribute(name=f.soap_name, value=text, type=f.data_type).typed_value
    except ValidationError:
        return text  # written through SOAP, which does not check values
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return text
    return value
