"""What ``mktows`` says about itself, in one place: the commands' descriptions and
epilogs, the help topics (environment variables, exit codes) and the exit codes.

Text only: nothing here parses arguments or calls a service. Each fact is said once:
the environment table and the exit-code table live in their topics
(``mktows help environment``, ``mktows help exit-codes``) and every other help text
refers to them. The serve epilog and the environment topic import the sandbox and
the serve command when they are shown, never before.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from ._settings import (
    ENV_CLIENT_ID,
    ENV_CLIENT_SECRET,
    ENV_ENDPOINT,
    ENV_FOREIGN_ID_FIELD,
    ENV_IDENTITY_URL,
    ENV_KEY,
    ENV_PARTITIONS,
    ENV_QUIET,
    ENV_REST_URL,
    ENV_SANDBOX_DB,
    ENV_USER_ID,
    UNCAPPED_WORKERS,
)

# The exit codes of every command; main and each command return one of these.
EXIT_OK = 0
EXIT_NOT_SYNCED = 1
EXIT_USAGE = 2
EXIT_FAULT = 3
EXIT_TRANSPORT = 4
EXIT_INTERRUPTED = 130

TOPIC_ENVIRONMENT = "environment"
TOPIC_EXIT_CODES = "exit-codes"
SEE_ALSO = f'See "mktows help {TOPIC_EXIT_CODES}" and "mktows help {TOPIC_ENVIRONMENT}".'


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Texts as written here; option help starting in column 32, so that most
    options take one line on an 80-column terminal."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def environment() -> str:
    """The one table of environment variables (``mktows help environment``)."""
    from .serve import ENV_ADMIN_TOKEN  # serve imports this module: import it late

    return f"""\
environment:
  Flags win over --env-file, which wins over these variables. Give the three
  SOAP settings or the four REST ones, not both; with neither, sync-lead and
  sync-leads use the embedded sandbox (SOAP) and say so in one line on stderr.

 SOAP (all three):
  {ENV_ENDPOINT:<26} the SOAP endpoint (--endpoint), e.g.
  {"":<26} https://123-ABC-456.mktoapi.com/soap/mktows/2_2
  {ENV_USER_ID:<26} the SOAP user id (--user-id)
  {ENV_KEY:<26} its encryption key (--encryption-key); never
  {"":<26} printed (prefer the variable: ps shows flags)
 REST (all four; the same sync over Marketo's REST API):
  {ENV_REST_URL:<26} the REST base URL (--rest-url), e.g.
  {"":<26} https://123-ABC-456.mktorest.com/rest
  {ENV_IDENTITY_URL:<26} the identity URL (--identity-url), e.g.
  {"":<26} https://123-ABC-456.mktorest.com/identity
  {ENV_CLIENT_ID:<26} the API user's client id (--client-id), from
  {"":<26} Admin > LaunchPoint
  {ENV_CLIENT_SECRET:<26} its client secret (--client-secret); as the key
  {ENV_FOREIGN_ID_FIELD:<26} the REST field holding ForeignSysPersonId
  {"":<26} (--foreign-id-field; leads keyed by it need it)
  {ENV_PARTITIONS:<26} workspace to partition mapping for --workspace
  {"":<26} (--partitions), e.g. "Europe=EU,US=US"
 the embedded sandbox (neither set given):
  {ENV_SANDBOX_DB:<26} its SQLite file (default
  {"":<26} $XDG_DATA_HOME/mktows/sandbox.sqlite3, else
  {"":<26} ~/.local/share/mktows/sandbox.sqlite3)
  {ENV_QUIET:<26} 1: no line saying it is used (--quiet)
 serve:
  {ENV_KEY:<26} the secret of --user-id
  {ENV_CLIENT_SECRET:<26} the secret of --client-id
  {ENV_ADMIN_TOKEN:<26} bearer token for /_sandbox/ (--admin-token)"""


EXIT_CODES = f"""\
exit codes:
  {EXIT_OK:<4} sync-lead: CREATED or UPDATED; sync-leads: every row CREATED or
       UPDATED; serve: stopped by Ctrl-C or SIGTERM
  {EXIT_NOT_SYNCED:<4} sync-lead: the service answered FAILED; sync-leads: some rows
       FAILED, INVALID or hit a permanent fault (see the results file)
  {EXIT_USAGE:<4} usage error: bad arguments, lead or input file; incomplete or
       conflicting settings (SOAP and REST both set); a workspace REST cannot
       map. sync-leads: a journal or results file it cannot write (or a journal
       of another input or options: --restart). serve: a bad configuration, a
       database it cannot open, an address it cannot listen on
  {EXIT_FAULT:<4} a SOAP fault or REST error, shown with its SOAP fault code
       (sync-leads: a fault that stops the run: 20013, 20014, 20015)
  {EXIT_TRANSPORT:<4} sync-lead: no usable answer from the server. sync-leads: cannot
       reach the server; nothing was lost, run again to resume (also when
       rows ended in ERROR or a transient fault: a rerun sends them again)
  {EXIT_INTERRUPTED:<4} interrupted (Ctrl-C; sync-leads: also SIGTERM); sync-leads:
       the journal is intact, run again to resume"""

TOPICS: dict[str, tuple[str, Callable[[], str]]] = {
    TOPIC_ENVIRONMENT: ("the MKTOWS_* environment variables", environment),
    TOPIC_EXIT_CODES: ("what each exit code means, per command", lambda: EXIT_CODES),
}

MAIN_DESCRIPTION = textwrap.fill(
    "Insert or update Marketo leads with the syncLead SOAP call or the same "
    "sync over Marketo's REST API, one at a time or in bulk from a file, or run a "
    "local sandbox of the service (both faces). With no credentials configured, "
    "commands use an embedded sandbox."
)

MAIN_EPILOG = f"""\
examples (the sample files are in templates/ of a checkout of mktows):
  mktows sync-lead --email george@jungle.com --attr FirstName=George
  mktows sync-leads templates/leads.csv
  mktows serve --port 8080 --db sandbox.sqlite3

help topics:
  mktows help {TOPIC_ENVIRONMENT:<12} # {TOPICS[TOPIC_ENVIRONMENT][0]}
  mktows help {TOPIC_EXIT_CODES:<12} # {TOPICS[TOPIC_EXIT_CODES][0]}
  mktows help sync-leads   # = "mktows sync-leads --help"; so for each command
"""

HELP_SUMMARY = "show a command's help or a topic: environment, exit-codes"

SYNC_LEAD_SUMMARY = "insert or update one lead"

SYNC_LEAD_DESCRIPTION = textwrap.fill(
    "Insert or update one lead. Give at least one key: --id, --email or "
    "--foreign-id (with --foreign-type); --cookie associates a Munchkin cookie."
)

SYNC_LEAD_EPILOG = f"""\
output:
  "CREATED lead 1090177" or "UPDATED lead 1090177" (the id --id takes) on
  stdout; "FAILED lead N: reason" for a FAILED status. With --json one object:
  {{"status": "CREATED"|"UPDATED"|"FAILED"|"FAULT"|"ERROR", "lead_id": int|null,
   "code": int|null, "error": str|null, "lead": {{...}}|null}}

examples (templates/: in a checkout of mktows):
  mktows sync-lead --email george@jungle.com --attr FirstName=George
  mktows sync-lead --email george@jungle.com --attr Company=Jungle --return-lead
  mktows sync-lead --foreign-id 4711 --foreign-type SFDC --json
  mktows sync-lead --from-json templates/lead.json --workspace Default

{SEE_ALSO}
"""

SYNC_LEADS_SUMMARY = "insert or update the leads of a CSV or JSON Lines file"

SYNC_LEADS_DESCRIPTION = textwrap.fill(
    "Insert or update every lead of a CSV or JSON Lines file within the service's "
    "limits. A journal records each finished row: after a crash, Ctrl-C or exit 4, "
    "run the same command again to send the rest and the rows that ended in ERROR "
    "or a transient fault (an upsert: no duplicates). Changes need --restart.",
    width=79,
)

# The text of sync-leads' option groups (argparse prints it above their options).
SYNC_LEADS_FILES = """\
FILE: CSV with a header line, or JSON Lines. The columns Id, Email,
ForeignSysPersonId, ForeignSysType and cookie are keys (any case), the others
attributes. Each row ends CREATED, UPDATED, FAILED, INVALID, FAULT or ERROR."""

SYNC_LEADS_LIMITS = textwrap.fill(
    "Calls count per API user: another run or program using the same credentials "
    "within the window can still cause faults 20023/20024. Over SOAP 0 lifts a "
    f"limit: --concurrency 0 lifts the concurrency limit ({UNCAPPED_WORKERS} calls at once).",
    width=78,
)

SYNC_LEADS_EPILOG = f"""\
examples (templates/: in a checkout of mktows):
  mktows sync-leads templates/leads.csv
  mktows sync-leads templates/leads.csv --restart --map Company= --concurrency 4

{SEE_ALSO}
"""

SERVE_SUMMARY = "run the local sandbox server"

SERVE_DESCRIPTION = textwrap.fill(
    "Run the sandbox: a local server that answers syncLead like Marketo "
    "(matching rules, faults, limits), over SOAP and REST, keeping leads in SQLite."
)


def serve_epilog() -> str:
    """The serve epilog: it shows the sandbox's published credentials (not secret)."""
    from ..sandbox import (
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        DEFAULT_ENCRYPTION_KEY,
        DEFAULT_USER_ID,
    )

    base = "http://127.0.0.1:8080"
    return f"""\
example (runs until Ctrl-C):
  mktows serve --port 8080 --db sandbox.sqlite3

Then point a client at it with the sandbox's published credentials (not secret):
  SOAP: {ENV_ENDPOINT}={base}/soap/mktows/2_2
        {ENV_USER_ID}={DEFAULT_USER_ID}
        {ENV_KEY}={DEFAULT_ENCRYPTION_KEY}
  REST: {ENV_REST_URL}={base}/rest
        {ENV_IDENTITY_URL}={base}/identity
        {ENV_CLIENT_ID}={DEFAULT_CLIENT_ID}
        {ENV_CLIENT_SECRET}={DEFAULT_CLIENT_SECRET}
        {ENV_PARTITIONS}=Default=Default (its workspace and partition)
Your own --user-id or --client-id replaces the published pair.

{SEE_ALSO}
"""


class _HelpWithLateEpilog(argparse.Action):
    """-h/--help whose epilog (the ``const``, a function) is computed when shown."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> NoReturn:
        parser.epilog = self.const()
        parser.print_help()
        parser.exit()


def add_help(parser: argparse.ArgumentParser, epilog: Callable[[], str]) -> None:
    """Give ``parser`` (made with add_help=False) the usual -h/--help, its epilog
    computed only when the help is shown."""
    parser.add_argument(
        "-h",
        "--help",
        action=_HelpWithLateEpilog,
        nargs=0,
        const=epilog,
        default=argparse.SUPPRESS,
        help="show this help message and exit",
    )
