"""`mktows serve` through main: the CLI's exit codes (0 when Ctrl-C stops it, 2 for
a configuration, database or address it cannot use) and a socket closed on the way out.

Running the server and the --user-id / --client-id options are pinned in
tests/sandbox (test_sandbox_config.py, test_sandbox_rest_config.py).
"""

from __future__ import annotations

import socket
from pathlib import Path
from wsgiref.simple_server import WSGIServer

import pytest

from mktows.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--user-id", "alice"], "needs --encryption-key", id="user-without-key"),
        pytest.param(["--config", "/nonexistent/sandbox.json"], "cannot read", id="no-config"),
        pytest.param(["--db", "{tmp}"], "cannot open the database", id="db-is-a-directory"),
        pytest.param(
            ["--host", "256.0.0.1", "--allow-default-credentials"],
            "cannot listen on 256.0.0.1:0",
            id="bad-host",
        ),
        pytest.param(["--port", "65536"], "expected a port number", id="bad-port"),
    ],
)
def test_what_serve_cannot_use_exits_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.delenv("MKTOWS_ENCRYPTION_KEY", raising=False)
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in argv]
    assert main(["serve", "--port", "0", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err
    assert "Traceback" not in captured.err


def test_ctrl_c_stops_serve_with_0_and_closes_its_socket(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ports: list[int] = []

    def interrupted(server: WSGIServer, poll_interval: float = 0.5) -> None:
        ports.append(int(server.server_address[1]))
        raise KeyboardInterrupt

    monkeypatch.setattr("wsgiref.simple_server.WSGIServer.serve_forever", interrupted)
    assert main(["serve", "--port", "0"]) == 0
    err = capsys.readouterr().err
    port = ports[0]
    assert f"listening on http://127.0.0.1:{port}/soap/mktows/2_2" in err
    assert err.endswith("mktows serve: stopping\n")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
