"""Where the CLI sends its calls: flags > --env-file > environment, the embedded
sandbox when nothing is configured (and where it keeps its leads), secrets kept out
of reprs."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import Endpoint

from mktows._models import Secret
from mktows.cli import main
from mktows.cli._settings import SoapTarget

NEWCOMER = ["sync-lead", "--email", "george@jungle.com", "--attr", "FirstName=George"]
SECRET = "never-PRINTED-key-7c1d"


def test_env_file_supplies_credentials(
    sandbox_server: Endpoint,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("MKTOWS_ENDPOINT", "MKTOWS_USER_ID", "MKTOWS_ENCRYPTION_KEY"):
        monkeypatch.delenv(name, raising=False)
    env_file = tmp_path / "mktows.env"
    env_file.write_text(
        "# comment\n\n"
        f"export MKTOWS_ENDPOINT={sandbox_server.url}\n"
        f"MKTOWS_USER_ID='{sandbox_server.user_id}'\n"
        f'MKTOWS_ENCRYPTION_KEY="{sandbox_server.encryption_key}"\n'
        "OTHER=ignored\n"
    )
    assert main(["sync-lead", "--email", "env@x.com", "--env-file", str(env_file)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("CREATED")
    assert captured.err == ""
    assert sandbox_server.encryption_key not in captured.out + captured.err


def test_default_state_file_is_under_xdg_data_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("MKTOWS_ENDPOINT", "MKTOWS_USER_ID", "MKTOWS_ENCRYPTION_KEY", "MKTOWS_SANDBOX_DB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert main(NEWCOMER) == 0
    assert (tmp_path / "xdg" / "mktows" / "sandbox.sqlite3").exists()
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert main(NEWCOMER) == 0
    assert (tmp_path / "home" / ".local" / "share" / "mktows" / "sandbox.sqlite3").exists()
    capsys.readouterr()


@pytest.mark.parametrize(
    "where",
    [
        pytest.param("under-a-file", id="parent-is-a-file"),
        pytest.param("a-directory", id="db-is-a-directory"),
    ],
)
def test_unusable_sandbox_database_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("MKTOWS_ENDPOINT", "MKTOWS_USER_ID", "MKTOWS_ENCRYPTION_KEY"):
        monkeypatch.delenv(name, raising=False)
    if where == "under-a-file":
        (tmp_path / "plain").write_text("not a directory")
        db = tmp_path / "plain" / "sandbox.sqlite3"
    else:
        db = tmp_path / "dir.sqlite3"
        db.mkdir()
    monkeypatch.setenv("MKTOWS_SANDBOX_DB", str(db))
    assert main(["sync-lead", "--email", "a@x.com"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"cannot open the embedded sandbox database {str(db)!r}" in captured.err


def test_soap_target_repr_never_shows_the_key() -> None:
    target = SoapTarget(
        endpoint="http://127.0.0.1:1/soap/mktows/2_2",
        user_id="user-1",
        encryption_key=Secret(SECRET),
    )
    assert repr(target) == (
        "SoapTarget(endpoint='http://127.0.0.1:1/soap/mktows/2_2', user_id='user-1', "
        "encryption_key=<secret>)"
    )
    assert SECRET not in str(target)
