"""The sandbox's web page under ``/_sandbox/``: calls, one call, leads, one lead,
fault rules (with forms) and limits, as HTML written here from the standard
library (no JavaScript, nothing fetched from elsewhere). Every value a caller
or a lead carries goes through ``html.escape``. Works on the app; no sockets.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from lxml import etree

from .._errors import ConfigError, MktowsError
from .._xml import parse_xml
from ._admin import ADMIN_PATH, AdminError, leads_of, limits_of, query_of, read_body
from ._faults import FaultRule
from ._journal import OUTCOMES, CallFilter

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

    from ._wsgi import SandboxApp

__all__ = ["page"]

_HTML = [
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
]
_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#2d3e50;color:#fff;padding:.6em 1em}header a{color:#fff;margin-right:1.2em}
main{padding:1em}table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#eef}pre{background:#fff;border:1px solid #ddd;padding:.6em;overflow:auto}
.badge{display:inline-block;padding:0 .5em;border-radius:.6em;color:#fff;font-size:12px}
.CREATED{background:#2e7d32}.UPDATED{background:#1565c0}.FAILED{background:#ef6c00}
.SKIPPED{background:#8d6e63}.FAULT{background:#c62828}.REFUSED{background:#6a1b9a}
.none{background:#999}.error{color:#c62828;font-weight:bold}form{margin:.6em 0}
.pair{display:flex;gap:1em}.pair>div{flex:1}
"""
_NAV = (("calls", "Calls"), ("leads", "Leads"), ("faults", "Fault rules"), ("limits", "Limits"))


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _href(path: str, params: Mapping[str, object] | None = None) -> str:
    query = urlencode({k: v for k, v in (params or {}).items() if v not in (None, "")})
    return _e(f"{ADMIN_PATH}{path}" + (f"?{query}" if query else ""))


def _layout(title: str, body: str) -> bytes:
    nav = "".join(f'<a href="{_href("/" + p)}">{label}</a>' for p, label in _NAV)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)} - mktows sandbox</title><style>{_STYLE}</style></head>"
        f"<body><header><strong>mktows sandbox</strong> &nbsp; {nav}</header>"
        f"<main><h1>{_e(title)}</h1>{body}</main></body></html>"
    ).encode()


def _badge(outcome: str | None) -> str:
    name = outcome if outcome in OUTCOMES else "none"
    return f'<span class="badge {name}">{_e(outcome or "-")}</span>'


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]], table_id: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _calls(app: SandboxApp, environ: WSGIEnvironment) -> bytes:
    params = {k: v for k, v in query_of(environ).items() if v}
    try:
        where = CallFilter.parse({**params, "limit": params.get("limit", "200")})
        error = ""
    except ValueError as exc:
        where, error = CallFilter(limit=200), f'<p class="error">{_e(exc)}</p>'
    options = "".join(
        f"<option{' selected' if where.outcome == o else ''}>{o}</option>" for o in OUTCOMES
    )
    wires = "".join(
        f"<option{' selected' if where.wire == w else ''}>{w}</option>" for w in ("soap", "rest")
    )
    form = (
        f'<form id="filters" method="get" action="{_href("/calls")}">'
        f'Email <input name="email" value="{_e(where.email)}"> '
        f'Outcome <select name="outcome"><option value="">any</option>{options}</select> '
        f'Code <input name="code" size="6" value="{_e(where.code)}"> '
        f'Wire <select name="wire"><option value="">any</option>{wires}</select> '
        f'<button type="submit">Filter</button> '
        f'<a id="refresh" href="{_href("/calls", params)}">Refresh</a></form>'
    )
    rows = [
        (
            f'<a class="call-link" href="{_href("/calls/" + str(c["id"]))}">#{c["id"]}</a>',
            _e(c["time"]),
            _e(c["wire"]),
            _e(c["operation"]),
            _e(c["user"]),
            _e(c["email"]),
            _e(c["lead_id"]),
            _badge(c["outcome"]),
            _e(c["code"]),
            _e(c["http_status"]),
            _e(c["duration_ms"]),
        )
        for c in app.journal.calls(where)
    ]
    heads = ("Call", "Time", "Wire", "Operation", "User", "Email", "Lead", "Outcome", "Code")
    table = _table((*heads, "HTTP", "ms"), rows, "calls")
    empty = "" if rows else "<p>No calls yet.</p>"
    return _layout("Calls", error + form + table + empty)


def _pretty(body: str, content_type: str | None) -> str:
    """A body laid out for reading: XML indented, JSON indented, the rest as it is."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    try:
        if media.endswith("xml") and body:
            root = parse_xml(body.encode("utf-8"))
            return etree.tostring(root, pretty_print=True, encoding="unicode")
        if media.endswith("json") and body:
            return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except (MktowsError, ValueError):
        pass
    return body


def _lead_table(lead: Mapping[str, Any] | None, table_id: str) -> str:
    if lead is None:
        return f'<p id="{table_id}">none (new lead, or not seen by this journal)</p>'
    rows = [(_e(k), _e(lead.get(k))) for k in ("id", "email", "foreign_sys_person_id", "partition")]
    attrs = lead.get("attributes") or {}
    rows += [(_e(name), _e(value)) for name, value in sorted(attrs.items())]
    return _table(("Field", "Value"), rows, table_id)


def _call(app: SandboxApp, call_id: int) -> bytes:
    call = app.journal.get(call_id)
    if call is None:
        raise AdminError(404, f"no call {call_id} in the journal")
    facts = [
        (_e(name), _badge(call[name]) if name == "outcome" else _e(call.get(name)))
        for name in (
            "time", "wire", "operation", "method", "path", "user", "http_status",
            "outcome", "code", "lead_id", "email", "duration_ms", "hint",
        )
    ]  # fmt: skip
    parts = [_table(("", ""), facts, "facts")]
    check = call.get("auth_check")
    if check is not None:
        parts.append(
            '<h2>Why the signature was refused (20014)</h2><table id="auth-check">'
            f"<tr><th>signed string</th><td><code>{_e(check.get('signed'))}</code></td></tr>"
            f"<tr><th>did not match</th><td>{_e(check.get('mismatch'))}</td></tr></table>"
            "<p>The signature is HMAC-SHA1(encryption key, requestTimestamp + mktowsUserId), "
            "in hex; the key is never shown.</p>"
        )
    for name, title in (("request", "Request"), ("response", "Response")):
        part = call[name]
        meta = f"Content-Type: {part.get('content_type') or '-'}"
        if part.get("soap_action") is not None:
            meta += f"; SOAPAction: {part['soap_action']}"
        text = _pretty(part["body"], part.get("content_type"))
        parts.append(f'<h2>{title}</h2><p>{_e(meta)}</p><pre id="{name}-body">{_e(text)}</pre>')
    if "lead_after" in call:
        parts.append(
            '<div class="pair"><div><h2>Lead before</h2>'
            f"{_lead_table(call.get('lead_before'), 'lead-before')}</div>"
            f"<div><h2>Lead after</h2>{_lead_table(call['lead_after'], 'lead-after')}</div></div>"
        )
    return _layout(f"Call #{call_id}", "".join(parts))


def _leads(app: SandboxApp, environ: WSGIEnvironment) -> bytes:
    q = query_of(environ).get("q", "").strip()
    leads = leads_of(app)
    if q:
        needle = q.lower()
        leads = [
            lead
            for lead in leads
            if needle == str(lead["id"])
            or needle in (lead["email"] or "").lower()
            or needle in (lead["foreign_sys_person_id"] or "").lower()
            or any(needle in str(v).lower() for v in lead["attributes"].values())
        ]
    form = (
        f'<form id="search" method="get" action="{_href("/leads")}">'
        f'<input name="q" value="{_e(q)}" placeholder="id, email or any value"> '
        '<button type="submit">Search</button></form>'
    )
    rows = [
        (
            f'<a class="lead-link" href="{_href("/leads/" + str(lead["id"]))}">{lead["id"]}</a>',
            _e(lead["email"]),
            _e(lead["foreign_sys_person_id"]),
            _e(lead["partition"]),
            _e(", ".join(f"{k}={v}" for k, v in sorted(lead["attributes"].items()))),
            _e(lead["updated_at"]),
        )
        for lead in leads
    ]
    table = _table(
        ("Id", "Email", "ForeignSysPersonId", "Partition", "Fields", "Updated"), rows, "leads"
    )
    return _layout("Leads", form + table)


def _lead(app: SandboxApp, lead_id: int) -> bytes:
    found = leads_of(app, lead_id=lead_id)
    if not found:
        raise AdminError(404, f"no lead {lead_id}")
    lead = found[0]
    extra = [
        ("foreign_sys_type", _e(lead["foreign_sys_type"])),
        ("cookies", _e(", ".join(lead["cookies"]))),
        ("created_at", _e(lead["created_at"])),
        ("updated_at", _e(lead["updated_at"])),
    ]
    calls = f'<p><a href="{_href("/calls", {"email": lead["email"]})}">Calls for this email</a></p>'
    body = _lead_table(lead, "lead") + _table(("", ""), extra, "lead-meta")
    return _layout(f"Lead {lead_id}", body + (calls if lead["email"] else ""))


def _rule_from_form(form: Mapping[str, str]) -> FaultRule:
    match = {k: form[k] for k in ("email", "wire", "user") if form.get(k)}
    data: dict[str, Any] = {"match": match}
    action = form.get("action", "code")
    if action not in ("code", "delay", "failed", "drop"):
        # Outside the try: a ConfigError is a ValueError, and would be reworded below.
        raise ConfigError(f"unknown action {action[:20]!r}")
    try:
        if action == "code":
            data["code"] = int(form.get("code", ""))
        elif action == "delay":
            data["delay_ms"] = int(form.get("delay_ms", ""))
        elif action == "failed":
            data["status"] = "FAILED"
            data["error"] = form.get("error") or None
        else:
            data["drop"] = True
        if form.get("times"):
            data["times"] = int(form["times"])
        if form.get("probability"):
            data["probability"] = float(form["probability"])
    except ValueError:
        raise ConfigError(
            "code, delay, times must be whole numbers; probability a number"
        ) from None
    return FaultRule.from_dict(data)


def _faults(app: SandboxApp, error: str = "") -> bytes:
    rows = []
    for rule in app.faults.listed():
        match = rule["match"]
        what = ", ".join(
            f"{k}={rule[k]}" for k in ("code", "status", "error", "delay_ms", "drop") if k in rule
        )
        left = rule["times_left"] if rule["times_left"] is not None else "always"
        if "probability" in rule:
            left = f"p={rule['probability']}"
        remove = (
            f'<form method="post" action="{_href("/faults/" + str(rule["id"]) + "/delete")}">'
            f'<button class="remove" type="submit">Remove</button></form>'
        )
        rows.append(
            (
                _e(rule["id"]),
                _e(", ".join(f"{k}={v}" for k, v in match.items()) or "every call"),
                _e(what),
                _e(left),
                _e(rule["hits"]),
                remove,
            )
        )
    table = _table(("Id", "Match", "Action", "Left", "Hits", ""), rows, "faults")
    form = (
        f'<h2>Add a rule</h2><form id="fault-form" method="post" action="{_href("/faults")}">'
        '<p>Match: email <input name="email" placeholder="*@flaky.test"> '
        'wire <select name="wire"><option value="">any</option><option>soap</option>'
        '<option>rest</option></select> user <input name="user"></p>'
        '<p>Action: <select name="action"><option value="code">fault code</option>'
        '<option value="delay">delay</option><option value="failed">FAILED status</option>'
        '<option value="drop">drop the connection</option></select> '
        'code <input name="code" size="6" placeholder="20023"> '
        'delay <input name="delay_ms" size="6" placeholder="ms"> '
        'error <input name="error" placeholder="FAILED text"></p>'
        '<p>times <input name="times" size="4" value="1"> '
        'or probability <input name="probability" size="4" placeholder="0.5"></p>'
        '<button id="add-fault" type="submit">Add rule</button></form>'
    )
    shown = f'<p class="error" id="form-error">{_e(error)}</p>' if error else ""
    return _layout("Fault rules", shown + table + form)


def _limits(app: SandboxApp) -> bytes:
    data = limits_of(app)
    facts = [
        (_e(k), _e(data[k]))
        for k in ("rate_limit_calls", "rate_limit_window", "daily_quota", "concurrency_limit")
    ]
    facts.append(("in flight now", _e(data["in_flight"])))
    rows = [
        (_e(u["user"]), _e(u["calls_in_window"]), _e(u["quota_used_today"])) for u in data["users"]
    ]
    users = _table(("User", "Calls in the current window", "Today's quota used"), rows, "usage")
    return _layout("Limits", _table(("Limit", "Value"), facts, "limits") + users)


def _redirect(path: str) -> tuple[str, list[tuple[str, str]], bytes]:
    return "303 See Other", [("Location", f"{ADMIN_PATH}{path}"), *_HTML[:2]], b""


def page(
    app: SandboxApp, environ: WSGIEnvironment, path: str
) -> tuple[str, list[tuple[str, str]], bytes]:
    """(status, headers, HTML) for a page path under ``/_sandbox`` (AdminError for 4xx)."""
    method = environ.get("REQUEST_METHOD", "")
    parts = [p for p in path.split("/") if p]
    if method == "POST":
        form = dict(parse_qsl(read_body(environ, 64 * 1024).decode("utf-8", "replace")))
        if parts == ["faults"]:
            try:
                app.faults.add(_rule_from_form(form))
            except ConfigError as exc:
                return "400 Bad Request", _HTML, _faults(app, str(exc))
            return _redirect("/faults")
        if len(parts) == 3 and parts[0] == "faults" and parts[2] == "delete" and parts[1].isdigit():
            app.faults.remove(int(parts[1]))
            return _redirect("/faults")
        raise AdminError(405, "only the fault rule forms take POST")
    if method not in ("GET", "HEAD"):
        raise AdminError(405, "the pages answer GET")
    if parts in ([], ["calls"]):
        return "200 OK", _HTML, _calls(app, environ)
    if parts == ["leads"]:
        return "200 OK", _HTML, _leads(app, environ)
    if parts == ["faults"]:
        return "200 OK", _HTML, _faults(app)
    if parts == ["limits"]:
        return "200 OK", _HTML, _limits(app)
    if len(parts) == 2 and parts[1].isascii() and parts[1].isdigit() and len(parts[1]) < 12:
        if parts[0] == "calls":
            return "200 OK", _HTML, _call(app, int(parts[1]))
        if parts[0] == "leads":
            return "200 OK", _HTML, _lead(app, int(parts[1]))
    raise AdminError(404, f"no page {path[:60]!r}")
