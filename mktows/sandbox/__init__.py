"""A local Marketo-compatible syncLead server (WSGI + SQLite) for tests and demos.

>>> from mktows.sandbox import make_app, serve_in_thread, DEFAULT_USER_ID, DEFAULT_ENCRYPTION_KEY
>>> with serve_in_thread(make_app()) as server:
...     ...  # point a Client at server.url, a REST client at server.rest_url
"""

from __future__ import annotations

from ._config import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_ENCRYPTION_KEY,
    DEFAULT_USER_ID,
    DEFAULT_WORKSPACE,
    AssignmentRule,
    SandboxConfig,
    Workspace,
)
from ._server import RunningServer, serve_forever, serve_in_thread
from ._wsgi import ENDPOINT_PATH, REST_PATH, TOKEN_PATH, SandboxApp, make_app

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_ENCRYPTION_KEY",
    "DEFAULT_USER_ID",
    "DEFAULT_WORKSPACE",
    "ENDPOINT_PATH",
    "REST_PATH",
    "TOKEN_PATH",
    "AssignmentRule",
    "RunningServer",
    "SandboxApp",
    "SandboxConfig",
    "Workspace",
    "make_app",
    "serve_forever",
    "serve_in_thread",
]
