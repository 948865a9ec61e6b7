"""The ``mktows`` command line: sync-lead, sync-leads, serve. Parses, wires, prints.

It holds no protocol or service logic: the clients (SOAP or REST), the bulk
runner and the sandbox do the work. The encryption key and client secret are
never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import sys
import textwrap
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from .. import __version__
from .._client import AsyncClient, Client
from .._errors import (
    AuthenticationError,
    ConfigError,
    FaultError,
    MktowsError,
    RemoteError,
    ValidationError,
)
from .._models import LeadRecord, SyncLeadResult
from .._retry import RetryPolicy
from ..bulk import (
    KEY_COLUMNS,
    JournalWriteError,
    Ledger,
    Progress,
    RateLimiter,
    Row,
    RowStatus,
    count_rows,
    detect_format,
    format_duration,
    lead_from_fields,
    read_rows,
    sync_leads,
)
from ..rest import AsyncRestClient, RestClient, parse_partitions

__all__ = ["main"]

EXIT_OK = 0
EXIT_NOT_SYNCED = 1
EXIT_USAGE = 2
EXIT_FAULT = 3
EXIT_TRANSPORT = 4
EXIT_INTERRUPTED = 130

# Calls at once when --concurrency 0 lifts the concurrency limit.
UNCAPPED_WORKERS = 32

ENV_ENDPOINT = "MKTOWS_ENDPOINT"
ENV_USER_ID = "MKTOWS_USER_ID"
ENV_KEY = "MKTOWS_ENCRYPTION_KEY"
ENV_SANDBOX_DB = "MKTOWS_SANDBOX_DB"
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

_ENVIRONMENT = f"""\
environment (SOAP):
  {ENV_ENDPOINT}        the SOAP endpoint, e.g. https://123-ABC-456.mktoapi.com/soap/mktows/2_2
  {ENV_USER_ID}         the SOAP user id (Admin > Integration > SOAP API)
  {ENV_KEY}  the SOAP encryption key (a secret: never printed)
environment (REST, the same syncLead over Marketo's REST API):
  {ENV_REST_URL}        the REST base URL, e.g. https://123-ABC-456.mktorest.com/rest
  {ENV_IDENTITY_URL}    the identity URL, e.g. https://123-ABC-456.mktorest.com/identity
  {ENV_CLIENT_ID}       the API user's client id (Admin > LaunchPoint)
  {ENV_CLIENT_SECRET}   its client secret (a secret: never printed)
  {ENV_FOREIGN_ID_FIELD} the REST name of the custom field holding ForeignSysPersonId
                          (optional; leads keyed by it are refused without it)
  {ENV_PARTITIONS}      workspace to partition mapping for --workspace, e.g.
                          "Europe=EU,US=US" (optional)
  {ENV_SANDBOX_DB}      where the embedded sandbox keeps its leads when no
                          credentials are configured (default:
                          $XDG_DATA_HOME/mktows/sandbox.sqlite3 or
                          ~/.local/share/mktows/sandbox.sqlite3)
  Flags win over --env-file, which wins over the environment. Give the three
  SOAP settings or the four REST ones, not both. With none set, commands run
  against the embedded sandbox (SOAP) and say so on stderr."""

_EXIT_CODES = f"""\
exit codes:
  {EXIT_OK}    synced (every row CREATED or UPDATED)
  {EXIT_NOT_SYNCED}    the service answered FAILED (sync-leads: some rows FAILED, INVALID or
       a permanent FAULT; see the results file)
  {EXIT_USAGE}    usage error: bad arguments, bad lead, unreadable file, incomplete or
       conflicting credentials (SOAP and REST both set), a workspace REST cannot
       map; sync-leads: a journal or results file that cannot be written
  {EXIT_FAULT}    SOAP fault or REST error, reported with its SOAP code (sync-leads: a fault
       that stops the run: 20013, 20014, 20015)
  {EXIT_TRANSPORT}    transport error: no usable answer from the server (sync-leads: some rows
       ended in ERROR or a transient fault; rerunning the command retries them)
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C); the journal is intact, rerun to resume"""

_MAIN_EPILOG = f"""\
examples:
  mktows sync-lead --email george@jungle.com --attr FirstName=George
  mktows sync-leads leads.csv --map email_address=Email
  mktows serve --port 8080 --db sandbox.sqlite3

Run "mktows COMMAND --help" for each command's options.

{_ENVIRONMENT}

{_EXIT_CODES}
"""

_SYNC_LEAD_EPILOG = f"""\
examples:
  mktows sync-lead --email george@jungle.com --attr FirstName=George
  mktows sync-lead --id 1090177 --attr Company="Jungle Inc." --return-lead
  mktows sync-lead --foreign-id 4711 --foreign-type SFDC --email g@jungle.com --json
  mktows sync-lead --from-json templates/lead.json --workspace Default

output:
  "CREATED lead 1090177" or "UPDATED lead 1090177" on stdout; "FAILED lead N:
  reason" for a FAILED status. With --json one object on stdout:
  {{"status": "CREATED"|"UPDATED"|"FAILED"|"FAULT"|"ERROR", "lead_id": int|null,
   "code": int|null, "error": str|null, "lead": {{...}}|null}}

{_ENVIRONMENT}

{_EXIT_CODES}
"""

_SYNC_LEADS_EPILOG = f"""\
input:
  CSV with a header line, or JSON Lines (one object per line), chosen by the
  extension (.csv, .jsonl, .ndjson) or --format. The key columns Id, Email,
  ForeignSysPersonId, ForeignSysType and cookie match case-insensitively; every
  other column is a lead attribute. Empty CSV cells are left out (not sent as
  ""). A row number is the line of the file the row starts on.

results:
  FILE.results.csv (or --results): row,lead_id,status,code,error with status
  CREATED, UPDATED, FAILED, INVALID (not sent: no key, bad Id, undecodable
  text...), FAULT (code = the fault code) or ERROR (no usable answer).

resuming:
  FILE.journal (or --journal) records every finished row. Kill the command at
  any moment and run it again: it skips finished rows and sends the others.
  A row that was in flight when the process died is sent again; syncLead is an
  upsert by key, so that yields UPDATED, not a second lead. Rows that ended in
  ERROR or a transient fault are sent again too. A resume refuses an input
  whose size or modification time changed since the journal was started (its
  row numbers may name other rows): use --restart, which starts over.

limits:
  By default at most 100 calls per 20 s (sliding window) and 10 at once: the
  service's own limits, so the run alone never meets fault 20023 or 20024.
  The service counts per API user, so another run or program using the same
  credentials within the window can still cause them; such rows end in FAULT
  and a rerun sends them again. --rate 0 (or --rate-calls 0) lifts the rate
  limit; --concurrency 0 lifts the concurrency limit and runs {UNCAPPED_WORKERS} calls at once.

examples:
  mktows sync-leads leads.csv
  mktows sync-leads export.jsonl --map email_address=Email --map internal_note=
  mktows sync-leads leads.csv --rate 50/20 --concurrency 4 --json > summary.json

{_ENVIRONMENT}

{_EXIT_CODES}
"""


class _UsageError(Exception):
    """A bad command line; reported as exit code 2."""


@dataclass(frozen=True)
class _Target:
    endpoint: str
    user_id: str
    key: str

    def __repr__(self) -> str:
        return f"_Target(endpoint={self.endpoint!r}, user_id={self.user_id!r})"


@dataclass(frozen=True)
class _RestTarget:
    rest_url: str
    identity_url: str
    client_id: str
    secret: str
    foreign_id_field: str | None
    partitions: Mapping[str, str]

    def __repr__(self) -> str:
        return f"_RestTarget(rest_url={self.rest_url!r}, client_id={self.client_id!r})"


# --- argument parsing -------------------------------------------------------------------


def _key_value(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value


def _mapping(text: str) -> tuple[str, str]:
    source, sep, dest = text.partition("=")
    if not sep or not source.strip():
        raise argparse.ArgumentTypeError(f"expected SRC=DEST (DEST empty drops SRC), got {text!r}")
    return source.strip(), dest.strip()


def _rate(text: str) -> tuple[int, float]:
    if text.strip() == "0":
        return 0, 0.0
    calls, sep, window = text.partition("/")
    try:
        parsed = int(calls), float(window)
    except ValueError:
        parsed = (-1, -1.0)
    if not sep or parsed[0] < 0 or not 0 < parsed[1] < math.inf:  # nan fails both
        raise argparse.ArgumentTypeError(f"expected CALLS/SECONDS such as 100/20, got {text!r}")
    return parsed


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < math.inf:  # nan fails too
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def _common_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection")
    group.add_argument("--endpoint", metavar="URL", help=f"SOAP endpoint (or ${ENV_ENDPOINT})")
    group.add_argument("--user-id", metavar="ID", help=f"SOAP user id (or ${ENV_USER_ID})")
    group.add_argument(
        "--encryption-key",
        metavar="KEY",
        help=f"SOAP encryption key; prefer ${ENV_KEY} or --env-file (flags show in ps)",
    )
    rest = common.add_argument_group("REST connection (instead of SOAP)")
    rest.add_argument("--rest-url", metavar="URL", help=f"REST base URL (or ${ENV_REST_URL})")
    rest.add_argument(
        "--identity-url", metavar="URL", help=f"identity URL (or ${ENV_IDENTITY_URL})"
    )
    rest.add_argument("--client-id", metavar="ID", help=f"REST client id (or ${ENV_CLIENT_ID})")
    rest.add_argument(
        "--client-secret",
        metavar="SECRET",
        help=f"REST client secret; prefer ${ENV_CLIENT_SECRET} or --env-file (flags show in ps)",
    )
    rest.add_argument(
        "--foreign-id-field",
        metavar="FIELD",
        help=f"REST field holding ForeignSysPersonId (or ${ENV_FOREIGN_ID_FIELD})",
    )
    rest.add_argument(
        "--partitions",
        metavar="WS=PARTITION,...",
        help=f"workspace to partition mapping (or ${ENV_PARTITIONS})",
    )
    group.add_argument(
        "--env-file",
        metavar="PATH",
        help="read MKTOWS_* settings from a KEY=VALUE file (see templates/mktows.env)",
    )
    group.add_argument("--workspace", metavar="NAME", help="target workspace (MktowsContextHeader)")
    group.add_argument(
        "--timeout",
        type=_positive_float,
        default=120.0,
        metavar="SECONDS",
        help="total time for one call, retries included (default 120)",
    )
    group.add_argument(
        "--retries",
        type=_non_negative_int,
        default=4,
        metavar="N",
        help="retries of a call after a transient failure (default 4, 0 = none)",
    )
    common.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout for machines"
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """The ``mktows`` argument parser with its subcommands."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="mktows",
        description=textwrap.fill(
            "Insert or update Marketo leads with the syncLead SOAP call or the same "
            "sync over Marketo's REST API, one at a time or in bulk from a file, or run a "
            "local sandbox of the service (both faces)."
        ),
        epilog=_MAIN_EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"mktows {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = _common_parser()

    one = commands.add_parser(
        "sync-lead",
        parents=[common],
        help="insert or update one lead",
        description=textwrap.fill(
            "Insert or update one lead. Give at least one key: --id, --email or "
            "--foreign-id (with --foreign-type); --cookie associates a Munchkin cookie."
        ),
        epilog=_SYNC_LEAD_EPILOG,
        formatter_class=formatter,
    )
    keys = one.add_argument_group("lead")
    keys.add_argument("--id", metavar="N", help="Marketo lead id")
    keys.add_argument("--email", metavar="ADDRESS", help="email address")
    keys.add_argument("--foreign-id", metavar="ID", help="ForeignSysPersonId")
    keys.add_argument(
        "--foreign-type", metavar="TYPE", help="ForeignSysType: CUSTOM, SFDC or NETSUITE"
    )
    keys.add_argument("--cookie", metavar="VALUE", help="Munchkin cookie (marketoCookie)")
    keys.add_argument(
        "--attr",
        type=_key_value,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a lead attribute; repeat for more",
    )
    keys.add_argument(
        "--from-json",
        metavar="FILE",
        help="read the lead from a JSON object (see templates/lead.json; - for stdin); "
        "flags add to it and win",
    )
    one.add_argument(
        "--return-lead", action="store_true", help="ask for the whole lead back and print it"
    )
    one.set_defaults(func=_cmd_sync_lead)

    bulk = commands.add_parser(
        "sync-leads",
        parents=[common],
        help="insert or update the leads of a CSV or JSON Lines file",
        description=textwrap.fill(
            "Insert or update every lead of a CSV or JSON Lines file, many calls at "
            "once but within the service's limits, with a progress report, a results file and a "
            "journal that makes the run resumable after a crash or Ctrl-C."
        ),
        epilog=_SYNC_LEADS_EPILOG,
        formatter_class=formatter,
    )
    bulk.add_argument("file", metavar="FILE", help="the leads: .csv, .jsonl or .ndjson")
    source = bulk.add_argument_group("input")
    source.add_argument("--format", choices=("csv", "jsonl"), help="override the extension")
    source.add_argument(
        "--map",
        type=_mapping,
        action="append",
        default=[],
        metavar="SRC=DEST",
        help="rename column SRC to DEST (e.g. email_address=Email); DEST empty drops SRC",
    )
    source.add_argument(
        "--no-count", action="store_true", help="do not count the rows first (no total, no ETA)"
    )
    output = bulk.add_argument_group("results and journal")
    output.add_argument("--results", metavar="PATH", help="results CSV (FILE.results.csv)")
    output.add_argument("--journal", metavar="PATH", help="journal (FILE.journal)")
    output.add_argument(
        "--restart", action="store_true", help="discard the journal and results; start over"
    )
    output.add_argument(
        "--progress-interval",
        type=_positive_float,
        default=5.0,
        metavar="SECONDS",
        help="seconds between progress lines when stderr is not a terminal (default 5)",
    )
    limits = bulk.add_argument_group('limits (0 turns a limit off; see "limits" below)')
    limits.add_argument(
        "--rate", type=_rate, metavar="N/SECONDS", help="calls per sliding window (100/20)"
    )
    limits.add_argument(
        "--rate-calls",
        type=_non_negative_int,
        metavar="N",
        default=100,
        help="calls per window (default 100)",
    )
    limits.add_argument(
        "--rate-window",
        type=_positive_float,
        metavar="SECONDS",
        default=20.0,
        help="the sliding window in seconds (default 20)",
    )
    limits.add_argument(
        "--concurrency",
        type=_non_negative_int,
        metavar="N",
        default=10,
        help=f"calls at once (default 10; 0 = no limit, {UNCAPPED_WORKERS} calls at once)",
    )
    bulk.set_defaults(func=_cmd_sync_leads)

    serve = commands.add_parser(
        "serve",
        help="run the local sandbox server",
        description=textwrap.fill(
            "Run the sandbox: a local server that answers syncLead like Marketo "
            "(matching rules, faults, limits), keeping leads in SQLite."
        ),
        epilog=_serve_epilog(),
        formatter_class=formatter,
    )
    from ..sandbox import configure_serve_parser, run_serve

    configure_serve_parser(serve)
    serve.set_defaults(func=run_serve)
    return parser


def _serve_epilog() -> str:
    from ..sandbox import (
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        DEFAULT_ENCRYPTION_KEY,
        DEFAULT_USER_ID,
    )

    base = "http://127.0.0.1:8080"
    return f"""\
example:
  mktows serve --port 8080 --db sandbox.sqlite3

Then point a client at it, with the sandbox's published credentials (not secret):
  SOAP: {ENV_ENDPOINT}={base}/soap/mktows/2_2
        {ENV_USER_ID}={DEFAULT_USER_ID} {ENV_KEY}={DEFAULT_ENCRYPTION_KEY}
  REST: {ENV_REST_URL}={base}/rest {ENV_IDENTITY_URL}={base}/identity
        {ENV_CLIENT_ID}={DEFAULT_CLIENT_ID} {ENV_CLIENT_SECRET}={DEFAULT_CLIENT_SECRET}
        (its workspace "Default" has the partition "Default": {ENV_PARTITIONS}=Default=Default)
"""


# --- credentials and the embedded sandbox ------------------------------------------------


def _read_env_file(path: str) -> dict[str, str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _UsageError(f"cannot read --env-file {path!r}: {exc}") from None
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
        raise _UsageError(
            f"{', '.join(given)} set but {', '.join(missing)} not: give all {what} "
            "(flags, --env-file or environment), or none to use the embedded sandbox"
        )
    return bool(given)


def _target(args: argparse.Namespace, environ: Mapping[str, str]) -> _Target | _RestTarget | None:
    settings = {name: environ.get(name, "") for name in _ALL_VARS}
    if args.env_file:
        settings.update(_read_env_file(args.env_file))
    for name, flag in _FLAGS.items():
        if getattr(args, flag):
            settings[name] = getattr(args, flag)
    soap = [name for name in CREDENTIAL_VARS if settings[name]]
    rest = [name for name in REST_VARS if settings[name]]
    if soap and rest:
        raise _UsageError(
            f"both SOAP settings ({', '.join(soap)}) and REST settings ({', '.join(rest)}) "
            "are set: keep one of the two sets"
        )
    if _complete(settings, REST_VARS, "four REST settings"):
        try:
            partitions = parse_partitions(settings[ENV_PARTITIONS])
        except ConfigError as exc:
            raise _UsageError(f"{ENV_PARTITIONS}: {exc}") from None
        return _RestTarget(
            settings[ENV_REST_URL],
            settings[ENV_IDENTITY_URL],
            settings[ENV_CLIENT_ID],
            settings[ENV_CLIENT_SECRET],
            settings[ENV_FOREIGN_ID_FIELD] or None,
            partitions,
        )
    if not _complete(settings, CREDENTIAL_VARS, "three"):
        return None
    return _Target(settings[ENV_ENDPOINT], settings[ENV_USER_ID], settings[ENV_KEY])


def _resolve(args: argparse.Namespace) -> _Target | _RestTarget | None:
    """The configured service (None: the embedded sandbox), checked before anything runs."""
    target = _target(args, os.environ)
    if (
        isinstance(target, _RestTarget)
        and args.workspace is not None
        and args.workspace not in target.partitions
    ):
        known = ", ".join(sorted(target.partitions)) or "none"
        raise _UsageError(
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
def _connect(target: _Target | _RestTarget | None, err: TextIO) -> Iterator[_Target | _RestTarget]:
    """The configured service, or (None) the embedded sandbox started for this command."""
    if target is not None:
        yield target
        return
    from ..sandbox import DEFAULT_ENCRYPTION_KEY, DEFAULT_USER_ID, make_app, serve_in_thread

    path = sandbox_db_path(os.environ)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        app = make_app(None, str(path))
    except (OSError, MktowsError) as exc:
        raise _UsageError(
            f"cannot open the embedded sandbox database {str(path)!r}: {exc}"
        ) from exc
    print(
        f"mktows: no credentials configured (SOAP: {', '.join(CREDENTIAL_VARS)}; or "
        f"REST: {', '.join(REST_VARS)}); using the embedded sandbox over SOAP, state in {path}",
        file=err,
        flush=True,
    )
    try:
        with serve_in_thread(app) as server:
            yield _Target(server.url, DEFAULT_USER_ID, DEFAULT_ENCRYPTION_KEY)
    finally:
        app.close()


def _retry(args: argparse.Namespace) -> RetryPolicy:
    return RetryPolicy(attempts=args.retries + 1)


def _hint(exc: MktowsError, rest: bool = False) -> str:
    if isinstance(exc, AuthenticationError):
        if rest:
            return f" (check {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET})"
        return f" (check {ENV_USER_ID} and {ENV_KEY})"
    return ""


def _client(target: _Target | _RestTarget, args: argparse.Namespace) -> Client | RestClient:
    if isinstance(target, _RestTarget):
        return RestClient(
            target.rest_url,
            target.identity_url,
            target.client_id,
            target.secret,
            foreign_id_field=target.foreign_id_field,
            partitions=target.partitions,
            deadline=args.timeout,
            retry=_retry(args),
        )
    return Client(
        target.endpoint, target.user_id, target.key, deadline=args.timeout, retry=_retry(args)
    )


def _async_client(
    target: _Target | _RestTarget, args: argparse.Namespace, limiter: RateLimiter
) -> AsyncClient | AsyncRestClient:
    if isinstance(target, _RestTarget):
        return AsyncRestClient(
            target.rest_url,
            target.identity_url,
            target.client_id,
            target.secret,
            foreign_id_field=target.foreign_id_field,
            partitions=target.partitions,
            transport=limiter.transport(),
            deadline=args.timeout,
            retry=_retry(args),
        )
    return AsyncClient(
        target.endpoint,
        target.user_id,
        target.key,
        transport=limiter.transport(),
        deadline=args.timeout,
        retry=_retry(args),
    )


# --- sync-lead ---------------------------------------------------------------------------


def _lead_fields(args: argparse.Namespace) -> dict[str, object]:
    fields: dict[str, object] = {}
    if args.from_json:
        try:
            if args.from_json == "-":
                data = json.load(sys.stdin)
            else:
                with open(args.from_json, encoding="utf-8") as handle:
                    data = json.load(handle)
        except (OSError, ValueError, RecursionError) as exc:  # RecursionError: deep nesting
            raise _UsageError(f"cannot read a lead from {args.from_json!r}: {exc}") from None
        if not isinstance(data, dict):
            raise _UsageError(f"{args.from_json!r} must hold one JSON object (a lead)")
        for name, value in data.items():
            fields[KEY_COLUMNS.get(str(name).casefold(), str(name))] = value
    flags = {
        "Id": args.id,
        "Email": args.email,
        "ForeignSysPersonId": args.foreign_id,
        "ForeignSysType": args.foreign_type,
        "cookie": args.cookie,
    }
    fields.update({name: value for name, value in flags.items() if value is not None})
    for name, value in args.attr:
        if KEY_COLUMNS.get(name.casefold()):
            raise _UsageError(f"--attr {name}=... is a key: use its own flag instead")
        fields[name] = value
    return fields


def lead_as_json(lead: LeadRecord) -> dict[str, Any]:
    """A lead as the JSON object sync-lead prints (and --from-json reads)."""
    data: dict[str, Any] = {
        "Id": lead.id,
        "Email": lead.email,
        "ForeignSysPersonId": lead.foreign_sys_person_id,
        "ForeignSysType": None if lead.foreign_sys_type is None else lead.foreign_sys_type.value,
    }
    data.update(lead.attributes)
    return data


def _result_json(result: SyncLeadResult) -> dict[str, Any]:
    return {
        "status": result.status.value,
        "lead_id": result.lead_id,
        "code": None,
        "error": result.error,
        "lead": None if result.lead is None else lead_as_json(result.lead),
    }


def _error_json(status: str, exc: MktowsError) -> dict[str, Any]:
    code = exc.code if isinstance(exc, FaultError) else None
    return {"status": status, "lead_id": None, "code": code, "error": str(exc), "lead": None}


def _cmd_sync_lead(args: argparse.Namespace) -> int:
    out, err = sys.stdout, sys.stderr
    try:
        fields = _lead_fields(args)
        lead, cookie = lead_from_fields(fields)
    except (ValidationError, ConfigError) as exc:
        raise _UsageError(f"bad lead: {exc}") from None
    with _connect(_resolve(args), err) as target:
        rest = isinstance(target, _RestTarget)
        try:
            with _client(target, args) as client:
                result = client.sync_lead(
                    lead,
                    return_lead=args.return_lead,
                    workspace=args.workspace,
                    marketo_cookie=cookie,
                )
        except ValidationError as exc:
            raise _UsageError(f"bad lead: {exc}") from None
        except FaultError as exc:
            print(f"mktows: fault {exc.code}: {exc}{_hint(exc, rest)}", file=err)
            if args.json:
                print(json.dumps(_error_json("FAULT", exc)), file=out)
            return EXIT_FAULT
        except RemoteError as exc:
            print(f"mktows: {exc}", file=err)
            if args.json:
                print(json.dumps(_error_json("ERROR", exc)), file=out)
            return EXIT_TRANSPORT
    if args.json:
        print(json.dumps(_result_json(result), ensure_ascii=False), file=out)
    else:
        line = f"{result.status.value} lead {result.lead_id}"
        if result.error:
            line += f": {result.error}"
        print(line, file=out)
        if result.lead is not None:
            for name, value in lead_as_json(result.lead).items():
                if value is not None:
                    print(f"  {name}: {value}", file=out)
    return EXIT_NOT_SYNCED if result.status.value == "FAILED" else EXIT_OK


# --- sync-leads --------------------------------------------------------------------------


@dataclass
class _Run:
    """What one bulk run did, for the summary and the exit code."""

    interrupted: bool = False
    fault: FaultError | None = None
    retry_pending: int = 0  # rows that ended in ERROR or a transient fault
    read_error: OSError | None = None  # the input file failed part-way
    write_error: JournalWriteError | None = None  # the journal or results file failed
    rest: bool = False  # the run went over REST


def _pending(rows: Iterable[Row], ledger: Ledger) -> Iterator[Row]:
    return (row for row in rows if not ledger.is_done(row.number))


async def _run_bulk(
    args: argparse.Namespace,
    target: _Target | _RestTarget,
    rows: Iterable[Row],
    ledger: Ledger,
    progress: Progress,
    limiter: RateLimiter,
    err: TextIO,
) -> _Run:
    run = _Run(rest=isinstance(target, _RestTarget))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None  # asyncio.run runs this coroutine as a task
    presses = 0

    def interrupt() -> None:
        nonlocal presses
        presses += 1
        run.interrupted = True
        if presses == 1:
            stop.set()
            progress.finish()
            print(
                f"mktows: stopping; waiting for {limiter.in_flight} call(s) in flight "
                "(interrupt again to abandon them)",
                file=err,
                flush=True,
            )
        else:
            task.cancel()

    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, interrupt)
            installed.append(signum)
    try:
        async with _async_client(target, args, limiter) as client:
            results = sync_leads(
                client,
                rows,
                workers=limiter.concurrency or UNCAPPED_WORKERS,
                workspace=args.workspace,
                stop=stop,
            )
            # aclosing: a journal write failure leaves the loop with calls in flight;
            # closing the runner abandons them (a rerun sends those rows again).
            async with contextlib.aclosing(results):
                try:
                    async for result in results:
                        ledger.record(result)
                        progress.update(result)
                        run.retry_pending += not result.final
                except FaultError as exc:
                    run.fault = exc
                except OSError as exc:  # the rows read so far are journaled; a rerun resumes
                    run.read_error = exc
                except JournalWriteError:
                    pass  # ledger.write_error keeps it for the summary
    except asyncio.CancelledError:
        run.interrupted = True
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
    return run


def _summary(
    args: argparse.Namespace,
    ledger: Ledger,
    progress: Progress,
    run: _Run,
    code: int,
) -> dict[str, Any]:
    counts = ledger.previous + progress.counts
    elapsed = time.monotonic() - progress.started
    return {
        "file": args.file,
        "rows": sum(counts.values()),
        "total": progress.total,
        "this_run": progress.done,
        "done_before": ledger.done_before,
        **{status.value.lower(): counts[status] for status in RowStatus},
        "elapsed_seconds": round(elapsed, 3),
        "rows_per_second": round(progress.done / elapsed, 3) if elapsed > 0 else None,
        "results": ledger.results_path,
        "journal": ledger.journal_path,
        "interrupted": run.interrupted,
        "fault_code": run.fault.code if run.fault else None,
        "exit_code": code,
    }


def _exit_code(run: _Run, counts: Mapping[RowStatus, int]) -> int:
    if run.interrupted:
        return EXIT_INTERRUPTED
    if run.read_error is not None or run.write_error is not None:
        return EXIT_USAGE
    if run.fault is not None:
        return EXIT_FAULT
    if run.retry_pending:
        return EXIT_TRANSPORT
    synced = counts[RowStatus.CREATED] + counts[RowStatus.UPDATED]
    return EXIT_OK if synced == sum(counts.values()) else EXIT_NOT_SYNCED


def _limiter(args: argparse.Namespace) -> RateLimiter:
    # The argument types already refuse what RateLimiter would (negative counts, no window).
    calls, window = args.rate if args.rate is not None else (args.rate_calls, args.rate_window)
    return RateLimiter(calls=calls, window=window or 1.0, concurrency=args.concurrency)


def _cmd_sync_leads(args: argparse.Namespace) -> int:
    out, err = sys.stdout, sys.stderr
    limiter = _limiter(args)
    mapping = dict(args.map)
    target = _resolve(args)  # settings errors first: they must leave no file behind
    try:
        fmt = detect_format(args.file, args.format)
        reader = read_rows(args.file, fmt, mapping)
        first = next(reader, None)  # reads the header: a bad file fails here, before anything
        total = None if args.no_count else count_rows(args.file, fmt)
    except (ConfigError, OSError) as exc:
        raise _UsageError(str(exc)) from None
    rows: Iterable[Row] = reader if first is None else _chain(first, reader)
    journal = args.journal or f"{args.file}.journal"
    results = args.results or f"{args.file}.results.csv"
    try:
        ledger = Ledger(journal, results, restart=args.restart, source=args.file)
    except ConfigError as exc:
        raise _UsageError(str(exc)) from None
    run = _Run()
    progress = Progress(
        err, total=total, done_before=ledger.done_before, interval=args.progress_interval
    )
    try:
        if ledger.resumed:
            print(
                f"mktows: resuming from {journal}: {ledger.done_before} row(s) already done",
                file=err,
                flush=True,
            )
        with _connect(target, err) as endpoint:
            run = asyncio.run(
                _run_bulk(args, endpoint, _pending(rows, ledger), ledger, progress, limiter, err)
            )
        progress.finish()
    finally:
        with contextlib.suppress(JournalWriteError):  # ledger.write_error keeps it
            ledger.close()
    run.write_error = ledger.write_error
    code = _exit_code(run, ledger.previous + progress.counts)
    summary = _summary(args, ledger, progress, run, code)
    _print_summary(summary, run, err)
    if args.json:
        print(json.dumps(summary), file=out)
    return code


def _chain(first: Row, rest: Iterator[Row]) -> Iterator[Row]:
    yield first
    yield from rest


def _print_summary(summary: Mapping[str, Any], run: _Run, err: TextIO) -> None:
    if run.fault is not None:
        hint = _hint(run.fault, run.rest)
        print(f"mktows: stopped by fault {run.fault.code}: {run.fault}{hint}", file=err)
    if run.read_error is not None:
        print(f"mktows: stopped: cannot read the input: {run.read_error}", file=err)
    if run.write_error is not None:
        print(f"mktows: stopped: {run.write_error}", file=err)
    counts = ", ".join(
        f"{status.value.lower()} {summary[status.value.lower()]}" for status in RowStatus
    )
    rate = summary["rows_per_second"]
    print(
        f"mktows: {summary['rows']} row(s) done ({summary['this_run']} in this run, "
        f"{format_duration(summary['elapsed_seconds'])}"
        + (f", {rate:.1f} rows/s" if rate else "")
        + f"): {counts}; results in {summary['results']}",
        file=err,
    )
    if run.interrupted:
        print(
            f"mktows: interrupted; run the same command again to resume "
            f"(journal {summary['journal']})",
            file=err,
        )


# --- entry point -------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mktows`` command with ``argv`` (default: sys.argv[1:]); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        code: int = args.func(args)
    except (_UsageError, ConfigError) as exc:
        print(f"mktows: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("mktows: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code
