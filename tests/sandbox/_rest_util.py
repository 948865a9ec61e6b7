"""Helpers for the REST face tests: plain httpx calls, as any REST integration makes them."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx
from support import T0, FakeClock, SandboxServer

from mktows.sandbox import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

__all__ = ["T0", "FakeClock", "Rest", "base_url", "error_code", "reason"]


def base_url(server: SandboxServer) -> str:
    return f"http://127.0.0.1:{server.port}"


class Rest:
    """A REST session against a live sandbox: ``login()`` then the resources."""

    def __init__(
        self,
        server: SandboxServer,
        client_id: str = DEFAULT_CLIENT_ID,
        secret: str = DEFAULT_CLIENT_SECRET,
    ) -> None:
        self.http = httpx.Client(base_url=base_url(server), timeout=10.0)
        self.client_id = client_id
        self.secret = secret
        self.token: str | None = None

    def __enter__(self) -> Rest:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.http.close()

    def login(self) -> str:
        response = self.http.post(
            "/identity/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.secret,
            },
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        self.token = token
        return token

    def headers(self) -> dict[str, str]:
        if self.token is None:
            self.login()
        return {"Authorization": f"Bearer {self.token}"}

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        data: dict[str, Any] = response.json()
        assert isinstance(data["requestId"], str)
        assert "#" in data["requestId"]
        return data

    def post_json(self, path: str, body: object) -> dict[str, Any]:
        return self._json(self.http.post(f"/rest/v1/{path}", json=body, headers=self.headers()))

    def post_raw(self, path: str, body: str | bytes, media: str = "application/json") -> Any:
        """POST a body exactly as given; the parsed JSON answer."""
        response = self.http.post(
            f"/rest/v1/{path}", content=body, headers={**self.headers(), "Content-Type": media}
        )
        return self._json(response)

    def get(self, path: str, **params: str) -> dict[str, Any]:
        return self._json(self.http.get(f"/rest/v1/{path}", params=params, headers=self.headers()))

    def sync(self, records: list[dict[str, Any]], **options: Any) -> list[dict[str, Any]]:
        data = self.post_json("leads.json", {**options, "input": records})
        assert data["success"] is True, data
        result: list[dict[str, Any]] = data["result"]
        assert len(result) == len(records)
        return result

    def sync_one(self, record: dict[str, Any], **options: Any) -> dict[str, Any]:
        return self.sync([record], **options)[0]

    def lead(self, lead_id: int, fields: str | None = None) -> dict[str, Any] | None:
        data = self.get(f"lead/{lead_id}.json", **({"fields": fields} if fields else {}))
        assert data["success"] is True, data
        result: list[dict[str, Any]] = data["result"]
        return result[0] if result else None

    def describe(self) -> list[dict[str, Any]]:
        data = self.get("leads/describe.json")
        assert data["success"] is True, data
        result: list[dict[str, Any]] = data["result"]
        return result

    def associate(self, lead_id: int, cookie: str) -> dict[str, Any]:
        response = self.http.post(
            f"/rest/v1/leads/{lead_id}/associate.json",
            params={"cookie": cookie},
            headers=self.headers(),
        )
        return self._json(response)


def error_code(data: dict[str, Any]) -> str:
    """The one call-level error code of a failed call."""
    assert data["success"] is False, data
    assert "result" not in data
    (error,) = data["errors"]
    assert isinstance(error["message"], str)
    assert error["message"]
    code: str = error["code"]
    return code


def reason(result: dict[str, Any]) -> str:
    """The one skipped reason code of a record result."""
    assert result["status"] == "skipped", result
    (why,) = result["reasons"]
    assert isinstance(why["message"], str)
    assert why["message"]
    code: str = why["code"]
    return code
