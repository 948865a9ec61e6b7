"""The ``mktows`` command line: sync-lead, sync-leads, serve, help. Parses, wires, prints.

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
from typing import Any

from .. import __version__
from .._errors import ConfigError
from . import _help, serve, sync_lead, sync_leads
from ._help import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from ._settings import UsageError, connection_options

__all__ = ["main"]

COMMANDS = ("sync-lead", "sync-leads", "serve")


class _CommandParser(argparse.ArgumentParser):
    """A subcommand's parser: an argument it does not know is its own usage error.

    argparse hands a subcommand's unknown arguments back to the top-level parser,
    whose error would show the top-level usage; a typo in ``mktows sync-lead --emial``
    must show sync-lead's.
    """

    def parse_known_args(  # type: ignore[override]  # typeshed's overloads
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def build_parser() -> argparse.ArgumentParser:
    """The ``mktows`` argument parser with its subcommands."""
    formatter = _help.Formatter
    parser = argparse.ArgumentParser(
        prog="mktows",
        description=_help.MAIN_DESCRIPTION,
        epilog=_help.MAIN_EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"mktows {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_CommandParser)
    # Of the subparsers' class, as argparse's types want of a parent (it adds nothing).
    connection = _CommandParser(add_help=False, parents=[connection_options()])
    sync_lead.configure_parser(
        commands.add_parser(
            "sync-lead",
            parents=[connection],
            usage="%(prog)s [options] (--email ADDRESS | --id N | --foreign-id ID)",
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
            usage="%(prog)s [options] FILE",
            help=_help.SYNC_LEADS_SUMMARY,
            description=_help.SYNC_LEADS_DESCRIPTION,
            epilog=_help.SYNC_LEADS_EPILOG,
            formatter_class=formatter,
        )
    )
    server = commands.add_parser(
        "serve",
        add_help=False,  # its -h computes the epilog, which loads the sandbox, when shown
        usage="%(prog)s [options]",
        help=_help.SERVE_SUMMARY,
        description=_help.SERVE_DESCRIPTION,
        formatter_class=formatter,
    )
    _help.add_help(server, epilog=_help.serve_epilog)
    serve.configure_parser(server)
    helper = commands.add_parser(
        "help",
        help=_help.HELP_SUMMARY,
        description=_help.HELP_SUMMARY,
        formatter_class=formatter,
    )
    helper.add_argument(
        "topic",
        nargs="?",
        choices=(*COMMANDS, *_help.TOPICS),
        metavar="TOPIC",
        help=f"a command or one of: {', '.join(_help.TOPICS)}",
    )
    helper.set_defaults(func=lambda args: _show_help(parser, args.topic))
    return parser


def _show_help(parser: argparse.ArgumentParser, topic: str | None) -> int:
    """``mktows help [TOPIC]``: the main help, a command's help or a topic, on stdout."""
    if topic is None:
        parser.print_help()
    elif topic in COMMANDS:
        return main([topic, "--help"])
    else:
        print(_help.TOPICS[topic][1]())
    return EXIT_OK


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
