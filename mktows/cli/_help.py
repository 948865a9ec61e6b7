"""What ``mktows --help`` says, in one place: the commands' descriptions and epilogs,
the environment variables, and the exit codes (as constants and as text).

Text only: nothing here parses arguments or calls a service. The serve epilog
names the sandbox's credentials and imports the sandbox when it is shown, never
before.
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

ENVIRONMENT = f"""\
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

EXIT_CODES = f"""\
exit codes:
  {EXIT_OK}    synced (every row CREATED or UPDATED); serve: stopped with Ctrl-C
  {EXIT_NOT_SYNCED}    the service answered FAILED (sync-leads: some rows FAILED, INVALID or
       a permanent FAULT; see the results file)
  {EXIT_USAGE}    usage error: bad arguments, bad lead, unreadable file, incomplete or
       conflicting credentials (SOAP and REST both set), a workspace REST cannot
       map; sync-leads: a journal or results file that cannot be written;
       serve: a bad configuration, a database it cannot open or an address it
       cannot listen on
  {EXIT_FAULT}    SOAP fault or REST error, reported with its SOAP code (sync-leads: a fault
       that stops the run: 20013, 20014, 20015)
  {EXIT_TRANSPORT}    transport error: no usable answer from the server (sync-leads: some rows
       ended in ERROR or a transient fault; rerunning the command retries them)
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C); the journal is intact, rerun to resume"""

MAIN_DESCRIPTION = textwrap.fill(
    "Insert or update Marketo leads with the syncLead SOAP call or the same "
    "sync over Marketo's REST API, one at a time or in bulk from a file, or run a "
    "local sandbox of the service (both faces)."
)

MAIN_EPILOG = f"""\
examples:
  mktows sync-lead --email george@jungle.com --attr FirstName=George
  mktows sync-leads leads.csv --map email_address=Email
  mktows serve --port 8080 --db sandbox.sqlite3

Run "mktows COMMAND --help" for each command's options.

{ENVIRONMENT}

{EXIT_CODES}
"""

SYNC_LEAD_SUMMARY = "insert or update one lead"

SYNC_LEAD_DESCRIPTION = textwrap.fill(
    "Insert or update one lead. Give at least one key: --id, --email or "
    "--foreign-id (with --foreign-type); --cookie associates a Munchkin cookie."
)

SYNC_LEAD_EPILOG = f"""\
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

{ENVIRONMENT}

{EXIT_CODES}
"""

SYNC_LEADS_SUMMARY = "insert or update the leads of a CSV or JSON Lines file"

SYNC_LEADS_DESCRIPTION = textwrap.fill(
    "Insert or update every lead of a CSV or JSON Lines file, many calls at "
    "once but within the service's limits, with a progress report, a results file and a "
    "journal that makes the run resumable after a crash or Ctrl-C."
)

SYNC_LEADS_EPILOG = f"""\
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

{ENVIRONMENT}

{EXIT_CODES}
"""

SERVE_SUMMARY = "run the local sandbox server"

SERVE_DESCRIPTION = textwrap.fill(
    "Run the sandbox: a local server that answers syncLead like Marketo "
    "(matching rules, faults, limits), keeping leads in SQLite."
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
example:
  mktows serve --port 8080 --db sandbox.sqlite3

Then point a client at it, with the sandbox's published credentials (not secret):
  SOAP: {ENV_ENDPOINT}={base}/soap/mktows/2_2
        {ENV_USER_ID}={DEFAULT_USER_ID} {ENV_KEY}={DEFAULT_ENCRYPTION_KEY}
  REST: {ENV_REST_URL}={base}/rest {ENV_IDENTITY_URL}={base}/identity
        {ENV_CLIENT_ID}={DEFAULT_CLIENT_ID} {ENV_CLIENT_SECRET}={DEFAULT_CLIENT_SECRET}
        (its workspace "Default" has the partition "Default": {ENV_PARTITIONS}=Default=Default)

{EXIT_CODES}
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
