"""The pytest plugin (entry point ``mktows``): the ``mktows_sandbox`` fixture, a fresh
sandbox per test, and the ``--mktows-sandbox-url`` option to use one started
elsewhere instead. Only pytest loads this module; ``import mktows`` never does.

>>> def test_signup_syncs_the_lead(mktows_sandbox):
...     legacy_signup("ann@example.com", endpoint=mktows_sandbox.url)
...     mktows_sandbox.assert_synced(email="ann@example.com", outcome="CREATED")
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from .._client import Client
from ._config import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_ENCRYPTION_KEY,
    DEFAULT_USER_ID,
)

if TYPE_CHECKING:
    from ._server import RunningServer

__all__ = ["MktowsSandbox", "mktows_sandbox", "pytest_addoption"]

_ENDPOINT = "/soap/mktows/2_2"
_MATCH_KEYS = ("email", "wire", "user")
ENV_ADMIN_TOKEN = "MKTOWS_SANDBOX_ADMIN_TOKEN"  # noqa: S105  # a variable name


class SandboxAssertionError(AssertionError):
    """An ``assert_synced`` that failed; the message lists the calls that did arrive."""


class MktowsSandbox:
    """One sandbox for one test: its URLs, credentials and admin API.

    ``url`` is the SOAP endpoint, ``rest_url`` / ``identity_url`` the REST face's
    bases; ``env`` the ``MKTOWS_*`` variables that point the CLI at it.
    """

    def __init__(self, base_url: str, *, admin_token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.url = self.base_url + _ENDPOINT
        self.rest_url = self.base_url + "/rest"
        self.identity_url = self.base_url + "/identity"
        self.user_id = DEFAULT_USER_ID
        self.encryption_key = DEFAULT_ENCRYPTION_KEY
        self.client_id = DEFAULT_CLIENT_ID
        self.client_secret = DEFAULT_CLIENT_SECRET
        headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
        self._admin = httpx.Client(
            base_url=self.base_url + "/_sandbox/api", headers=headers, timeout=70.0
        )
        self._faults: list[int] = []

    def __repr__(self) -> str:
        return f"MktowsSandbox({self.base_url!r})"

    @property
    def env(self) -> dict[str, str]:
        """The ``MKTOWS_*`` variables for the CLI or a subprocess."""
        return {
            "MKTOWS_ENDPOINT": self.url,
            "MKTOWS_USER_ID": self.user_id,
            "MKTOWS_ENCRYPTION_KEY": self.encryption_key,
            "MKTOWS_REST_URL": self.rest_url,
            "MKTOWS_IDENTITY_URL": self.identity_url,
            "MKTOWS_CLIENT_ID": self.client_id,
            "MKTOWS_CLIENT_SECRET": self.client_secret,
        }

    def client(self, **options: Any) -> Client:
        """A :class:`mktows.Client` for this sandbox (``options`` go to it)."""
        return Client(self.url, self.user_id, self.encryption_key, **options)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._admin.request(method, path, **kwargs)
        if response.status_code >= 400 and response.status_code != 408:
            raise RuntimeError(
                f"sandbox admin API {method} {path}: {response.status_code} {response.text[:300]}"
            )
        return response.json()

    def calls(self, **filters: Any) -> list[dict[str, Any]]:
        """The calls received, newest first (filters: email, outcome, code, wire, since, limit)."""
        return list(self._call("GET", "/calls", params=_params(filters))["calls"])

    def call(self, call_id: int) -> dict[str, Any]:
        """One call with its request and response bodies."""
        return dict(self._call("GET", f"/calls/{call_id}"))

    def wait_for(self, count: int = 1, timeout: float = 10, **filters: Any) -> list[dict[str, Any]]:
        """Wait until ``count`` calls match; the calls (fewer if time ran out)."""
        params = {**_params(filters), "count": count, "timeout": timeout}
        return list(self._call("GET", "/calls/wait", params=params)["calls"])

    def leads(self, **filters: Any) -> list[dict[str, Any]]:
        """The stored leads (filters: email, id)."""
        return list(self._call("GET", "/leads", params=_params(filters))["leads"])

    def seed(self, leads: list[Mapping[str, Any]]) -> list[int]:
        """Store leads before the test runs (validated like a sync); their ids."""
        return list(self._call("POST", "/leads", json={"leads": leads})["ids"])

    def add_fault(self, rule: Mapping[str, Any] | None = None, **fields: Any) -> int:
        """Add a fault rule, removed after the test: ``add_fault(code=20023, times=3,
        email="*@flaky.test")`` or the JSON form ``add_fault({"match": {...}, ...})``.
        """
        data = dict(rule or {})
        match = dict(data.get("match", {}))
        for name, value in fields.items():
            if name in _MATCH_KEYS:
                match[name] = value
            else:
                data[name] = value
        data["match"] = match
        rule_id = int(self._call("POST", "/faults", json=data)["id"])
        self._faults.append(rule_id)
        return rule_id

    def remove_faults(self) -> None:
        """Remove the rules this fixture added."""
        for rule_id in self._faults:
            self._admin.delete(f"/faults/{rule_id}")
        self._faults.clear()

    def reset(self, *, keep: tuple[str, ...] = ()) -> None:
        """Clear leads, journal, fault rules and limit counters (``keep=("leads",)``)."""
        self._call("POST", "/reset", json={"keep": list(keep)})

    def assert_synced(
        self, *, email: str, times: int = 1, outcome: str | None = None
    ) -> list[dict[str, Any]]:
        """Assert that ``times`` syncs of ``email`` arrived (with ``outcome`` if given);
        the failure message lists the calls that did arrive. Returns the matching calls.
        """
        found = [c for c in self.calls(email=email) if c["operation"] in ("syncLead", "leads.json")]
        if outcome is not None:
            matching = [c for c in found if c["outcome"] == outcome.upper()]
        else:
            matching = found
        if len(matching) == times:
            return matching
        wanted = f"{times} sync(s) of {email!r}" + (f" with outcome {outcome}" if outcome else "")
        received = self.calls(limit=20)
        lines = [
            f"  #{c['id']} {c['time']} {c['wire']} {c['operation']} email={c['email']!r} "
            f"outcome={c['outcome']} code={c['code']} http={c['http_status']}"
            for c in received
        ]
        shown = "\n".join(lines) if lines else "  (none)"
        raise SandboxAssertionError(
            f"expected {wanted}, found {len(matching)}; the sandbox received "
            f"(newest first, at most 20):\n{shown}"
        )

    def close(self) -> None:
        """Close the admin HTTP client."""
        self._admin.close()


def _params(filters: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in filters.items() if v is not None}


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--mktows-sandbox-url``."""
    group = parser.getgroup("mktows", "mktows sandbox")
    group.addoption(
        "--mktows-sandbox-url",
        default=None,
        metavar="URL",
        help="use the mktows sandbox at URL (e.g. http://127.0.0.1:8080) instead of one "
        "per test; it is reset before each test (admin token from "
        f"{ENV_ADMIN_TOKEN})",
    )


def _base(url: str) -> str:
    url = url.rstrip("/")
    return url[: -len(_ENDPOINT)] if url.endswith(_ENDPOINT) else url


@pytest.fixture
def mktows_sandbox(request: pytest.FixtureRequest) -> Iterator[MktowsSandbox]:
    """A fresh mktows sandbox for this test (SQLite in memory, 127.0.0.1, any free
    port), or the one ``--mktows-sandbox-url`` names, reset first.
    """
    external = request.config.getoption("--mktows-sandbox-url")
    with ExitStack() as stack:
        if external:
            sandbox = MktowsSandbox(_base(external), admin_token=os.environ.get(ENV_ADMIN_TOKEN))
            stack.callback(sandbox.close)
            stack.callback(sandbox.remove_faults)
            sandbox.reset()
        else:
            from . import make_app, serve_in_thread

            app = make_app()
            stack.callback(app.close)
            running: RunningServer = stack.enter_context(serve_in_thread(app))
            sandbox = MktowsSandbox(running.base_url)
            stack.callback(sandbox.close)
        yield sandbox
