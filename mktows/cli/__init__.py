"""The ``mktows`` command line: sync-lead, sync-leads, serve. Parses, wires, prints.

One module per command (``sync_lead``, ``sync_leads``, ``serve``: options and
``run``), the settings and clients in ``_settings``, every help text and exit
code in ``_help``. No protocol or service logic: the clients (SOAP or REST), the
bulk runner and the sandbox do the work. The encryption key and client secret
are never printed. From Python::

    code = main(["sync-lead", "--email", "george@jungle.com"])  # as `mktows sync-lead ...`
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from .._errors import ConfigError
from . import _help, serve, sync_lead, sync_leads
from ._help import EXIT_INTERRUPTED, EXIT_USAGE
from ._settings import UsageError, connection_options

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """The ``mktows`` argument parser with its subcommands."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="mktows",
        description=_help.MAIN_DESCRIPTION,
        epilog=_help.MAIN_EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"mktows {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    connection = connection_options()
    sync_lead.configure_parser(
        commands.add_parser(
            "sync-lead",
            parents=[connection],
            help=_help.SYNC_LEAD_SUMMARY,
            description=_help.SYNC_LEAD_DESCRIPTION,
            epilog=_help.SYNC_LEAD_EPILOG,
            formatter_class=formatter,
        )
    )
    sync_leads.configure_parser(
        commands.add_parser(
            "sync-leads",
            parents=[connection],
            help=_help.SYNC_LEADS_SUMMARY,
            description=_help.SYNC_LEADS_DESCRIPTION,
            epilog=_help.SYNC_LEADS_EPILOG,
            formatter_class=formatter,
        )
    )
    server = commands.add_parser(
        "serve",
        add_help=False,  # its -h computes the epilog, which loads the sandbox, when shown
        help=_help.SERVE_SUMMARY,
        description=_help.SERVE_DESCRIPTION,
        formatter_class=formatter,
    )
    _help.add_help(server, epilog=_help.serve_epilog)
    serve.configure_parser(server)
    return parser


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
    except (UsageError, ConfigError) as exc:
        print(f"mktows: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("mktows: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code
