"""``mktows sync-lead``: one lead from flags (or a JSON object), one call, one line out.

Builds the lead and prints the result; the client does the call. Never prints a
secret.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .._errors import ConfigError, FaultError, MktowsError, RemoteError, ValidationError
from .._models import LeadRecord, SyncLeadResult
from ..bulk import KEY_COLUMNS, lead_from_fields
from ..rest import RestSettings
from ._help import EXIT_FAULT, EXIT_NOT_SYNCED, EXIT_OK, EXIT_TRANSPORT
from ._settings import UsageError, client, connect, hint, is_quiet, resolve


def _key_value(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the sync-lead options (the lead) to ``parser``; the connection comes as a parent."""
    keys = parser.add_argument_group("lead")
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
        help="the lead as a JSON object (- for stdin); flags add to it and win",
    )
    parser.add_argument(
        "--return-lead", action="store_true", help="ask for the whole lead back and print it"
    )
    parser.set_defaults(func=run)


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
            raise UsageError(f"cannot read a lead from {args.from_json!r}: {exc}") from None
        if not isinstance(data, dict):
            raise UsageError(f"{args.from_json!r} must hold one JSON object (a lead)")
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
            raise UsageError(f"--attr {name}=... is a key: use its own flag instead")
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


def run(args: argparse.Namespace) -> int:
    """Sync the lead of ``args``; print the result; return the exit code."""
    out, err = sys.stdout, sys.stderr
    try:
        fields = _lead_fields(args)
        lead, cookie = lead_from_fields(fields)
    except (ValidationError, ConfigError) as exc:
        raise UsageError(f"bad lead: {exc}") from None
    with connect(resolve(args, os.environ), err, is_quiet(args, os.environ)) as target:
        rest = isinstance(target, RestSettings)
        try:
            with client(target, args) as service:
                result = service.sync_lead(
                    lead,
                    return_lead=args.return_lead,
                    workspace=args.workspace,
                    marketo_cookie=cookie,
                )
        except ValidationError as exc:
            raise UsageError(f"bad lead: {exc}") from None
        except FaultError as exc:
            print(f"mktows: fault {exc.code}: {exc}{hint(exc, rest)}", file=err)
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
