"""``mktows serve``: run the sandbox server in the foreground until Ctrl-C.

Options, configuration and messages only; the sandbox is the server. It is
imported when the command runs, so the other commands never load SQLite or
wsgiref (nor does building the parser: serve's help is computed when shown).
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import logging
import os
import sys
from typing import TYPE_CHECKING

from .._errors import ConfigError, MktowsError
from ._help import EXIT_OK, EXIT_USAGE
from ._settings import ENV_CLIENT_SECRET, ENV_KEY

ENV_ADMIN_TOKEN = "MKTOWS_SANDBOX_ADMIN_TOKEN"  # noqa: S105  # a variable name
_LOG_FORMAT = "%(asctime)s %(message)s"

if TYPE_CHECKING:
    from ..sandbox import RunningServer, SandboxConfig


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}")
    return value


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the ``mktows serve`` options to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument(
        "--port", type=_port, default=8080, help="port to listen on (8080; 0 = any free one)"
    )
    parser.add_argument(
        "--user-id",
        metavar="ID",
        help="a SOAP user id to accept (with its key)",
    )
    parser.add_argument(
        "--encryption-key",
        metavar="KEY",
        help=f"its key (better in ${ENV_KEY})",
    )
    parser.add_argument(
        "--client-id",
        metavar="ID",
        help="a REST client id to accept (with its secret)",
    )
    parser.add_argument(
        "--client-secret",
        metavar="SECRET",
        help=f"its secret (better in ${ENV_CLIENT_SECRET})",
    )
    parser.add_argument(
        "--db",
        default=":memory:",
        metavar="PATH",
        help="SQLite file for the leads (default: memory)",
    )
    parser.add_argument(
        "--config", metavar="PATH", help="JSON configuration, as templates/sandbox.json"
    )
    parser.add_argument(
        "--allow-default-credentials",
        action="store_true",
        help="keep the published pair, even off loopback",
    )
    parser.add_argument(
        "--journal-size",
        type=_journal_size,
        metavar="N",
        help="calls /_sandbox/ keeps (1000; oldest go first)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="RULE",
        help="a fault rule, e.g. code=20023,times=3 (repeat)",
    )
    parser.add_argument(
        "--admin-token",
        metavar="TOKEN",
        help="/_sandbox/ bearer token (needed off loopback)",
    )
    log = parser.add_mutually_exclusive_group()
    log.add_argument(
        "--log-file",
        metavar="PATH",
        help="append the per-call log lines to PATH, not stderr",
    )
    log.add_argument("-q", "--quiet", action="store_true", help="no per-call log lines")
    parser.set_defaults(func=run)


def _journal_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _config(args: argparse.Namespace) -> SandboxConfig:
    from ..sandbox import SandboxConfig

    config = SandboxConfig.load(args.config) if args.config else SandboxConfig()
    key = args.encryption_key or os.environ.get(ENV_KEY)
    if args.user_id:
        if not key:
            raise ConfigError(
                f"--user-id needs --encryption-key or the {ENV_KEY} environment variable"
            )
        config = config.with_user(args.user_id, key)
    elif args.encryption_key:
        raise ConfigError("--encryption-key needs --user-id")
    secret = args.client_secret or os.environ.get(ENV_CLIENT_SECRET)
    if args.client_id:
        if not secret:
            raise ConfigError(
                f"--client-id needs --client-secret or the {ENV_CLIENT_SECRET} environment variable"
            )
        config = config.with_client(args.client_id, secret)
    elif args.client_secret:
        raise ConfigError("--client-secret needs --client-id")
    from ..sandbox._faults import parse_rule_text

    rules = tuple(parse_rule_text(text) for text in args.fault)
    if rules:
        config = dataclasses.replace(config, faults=(*config.faults, *rules))
    if args.journal_size:
        config = dataclasses.replace(config, journal_size=args.journal_size)
    if not args.allow_default_credentials:
        config = config.without_published_credentials()  # your own replace them
        published = config.published_credentials()
        if published and not _loopback(args.host):
            raise ConfigError(
                f"refusing to listen on {args.host} with the published credentials "
                f"({', '.join(published)}): anyone who has read the README could use them. "
                "Give your own (--user-id with --encryption-key, --client-id with "
                "--client-secret, or users and rest_clients in --config), listen on "
                "127.0.0.1, or pass --allow-default-credentials"
            )
    return config


def _announce(config: SandboxConfig, running: RunningServer) -> None:
    clients = ", ".join(sorted(config.rest_clients)) or "none"
    print(
        f"mktows sandbox listening on {running.url} (WSDL: {running.url}?WSDL); users: "
        f"{', '.join(sorted(config.users))}\n"
        f"REST: {running.rest_url} (identity: {running.identity_url}, tokens live "
        f"{config.token_lifetime:g} s); clients: {clients}\n"
        f"inspect it at {running.base_url}/_sandbox/ (journal of {config.journal_size} calls, "
        f"{len(config.faults)} fault rules); Ctrl-C stops it",
        file=sys.stderr,
        flush=True,
    )


def run(args: argparse.Namespace) -> int:
    """Run the sandbox until Ctrl-C.

    Returns EXIT_OK (0) on a clean stop, EXIT_USAGE (2) for bad settings, a
    database it cannot open or an address it cannot listen on.
    """
    from .. import sandbox

    try:
        config = _config(args)
    except ConfigError as exc:
        print(f"mktows serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    token = args.admin_token or os.environ.get(ENV_ADMIN_TOKEN) or None
    logger = logging.getLogger(sandbox.__name__)
    try:
        handler = _call_log(logger, args)
    except OSError as exc:
        print(f"mktows serve: cannot open the log file {args.log_file!r}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return _serve(args, config, token)
    finally:
        if handler is not None:
            logger.removeHandler(handler)
            logger.propagate = True
            handler.close()


def _call_log(logger: logging.Logger, args: argparse.Namespace) -> logging.Handler | None:
    """Point the sandbox's per-call lines at stderr, ``--log-file`` (appended; the
    start and stop lines stay on stderr) or nowhere (``--quiet``: failures still show).
    The file's handler, for the caller to close, or None.
    """
    logging.basicConfig(format=_LOG_FORMAT)  # a no-op if logging is set up
    logger.setLevel(logging.WARNING if args.quiet else logging.INFO)
    if not args.log_file:
        return None
    handler = logging.FileHandler(args.log_file, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    logger.addHandler(handler)
    logger.propagate = False
    return handler


def _serve(args: argparse.Namespace, config: SandboxConfig, token: str | None) -> int:
    from .. import sandbox

    try:
        app = sandbox.make_app(config, args.db, admin_token=token)
    except MktowsError as exc:
        print(f"mktows serve: cannot open the database {args.db!r}: {exc}", file=sys.stderr)
        return EXIT_USAGE

    def ready(running: RunningServer) -> None:
        if token is None and not _loopback(running.host):
            raise ConfigError(
                f"listening on {running.host} would expose the admin API (/_sandbox/) to "
                f"other hosts; give --admin-token or {ENV_ADMIN_TOKEN}, or listen on 127.0.0.1"
            )
        _announce(config, running)

    try:
        sandbox.serve_forever(app, args.host, args.port, ready=ready)
    except ConfigError as exc:
        print(f"mktows serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (OSError, OverflowError) as exc:  # OverflowError: a port run was handed raw
        print(f"mktows serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("mktows serve: stopping", file=sys.stderr)
    finally:
        app.close()
    return EXIT_OK
