"""A small in-memory REST service for httpx.MockTransport: identity, describe, sync,
get and associate, with scripted failures. For wiring tests only; the behaviour
of the real service is tested against the sandbox.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx

FIXTURES = Path(__file__).parent / "fixtures"
BASE = "https://fake.mktorest.test"
REST_URL = f"{BASE}/rest"
IDENTITY_URL = f"{BASE}/identity"


def answer(payload: object, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=payload)


def ok(result: list[Any]) -> httpx.Response:
    return answer({"requestId": "1#2", "success": True, "result": result})


def error(code: str, message: str = "refused") -> httpx.Response:
    return answer(
        {"requestId": "1#2", "success": False, "errors": [{"code": code, "message": message}]}
    )


class FakeRest:
    """The service: ``clients`` id -> secret; ``lifetime`` of tokens; ``failures`` maps a
    path suffix to responses served (in order) before the real answer.
    """

    def __init__(self, clients: dict[str, str], lifetime: int = 3600) -> None:
        self.clients = clients
        self.lifetime = lifetime
        self.tokens: set[str] = set()
        self.issued = 0
        self.leads: dict[int, dict[str, Any]] = {}
        self.cookies: dict[str, int] = {}
        self.requests: list[httpx.Request] = []
        self.failures: dict[str, list[httpx.Response]] = {}
        self.describe = json.loads((FIXTURES / "describe.json").read_bytes())

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        for suffix, queued in self.failures.items():
            if path.endswith(suffix) and queued:
                return queued.pop(0)
        if path == "/identity/oauth/token":
            return self.identity(request)
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return error("601", "Access token invalid")
        if auth.removeprefix("Bearer ") not in self.tokens:
            return error("601", "Access token invalid")
        routes: dict[str, Callable[[httpx.Request], httpx.Response]] = {
            "/rest/v1/leads/describe.json": lambda _: answer(self.describe),
            "/rest/v1/leads.json": self.sync,
        }
        if path in routes:
            return routes[path](request)
        parts = path.split("/")
        if path.endswith("/associate.json"):
            return self.associate(int(parts[-2]), request.url.params["cookie"])
        if path.startswith("/rest/v1/lead/"):
            return self.get(int(parts[-1].removesuffix(".json")), request)
        return error("610", "Requested resource not found")

    def identity(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if self.clients.get(form.get("client_id", "")) != form.get("client_secret"):
            return answer(
                {"error": "invalid_client", "error_description": "Bad client credentials"}, 401
            )
        self.issued += 1
        token = f"tok-{self.issued}-f00d"
        self.tokens.add(token)
        return answer({"access_token": token, "token_type": "bearer", "expires_in": self.lifetime})

    def sync(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        record = dict(body["input"][0])
        known = {f["rest"]["name"] for f in self.describe["result"]}
        unknown = [name for name in record if name not in known]
        if unknown:
            reason = {"code": "1006", "message": f"Field '{unknown[0]}' not found"}
            return ok([{"status": "skipped", "reasons": [reason]}])
        lookup = body["lookupField"]
        match = next(
            (i for i, lead in self.leads.items() if lead.get(lookup) == record.get(lookup)), None
        )
        if match is None:
            if lookup == "id":
                reason = {"code": "1004", "message": "Lead not found"}
                return ok([{"status": "skipped", "reasons": [reason]}])
            match = len(self.leads) + 1
            self.leads[match] = {"id": match}
            status = "created"
        else:
            status = "updated"
        self.leads[match].update({k: v for k, v in record.items() if v is not None})
        return ok([{"id": match, "status": status}])

    def get(self, lead_id: int, request: httpx.Request) -> httpx.Response:
        lead = self.leads.get(lead_id)
        if lead is None:
            return ok([])
        params = request.url.params
        if request.method == "POST" and params.get("_method") == "GET":  # a long field list
            params = httpx.QueryParams(request.content.decode())
        fields = params.get("fields", "id,email").split(",")
        return ok([{name: lead[name] for name in fields if name in lead}])

    def associate(self, lead_id: int, cookie: str) -> httpx.Response:
        if lead_id not in self.leads:
            return error("1004", "Lead not found")
        self.cookies[cookie] = lead_id
        return ok([])

    def calls(self) -> list[str]:
        """The paths requested so far, shortened."""
        return [
            r.url.path.removeprefix("/rest/v1").removeprefix("/identity") for r in self.requests
        ]
