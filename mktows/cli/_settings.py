"""Where a command sends its calls: flags > --env-file > environment -> a SOAP target
or REST settings (or none: the embedded sandbox), and the clients built from them.

The one place that reads MKTOWS_* settings. The sandbox is imported only when the
embedded sandbox is actually started. Secrets never reach a repr or a message.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .._client import AsyncClient, Client
from .._errors import AuthenticationError, ConfigError, MktowsError
from .._models import Secret
from .._retry import RetryPolicy
from ..bulk import RateLimiter
from ..rest import AsyncRestClient, RestClient, RestSettings, parse_partitions

ENV_ENDPOINT = "MKTOWS_ENDPOINT"
ENV_USER_ID = "MKTOWS_USER_ID"
ENV_KEY = "MKTOWS_ENCRYPTION_KEY"
ENV_SANDBOX_DB = "MKTOWS_SANDBOX_DB"
ENV_QUIET = "MKTOWS_QUIET"
CREDENTIAL_VARS = (ENV_ENDPOINT, ENV_USER_ID, ENV_KEY)
ENV_REST_URL = "MKTOWS_REST_URL"
ENV_IDENTITY_URL = "MKTOWS_IDENTITY_URL"
ENV_CLIENT_ID = "MKTOWS_CLIENT_ID"
ENV_CLIENT_SECRET = "MKTOWS_CLIENT_SECRET"  # noqa: S105 (a variable name)
ENV_FOREIGN_ID_FIELD = "MKTOWS_FOREIGN_ID_FIELD"
ENV_PARTITIONS = "MKTOWS_PARTITIONS"
REST_VARS = (ENV_REST_URL, ENV_IDENTITY_URL, ENV_CLIENT_ID, ENV_CLIENT_SECRET)
REST_OPTION_VARS = (ENV_FOREIGN_ID_FIELD, ENV_PARTITIONS)
_ALL_VARS = CREDENTIAL_VARS + REST_VARS + REST_OPTION_VARS
_FLAGS = dict(
    zip(
        _ALL_VARS,
        (
            "endpoint",
            "user_id",
            "encryption_key",
            "rest_url",
            "identity_url",
            "client_id",
            "client_secret",
            "foreign_id_field",
            "partitions",
        ),
        strict=True,
    )
)

# Calls at once when --concurrency 0 lifts the concurrency limit.
UNCAPPED_WORKERS = 32


class UsageError(Exception):
    """A bad command line, file or setting; main reports it with exit code 2."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SoapTarget:
    """A SOAP endpoint and the credentials to call it with."""

    endpoint: str
    user_id: str
    encryption_key: Secret


Target = SoapTarget | RestSettings


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < math.inf:  # nan fails too
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def connection_options() -> argparse.ArgumentParser:
    """The options of sync-lead and sync-leads, as a parent parser.

    Each connection flag has a MKTOWS_* variable (``mktows help environment``);
    the help strings stay one line each so that a command's help fits a screen.
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout for machines"
    )
    common.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help=f"no embedded-sandbox notice (or {ENV_QUIET}=1)",
    )
    group = common.add_argument_group(
        'connection (default: the embedded sandbox; see "mktows help environment")',
        "SOAP --endpoint URL --user-id ID --encryption-key KEY; REST --rest-url URL\n"
        "--identity-url URL --client-id ID --client-secret SECRET [--foreign-id-field\n"
        "FIELD] [--partitions WS=P,...]. Each flag wins over its MKTOWS_* variable.",
    )
    # Said once, in the group's text and in the environment topic that pairs each with
    # its variable: listed one a line they would take a third of the screen.
    hidden = argparse.SUPPRESS
    group.add_argument("--endpoint", metavar="URL", help=hidden)
    group.add_argument("--user-id", metavar="ID", help=hidden)
    group.add_argument("--encryption-key", metavar="KEY", help=hidden)
    group.add_argument("--rest-url", metavar="URL", help=hidden)
    group.add_argument("--identity-url", metavar="URL", help=hidden)
    group.add_argument("--client-id", metavar="ID", help=hidden)
    group.add_argument("--client-secret", metavar="SECRET", help=hidden)
    group.add_argument("--foreign-id-field", metavar="FIELD", help=hidden)
    group.add_argument("--partitions", metavar="WS=P,...", help=hidden)
    group.add_argument("--env-file", metavar="PATH", help="MKTOWS_* settings from a KEY=VALUE file")
    group.add_argument("--workspace", metavar="NAME", help="target workspace")
    group.add_argument(
        "--deadline",
        type=positive_float,
        default=120.0,
        metavar="SECONDS",
        help="one call's time, retries included (120)",
    )
    group.add_argument(
        "--retries",
        type=non_negative_int,
        default=4,
        metavar="N",
        help="retries after a transient failure (4)",
    )
    return common


def is_quiet(args: argparse.Namespace, environ: Mapping[str, str]) -> bool:
    """True when --quiet or MKTOWS_QUIET (any value but empty or 0) asks for silence."""
    return bool(args.quiet) or environ.get(ENV_QUIET, "").strip() not in ("", "0")


def _read_env_file(path: str) -> dict[str, str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read --env-file {path!r}: {exc}") from None
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        name, sep, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if sep and name.strip() in _ALL_VARS:
            values[name.strip()] = value
    return values


def _complete(settings: Mapping[str, str], names: Sequence[str], what: str) -> bool:
    """True when every one of ``names`` is set, False when none is; else a usage error."""
    given = [name for name in names if settings[name]]
    missing = [name for name in names if not settings[name]]
    if given and missing:
        raise UsageError(
            f"{', '.join(given)} set but {', '.join(missing)} not: give all {what} "
            "(flags, --env-file or environment), or none to use the embedded sandbox"
        )
    return bool(given)


def _target(args: argparse.Namespace, environ: Mapping[str, str]) -> Target | None:
    settings = {name: environ.get(name, "") for name in _ALL_VARS}
    if args.env_file:
        settings.update(_read_env_file(args.env_file))
    for name, flag in _FLAGS.items():
        if getattr(args, flag):
            settings[name] = getattr(args, flag)
    soap = [name for name in CREDENTIAL_VARS if settings[name]]
    rest = [name for name in REST_VARS if settings[name]]
    if soap and rest:
        raise UsageError(
            f"both SOAP settings ({', '.join(soap)}) and REST settings ({', '.join(rest)}) "
            "are set: keep one of the two sets"
        )
    if _complete(settings, REST_VARS, "four REST settings"):
        try:
            partitions = parse_partitions(settings[ENV_PARTITIONS])
        except ConfigError as exc:
            raise UsageError(f"{ENV_PARTITIONS}: {exc}") from None
        return RestSettings(
            rest_url=settings[ENV_REST_URL],
            identity_url=settings[ENV_IDENTITY_URL],
            client_id=settings[ENV_CLIENT_ID],
            client_secret=settings[ENV_CLIENT_SECRET],
            foreign_id_field=settings[ENV_FOREIGN_ID_FIELD] or None,
            partitions=partitions,
        )
    if not _complete(settings, CREDENTIAL_VARS, "three"):
        return None
    return SoapTarget(
        endpoint=settings[ENV_ENDPOINT],
        user_id=settings[ENV_USER_ID],
        encryption_key=Secret(settings[ENV_KEY]),
    )


def resolve(args: argparse.Namespace, environ: Mapping[str, str]) -> Target | None:
    """The configured service (None: the embedded sandbox), checked before anything runs.

    A UsageError or ConfigError says what is wrong with the settings.
    """
    target = _target(args, environ)
    if (
        isinstance(target, RestSettings)
        and args.workspace is not None
        and args.workspace not in target.partitions
    ):
        known = ", ".join(sorted(target.partitions)) or "none"
        raise UsageError(
            f"workspace {args.workspace!r} has no REST partition mapping (mapped: {known}): "
            f"add {args.workspace}=PARTITION to {ENV_PARTITIONS} (or --partitions)"
        )
    return target


def sandbox_db_path(environ: Mapping[str, str]) -> Path:
    """Where the embedded sandbox keeps its leads."""
    if environ.get(ENV_SANDBOX_DB):
        return Path(environ[ENV_SANDBOX_DB])
    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "mktows" / "sandbox.sqlite3"


@contextlib.contextmanager
def connect(target: Target | None, err: TextIO, quiet: bool = False) -> Iterator[Target]:
    """The configured service, or (None) the embedded sandbox started for this command,
    which it names in one line on ``err`` unless ``quiet``."""
    if target is not None:
        yield target
        return
    # Imported here: a command with a remote target never loads SQLite or wsgiref.
    from ..sandbox import DEFAULT_ENCRYPTION_KEY, DEFAULT_USER_ID, make_app, serve_in_thread

    path = sandbox_db_path(os.environ)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        app = make_app(None, str(path))
    except (OSError, MktowsError) as exc:
        raise UsageError(f"cannot open the embedded sandbox database {str(path)!r}: {exc}") from exc
    if not quiet:
        notice = f"mktows: no credentials set: using the embedded sandbox, state in {path}"
        print(notice, file=err, flush=True)
    try:
        with serve_in_thread(app) as server:
            yield SoapTarget(
                endpoint=server.url,
                user_id=DEFAULT_USER_ID,
                encryption_key=Secret(DEFAULT_ENCRYPTION_KEY),
            )
    finally:
        app.close()


def hint(exc: MktowsError, rest: bool = False) -> str:
    """Which settings to check after ``exc`` (empty when there is nothing to suggest)."""
    if isinstance(exc, AuthenticationError):
        if rest:
            return f" (check {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET})"
        return f" (check {ENV_USER_ID} and {ENV_KEY})"
    return ""


def _retry(args: argparse.Namespace) -> RetryPolicy:
    return RetryPolicy(attempts=args.retries + 1)


def client(target: Target, args: argparse.Namespace) -> Client | RestClient:
    """The sync client for ``target`` with the --deadline and --retries of ``args``."""
    if isinstance(target, RestSettings):
        return RestClient(
            target.rest_url,
            target.identity_url,
            target.client_id,
            target.client_secret,
            foreign_id_field=target.foreign_id_field,
            partitions=target.partitions,
            deadline=args.deadline,
            retry=_retry(args),
        )
    return Client(
        target.endpoint,
        target.user_id,
        target.encryption_key,
        deadline=args.deadline,
        retry=_retry(args),
    )


def async_client(
    target: Target,
    args: argparse.Namespace,
    limiter: RateLimiter,
    retry: RetryPolicy | None = None,
) -> AsyncClient | AsyncRestClient:
    """The async client for ``target``, every HTTP attempt going through ``limiter``;
    ``retry`` (default: per --retries) is its own retry policy."""
    policy = retry or _retry(args)
    if isinstance(target, RestSettings):
        return AsyncRestClient(
            target.rest_url,
            target.identity_url,
            target.client_id,
            target.client_secret,
            foreign_id_field=target.foreign_id_field,
            partitions=target.partitions,
            transport=limiter.transport(),
            deadline=args.deadline,
            retry=policy,
        )
    return AsyncClient(
        target.endpoint,
        target.user_id,
        target.encryption_key,
        transport=limiter.transport(),
        deadline=args.deadline,
        retry=policy,
    )
