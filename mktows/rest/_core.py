"""syncLead over Marketo's REST API, sans I/O (SPEC §7): settings, the OAuth token
cache, request builders, JSON parsers and the call flow. It must not do I/O, read a
clock or import httpx: the clients drive :func:`rest_flow` and supply the time.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from types import MappingProxyType
from typing import Any, TypeGuard
from urllib.parse import quote, urlencode

from .._errors import (
    ConfigError,
    ConversionError,
    DeadlineExceeded,
    FaultError,
    MktowsError,
    ResponseError,
    ValidationError,
    fault_error,
)
from .._models import (
    Attribute,
    Fault,
    ForeignSysType,
    LeadRecord,
    Secret,
    SyncLeadResult,
    SyncStatus,
    check_sync_keys,
    check_xml_text,
)
from .._retry import Flow, RetryPolicy, Send, Sleep, retry_wait, time_left

__all__ = [
    "REST_TWIN_CODES",
    "Catalog",
    "LeadField",
    "RestSettings",
    "RestState",
    "SyncPlan",
    "TokenCache",
    "build_sync_body",
    "lead_from_rest",
    "parse_describe",
    "parse_partitions",
    "parse_rest_result",
    "parse_sync_result",
    "parse_token",
    "plan_sync",
    "rest_error",
    "rest_flow",
]

log = logging.getLogger(__name__)

# REST code -> the SOAP fault code with the same meaning and retry behaviour (SPEC §4, §7).
REST_TWIN_CODES: Mapping[int, int] = MappingProxyType(
    {
        600: 20014,  # access token missing
        601: 20014,  # access token invalid
        602: 20014,  # access token expired
        603: 20013,  # access denied
        604: 20011,  # request timed out
        606: 20023,  # rate limit
        607: 20015,  # daily quota
        608: 20011,  # API temporarily unavailable
        609: 20012,  # invalid JSON
        610: 20012,  # requested resource not found
        611: 20011,  # system error
        615: 20024,  # concurrent access limit
        1003: 20110,  # invalid value
        1004: 20103,  # lead not found
        1006: 20105,  # field not found
    }
)
UNKNOWN_TWIN_CODE = 20106  # Lead Sync Failed: not retried
TOKEN_CODES = frozenset({600, 601, 602})  # renew the token and retry once
TOKEN_MARGIN = 60.0  # renew this long before expiry (or a tenth of a shorter lifetime)
# Marketo refuses URIs over ~8 KB (HTTP 414); a Get Lead whose field list would make
# the URL longer than this is sent as POST ...?_method=GET with the fields in a form body.
GET_URL_LIMIT = 7000
_MAX_CODE_DIGITS = 18  # a REST code longer than this is no code (and int() would be slow)

JSON_HEADERS: Mapping[str, str] = MappingProxyType(
    {"Content-Type": "application/json", "Accept": "application/json"}
)
_FORM_HEADERS: Mapping[str, str] = MappingProxyType(
    {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
)
_ACCEPT: Mapping[str, str] = MappingProxyType({"Accept": "application/json"})

_INTEGER_TYPES = frozenset({"integer", "score"})
_STATUSES = {"created": SyncStatus.CREATED, "updated": SyncStatus.UPDATED}


# --- settings and state ------------------------------------------------------------------


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no request could carry it
        return False
    return True


def _required(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{what} is required")
    if not value.isprintable():  # also a lone surrogate, which no request could carry
        raise ConfigError(f"{what} holds a control character or a lone surrogate: {value!r}")
    return value.strip()


@dataclass(frozen=True, slots=True, kw_only=True)
class RestSettings:
    """Where and as whom to call the REST API, and how SOAP concepts map onto it.

    ``foreign_id_field`` is the REST name of the custom lead field that holds
    the old ForeignSysPersonId (None: leads keyed by it are refused);
    ``partitions`` maps a SOAP workspace name to a REST partition name. The
    client secret never shows in the repr.
    """

    rest_url: str
    identity_url: str
    client_id: str
    client_secret: str = field(repr=False)
    foreign_id_field: str | None = None
    partitions: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        for name in ("rest_url", "identity_url"):
            url = _required(getattr(self, name), name)
            object.__setattr__(self, name, url.rstrip("/"))
        object.__setattr__(self, "client_id", _required(self.client_id, "client_id"))
        if not isinstance(self.client_secret, str) or not self.client_secret:
            raise ConfigError("client_secret is required (the API user's client secret)")
        if not _encodable(self.client_secret):
            raise ConfigError("client_secret holds a character UTF-8 cannot encode; copy it again")
        if self.foreign_id_field is not None:
            object.__setattr__(
                self, "foreign_id_field", _required(self.foreign_id_field, "foreign_id_field")
            )
        partitions = {}
        for workspace, partition in dict(self.partitions).items():
            partitions[_required(workspace, "a workspace name in partitions")] = _required(
                partition, f"the partition of workspace {workspace!r}"
            )
        object.__setattr__(self, "partitions", MappingProxyType(partitions))


def parse_partitions(text: str) -> dict[str, str]:
    """``"Europe=EU,US=US"`` -> ``{"Europe": "EU", "US": "US"}``; ConfigError when malformed."""
    mapping: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        workspace, sep, partition = item.partition("=")
        if not sep or not workspace.strip() or not partition.strip():
            raise ConfigError(
                f"a workspace mapping must read WORKSPACE=PARTITION[,...], got {item.strip()!r}"
            )
        mapping[workspace.strip()] = partition.strip()
    return mapping


class TokenCache:
    """One OAuth access token and when to stop using it; ``now`` is seconds since the epoch.

    The entry is one tuple, replaced whole, so threads sharing a cache never see
    a token with another token's expiry. The token is kept in a :class:`Secret`:
    no repr, and no error reporter's dump of locals, shows it.
    """

    __slots__ = ("_entry",)

    def __init__(self) -> None:
        self._entry: tuple[Secret, float] | None = None

    def __repr__(self) -> str:
        return f"TokenCache({'<token>' if self._entry else 'empty'})"

    def current(self, now: float) -> Secret | None:
        """The token, unless there is none or it is due for renewal at ``now``."""
        entry = self._entry
        if entry is not None and now < entry[1]:
            return entry[0]
        return None

    def store(self, token: Secret, expires_in: float, now: float) -> None:
        """Keep ``token``, valid for ``expires_in`` seconds from ``now``, renewing early."""
        lifetime = max(0.0, expires_in)
        self._entry = (token, now + lifetime - min(TOKEN_MARGIN, lifetime / 10))

    def discard(self, token: Secret) -> None:
        """Forget ``token`` (the server refused it), unless another has replaced it."""
        entry = self._entry
        if entry is not None and entry[0].value == token.value:
            self._entry = None


@dataclass(frozen=True, slots=True)
class LeadField:
    """One field of the lead schema: its REST and SOAP names and its data type."""

    rest_name: str
    soap_name: str
    data_type: str


class Catalog:
    """The lead schema from Describe, by SOAP name and by REST name."""

    __slots__ = ("by_rest", "by_soap")

    def __init__(self, fields: list[LeadField]) -> None:
        self.by_rest: Mapping[str, LeadField] = {f.rest_name: f for f in fields}
        self.by_soap: Mapping[str, LeadField] = {f.soap_name: f for f in fields}

    def __repr__(self) -> str:
        return f"Catalog({len(self.by_rest)} fields)"

    def field_for(self, name: str) -> LeadField | None:
        """The field an attribute ``name`` means: its SOAP name, else its REST name."""
        return self.by_soap.get(name) or self.by_rest.get(name)


@dataclass(eq=False)
class RestState:
    """What a client keeps between calls: the (shared) token cache and the lead schema."""

    tokens: TokenCache
    catalog: Catalog | None = None


# --- errors ------------------------------------------------------------------------------


def rest_error(code: int, message: str, *, status_code: int | None = None) -> FaultError:
    """The mktows error for REST error ``code``: the SOAP twin's class and code, with
    ``fault.rest_code`` set, so that ``except`` clauses and retries work as for SOAP.
    """
    twin = REST_TWIN_CODES.get(code, UNKNOWN_TWIN_CODE)
    fault = replace(Fault.for_code(twin, f"REST {code}: {message}"), rest_code=code)
    return fault_error(fault, status_code=status_code)


def _code(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit() and len(text) <= _MAX_CODE_DIGITS:
            return int(text)
    return None


def _shown(value: object) -> str:
    """Server text for a message: a lone surrogate (JSON can carry one) escaped, so the
    message can be printed, logged and encoded."""
    return str(value or "").strip().encode("utf-8", "backslashreplace").decode("utf-8")


def _reasons(value: object, what: str, body: bytes) -> list[tuple[int, str]]:
    """``[{"code": "601", "message": "..."}]`` -> [(601, "...")]."""
    if not isinstance(value, list) or not value:
        raise ResponseError(f"{what} must be a non-empty list", body=body)
    found = []
    for item in value:
        code = _code(item.get("code")) if isinstance(item, dict) else None
        if code is None:
            raise ResponseError(f"{what} holds an entry without a numeric code", body=body)
        found.append((code, _shown(item.get("message"))))
    return found


# --- parsers -----------------------------------------------------------------------------


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise ResponseError(
            f"expected a JSON {what} answer, got something else", body=data
        ) from None
    if not isinstance(value, dict):
        raise ResponseError(f"expected a JSON object as the {what} answer", body=data)
    return value


def parse_rest_result(
    data: bytes, *, status_code: int | None = None, what: str = "REST"
) -> list[Any]:
    """The ``result`` list of a REST answer; a call-level error is raised as its
    FaultError (see :func:`rest_error`), anything else as ResponseError.
    """
    try:
        answer = _json_object(data, what)
        success = answer.get("success")
        if success is False:
            code, message = _reasons(answer.get("errors"), "errors", data)[0]
            raise rest_error(code, message, status_code=status_code)
        if success is not True:
            raise ResponseError(f"the {what} answer has no boolean 'success'", body=data)
        result = answer.get("result", [])
        if not isinstance(result, list):
            raise ResponseError(f"the {what} answer's 'result' is not a list", body=data)
        return result
    except ResponseError as exc:
        if status_code is not None:
            exc.with_status(status_code)
        raise


def _identity_problem(reason: str, data: bytes, status_code: int) -> ResponseError:
    # An identity answer may hold a token: show its body only when it holds none.
    shown = b"" if b"access_token" in data else data
    return ResponseError(reason, status_code=status_code, body=shown)


def _usable_token(value: object) -> bool:
    # It goes into an HTTP header: printable ASCII without spaces (RFC 6750 b64token).
    return (
        isinstance(value, str)
        and value.isascii()
        and value.isprintable()
        and " " not in value
        and bool(value)
    )


def _seconds(value: object) -> float | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except OverflowError:  # an int past the float range
        return None
    return seconds if 0 <= seconds < math.inf else None


def parse_token(data: bytes, *, status_code: int) -> tuple[Secret, float]:
    """An identity answer -> (access token, seconds it lasts).

    An OAuth error (bad client id or secret) raises AuthenticationError (20014).
    """
    try:
        answer = json.loads(data)
    except (ValueError, RecursionError):
        answer = None
    if not isinstance(answer, dict):
        raise _identity_problem("expected a JSON OAuth token answer", data, status_code)
    if "error" in answer:
        detail = f"identity: {_shown(answer['error'])}: {_shown(answer.get('error_description'))}"
        fault = Fault.for_code(20014, detail.strip().rstrip(":") + "; check the client id/secret")
        raise fault_error(fault, status_code=status_code)
    if not _usable_token(answer.get("access_token")):
        raise _identity_problem("the OAuth answer has no usable access_token", data, status_code)
    expires_in = _seconds(answer.get("expires_in"))
    if expires_in is None:
        raise _identity_problem("the OAuth answer has no usable expires_in", data, status_code)
    return Secret(answer["access_token"]), expires_in


def parse_describe(data: bytes, *, status_code: int | None = None) -> Catalog:
    """A Describe answer -> the :class:`Catalog` of lead fields."""
    fields = []
    for item in parse_rest_result(data, status_code=status_code, what="describe"):
        rest = item.get("rest") if isinstance(item, dict) else None
        rest_name = rest.get("name") if isinstance(rest, dict) else None
        if not _field_name(rest_name):
            raise ResponseError(
                "a describe entry has no usable rest.name", status_code=status_code, body=data
            )
        soap = item.get("soap")
        soap_name = soap.get("name") if isinstance(soap, dict) else None
        data_type = item.get("dataType")
        fields.append(
            LeadField(
                rest_name=rest_name,
                soap_name=soap_name if _field_name(soap_name) else rest_name,
                data_type=data_type.strip() if _field_name(data_type) else "string",
            )
        )
    return Catalog(fields)


def _field_name(value: object) -> TypeGuard[str]:
    """Whether ``value`` can name a field in a URL, in JSON and in a SOAP attribute."""
    return isinstance(value, str) and value.isprintable() and bool(value)  # no surrogate


def parse_sync_result(data: bytes, *, status_code: int | None = None) -> SyncLeadResult:
    """A Sync Leads answer for one input -> SyncLeadResult.

    created/updated -> CREATED/UPDATED; skipped -> FAILED with the reasons joined
    into ``error``, except 1006 (UnknownAttributeError) and 1004 (LeadNotFoundError),
    raised like their SOAP twins 20105 and 20103.
    """
    result = parse_rest_result(data, status_code=status_code, what="Sync Leads")
    try:
        return _sync_record(result, data, status_code)
    except ResponseError as exc:
        if status_code is not None:
            exc.with_status(status_code)
        raise


def _sync_record(result: list[Any], data: bytes, status_code: int | None) -> SyncLeadResult:
    record = result[0] if len(result) == 1 else None
    if not isinstance(record, dict):
        raise ResponseError(f"expected one result record, got {len(result)}", body=data)
    raw_id = record.get("id")
    lead_id = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else 0
    status = record.get("status")
    if status in _STATUSES:
        if lead_id <= 0:
            raise ResponseError(
                f"a {status} record needs a positive integer id, got {raw_id!r}", body=data
            )
        return SyncLeadResult(lead_id=lead_id, status=_STATUSES[status])
    if status != "skipped":
        raise ResponseError(
            f"status must be created, updated or skipped, got {status!r}", body=data
        )
    reasons = _reasons(record.get("reasons"), "a skipped record's reasons", data)
    for special in (1006, 1004):
        for code, message in reasons:
            if code == special:
                raise rest_error(code, message, status_code=status_code)
    error = "; ".join(f"{code}: {message}" if message else str(code) for code, message in reasons)
    return SyncLeadResult(lead_id=max(lead_id, 0), status=SyncStatus.FAILED, error=error)


def _attribute_text(value: object, data_type: str) -> str | None:
    """A JSON value as SOAP attribute text (SPEC §6 wire forms); None for null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and data_type in _INTEGER_TYPES:
        return str(int(value))
    if isinstance(value, (int, float, str)):
        return str(value)
    raise ValueError(f"a {type(value).__name__} is not a field value")


def lead_from_rest(
    record: Mapping[str, Any], catalog: Catalog, foreign_id_field: str | None
) -> LeadRecord:
    """A Get Lead record -> LeadRecord: id, email and the foreign-id field as keys
    (ForeignSysType CUSTOM), every other field an attribute under its SOAP name,
    typed by the schema's data type. ValidationError/ValueError for a bad record.
    """
    keys = {"id", "email", foreign_id_field}
    attrs = []
    for name, value in record.items():
        if name in keys:
            continue
        known = catalog.by_rest.get(name)
        data_type = known.data_type if known else "string"
        text = _attribute_text(value, data_type)
        if text is not None:
            attr = Attribute(name=known.soap_name if known else name, value=text, type=data_type)
            attrs.append(attr)
    foreign = record.get(foreign_id_field) if foreign_id_field else None
    foreign_text = _attribute_text(foreign, "string")
    return LeadRecord(
        id=record.get("id"),
        email=record.get("email"),
        foreign_sys_person_id=foreign_text,
        foreign_sys_type=ForeignSysType.CUSTOM if foreign_text is not None else None,
        attributes=attrs,
    )


def _parse_lead(
    data: bytes, status_code: int, lead_id: int, catalog: Catalog, foreign_id_field: str | None
) -> LeadRecord:
    result = parse_rest_result(data, status_code=status_code, what="Get Lead")
    if len(result) != 1 or not isinstance(result[0], dict):
        raise ResponseError(
            f"expected lead {lead_id}, just synced, as one record; got {len(result)}",
            status_code=status_code,
            body=data,
        )
    try:
        return lead_from_rest(result[0], catalog, foreign_id_field)
    except ValueError as exc:  # ValidationError is a ValueError too
        raise ResponseError(
            f"the returned lead is malformed: {exc}", status_code=status_code, body=data
        ) from exc


def _check_success(data: bytes, *, status_code: int) -> None:
    parse_rest_result(data, status_code=status_code, what="Associate Lead")


# --- request builders ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyncPlan:
    """How one lead goes out: the lookup field, the partition, and its key fields."""

    lookup_field: str
    partition: str | None
    keys: Mapping[str, Any]


def plan_sync(lead: LeadRecord, settings: RestSettings, workspace: str | None) -> SyncPlan:
    """Check a lead and pick its lookup field by SOAP precedence (SPEC §3): Id -> "id",
    else ForeignSysPersonId -> the configured foreign-id field, else Email -> "email".
    Raises ValidationError or ConfigError; nothing is sent.
    """
    check_sync_keys(lead)
    keys: dict[str, Any] = {}
    foreign = settings.foreign_id_field
    if lead.foreign_sys_person_id is not None and foreign is None:
        raise ConfigError(
            "this lead is keyed by ForeignSysPersonId, but no foreign-id field is configured: "
            "set foreign_id_field (MKTOWS_FOREIGN_ID_FIELD) to the REST name of the custom "
            "lead field that holds it"
        )
    if lead.id is not None:
        lookup = "id"
        keys["id"] = lead.id
    elif foreign is not None and lead.foreign_sys_person_id is not None:
        lookup = foreign
    else:
        lookup = "email"
    if lead.email is not None:
        keys["email"] = lead.email
    if foreign is not None and lead.foreign_sys_person_id is not None:
        keys[foreign] = lead.foreign_sys_person_id
    partition = None
    if workspace is not None:
        partition = settings.partitions.get(workspace)
        if partition is None:
            known = ", ".join(sorted(settings.partitions)) or "none"
            raise ValidationError(
                f"workspace {workspace!r} has no partition mapping (mapped: {known}); add "
                f"{workspace}=PARTITION to partitions (MKTOWS_PARTITIONS)",
                field="workspace",
            )
    return SyncPlan(lookup_field=lookup, partition=partition, keys=keys)


def _json_value(attr: Attribute, data_type: str) -> Any:
    """An attribute's text as the JSON value its schema data type calls for."""
    typed = Attribute._from_parser(attr.name, attr.value, data_type).typed_value
    if isinstance(typed, Decimal):
        typed = float(typed)  # JSON has one number type; Marketo's currency is a double
    if isinstance(typed, float) and not math.isfinite(typed):
        raise ConversionError(
            f"attribute {attr.name!r}: {attr.value[:80]!r} is out of range for a JSON number",
            field=attr.name,
        )
    if isinstance(typed, (dt.date, dt.datetime)):
        return typed.isoformat()
    return typed


def build_sync_body(plan: SyncPlan, lead: LeadRecord, catalog: Catalog) -> bytes:
    """The Sync Leads JSON body for one lead; an attribute the schema lacks raises
    UnknownAttributeError (20105, REST 1006) before anything is sent.
    """
    record: dict[str, Any] = {}
    for attr in lead.attributes.as_tuple():
        known = catalog.field_for(attr.name)
        if known is None:
            raise rest_error(1006, f"Field '{attr.name}' not found")
        record[known.rest_name] = _json_value(attr, known.data_type)
    record.update(plan.keys)  # the keys win over attributes of the same field
    body: dict[str, Any] = {"action": "createOrUpdate", "lookupField": plan.lookup_field}
    if plan.partition is not None:
        body["partitionName"] = plan.partition
    body["input"] = [record]
    return json.dumps(body, ensure_ascii=False, allow_nan=False).encode()


# --- the call flow ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Request:
    # body and headers stay out of the repr: the identity form carries the client secret.
    url: str
    label: str
    parse: Callable[[bytes, int], Any]
    method: str = "GET"
    body: bytes = field(default=b"", repr=False)
    headers: Mapping[str, str] = field(default_factory=lambda: _ACCEPT, repr=False)


class _Call:
    """One sync_lead over REST: the deadline, the retries and the token of each exchange."""

    def __init__(
        self,
        settings: RestSettings,
        state: RestState,
        *,
        policy: RetryPolicy,
        clock: Callable[[], dt.datetime],
        monotonic: Callable[[], float],
        random: Callable[[], float],
        deadline: float,
    ) -> None:
        self.settings = settings
        self.state = state
        self.policy = policy
        self.clock = clock
        self.monotonic = monotonic
        self.random = random
        self.deadline = deadline
        self.ends = monotonic() + deadline

    def token(self) -> Flow[Secret]:
        """The cached token, or a new one from the identity service."""
        # Error reporters capture frame locals: the secret and the token stay inside
        # holders with safe reprs, unwrapped only in the expression that sends them.
        now = self.clock().timestamp()
        cached = self.state.tokens.current(now)
        if cached is not None:
            return cached
        request = _Request(
            url=f"{self.settings.identity_url}/oauth/token",
            label="identity",
            parse=lambda data, status: parse_token(data, status_code=status),
            method="POST",
            body=urlencode(
                {
                    "grant_type": "client_credentials",
                    "client_id": self.settings.client_id,
                    "client_secret": self.settings.client_secret,
                }
            ).encode(),
            headers=_FORM_HEADERS,
        )
        fresh: tuple[Secret, float] = yield from self.exchange(request, authorized=False)
        self.state.tokens.store(fresh[0], fresh[1], now)
        return fresh[0]

    def exchange(self, request: _Request, *, authorized: bool = True) -> Flow[Any]:
        """Send ``request`` and parse its answer, retrying per the policy; a refused
        token (600/601/602) is renewed and the request sent again, once.
        """
        tries = renewed = 0
        while True:
            tries += 1
            token = (yield from self.token()) if authorized else None
            try:
                response = yield Send(
                    request.body,
                    time_left(self.ends, self.monotonic, self.deadline),
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
                    exc,
                    tries,
                    policy=self.policy,
                    random=self.random,
                    monotonic=self.monotonic,
                    ends=self.ends,
                    label=request.label,
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
    policy: RetryPolicy,
    clock: Callable[[], dt.datetime],
    monotonic: Callable[[], float],
    random: Callable[[], float],
    deadline: float,
) -> Flow[SyncLeadResult]:
    """One syncLead over REST: [token] -> [Describe, once per client] -> Sync Leads ->
    [Associate Lead when ``marketo_cookie``] -> [Get Lead when ``return_lead``].

    The lead's keys and workspace are checked here, before the flow starts
    (ValidationError or ConfigError). Each exchange is retried per ``policy``
    within one ``deadline`` for the whole call, as :func:`~mktows._retry.call_flow`.
    """
    _optional_text(marketo_cookie, "marketo_cookie")
    _optional_text(workspace, "workspace")
    if not isinstance(return_lead, bool):
        raise ValidationError("return_lead must be True or False", field="returnLead")
    plan = plan_sync(lead, settings, workspace)
    call = _Call(
        settings,
        state,
        policy=policy,
        clock=clock,
        monotonic=monotonic,
        random=random,
        deadline=deadline,
    )
    return _run(call, plan, lead, return_lead, marketo_cookie)


def _optional_text(value: object, field: str) -> None:
    """The SOAP client's checks of a call option (see ``_build``), with its field names."""
    if value is None:
        return
    check_xml_text(value, field)
    assert isinstance(value, str)  # checked just above
    if not value.strip():
        raise ValidationError(f"{field} is empty; give a value or leave it out", field=field)


def _get_lead(
    base: str, lead_id: int, names: list[str]
) -> tuple[str, str, bytes, Mapping[str, str]]:
    """Get Lead by Id asking for ``names``: (method, url, body, headers). A GET unless
    the URL would pass :data:`GET_URL_LIMIT`; then Marketo's POST with ``_method=GET``
    and the field list in a form body.
    """
    url = f"{base}/v1/lead/{lead_id}.json"
    query = "fields=" + ",".join(quote(name, safe="") for name in names)
    if len(url) + 1 + len(query) <= GET_URL_LIMIT:
        return "GET", f"{url}?{query}", b"", _ACCEPT
    return (
        "POST",
        f"{url}?_method=GET",
        urlencode({"fields": ",".join(names)}).encode(),
        _FORM_HEADERS,
    )


def _run(
    call: _Call, plan: SyncPlan, lead: LeadRecord, return_lead: bool, cookie: str | None
) -> Flow[SyncLeadResult]:
    base = call.settings.rest_url
    catalog = call.state.catalog
    if catalog is None:
        catalog = yield from call.exchange(
            _Request(
                url=f"{base}/v1/leads/describe.json",
                label="describe",
                parse=lambda data, status: parse_describe(data, status_code=status),
            )
        )
        call.state.catalog = catalog
    schema: Catalog = catalog  # narrowed, for the closures below
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
                parse=lambda data, status: _check_success(data, status_code=status),
                method="POST",
            )
        )
    if return_lead:
        method, url, body, headers = _get_lead(base, lead_id, list(schema.by_rest))
        foreign = call.settings.foreign_id_field
        record: LeadRecord = yield from call.exchange(
            _Request(
                url=url,
                label="getLead",
                parse=lambda data, status: _parse_lead(data, status, lead_id, schema, foreign),
                method=method,
                body=body,
                headers=headers,
            )
        )
        result = replace(result, lead=record)
    return result
