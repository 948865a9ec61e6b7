"""The REST client secret and the access tokens never appear in a repr, log record
(any logger, any level), exception, traceback, CLI output or file the CLI writes.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from conftest import MakeSandboxServer
from support import NO_RETRY, free_port

import mktows
from mktows import LeadRecord
from mktows.cli import build_parser, main
from mktows.cli._settings import resolve
from mktows.rest._client import AsyncRestClient, RestClient, shared_token_cache
from mktows.rest._settings import RestSettings
from mktows.sandbox import SandboxConfig

from ._fake import IDENTITY_URL, REST_URL, FakeRest, answer, error

SECRET = "S3cr3t-0f-the-r3st-t3st-4b8e2f"
CLIENT = "secrets-client"


class Seen:
    """Every text produced during the test, and the secrets to look for."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.secrets: set[str] = {SECRET, SECRET[:15], SECRET[15:]}

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

    def token_of(self, client: RestClient | AsyncRestClient) -> None:
        entry = shared_token_cache(client.settings)._entry
        if entry is not None:
            self.secrets.add(entry[0].value)

    def check(self) -> None:
        assert self.texts, "nothing was collected"
        assert len(self.secrets) > 3, "no token was seen: the test proves nothing about tokens"
        for text in self.texts:
            for secret in self.secrets:
                assert secret not in text, f"a secret leaked into: {text[:300]!r}"


@pytest.fixture
def seen(caplog: pytest.LogCaptureFixture) -> Iterator[Seen]:
    caplog.set_level(logging.DEBUG)
    collected = Seen()
    yield collected
    # At teardown caplog.records holds the teardown phase only: ask for the test's own.
    records = caplog.get_records("call")
    assert records, "no log record was captured"
    collected.add(*(record.getMessage() for record in records))
    collected.add(*(logging.Formatter().format(record) for record in records))
    collected.check()


def _expect(seen: Seen, error: type[BaseException], call: Callable[[], object]) -> None:
    with pytest.raises(error) as info:
        call()
    seen.error(info.value)


def _refused() -> str:
    return f"http://127.0.0.1:{free_port()}"


def test_library_never_shows_secret_or_token(
    make_sandbox_server: MakeSandboxServer, seen: Seen
) -> None:
    config = SandboxConfig(rest_clients={CLIENT: SECRET})
    server = make_sandbox_server(config)
    root = server.url.split("/soap/")[0]
    rest, identity = f"{root}/rest", f"{root}/identity"
    seen.add(config)
    lead = LeadRecord(email="a@example.com", attributes={"FirstName": "Ann"})
    with RestClient(rest, identity, CLIENT, SECRET, retry=NO_RETRY) as client:
        seen.add(client, vars(client), client.settings, client.sync_lead(lead, return_lead=True))
        seen.token_of(client)
        seen.add(vars(client))
        bad = LeadRecord(email="a@example.com", attributes={"NoSuchField": "x"})
        _expect(seen, mktows.UnknownAttributeError, lambda: client.sync_lead(bad))
        _expect(seen, mktows.LeadNotFoundError, lambda: client.sync_lead(LeadRecord(id=9_999)))
        _expect(seen, mktows.ValidationError, lambda: client.sync_lead(LeadRecord()))
        foreign = LeadRecord(foreign_sys_person_id="f", foreign_sys_type="CUSTOM")
        _expect(seen, mktows.ConfigError, lambda: client.sync_lead(foreign))
    with RestClient(rest, identity, CLIENT, SECRET + "-wrong", retry=NO_RETRY) as wrong:
        _expect(seen, mktows.AuthenticationError, lambda: wrong.sync_lead(lead))
    nowhere = _refused()
    with RestClient(rest, f"{nowhere}/identity", CLIENT, SECRET, retry=NO_RETRY) as down:
        _expect(seen, mktows.TransportError, lambda: down.sync_lead(lead))
    _expect(seen, mktows.ConfigError, lambda: RestClient("ftp://x", identity, CLIENT, SECRET))

    async def run_async() -> None:
        async with AsyncRestClient(rest, identity, CLIENT, SECRET, retry=NO_RETRY) as client:
            seen.add(client, await client.sync_lead(lead))
            with pytest.raises(mktows.FaultError) as info:
                await client.sync_lead(LeadRecord(id=999_999))
            seen.error(info.value)

    asyncio.run(run_async())


def test_renewal_and_malformed_identity_answers_hide_tokens(seen: Seen) -> None:
    fake = FakeRest({"fake-secrets-client": SECRET})
    client = RestClient(
        REST_URL, IDENTITY_URL, "fake-secrets-client", SECRET, transport=fake.transport()
    )
    with client:
        client.sync_lead(LeadRecord(email="a@b.c"))
        seen.secrets.update(fake.tokens)
        fake.tokens.clear()  # every token refused once: renewed (logged at INFO)
        fake.failures["/leads.json"] = [error("602", "Access token expired")]
        seen.add(client.sync_lead(LeadRecord(email="a@b.c")))
        seen.secrets.update(fake.tokens)
        fake.tokens.clear()
        leaked = "tok-in-a-bad-answer-77"
        seen.secrets.add(leaked)
        fake.failures["/oauth/token"] = [
            answer({"access_token": leaked, "expires_in": "soon"}),
            httpx.Response(200, content=b'{"access_token": "' + leaked.encode()),
        ]
        for _ in range(2):
            _expect(seen, mktows.ResponseError, lambda: client.sync_lead(LeadRecord(email="a@b.c")))
    assert fake.issued == 2


def test_cli_never_shows_secret_or_token(
    make_sandbox_server: MakeSandboxServer,
    seen: Seen,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = make_sandbox_server(SandboxConfig(rest_clients={CLIENT: SECRET}))
    root = server.url.split("/soap/")[0]
    for name in ("MKTOWS_ENDPOINT", "MKTOWS_USER_ID", "MKTOWS_ENCRYPTION_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKTOWS_CLIENT_SECRET", SECRET)
    flags = ["--rest-url", f"{root}/rest", "--identity-url", f"{root}/identity"]
    flags += ["--client-id", CLIENT, "--retries", "0"]
    codes = [
        main(["sync-lead", *flags, "--email", "a@b.c", "--return-lead"]),
        main(["sync-lead", *flags, "--email", "a@b.c", "--json", "--attr", "Nope=1"]),
        main(["sync-lead", *flags, "--email", "a@b.c", "--client-secret", SECRET + "x"]),
    ]
    source = tmp_path / "leads.csv"
    source.write_text("Email,FirstName\nb@b.c,B\n,no key\nc@b.c,C\n", encoding="utf-8")
    codes.append(main(["sync-leads", str(source), *flags, "--json"]))
    codes.append(main(["sync-leads", str(source), *flags, "--restart", "--client-secret", "x"]))
    assert codes == [0, 3, 3, 1, 3]
    settings = RestSettings(
        rest_url=f"{root}/rest",
        identity_url=f"{root}/identity",
        client_id=CLIENT,
        client_secret=SECRET,
    )
    entry = shared_token_cache(settings)._entry
    assert entry is not None
    seen.secrets.add(entry[0].value)
    captured = capsys.readouterr()
    seen.add(captured.out, captured.err)
    for written in tmp_path.iterdir():
        if written.is_file():
            seen.add(written.read_text(encoding="utf-8", errors="replace"))


def test_cli_target_repr_hides_the_secret(seen: Seen) -> None:
    args = build_parser().parse_args(
        [
            "sync-lead",
            "--email",
            "a@b.c",
            "--client-id",
            CLIENT,
            "--client-secret",
            SECRET,
            "--rest-url",
            REST_URL,
            "--identity-url",
            IDENTITY_URL,
        ]
    )
    target = resolve(args, {})
    assert repr(target).startswith(f"RestSettings(rest_url={REST_URL!r}")
    assert SECRET not in repr(target)
    seen.add(target)
    seen.secrets.add("no-token-in-this-test")  # nothing was issued; the check needs one
    logging.getLogger("mktows").debug("target %r", target)


class _Down:
    """FakeRest behind a transport that fails to connect for one path."""

    def __init__(self, fake: FakeRest) -> None:
        self.fake = fake
        self.down: str | None = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down is not None and request.url.path.endswith(self.down):
            raise httpx.ConnectError("connection refused", request=request)
        return self.fake.handle(request)


def _leaks(text: str, secrets: set[str]) -> list[str]:
    """The lines of a formatted traceback that show a secret, each after its frame."""
    frame, found = "", []
    for line in text.splitlines():
        if line.lstrip().startswith("File "):
            frame = line.strip()
        if any(secret in line for secret in secrets):
            found.append(f"{frame}: {line.strip()[:120]}")
    return found


@pytest.mark.parametrize(
    ("down", "client_id"),
    [
        pytest.param("/oauth/token", "locals-identity", id="identity"),
        pytest.param("/leads.json", "locals-sync", id="sync"),
    ],
)
def test_captured_locals_never_show_secret_or_token(down: str, client_id: str) -> None:
    # Error reporters (Sentry, pytest --showlocals) dump every frame's locals. A token is
    # issued first; then the sync (or, after the token is refused, the renewal) fails.
    fake = FakeRest({client_id: SECRET})
    transport = _Down(fake)
    with RestClient(
        REST_URL,
        IDENTITY_URL,
        client_id,
        SECRET,
        transport=httpx.MockTransport(transport.handle),
        retry=NO_RETRY,
    ) as client:
        client.sync_lead(LeadRecord(email="a@b.c"))
        if down == "/oauth/token":
            fake.failures["/leads.json"] = [error("601", "Access token invalid")]
        transport.down = down
        with pytest.raises(mktows.TransportError) as info:
            client.sync_lead(LeadRecord(email="a@b.c"))
    assert fake.issued == 1
    report = traceback.TracebackException.from_exception(info.value, capture_locals=True)
    text = "".join(report.format())
    assert "    request = _Request(" in text, "no locals of the REST flow were captured"
    assert "    token = <secret>" in text
    leaks = _leaks(text, {SECRET, *fake.tokens})
    assert not leaks, "a secret shows in captured locals:\n" + "\n".join(leaks)
