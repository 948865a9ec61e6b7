"""The sandbox's own admin API under ``/_sandbox/``: health, the call journal,
leads (read and seed), reset, fault rules and limits, as JSON; who may use it
(loopback only, or a bearer token); the HTML pages are _web.py's. Works on the
app's journal, rules and store; no sockets.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from .._errors import ConfigError, FaultError, ValidationError
from .._models import LeadRecord
from ._config import DEFAULT_WORKSPACE
from ._faults import FaultRule
from ._journal import CallFilter
from ._limits import Limiter
from ._record import lead_json
from ._service import Keys, Outcome, Placement, insert_lead
from ._store import LeadRow

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from ._wsgi import SandboxApp

__all__ = ["ADMIN_PATH", "Admin", "AdminError", "leads_of", "limits_of", "reset", "seed"]

log = logging.getLogger(__name__)

ADMIN_PATH = "/_sandbox"
_JSON = [("Content-Type", "application/json; charset=utf-8"), ("Cache-Control", "no-store")]
_STATUS = {
    200: "200 OK",
    201: "201 Created",
    400: "400 Bad Request",
    401: "401 Unauthorized",
    403: "403 Forbidden",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    408: "408 Request Timeout",
    411: "411 Length Required",
    413: "413 Content Too Large",
    415: "415 Unsupported Media Type",
}
_SEED_KEYS = frozenset(
    {"id", "email", "foreign_sys_person_id", "foreign_sys_type", "partition", "cookies"}
    | {"attributes"}
)
_KEEPABLE = ("leads", "journal", "faults", "limits")
_MAX_WAIT = 60.0


class AdminError(Exception):
    """A request the admin API refuses: ``status`` (4xx) and what is wrong."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def query_of(environ: WSGIEnvironment) -> dict[str, str]:
    """The query parameters (the last of a repeated name wins)."""
    return dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))


def read_body(environ: WSGIEnvironment, cap: int) -> bytes:
    """The request body, at most ``cap`` bytes (AdminError otherwise)."""
    text = environ.get("CONTENT_LENGTH", "").strip() or "0"
    if environ.get("HTTP_TRANSFER_ENCODING", "").strip():
        raise AdminError(411, "send the body with a Content-Length")
    if not (text.isascii() and text.isdigit()):
        raise AdminError(400, "Content-Length is not a number")
    length = int(text)
    if length > cap:
        raise AdminError(413, f"the body is {length} bytes; the limit is {cap}")
    body: bytes = environ["wsgi.input"].read(length) if length else b""
    return body


def _json_body(environ: WSGIEnvironment, cap: int) -> Any:
    body = read_body(environ, cap)
    if not body.strip():
        return {}
    media = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise AdminError(415, "send the body as Content-Type: application/json")
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise AdminError(400, "the body is not JSON") from None


def leads_of(app: SandboxApp, *, email: str | None = None, lead_id: int | None = None) -> list[Any]:
    """The stored leads as JSON objects (filtered by Email or Id)."""
    with app.store.transaction() as tx:
        if lead_id is not None:
            found = tx.by_id(lead_id)
            rows = [found] if found is not None else []
        else:
            rows = tx.listed(email=email)
        answer = []
        for row in rows:
            data = lead_json(row, app.leads.times(row.id))
            data["cookies"] = tx.cookies(row.id)
            answer.append(data)
    return answer


def _seed_one(app: SandboxApp, data: object, number: int) -> tuple[Keys, dict[str, str], Any]:
    """Check one seed lead like a sync: its keys, fields, values and partition."""
    where = f"leads[{number}]"
    if not isinstance(data, Mapping):
        raise AdminError(400, f"{where} must be a JSON object")
    odd = sorted(str(k) for k in data if k not in _SEED_KEYS)
    if odd:
        raise AdminError(
            400, f"{where}: unknown key {odd[0]!r}; keys: {', '.join(sorted(_SEED_KEYS))}"
        )
    try:
        record = LeadRecord(
            id=data.get("id"),
            email=data.get("email"),
            foreign_sys_person_id=data.get("foreign_sys_person_id"),
            foreign_sys_type=data.get("foreign_sys_type"),
        )
    except (ValidationError, TypeError) as exc:
        raise AdminError(400, f"{where}: {exc}") from None
    if record.email is None and record.foreign_sys_person_id is None and record.id is None:
        raise AdminError(400, f"{where} needs a key: id, email or foreign_sys_person_id")
    attributes = data.get("attributes", {})
    if not isinstance(attributes, Mapping):
        raise AdminError(400, f"{where}: attributes must map field names to values")
    catalog = app.service.catalog
    attrs: dict[str, str] = {}
    for name, value in attributes.items():
        canonical = catalog.canonical(name)
        if canonical is None:
            raise AdminError(400, f"{where}: unknown attribute {str(name)[:60]!r}")
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (int, float)):
            value = str(value)
        elif value is None:
            value = ""
        if not isinstance(value, str):
            raise AdminError(400, f"{where}: attribute {canonical} must be text, a number or bool")
        attrs[canonical] = value
    partition = data.get("partition")
    known = {p for ws in app.config.workspaces for p in ws.partitions}
    if partition is not None and partition not in known:
        raise AdminError(400, f"{where}: unknown partition {partition!r}; known: {sorted(known)}")
    cookies = data.get("cookies", [])
    if not isinstance(cookies, list) or not all(isinstance(c, str) and c for c in cookies):
        raise AdminError(400, f"{where}: cookies must be a list of non-empty strings")
    fsp_type = record.foreign_sys_type.value if record.foreign_sys_type else None
    keys = Keys(record.id, record.email, record.foreign_sys_person_id, fsp_type)
    return keys, attrs, (partition, cookies)


def seed(app: SandboxApp, leads: object) -> list[int]:
    """Write seed leads (all checked first); their Ids, in order."""
    if not isinstance(leads, list) or not leads:
        raise AdminError(400, 'send {"leads": [...]}: a non-empty list of lead objects')
    checked = [_seed_one(app, data, n) for n, data in enumerate(leads)]
    default = app.config.workspace(DEFAULT_WORKSPACE)
    assert default is not None
    ids = []
    for keys, attrs, (partition, cookies) in checked:
        if keys.id is not None and app.service.lead(keys.id) is None:
            row = _insert(app, keys, attrs, partition or default.primary)
            created = True
        else:
            done = app.service.upsert(
                keys, attrs, placement=Placement(fallback=default.primary, partition=partition)
            )
            if done.row is None or done.outcome not in (Outcome.CREATED, Outcome.UPDATED):
                raise AdminError(400, f"lead with {keys} not written: {done.outcome.value}")
            row, created = done.row, done.outcome is Outcome.CREATED
        for cookie in cookies:
            app.service.associate(row.id, cookie)
        app.leads.written(row, _now(app), created=created)
        ids.append(row.id)
    return ids


def _insert(app: SandboxApp, keys: Keys, attrs: Mapping[str, str], partition: str) -> LeadRow:
    stored = {k: v for k, v in attrs.items() if v != ""}
    with app.store.transaction() as tx:
        if keys.fsp_id is not None and tx.by_foreign_id(keys.fsp_id) is not None:
            raise AdminError(400, f"foreign_sys_person_id {keys.fsp_id!r} belongs to another lead")
        return insert_lead(tx, keys, stored, partition, lead_id=keys.id)


def _now(app: SandboxApp) -> str:
    return app.service.clock().isoformat(timespec="milliseconds").replace("+00:00", "Z")


def reset(app: SandboxApp, keep: Iterable[str] = ()) -> None:
    """Clear leads, journal, fault rules and limit counters, except those in ``keep``."""
    kept = set(keep)
    if "leads" not in kept:
        with app.store.transaction() as tx:
            tx.clear()
        app.leads.clear()
    if "journal" not in kept:
        app.journal.clear()
    if "faults" not in kept:
        app.faults.clear()
    if "limits" not in kept:
        old = app.service.limiter
        app.service.limiter = Limiter(
            rate_calls=old.rate_calls,
            rate_window=old.rate_window,
            concurrency=old.concurrency,
            daily_quota=old.daily_quota,
        )


def limits_of(app: SandboxApp) -> dict[str, Any]:
    """The limits and what each user has used of them right now."""
    limiter = app.service.limiter
    now = app.service.clock()
    stamp, day = now.timestamp(), now.date()
    calls: Mapping[str, Any] = getattr(limiter, "_calls", {})
    days: Mapping[str, tuple[Any, int]] = getattr(limiter, "_days", {})
    users = []
    for user in sorted(set(calls) | set(days)):
        window = sum(1 for t in calls.get(user, ()) if t > stamp - limiter.rate_window)
        used_day, used = days.get(user, (day, 0))
        users.append(
            {
                "user": user,
                "calls_in_window": window,
                "quota_used_today": used if used_day == day else 0,
            }
        )
    return {
        "rate_limit_calls": limiter.rate_calls,
        "rate_limit_window": limiter.rate_window,
        "daily_quota": limiter.daily_quota,
        "concurrency_limit": limiter.concurrency,
        "in_flight": limiter.active,
        "users": users,
    }


class Admin:
    """The ``/_sandbox/`` face of a :class:`SandboxApp` (a WSGI callable)."""

    def __init__(self, app: SandboxApp, token: str | None = None) -> None:
        self.app = app
        self._token = token or None

    def __repr__(self) -> str:
        return f"Admin(token={'set' if self._token else 'none'})"

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        path = environ.get("PATH_INFO", "")[len(ADMIN_PATH) :] or "/"
        method = environ.get("REQUEST_METHOD", "")
        headers: list[tuple[str, str]] = _JSON
        try:
            if path == "/health":
                if method not in ("GET", "HEAD"):
                    raise AdminError(405, "GET /_sandbox/health")
                code, data = 200, {"status": "ok"}
            else:
                self._allowed(environ)
                if not path.startswith("/api/"):
                    from ._web import page  # the HTML pages, loaded when first asked for

                    status, headers, html = page(self.app, environ, path)
                    headers = [*headers, ("Content-Length", str(len(html)))]
                    start_response(status, headers)
                    return [html]
                code, data = self._api(environ, method, path[len("/api") :])
        except AdminError as exc:
            code, data = exc.status, {"error": str(exc)}
            if exc.status == 401:
                headers = [*_JSON, ("WWW-Authenticate", 'Bearer realm="mktows sandbox"')]
        except (FaultError, ConfigError) as exc:
            code, data = 400, {"error": str(exc)}
        body = json.dumps(data, ensure_ascii=False, default=str).encode()
        start_response(_STATUS[code], [*headers, ("Content-Length", str(len(body)))])
        return [body]

    def _allowed(self, environ: WSGIEnvironment) -> None:
        if self._token is not None:
            scheme, _, given = (environ.get("HTTP_AUTHORIZATION") or "").strip().partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), self._token.encode()
            ):
                raise AdminError(401, "send the admin token as Authorization: Bearer <token>")
        elif not _loopback(environ.get("REMOTE_ADDR", "")):
            raise AdminError(
                403, "the admin API answers loopback clients only; start serve with --admin-token"
            )
        origin = environ.get("HTTP_ORIGIN")
        method = environ.get("REQUEST_METHOD", "")
        if origin and method not in ("GET", "HEAD"):
            host = environ.get("HTTP_HOST", "")
            if urlsplit(origin).netloc != host:
                raise AdminError(403, "cross-site requests may not change the sandbox")

    def _api(self, environ: WSGIEnvironment, method: str, path: str) -> tuple[int, Any]:
        app = self.app
        cap = app.config.max_request_bytes
        if path == "/calls":
            if method == "DELETE":
                app.journal.clear()
                return 200, {"cleared": True}
            _only(method, "GET, DELETE")
            return 200, {"calls": app.journal.calls(_filter(query_of(environ)))}
        if path == "/calls/count":
            _only(method, "GET")
            return 200, {"count": app.journal.count(_filter(query_of(environ)))}
        if path == "/calls/wait":
            _only(method, "GET")
            return self._wait(query_of(environ))
        if path.startswith("/calls/"):
            _only(method, "GET")
            call = app.journal.get(_id(path[len("/calls/") :], "call"))
            if call is None:
                raise AdminError(404, f"no call {path[len('/calls/') :]} in the journal")
            return 200, call
        if path == "/leads":
            if method == "POST":
                body = _json_body(environ, cap)
                if not isinstance(body, dict):
                    raise AdminError(400, 'send {"leads": [...]}')
                return 201, {"ids": seed(app, body.get("leads"))}
            _only(method, "GET, POST")
            params = query_of(environ)
            odd = sorted(set(params) - {"email", "id"})
            if odd:
                raise AdminError(400, f"unknown filter {odd[0]!r}; filters: email, id")
            lead_id = _id(params["id"], "lead") if params.get("id") else None
            return 200, {"leads": leads_of(app, email=params.get("email") or None, lead_id=lead_id)}
        if path == "/reset":
            _only(method, "POST")
            body = _json_body(environ, cap)
            keep = body.get("keep", []) if isinstance(body, dict) else None
            if not isinstance(keep, list) or not all(k in _KEEPABLE for k in keep):
                raise AdminError(400, f"keep must be a list of: {', '.join(_KEEPABLE)}")
            reset(app, keep)
            return 200, {"reset": True, "kept": keep}
        if path == "/faults":
            if method == "POST":
                rule = FaultRule.from_dict(_json_body(environ, cap))
                return 201, {"id": app.faults.add(rule)}
            if method == "DELETE":
                app.faults.clear()
                return 200, {"cleared": True}
            _only(method, "GET, POST, DELETE")
            return 200, {"faults": app.faults.listed()}
        if path.startswith("/faults/"):
            _only(method, "DELETE")
            if not app.faults.remove(_id(path[len("/faults/") :], "fault rule")):
                raise AdminError(404, f"no fault rule {path[len('/faults/') :]}")
            return 200, {"removed": True}
        if path == "/limits":
            _only(method, "GET")
            return 200, limits_of(app)
        raise AdminError(404, f"no admin resource {path[:60]!r}; see GET /_sandbox/ for the page")

    def _wait(self, params: dict[str, str]) -> tuple[int, Any]:
        count_text = params.pop("count", "1") or "1"
        timeout_text = params.pop("timeout", "10") or "10"
        try:
            count = int(count_text)
            timeout = float(timeout_text)
        except ValueError:
            raise AdminError(
                400, "count must be a whole number, timeout a number of seconds"
            ) from None
        if count < 1 or not 0 <= timeout <= _MAX_WAIT:
            raise AdminError(400, f"count must be >= 1 and timeout 0-{_MAX_WAIT:g} seconds")
        done, calls = self.app.journal.wait(_filter(params), count, timeout)
        return (200 if done else 408), {"calls": calls}


def _only(method: str, allowed: str) -> None:
    if method not in allowed.split(", "):
        raise AdminError(405, f"this resource answers {allowed}")


def _id(text: str, what: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise AdminError(
            404 if what != "lead" else 400, f"{what} ids are whole numbers, got {text[:20]!r}"
        )
    return int(text)


def _filter(params: Mapping[str, str]) -> CallFilter:
    try:
        return CallFilter.parse(params)
    except ValueError as exc:
        raise AdminError(400, str(exc)) from None
