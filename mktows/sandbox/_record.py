"""What the journal keeps of one exchange: the facts of a call (wire, operation,
user, outcome, code, lead, timing), its bodies with secrets redacted, the lead
before and after, and for a 20014 what was signed. Built from what the WSGI
adapter left in the environ; no HTTP of its own, no sockets.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import re
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from .._models import SyncLeadRequest, SyncLeadResult
from .._signing import verify
from ._rest import RestError
from ._store import LeadRow

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

    from ._wsgi import SandboxApp

__all__ = ["BODY", "HINT", "REQUEST", "RESULT", "LeadBook", "lead_json", "record_call", "rest_user"]

# Keys the adapter sets in the environ for the recorder.
BODY = "mktows.journal.body"
REQUEST = "mktows.journal.request"
RESULT = "mktows.journal.result"
HINT = "mktows.journal.hint"

REDACTED = "[redacted]"
_SECRET_PARAMS = frozenset({"client_secret", "access_token"})
_MAX_BODY = 256 * 1024  # characters of a body kept in the journal
_DIGITS = re.compile(r"[0-9]+")
_STATUSES = {"created": "CREATED", "updated": "UPDATED", "skipped": "SKIPPED"}


def lead_json(row: LeadRow, times: tuple[str, str] | None = None) -> dict[str, Any]:
    """A stored lead as the admin API shows it."""
    created, updated = times or (None, None)
    return {
        "id": row.id,
        "email": row.email,
        "foreign_sys_person_id": row.fsp_id,
        "foreign_sys_type": row.fsp_type,
        "partition": row.partition,
        "attributes": dict(row.attrs),
        "created_at": created,
        "updated_at": updated,
    }


class LeadBook:
    """When each lead was created and last updated, and its last state seen, as far
    as this process saw them (the store keeps no times). Thread-safe, bounded.
    """

    def __init__(self, size: int) -> None:
        self._size = max(size, 1000)
        self._lock = threading.Lock()
        self._times: dict[int, tuple[str, str]] = {}
        self._last: collections.OrderedDict[int, dict[str, Any]] = collections.OrderedDict()

    def clear(self) -> None:
        """Forget everything (after a reset)."""
        with self._lock:
            self._times.clear()
            self._last.clear()

    def times(self, lead_id: int) -> tuple[str, str] | None:
        """(created_at, updated_at) as ISO 8601, or None if never seen written."""
        return self._times.get(lead_id)

    def written(self, row: LeadRow, when: str, *, created: bool) -> tuple[Any, dict[str, Any]]:
        """Note a write: returns (the lead before, if known; the lead now)."""
        with self._lock:
            first = self._times.get(row.id)
            born = when if created or first is None else first[0]
            self._times[row.id] = (born, when)
            if len(self._times) > self._size * 10:
                self._times.pop(next(iter(self._times)))
            before = None if created else self._last.get(row.id)
            after = lead_json(row, (born, when))
            self._last[row.id] = after
            self._last.move_to_end(row.id)
            if len(self._last) > self._size:
                self._last.popitem(last=False)
        return before, after


def _text(body: bytes) -> str:
    text = body[:_MAX_BODY].decode("utf-8", "replace")
    return text + (" [... cut]" if len(body) > _MAX_BODY else "")


def _redacted_form(text: str) -> str:
    pairs = parse_qsl(text, keep_blank_values=True)
    if not any(name in _SECRET_PARAMS for name, _ in pairs):
        return text
    return urlencode([(n, REDACTED if n in _SECRET_PARAMS else v) for n, v in pairs], safe="[]")


def _operation(path: str) -> tuple[str, str] | None:
    """(wire, operation) for a path the journal records, else None."""
    from ._wsgi import ENDPOINT_PATH, REST_PATH, TOKEN_PATH

    if path == ENDPOINT_PATH:
        return "soap", "syncLead"
    if path == TOKEN_PATH:
        return "rest", "identity"
    if path == REST_PATH or path.startswith(REST_PATH + "/"):
        tail = path[len(REST_PATH) :].removeprefix("/v1").lstrip("/")
        return "rest", _DIGITS.sub("{id}", tail)[:80] or "rest"
    return None


def auth_check(app: SandboxApp, request: SyncLeadRequest) -> dict[str, Any]:
    """For a 20014: the string that was signed and which part did not match (no key)."""
    auth = request.auth
    if auth is None:
        return {"signed": None, "mismatch": "the AuthenticationHeader is missing"}
    signed = auth.timestamp + auth.user_id
    answer: dict[str, Any] = {
        "signed": signed,
        "request_timestamp": auth.timestamp,
        "user_id": auth.user_id,
    }
    key = app.config.users.get(auth.user_id)
    if key is None:
        answer["mismatch"] = f"mktowsUserId {auth.user_id[:60]!r} is not a user of this sandbox"
    elif verify(auth.signature, auth.user_id, auth.timestamp, key):
        answer["mismatch"] = (
            "requestSignature was computed over mktowsUserId + requestTimestamp; "
            "Marketo signs requestTimestamp + mktowsUserId"
        )
    elif not verify(auth.signature, auth.timestamp, auth.user_id, key):
        given = auth.signature.strip()
        shape = len(given) == 40 and all(c in "0123456789abcdefABCDEF" for c in given)
        answer["mismatch"] = (
            "requestSignature is not the HMAC-SHA1 of the signed string with this user's "
            "encryption key: the key differs, or another string was signed"
            if shape
            else "requestSignature is not 40 hex digits (an HMAC-SHA1 in hex)"
        )
    else:  # a fault rule answered 20014 to a call signed correctly
        answer["mismatch"] = None
        answer["note"] = "the signature is right: this 20014 came from a fault rule"
    return answer


def rest_user(app: SandboxApp, environ: WSGIEnvironment) -> str | None:
    scheme, _, token = (environ.get("HTTP_AUTHORIZATION") or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        return app.rest.tokens.check(token.strip())
    except RestError:
        return None


def _rest_facts(
    entry: dict[str, Any], request: bytes, response: bytes, operation: str, path: str
) -> None:
    """outcome, code, lead_id and email of a REST answer (in place). Every answer
    that reaches here was built by the adapter's ``_rest_answer``: a JSON object with
    ``success`` and either ``errors`` or ``result`` (a list of objects), codes as digit
    strings.
    """
    answer = json.loads(response)
    if not answer["success"]:
        entry["outcome"] = "FAULT"
        entry["code"] = int(answer["errors"][0]["code"])
    ids = _DIGITS.findall(path)
    if ids and operation != "leads.json":
        entry["lead_id"] = int(ids[-1])
    results = answer.get("result")
    if operation != "leads.json" or not results:
        return
    first = results[0]
    entry["outcome"] = _STATUSES.get(first.get("status"))  # GET leads.json: leads, no status
    entry["lead_id"] = first.get("id")
    reasons = first.get("reasons")
    if reasons:
        entry["code"] = int(reasons[0]["code"])
    try:
        sent = json.loads(request)
        email = sent["input"][0].get("email")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return
    entry["email"] = email if isinstance(email, str) else None


def record_call(
    app: SandboxApp,
    environ: WSGIEnvironment,
    answer: tuple[str, Sequence[tuple[str, str]], bytes, str],
    duration: float,
    clock: Callable[[], dt.datetime],
) -> None:
    """Add one exchange to ``app.journal`` (nothing for paths it does not record)."""
    path = environ.get("PATH_INFO", "")
    method = environ.get("REQUEST_METHOD", "")
    found = _operation(path)
    if found is None or (found[1] == "syncLead" and method == "GET"):
        return  # the WSDL is a document, not a call
    status, headers, response, outcome = answer
    wire, operation = found
    request_body: bytes = environ.get(BODY, b"")
    query = environ.get("QUERY_STRING", "")
    when = clock()
    entry: dict[str, Any] = {
        "id": 0,
        "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "wire": wire,
        "operation": operation,
        "method": method,
        "path": path + ("?" + _redacted_form(query) if query else ""),
        "user": None,
        "http_status": int(status[:3]),
        "outcome": None,
        "code": None,
        "lead_id": None,
        "email": None,
        "duration_ms": round(duration * 1000, 3),
        "hint": environ.get(HINT),
    }
    request = environ.get(REQUEST)
    if outcome == "dropped":  # a fault rule closed the connection unanswered
        entry["outcome"], entry["http_status"], entry["dropped"] = "FAULT", None, True
    elif outcome.isdigit():  # refused at the HTTP level
        entry["outcome"] = "REFUSED"
    elif wire == "soap":
        if outcome.startswith("fault="):
            entry["outcome"], entry["code"] = "FAULT", int(outcome[6:])
        else:
            entry["outcome"] = outcome
        if isinstance(request, SyncLeadRequest):
            entry["user"] = request.auth.user_id if request.auth else None
            entry["email"] = request.lead.email
            entry["lead_id"] = request.lead.id
        result = environ.get(RESULT)
        if isinstance(result, SyncLeadResult):
            entry["lead_id"] = result.lead_id
    elif operation == "identity":
        params = dict(parse_qsl(query, keep_blank_values=True))
        if request_body:
            params.update(parse_qsl(request_body.decode("utf-8", "replace")))
        entry["user"] = params.get("client_id") or None
        if outcome != "token":
            entry["outcome"] = "FAULT"
    else:
        entry["user"] = rest_user(app, environ)
        _rest_facts(entry, request_body, response, operation, path)
    request_text = _text(request_body)
    response_text = _text(response)
    if operation == "identity":
        request_text = _redacted_form(request_text)
        if outcome == "token":
            response_text = re.sub(
                r'"access_token"\s*:\s*"[^"]*"', f'"access_token":"{REDACTED}"', response_text
            )
    media = next((v for k, v in headers if k.lower() == "content-type"), None)
    entry["request"] = {
        "content_type": environ.get("CONTENT_TYPE") or None,
        "soap_action": environ.get("HTTP_SOAPACTION"),
        "body": request_text,
    }
    entry["response"] = {"content_type": media, "body": response_text}
    if entry["code"] == 20014 and isinstance(request, SyncLeadRequest):
        entry["auth_check"] = auth_check(app, request)
    for row, created in app.service.take_written():  # as committed, in order
        before, after = app.leads.written(row, entry["time"], created=created)
        if "lead_after" not in entry:  # the page shows the first lead of a batch
            entry["lead_before"], entry["lead_after"] = before, after
    app.journal.record(entry)
