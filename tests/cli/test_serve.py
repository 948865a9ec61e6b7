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
from support import NO_RETRY, clean_env, run_mktows, spawn

from mktows import LeadRecord
from mktows.cli import main
from mktows.sandbox.pytest_plugin import MktowsSandbox


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
        pytest.param(["--journal-size", "lots"], "expected a whole number >= 1", id="bad-journal"),
        pytest.param(["--journal-size", "0"], "expected a whole number >= 1", id="no-journal"),
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

    monkeypatch.setattr("mktows.sandbox._server._PooledServer.serve_forever", interrupted)
    assert main(["serve", "--port", "0"]) == 0
    err = capsys.readouterr().err
    port = ports[0]
    assert f"listening on http://127.0.0.1:{port}/soap/mktows/2_2" in err
    assert err.endswith("mktows serve: stopping\n")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


CALL_LINE = "POST /soap/mktows/2_2 200 CREATED"


def _serve_one_call(tmp_path: Path, *options: str) -> str:
    """Start a real ``mktows serve`` with ``options``, sync one lead, stop it with SIGTERM;
    its whole stderr.
    """
    proc = spawn(["serve", "--port", "0", *options], clean_env(), tmp_path)
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert "listening on http://" in first, first
        base = first.split("listening on ", 1)[1].split("/soap/", 1)[0]
        sandbox = MktowsSandbox(base)
        with sandbox.client(retry=NO_RETRY) as client:
            assert client.sync_lead(LeadRecord(email="ann@log.test")).status == "CREATED"
        sandbox.wait_for(email="ann@log.test")
        sandbox.close()
    finally:
        proc.terminate()
        _, rest = proc.communicate(timeout=10)
    assert proc.returncode == 0, rest
    return first + rest


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_serve_logs_each_call_on_stderr_by_default(tmp_path: Path, host: str) -> None:
    err = _serve_one_call(tmp_path, "--host", host)  # localhost counts as loopback
    assert CALL_LINE in err
    assert err.endswith("mktows serve: stopping\n")


def test_log_file_takes_the_call_lines_and_appends(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    log.write_text("an earlier run\n", encoding="utf-8")
    err = _serve_one_call(tmp_path, "--log-file", str(log))
    assert CALL_LINE not in err
    assert "listening on http://" in err
    assert err.endswith("mktows serve: stopping\n")
    lines = log.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "an earlier run"
    assert [line for line in lines[1:] if CALL_LINE in line], lines


def test_quiet_serve_writes_no_call_lines(tmp_path: Path) -> None:
    err = _serve_one_call(tmp_path, "--quiet")
    assert CALL_LINE not in err
    assert "POST /" not in err
    assert "listening on http://" in err
    assert err.endswith("mktows serve: stopping\n")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param(["--log-file", "{tmp}"], "cannot open the log file", id="log-file-is-a-dir"),
        pytest.param(["--quiet", "--log-file", "x.log"], "not allowed with", id="quiet-and-file"),
    ],
)
def test_a_log_file_serve_cannot_use_exits_2(
    tmp_path: Path, options: list[str], message: str
) -> None:
    options = [o.replace("{tmp}", str(tmp_path)) for o in options]
    done = run_mktows(["serve", "--port", "0", *options], clean_env(), tmp_path, timeout=30)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "x.log").exists()
