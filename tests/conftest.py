"""Shared fixtures: a live sandbox on a loopback socket with a fresh SQLite file."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from mktows.sandbox import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_ENCRYPTION_KEY,
    DEFAULT_USER_ID,
    SandboxApp,
    SandboxConfig,
    make_app,
    serve_in_thread,
)

# The mktows_sandbox fixture, loaded here rather than through the pytest11 entry point
# (pyproject's addopts say -p no:mktows) so that pytest-cov is measuring when mktows is
# first imported.
pytest_plugins = ("mktows.sandbox.pytest_plugin",)


@dataclass(frozen=True)
class SandboxServer:
    """A running sandbox: its endpoint ``url``, credentials, SQLite file and app."""

    url: str
    port: int
    user_id: str
    encryption_key: str
    db_path: Path
    app: SandboxApp

    @property
    def rest_url(self) -> str:
        """The REST face's base URL (``…/rest``)."""
        return f"http://127.0.0.1:{self.port}/rest"

    @property
    def identity_url(self) -> str:
        """The identity base URL (tokens come from ``…/identity/oauth/token``)."""
        return f"http://127.0.0.1:{self.port}/identity"


# Every MKTOWS_* setting the CLI reads: tests clear them all before setting their own.
SETTINGS_VARS = (
    "MKTOWS_ENDPOINT",
    "MKTOWS_USER_ID",
    "MKTOWS_ENCRYPTION_KEY",
    "MKTOWS_REST_URL",
    "MKTOWS_IDENTITY_URL",
    "MKTOWS_CLIENT_ID",
    "MKTOWS_CLIENT_SECRET",
    "MKTOWS_FOREIGN_ID_FIELD",
    "MKTOWS_PARTITIONS",
)

MakeSandboxServer = Callable[..., SandboxServer]


@pytest.fixture
def make_sandbox_server(tmp_path: Path) -> Iterator[MakeSandboxServer]:
    """A factory: ``make_sandbox_server(config=None, *, clock=None, db_path=None)``
    starts another sandbox (stopped and closed at teardown).
    """
    stack = ExitStack()
    count = 0

    def factory(
        config: SandboxConfig | None = None,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        db_path: Path | None = None,
    ) -> SandboxServer:
        nonlocal count
        count += 1
        path = db_path or tmp_path / f"sandbox-{count}.db"
        app = make_app(config, str(path), clock=clock) if clock else make_app(config, str(path))
        stack.callback(app.close)
        running = stack.enter_context(serve_in_thread(app))
        user_id, key = DEFAULT_USER_ID, DEFAULT_ENCRYPTION_KEY
        if config is not None and DEFAULT_USER_ID not in config.users:
            user_id, key = next(iter(config.users.items()))
        return SandboxServer(
            url=running.url,
            port=running.port,
            user_id=user_id,
            encryption_key=key,
            db_path=path,
            app=app,
        )

    with stack:
        yield factory


@pytest.fixture
def sandbox_server(make_sandbox_server: MakeSandboxServer) -> SandboxServer:
    """A live sandbox with the default configuration and a fresh SQLite file."""
    return make_sandbox_server()


def set_rest_env(
    monkeypatch: pytest.MonkeyPatch, server: SandboxServer, **options: str
) -> SandboxServer:
    """Point the CLI at ``server``'s REST face through the environment and nothing else:
    every other MKTOWS_* setting cleared, ``options`` as extra ``MKTOWS_<NAME>`` values."""
    for name in SETTINGS_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKTOWS_REST_URL", server.rest_url)
    monkeypatch.setenv("MKTOWS_IDENTITY_URL", server.identity_url)
    monkeypatch.setenv("MKTOWS_CLIENT_ID", DEFAULT_CLIENT_ID)
    monkeypatch.setenv("MKTOWS_CLIENT_SECRET", DEFAULT_CLIENT_SECRET)
    for name, value in options.items():
        monkeypatch.setenv(f"MKTOWS_{name.upper()}", value)
    return server


@pytest.fixture
def rest_env(sandbox_server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    """The CLI pointed at the sandbox's REST face, with a foreign-id field and the
    Default workspace mapped to its partition."""
    return set_rest_env(
        monkeypatch, sandbox_server, foreign_id_field="externalId", partitions="Default=Default"
    )
