"""Helpers shared by the sandbox tests."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import httpx

from mktows import Client, LeadRecord, RetryPolicy, build_sync_lead_envelope
from mktows.sandbox import SandboxApp

__all__ = [
    "NO_RETRY",
    "SOAP_HEADERS",
    "Endpoint",
    "MakeSandboxServer",
    "SandboxServer",
    "build_sync_lead_envelope",
    "client_for",
    "envelope",
    "post",
    "query",
]

NO_RETRY = RetryPolicy(attempts=1, resign_attempts=0)
SOAP_HEADERS = {
    "Content-Type": "text/xml; charset=utf-8",
    "SOAPAction": '"http://www.marketo.com/mktows/syncLead"',
}


class Endpoint(Protocol):
    @property
    def url(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def encryption_key(self) -> str: ...


class SandboxServer(Endpoint, Protocol):
    """What the conftest fixtures yield (see tests/conftest.py)."""

    @property
    def port(self) -> int: ...
    @property
    def db_path(self) -> Path: ...
    @property
    def app(self) -> SandboxApp: ...


MakeSandboxServer = Callable[..., SandboxServer]


def client_for(server: Endpoint, **options: Any) -> Client:
    """A Client that surfaces faults at once (no retries)."""
    options.setdefault("retry", NO_RETRY)
    options.setdefault("timeout", 10.0)
    return Client(server.url, server.user_id, server.encryption_key, **options)


def envelope(
    server: Endpoint, lead: LeadRecord | None = None, *, when: dt.datetime | None = None, **kw: Any
) -> bytes:
    """A correctly signed request envelope for ``server``."""
    return build_sync_lead_envelope(
        lead or LeadRecord(email="raw@example.com"),
        user_id=server.user_id,
        encryption_key=server.encryption_key,
        timestamp=when,
        **kw,
    )


def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    """POST raw bytes over a fresh connection."""
    return httpx.post(
        url, content=body, headers=SOAP_HEADERS if headers is None else headers, timeout=10.0
    )


def query(db_path: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Rows from the sandbox's SQLite file, read on a connection of our own."""
    conn = sqlite3.connect(db_path)
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()
