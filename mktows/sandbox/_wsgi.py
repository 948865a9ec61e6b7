"""The thin WSGI adapter: HTTP in, bytes out. Checks the HTTP envelope (path,
method, type, length), reads a capped body, hands the request to the SOAP
service or the REST face and writes its answer. No matching rules here, no sockets.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from .._build import build_fault_envelope, build_sync_lead_response
from .._errors import FaultError, ValidationError
from .._hints import hint
from .._models import Fault, SyncLeadResult, SyncStatus
from .._parse import parse_request, unsupported_operation
from .._schema import wsdl
from ._admin import ADMIN_PATH, Admin
from ._config import SandboxConfig
from ._faults import FaultRules
from ._journal import Journal
from ._record import BODY, HINT, REQUEST, RESULT, LeadBook, record_call, rest_user
from ._rest import RestApi, RestError, route
from ._service import Clock, SyncService, utc_now
from ._store import Store

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["ENDPOINT_PATH", "REST_PATH", "TOKEN_PATH", "SandboxApp", "make_app"]

log = logging.getLogger(__name__)

ENDPOINT_PATH = "/soap/mktows/2_2"
SOAP_ACTION = "http://www.marketo.com/mktows/syncLead"
_XML_TYPES = frozenset({"text/xml", "application/xml"})
_XML_HEADERS = [("Content-Type", "text/xml; charset=utf-8")]
REST_PATH = "/rest"
TOKEN_PATH = "/identity/oauth/token"  # noqa: S105  # a URL path, not a secret
_JSON_HEADERS = [("Content-Type", "application/json;charset=UTF-8")]
_TOKEN_HEADERS = [*_JSON_HEADERS, ("Cache-Control", "no-store"), ("Pragma", "no-cache")]
_FORM = "application/x-www-form-urlencoded"
_HTTP_STATUS = {200: "200 OK", 400: "400 Bad Request", 401: "401 Unauthorized"}
# A callback the server may put in the environ; the app calls it when it refuses a
# body unread, and the server then drains the body so the client can read the
# answer instead of meeting a reset connection.
UNREAD_BODY = "mktows.unread_body"
# A callback the server may put in the environ: the connection is then closed
# without an answer (a fault rule's "drop").
DROP = "mktows.drop"


def _refused_unread(environ: WSGIEnvironment) -> None:
    callback = environ.get(UNREAD_BODY)
    if callback is not None:
        callback()


class _Dropped(Exception):
    """A fault rule said: close the connection unanswered."""


class _HttpRefusal(Exception):
    """A request refused at the HTTP level (4xx), before any SOAP is read."""

    def __init__(self, status: str, message: str, *extra: tuple[str, str]) -> None:
        super().__init__(message)
        self.status = status
        self.extra = list(extra)


@functools.lru_cache(maxsize=16)
def _wsdl_for(address: str) -> bytes:
    return wsdl(address)


def _address(environ: WSGIEnvironment) -> str:
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
    return f"{scheme}://{host}{environ.get('SCRIPT_NAME', '')}{ENDPOINT_PATH}"


Answer = tuple[str, list[tuple[str, str]], bytes, str]


def _json_bytes(data: object) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _media(environ: WSGIEnvironment) -> str:
    media: str = environ.get("CONTENT_TYPE", "")
    return media.split(";", 1)[0].strip().lower()


def _shown_query(path: str, query: str) -> str:
    """The query as logged: whole for SOAP (?WSDL), only its parameter names elsewhere,
    so that a client secret or a token sent in a URL never reaches the log.
    """
    if not query:
        return ""
    if path == ENDPOINT_PATH:
        return f"?{query[:40]}"
    names = [name for name, _ in parse_qsl(query, keep_blank_values=True)]
    return f"?{','.join(names)[:60]}"


def _is_rest(path: str) -> bool:
    return path == REST_PATH or path.startswith(REST_PATH + "/")


class SandboxApp:
    """The sandbox as a WSGI application: POST syncLead to ``/soap/mktows/2_2``,
    GET ``/soap/mktows/2_2?WSDL`` for the WSDL; the REST face at
    ``/identity/oauth/token`` and ``/rest/v1/...``. ``close()`` closes the store.
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        db: str = ":memory:",
        *,
        clock: Clock = utc_now,
        journal_size: int | None = None,
        admin_token: str | None = None,
    ) -> None:
        self.config = config or SandboxConfig()
        self.store = Store(db)
        self.service = SyncService(self.config, self.store, clock=clock)
        self.rest = RestApi(self.service)
        self.journal = Journal(journal_size or self.config.journal_size)
        self.leads = LeadBook(self.journal.size)
        self.faults = FaultRules(self.config.faults)
        self.admin = Admin(self, admin_token)

    @property
    def in_flight(self) -> int:
        """Requests being handled right now (what the concurrency limit counts)."""
        return self.service.limiter.active

    def close(self) -> None:
        """Close the store; the app answers 20011 afterwards."""
        self.store.close()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        path = environ.get("PATH_INFO", "")
        if path == ADMIN_PATH or path.startswith(ADMIN_PATH + "/"):
            return self.admin(environ, start_response)
        self.service.take_written()  # nothing a failed call of this thread left behind
        try:
            status, headers, body, outcome = self._respond(environ)
        except _Dropped:
            status, headers, body, outcome = "502 Bad Gateway", [], b"", "dropped"
            drop = environ.get(DROP)
            if drop is not None:
                drop()
        except Exception:  # the last line of defence: never a traceback to the client
            log.exception("sandbox failure")
            if _is_rest(path):
                status, headers, body, outcome = self._rest_answer(self.rest.error(RestError(611)))
            elif path == TOKEN_PATH:
                answer = {"error": "server_error", "error_description": "System error"}
                status, headers = "500 Internal Server Error", _TOKEN_HEADERS
                body, outcome = _json_bytes(answer), "server_error"
            else:
                status, headers, body, outcome = self._fault(Fault.for_code(10001))
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        duration = time.perf_counter() - started
        try:
            exchange = (status, headers, body, outcome)
            record_call(self, environ, exchange, duration, self.service.clock)
        except Exception:  # the journal never costs a caller its answer
            log.exception("sandbox journal failure")
        log.info(
            "%s %s%s %s %s %.1f ms",
            environ.get("REQUEST_METHOD", "?"),
            path,
            _shown_query(path, environ.get("QUERY_STRING", "")),
            status[:3],
            outcome,
            duration * 1000,
        )
        return [body]

    @staticmethod
    def _fault(fault: Fault) -> Answer:
        # SOAP 1.1 §6.2: a fault goes out as HTTP 500.
        return (
            "500 Internal Server Error",
            _XML_HEADERS,
            build_fault_envelope(fault),
            f"fault={fault.code}",
        )

    def _respond(self, environ: WSGIEnvironment) -> Answer:
        try:
            return self._route(environ)
        except _HttpRefusal as refusal:
            headers = [("Content-Type", "text/plain; charset=utf-8"), *refusal.extra]
            return refusal.status, headers, (str(refusal) + "\n").encode(), refusal.status[:3]
        except FaultError as exc:
            return self._fault(exc.fault)

    def _route(self, environ: WSGIEnvironment) -> Answer:
        path = environ.get("PATH_INFO", "")
        if path == TOKEN_PATH:
            return self._identity(environ)
        if _is_rest(path):
            return self._rest(environ, path)
        if path != ENDPOINT_PATH:
            raise _HttpRefusal(
                "404 Not Found",
                f"not found; the SOAP endpoint is {ENDPOINT_PATH}, REST is under "
                f"{REST_PATH}/v1 with tokens from {TOKEN_PATH}",
            )
        method = environ.get("REQUEST_METHOD", "")
        if method == "GET" and any(
            key.lower() == "wsdl"
            for key, _ in parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        ):
            try:
                answer = _wsdl_for(_address(environ))
            except ValidationError:
                raise _HttpRefusal("400 Bad Request", "the Host header is not a host") from None
            return "200 OK", _XML_HEADERS, answer, "wsdl"
        if method != "POST":
            raise _HttpRefusal(
                "405 Method Not Allowed",
                "POST a syncLead envelope, or GET ?WSDL",
                ("Allow", "POST, GET"),
            )
        self._check_headers(environ)
        with self.service.limiter.in_flight():
            body = self._read_body(environ)
            parsed = parse_request(body)
            request = parsed.request
            environ[REQUEST] = request
            if parsed.ignored:
                environ[HINT] = hint(parsed.ignored)
            result = self._injected_soap(request) if self.faults else None
            if result is None:
                result = self.service.handle(request, ignored=parsed.ignored)
            environ[RESULT] = result
        return "200 OK", _XML_HEADERS, build_sync_lead_response(result), result.status.value

    # -- fault rules ------------------------------------------------------------------

    def _take_fault(self, wire: str, email: str | None, user: str | None) -> str | int | None:
        """Apply the first matching rule's delay and drop; its code or FAILED error, or None."""
        injected = self.faults.take(wire=wire, email=email, user=user)
        if injected is None:
            return None
        if injected.delay_ms:
            time.sleep(injected.delay_ms / 1000)
        if injected.drop:
            raise _Dropped
        if injected.code is not None:
            return injected.code
        if injected.status is not None:
            return injected.error or f"failed on purpose (fault rule {injected.rule_id})"
        return None

    def _injected_soap(self, request: Any) -> SyncLeadResult | None:
        user = request.auth.user_id if request.auth is not None else None
        action = self._take_fault("soap", request.lead.email, user)
        if isinstance(action, int):
            raise FaultError(Fault.for_code(action))
        if isinstance(action, str):
            failed = SyncStatus.FAILED
            return SyncLeadResult(lead_id=request.lead.id or 0, status=failed, error=action)
        return None

    def _rest_body(self, environ: WSGIEnvironment, required: bool) -> bytes:
        body = self._read_body(environ, required=required)
        if self.faults:
            email = None
            if body:
                try:
                    email = json.loads(body)["input"][0].get("email")
                except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                    email = None
            user = rest_user(self, environ)
            action = self._take_fault("rest", email if isinstance(email, str) else None, user)
            if isinstance(action, int):
                raise RestError(action)
        return body

    # -- the REST face ------------------------------------------------------------------

    @staticmethod
    def _rest_answer(data: dict[str, Any]) -> Answer:
        if data["success"]:
            statuses = [r["status"] for r in data["result"] if isinstance(r.get("status"), str)]
            outcome = ",".join(statuses)[:60] or "ok"
        else:
            outcome = f"error={data['errors'][0]['code']}"
        return "200 OK", _JSON_HEADERS, _json_bytes(data), outcome

    def _identity(self, environ: WSGIEnvironment) -> Answer:
        method = environ.get("REQUEST_METHOD", "")
        if method not in ("GET", "POST"):
            raise _HttpRefusal(
                "405 Method Not Allowed",
                "POST the form grant_type, client_id, client_secret (or GET with them)",
                ("Allow", "POST, GET"),
            )
        params = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        if method == "POST":
            if _media(environ) == _FORM:
                body = self._read_body(environ, required=False)
                form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
                params.update(form)
            elif (
                environ.get("CONTENT_LENGTH", "").strip() not in ("", "0")
                or environ.get("HTTP_TRANSFER_ENCODING", "").strip()
            ):
                _refused_unread(environ)
                raise _HttpRefusal(
                    "415 Unsupported Media Type", f"send the token request as {_FORM}"
                )
        code, answer = self.rest.token(params)
        outcome = "token" if code == 200 else str(answer["error"])
        return _HTTP_STATUS[code], _TOKEN_HEADERS, _json_bytes(answer), outcome

    def _rest(self, environ: WSGIEnvironment, path: str) -> Answer:
        try:
            resource = route(path)
        except RestError as exc:
            return self._rest_answer(self.rest.error(exc))
        method = environ.get("REQUEST_METHOD", "")
        query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        # Marketo's way to send a GET whose query is too long for a URL: POST it with
        # ?_method=GET and the parameters as a form body.
        form = method == "POST" and ("_method", "GET") in query and "GET" in resource.methods
        if form:
            method = "GET"
        if method not in resource.methods:  # Adobe answers JSON: 605, not an HTTP 405
            _refused_unread(environ)
            detail = f"{path} answers {', '.join(resource.methods)}"
            return self._rest_answer(self.rest.error(RestError(605, detail)))
        resource = resource.for_method(method)
        wanted = _FORM if form else "application/json"
        if (resource.takes_body or form) and _media(environ) != wanted:
            _refused_unread(environ)  # Adobe answers JSON: 612, not an HTTP 415
            detail = f"send the body as Content-Type: {wanted}"
            return self._rest_answer(self.rest.error(RestError(612, detail)))
        data = self.rest.call(
            resource,
            authorization=environ.get("HTTP_AUTHORIZATION"),
            query=query,
            read_body=lambda: self._rest_body(environ, resource.takes_body),
            form=form,
        )
        return self._rest_answer(data)

    # -- the HTTP envelope ---------------------------------------------------------------

    def _check_headers(self, environ: WSGIEnvironment) -> None:
        media = _media(environ)
        if media not in _XML_TYPES:
            _refused_unread(environ)
            raise _HttpRefusal(
                "415 Unsupported Media Type",
                "syncLead is SOAP 1.1: send Content-Type: text/xml; charset=utf-8",
            )
        action = environ.get("HTTP_SOAPACTION")
        if action is not None:
            action = action.strip().strip('"').strip()
            if action and action != SOAP_ACTION:
                _refused_unread(environ)
                raise FaultError(unsupported_operation(action))

    def _read_body(self, environ: WSGIEnvironment, *, required: bool = True) -> bytes:
        """The whole body (capped). ``required`` False: a request without one is b""."""
        if environ.get("HTTP_TRANSFER_ENCODING", "").strip():
            _refused_unread(environ)
            raise _HttpRefusal("411 Length Required", "send the body with a Content-Length")
        length_text = environ.get("CONTENT_LENGTH", "").strip()
        if not length_text:
            if not required:
                return b""
            raise _HttpRefusal("411 Length Required", "send the body with a Content-Length")
        if not (length_text.isascii() and length_text.isdigit()):
            raise _HttpRefusal("400 Bad Request", "Content-Length is not a number")
        length = int(length_text)
        cap = self.config.max_request_bytes
        if length > cap:
            _refused_unread(environ)
            raise _HttpRefusal(
                "413 Content Too Large", f"the body is {length} bytes; the limit is {cap}"
            )
        stream: Any = environ["wsgi.input"]
        try:
            body: bytes = stream.read(length)
        except OSError:
            body = b""
        environ[BODY] = body
        if len(body) != length:
            raise _HttpRefusal(
                "400 Bad Request", f"the body ended after {len(body)} of {length} bytes"
            )
        return body


def make_app(
    config: SandboxConfig | None = None,
    db: str = ":memory:",
    *,
    clock: Clock = utc_now,
    journal_size: int | None = None,
    admin_token: str | None = None,
) -> SandboxApp:
    """The sandbox WSGI application over SQLite ``db`` (a file path or ":memory:").

    >>> app = make_app(SandboxConfig(daily_quota=0), "leads.db")
    >>> ...  # serve it, or use httpx.WSGITransport(app=app)
    >>> app.close()

    ``clock`` (returning an aware datetime) is what timestamps are checked against.
    ``journal_size`` caps the call journal (default: the configuration's, 1,000);
    ``admin_token``, when given, is required as a bearer token on ``/_sandbox/``.
    """
    return SandboxApp(config, db, clock=clock, journal_size=journal_size, admin_token=admin_token)
