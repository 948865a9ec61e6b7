"""The encryption key never appears in a repr, str, log record, exception text,
traceback, CLI output or file the CLI writes — whatever happens to the call.

One distinctive key is used for everything; every text the run produces is
collected and scanned for it (and for its halves, in case it is ever cut).
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import MakeSandboxServer
from support import NO_RETRY, free_port

import mktows
from mktows import AsyncClient, Client, LeadRecord
from mktows.cli import main
from mktows.sandbox import SandboxConfig

KEY = "K3y-5ecr3t-0f-the-t3st-7d9a1c"
USER = "secrets_user"
FRAGMENTS = (KEY, KEY[:14], KEY[14:])


class Seen:
    """Every text produced during the test."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def add(self, *items: object) -> None:
        for item in items:
            self.texts.append(item if isinstance(item, str) else repr(item))
            if not isinstance(item, str):
                self.texts.append(str(item))

    def error(self, exc: BaseException) -> None:
        self.add(exc, "".join(traceback.format_exception(exc)))
        for attr in ("fault", "body_excerpt", "__cause__", "__context__"):
            value = getattr(exc, attr, None)
            if value is not None:
                self.add(value)

    def check(self) -> None:
        assert self.texts, "nothing was collected"
        for text in self.texts:
            for fragment in FRAGMENTS:
                assert fragment not in text, f"the key leaked into: {text[:300]!r}"


@pytest.fixture
def seen(caplog: pytest.LogCaptureFixture) -> Iterator[Seen]:
    caplog.set_level(logging.DEBUG)  # every logger, every level
    collected = Seen()
    yield collected
    records = caplog.get_records("call")  # at teardown, caplog.records holds only teardown's
    assert any(record.levelno == logging.DEBUG for record in records), "no DEBUG log was captured"
    collected.add(*(record.getMessage() for record in records))
    collected.add(*(logging.Formatter().format(record) for record in records))
    collected.check()


def _refused_url() -> str:
    return f"http://127.0.0.1:{free_port()}/soap/mktows/2_2"


def _expect(seen: Seen, error: type[BaseException], call: Callable[[], object]) -> None:
    with pytest.raises(error) as info:
        call()
    seen.error(info.value)


def test_library_never_shows_the_key(make_sandbox_server: MakeSandboxServer, seen: Seen) -> None:
    config = SandboxConfig(users={USER: KEY})
    server = make_sandbox_server(config)
    seen.add(config, server.app, server.app.config)
    lead = LeadRecord(email="a@example.com", attributes={"FirstName": "Ann"})
    with Client(server.url, USER, KEY, retry=NO_RETRY) as client:
        seen.add(client, vars(client), client.sync_lead(lead, return_lead=True))
        bad = LeadRecord(email="a@example.com", attributes={"NoSuchField": "x"})
        _expect(seen, mktows.UnknownAttributeError, lambda: client.sync_lead(bad))
        _expect(seen, mktows.ValidationError, lambda: client.sync_lead(LeadRecord()))
    with Client(server.url, USER, KEY + "-wrong", retry=NO_RETRY) as wrong:
        _expect(seen, mktows.AuthenticationError, lambda: wrong.sync_lead(lead))
    with Client(_refused_url(), USER, KEY, retry=NO_RETRY) as nowhere:
        _expect(seen, mktows.TransportError, lambda: nowhere.sync_lead(lead))
    _expect(seen, mktows.ConfigError, lambda: Client("ftp://x", USER, KEY))
    _expect(
        seen,
        mktows.ValidationError,
        lambda: mktows.build_sync_lead_envelope(lead, user_id=USER, encryption_key=KEY + "\ud800"),
    )

    async def run_async() -> None:
        async with AsyncClient(server.url, USER, KEY, retry=NO_RETRY) as client:
            seen.add(client, await client.sync_lead(lead))
            with pytest.raises(mktows.FaultError) as info:
                await client.sync_lead(LeadRecord(id=999_999))
            seen.error(info.value)

    asyncio.run(run_async())


def test_cli_never_shows_the_key(
    make_sandbox_server: MakeSandboxServer,
    seen: Seen,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = make_sandbox_server(SandboxConfig(users={USER: KEY}))
    flags = ["--endpoint", server.url, "--user-id", USER]
    env_file = tmp_path / "mktows.env"
    env_file.write_text(f"MKTOWS_ENCRYPTION_KEY={KEY}\n")
    leads = tmp_path / "leads.csv"
    leads.write_text("Email,FirstName,Bogus\nb@example.com,Bo,\nc@example.com,Cy,x\n,none,\n")
    runs = [
        ["sync-lead", *flags, "--encryption-key", KEY, "--email", "a@example.com"],
        ["sync-lead", *flags, "--encryption-key", KEY, "--email", "a@example.com", "--json"],
        ["sync-lead", *flags, "--env-file", str(env_file), "--id", "424242", "--json"],
        ["sync-lead", *flags, "--encryption-key", KEY + "x", "--email", "a@example.com"],
        ["sync-lead", "--endpoint", _refused_url(), "--user-id", USER, "--encryption-key", KEY,
         "--email", "a@example.com", "--retries", "0"],
        ["sync-lead", *flags, "--encryption-key", KEY, "--email", "a@example.com",
         "--attr", "Nope=1", "--return-lead"],
        ["sync-leads", *flags, "--env-file", str(env_file), str(leads), "--json"],
        ["sync-lead", "--endpoint", server.url, "--encryption-key", KEY, "--email", "a@b.c"],
    ]  # fmt: skip
    codes = []
    for argv in runs:
        codes.append(main(argv))
        out = capsys.readouterr()
        seen.add(out.out, out.err)
    assert codes == [0, 0, 3, 3, 4, 3, 1, 2]
    monkeypatch.setenv("MKTOWS_ENCRYPTION_KEY", KEY)
    assert main(["sync-lead", *flags, "--email", "a@example.com", "--json"]) == 0
    out = capsys.readouterr()
    seen.add(out.out, out.err)
    for written in tmp_path.iterdir():
        if written != env_file and written.is_file():
            seen.add(written.read_text(errors="replace"))


def test_serve_never_shows_the_key(tmp_path: Path) -> None:
    """The real `mktows serve` process: its banner and its per-call log lines."""
    root = Path(__file__).resolve().parents[1]
    env = {"PYTHONPATH": str(root), "MKTOWS_ENCRYPTION_KEY": KEY, "PATH": "/usr/bin:/bin"}
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mktows", "serve", "--port", str(port), "--user-id", USER],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        assert "listening" in banner
        url = f"http://127.0.0.1:{port}/soap/mktows/2_2"
        with Client(url, USER, KEY, retry=NO_RETRY) as client:
            client.sync_lead(LeadRecord(email="a@example.com"))
        with (
            Client(url, USER, "wrong", retry=NO_RETRY) as client,
            pytest.raises(mktows.AuthenticationError),
        ):
            client.sync_lead(LeadRecord(email="a@example.com"))
    finally:
        server.send_signal(2)  # Ctrl-C
        output, _ = server.communicate(timeout=30)
    text = banner + output
    assert "POST /soap/mktows/2_2" in text, text
    for fragment in FRAGMENTS:
        assert fragment not in text
