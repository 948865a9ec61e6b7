"""The REST face's configuration (clients, token lifetime, REST names) and the
``mktows serve`` options --client-id / --client-secret.
"""

from __future__ import annotations

import _thread
import argparse
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import free_port

from mktows import ConfigError
from mktows.cli.serve import configure_parser as configure_serve_parser
from mktows.cli.serve import run as run_serve
from mktows.sandbox import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    SandboxConfig,
    make_app,
    serve_in_thread,
)

TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "sandbox.json"


def test_rest_defaults() -> None:
    config = SandboxConfig()
    assert dict(config.rest_clients) == {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}
    assert (config.token_lifetime, config.rest_foreign_id_field) == (3600.0, "externalId")
    assert DEFAULT_CLIENT_SECRET not in repr(config)
    with_client = config.with_client("acme", "s3cret")
    assert dict(with_client.rest_clients) == {
        DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET,
        "acme": "s3cret",
    }
    assert "s3cret" not in repr(with_client)


def test_the_template_sets_the_rest_keys() -> None:
    config = SandboxConfig.load(TEMPLATE)
    assert dict(config.rest_clients) == {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}
    assert config.token_lifetime == 3600
    assert config.rest_foreign_id_field == "externalId"
    names = {f.soap_name: f.rest_name for f in config.catalog().fields}
    assert (names["LoyaltyTier"], names["ContractEnd"]) == ("loyaltyTier", "contract_end")


def test_custom_fields_list_with_rest_names() -> None:
    config = SandboxConfig.from_dict(
        {
            "custom_fields": [
                {"name": "Tier", "rest_name": "tierLevel"},
                {"name": "Visits", "type": "integer"},
            ],
            "custom_rest_names": {"Visits": "visitCount"},
        }
    )
    assert dict(config.custom_rest_names) == {"Visits": "visitCount", "Tier": "tierLevel"}
    by_rest = config.catalog().by_rest("TIERLEVEL")
    assert by_rest is not None
    assert by_rest.soap_name == "Tier"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param({"rest_clients": []}, "must map client ids", id="clients-not-map"),
        pytest.param({"rest_clients": {"": "s"}}, "non-empty string", id="empty-client"),
        pytest.param({"rest_clients": {"c": ""}}, "non-empty secret", id="empty-secret"),
        pytest.param({"rest_clients": {"c": 5}}, "non-empty secret", id="secret-not-text"),
        pytest.param({"token_lifetime": 0}, "token_lifetime must be > 0", id="lifetime-zero"),
        pytest.param({"token_lifetime": "1h"}, "must be a number", id="lifetime-text"),
        pytest.param({"rest_foreign_id_field": 5}, "must be a string", id="fid-not-text"),
        pytest.param({"rest_foreign_id_field": "ext id"}, "not an identifier", id="fid-space"),
        pytest.param({"rest_foreign_id_field": "Email"}, "clashes", id="fid-is-email"),
        pytest.param({"rest_foreign_id_field": "firstName"}, "clashes", id="fid-is-a-field"),
        pytest.param({"custom_rest_names": "x"}, "must map custom field", id="names-not-map"),
        pytest.param({"custom_rest_names": {"City": "town"}}, "no custom field", id="not-custom"),
        pytest.param(
            {"custom_fields": {"Tier": "string"}, "custom_rest_names": {"Tier": 1}},
            "must be a string",
            id="name-not-text",
        ),
        pytest.param(
            {"custom_fields": {"Tier": "string"}, "custom_rest_names": {"Tier": "city"}},
            "clashes with the REST name 'city' of City",
            id="name-clash",
        ),
        pytest.param(
            {"custom_fields": {"Tier": "string"}, "custom_rest_names": {"Tier": "a-b"}},
            "not an identifier",
            id="name-not-identifier",
        ),
        pytest.param(
            {"custom_fields": [{"name": "Tier", "rest_name": "t"}], "custom_rest_names": []},
            "TypeError",
            id="names-list-and-bad-map",
        ),
    ],
)
def test_invalid_rest_configuration(data: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        SandboxConfig.from_dict(data)
    assert message in str(info.value)


def test_running_server_urls() -> None:
    app = make_app()
    try:
        with serve_in_thread(app) as server:
            base = f"http://127.0.0.1:{server.port}"
            assert (server.base_url, server.rest_url, server.identity_url) == (
                base,
                base + "/rest",
                base + "/identity",
            )
            token = httpx.post(
                server.identity_url + "/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": DEFAULT_CLIENT_ID,
                    "client_secret": DEFAULT_CLIENT_SECRET,
                },
            ).json()["access_token"]
            answer = httpx.get(
                server.rest_url + "/v1/leads/describe.json",
                headers={"Authorization": f"Bearer {token}"},
            ).json()
    finally:
        app.close()
    assert answer["success"] is True


# -- mktows serve ----------------------------------------------------------------------


def serve_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure_serve_parser(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--client-id", "acme"], "needs --client-secret", id="id-without-secret"),
        pytest.param(["--client-secret", "s"], "needs --client-id", id="secret-without-id"),
    ],
)
def test_serve_refuses_half_a_client(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.delenv("MKTOWS_CLIENT_SECRET", raising=False)
    assert run_serve(serve_args("--port", "0", *argv)) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("from_env", [True, False], ids=["secret-from-env", "secret-option"])
def test_serve_with_a_rest_client(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    from_env: bool,
) -> None:
    secret = "env-only-secret-9a2b"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    outcome: dict[str, Any] = {}

    def drive() -> None:
        try:
            for _ in range(500):
                try:
                    httpx.get(f"{base}/soap/mktows/2_2?WSDL", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.01)
            token = httpx.post(
                f"{base}/identity/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": "acme",
                    "client_secret": secret,
                },
            ).json()["access_token"]
            outcome["sync"] = httpx.post(
                f"{base}/rest/v1/leads.json",
                json={"input": [{"email": "cli@x.com"}]},
                headers={"Authorization": f"Bearer {token}"},
            ).json()
        finally:
            _thread.interrupt_main()

    argv = ["--port", str(port), "--client-id", "acme", "--db", str(tmp_path / "s.db")]
    if from_env:
        monkeypatch.setenv("MKTOWS_CLIENT_SECRET", secret)
    else:
        monkeypatch.delenv("MKTOWS_CLIENT_SECRET", raising=False)
        argv += ["--client-secret", secret]
    caplog.set_level(logging.INFO, logger="mktows.sandbox._wsgi")
    driver = threading.Thread(target=drive)
    driver.start()
    code = run_serve(serve_args(*argv))
    driver.join(timeout=10)
    assert code == 0
    assert outcome["sync"]["result"] == [{"id": 1, "status": "created"}]
    err = capsys.readouterr().err
    assert f"REST: {base}/rest (identity: {base}/identity, tokens live 3600 s)" in err
    assert "clients: acme\n" in err  # your own client replaces the published one
    assert "POST /rest/v1/leads.json 200 created" in caplog.text
    assert secret not in err + caplog.text


def test_serve_prints_none_without_clients(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"rest_clients": {}}))
    monkeypatch.setattr("mktows.sandbox._server._PooledServer.serve_forever", _interrupt)
    assert run_serve(serve_args("--port", "0", "--config", str(path))) == 0
    assert "clients: none" in capsys.readouterr().err


def _interrupt(self: object, poll_interval: float = 0.5) -> None:
    raise KeyboardInterrupt
