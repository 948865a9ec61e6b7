"""``mktows sync-leads``: the bulk run. Reads the file, journals every finished row,
reports progress, prints a summary, and stops cleanly on Ctrl-C.

The bulk runner, limiter, journal and progress report do the work; this module
wires them to the command line and turns what happened into an exit code.
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
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from .._errors import ConfigError, FaultError
from .._retry import RetryPolicy
from ..bulk import (
    JournalWriteError,
    Ledger,
    Progress,
    RateLimiter,
    Row,
    RowStatus,
    UnreachableError,
    count_rows,
    detect_format,
    format_duration,
    read_rows,
    sync_leads,
)
from ..rest import RestSettings
from ._help import (
    EXIT_FAULT,
    EXIT_INTERRUPTED,
    EXIT_NOT_SYNCED,
    EXIT_OK,
    EXIT_TRANSPORT,
    EXIT_USAGE,
    SYNC_LEADS_FILES,
    SYNC_LEADS_LIMITS,
)
from ._settings import (
    UNCAPPED_WORKERS,
    SoapTarget,
    Target,
    UsageError,
    async_client,
    connect,
    hint,
    is_quiet,
    non_negative_int,
    positive_float,
    resolve,
    sandbox_db_path,
)

# The bulk client tries each call once (over SOAP re-signing a stale timestamp; over REST
# renewing a refused token); the runner retries rows and batches itself: limit faults
# (20023/20024, REST 606/615) by back-pressure, refused connections within
# --give-up-after, other transient failures --retries times.
_ONE_TRY = RetryPolicy(attempts=1, resign_attempts=2)


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


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the sync-leads options to ``parser``; the connection comes as a parent."""
    source = parser.add_argument_group("files", SYNC_LEADS_FILES)
    source.add_argument("file", metavar="FILE", help="the leads: .csv, .jsonl or .ndjson")
    source.add_argument(
        "--format", choices=("csv", "jsonl"), help="FILE's format, if not by extension"
    )
    source.add_argument(
        "--map",
        type=_mapping,
        action="append",
        default=[],
        metavar="SRC=DEST",
        help="rename column SRC to DEST (DEST empty: drop)",
    )
    source.add_argument(
        "--no-count", action="store_true", help="do not count the rows first (no ETA)"
    )
    source.add_argument("--results", metavar="PATH", help="results CSV (FILE.results.csv)")
    source.add_argument("--journal", metavar="PATH", help="the journal (FILE.journal)")
    source.add_argument(
        "--restart", action="store_true", help="discard the journal and results; start over"
    )
    source.add_argument(
        "--progress-interval",
        type=positive_float,
        default=5.0,
        metavar="SECONDS",
        help="log a progress line this often (5)",
    )
    limits = parser.add_argument_group("limits", SYNC_LEADS_LIMITS)
    limits.add_argument(
        "--rate",
        type=_rate,
        metavar="N/SECONDS",
        help="calls per sliding window (100/20; REST 50/20)",
    )
    limits.add_argument(
        "--rate-calls",
        type=non_negative_int,
        metavar="N",
        default=None,
        help="the N of --rate alone (100; REST 50)",
    )
    limits.add_argument(
        "--rate-window",
        type=positive_float,
        metavar="SECONDS",
        default=20.0,
        help="the SECONDS of --rate alone (20)",
    )
    limits.add_argument(
        "--concurrency",
        type=non_negative_int,
        metavar="N",
        default=None,
        help="calls at once (10; REST 5, at most 10)",
    )
    limits.add_argument(
        "--batch-size",
        type=_batch_size,
        metavar="N",
        default=REST_MAX_BATCH,
        help=f"REST: leads per call (at most {REST_MAX_BATCH})",
    )
    limits.add_argument(
        "--give-up-after",
        type=positive_float,
        default=60.0,
        metavar="SECONDS",
        help="stop when unreachable this long (60)",
    )
    parser.set_defaults(func=run)


REST_MAX_BATCH = 300  # Adobe: Sync Leads takes up to 300 records
# Adobe's advice for one third-party integration, since all integrations of an instance
# share its limits (100 calls per 20 s, 10 at once): stay at 50 per 20 s and 5 at once.
REST_DEFAULT_RATE = (50, 20.0)
REST_DEFAULT_CONCURRENCY = 5
REST_MAX_RATE = 100 / 20.0  # calls per second: the instance's whole allowance
REST_MAX_CONCURRENCY = 10


def _batch_size(text: str) -> int:
    value = non_negative_int(text)
    if not 1 <= value <= REST_MAX_BATCH:
        raise argparse.ArgumentTypeError(f"must be 1 to {REST_MAX_BATCH}, got {value}")
    return value


@dataclass
class _Run:
    """What one bulk run did, for the summary and the exit code."""

    interrupted: bool = False
    fault: FaultError | None = None
    retry_pending: int = 0  # rows that ended in ERROR or a transient fault
    read_error: OSError | None = None  # the input file failed part-way
    write_error: JournalWriteError | None = None  # the journal or results file failed
    rest: bool = False  # the run went over REST
    unreachable: UnreachableError | None = None  # the server could not be reached


_RETRIED = (RowStatus.ERROR, RowStatus.FAULT)  # INVALID is retried too, but needs a fix


def _pending(rows: Iterable[Row], ledger: Ledger) -> Iterator[Row]:
    return (row for row in rows if not ledger.is_done(row.number))


async def _run_bulk(
    args: argparse.Namespace,
    target: Target,
    rows: Iterable[Row],
    ledger: Ledger,
    progress: Progress,
    limiter: RateLimiter,
    err: TextIO,
) -> _Run:
    run = _Run(rest=isinstance(target, RestSettings))
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
            limiter.halt()  # rows waiting for the limiter never go out
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
        async with async_client(target, args, limiter, _ONE_TRY) as client:
            results = sync_leads(
                client,
                rows,
                transport_limiter=limiter,
                workers=limiter.concurrency or UNCAPPED_WORKERS,
                batch_size=args.batch_size if run.rest else None,
                workspace=args.workspace,
                stop=stop,
                retries=args.retries,
                give_up_after=args.give_up_after,
            )
            # aclosing: a journal write failure leaves the loop with calls in flight;
            # closing the runner abandons them (a rerun sends those rows again).
            async with contextlib.aclosing(results):
                try:
                    async for result in results:
                        ledger.record(result)
                        progress.update(result)
                        run.retry_pending += result.status in _RETRIED and not result.final
                except UnreachableError as exc:
                    run.unreachable = exc
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
        "unreachable": run.unreachable.reason if run.unreachable else None,
        "exit_code": code,
    }


def _exit_code(run: _Run, counts: Mapping[RowStatus, int]) -> int:
    if run.interrupted:
        return EXIT_INTERRUPTED
    if run.read_error is not None or run.write_error is not None:
        return EXIT_USAGE
    if run.fault is not None:
        return EXIT_FAULT
    if run.retry_pending or run.unreachable is not None:
        return EXIT_TRANSPORT
    synced = counts[RowStatus.CREATED] + counts[RowStatus.UPDATED]
    return EXIT_OK if synced == sum(counts.values()) else EXIT_NOT_SYNCED


def _limiter(args: argparse.Namespace, rest: bool = False) -> RateLimiter:
    # The argument types already refuse what RateLimiter would (negative counts, no window).
    calls, window = args.rate if args.rate is not None else (args.rate_calls, args.rate_window)
    concurrency = args.concurrency
    if rest:
        if calls is None:
            calls, window = (REST_DEFAULT_RATE[0], window or REST_DEFAULT_RATE[1])
        if concurrency is None:
            concurrency = REST_DEFAULT_CONCURRENCY
        if calls == 0 or calls / (window or 1.0) > REST_MAX_RATE:
            raise UsageError(
                f"over REST the rate is at most 100/20 (the instance's limit, shared by every "
                f"integration); got {calls}/{window:g}"
            )
        if concurrency == 0 or concurrency > REST_MAX_CONCURRENCY:
            raise UsageError(
                f"over REST --concurrency is 1 to {REST_MAX_CONCURRENCY} (the instance's "
                f"limit, shared by every integration); got {concurrency}"
            )
    calls = 100 if calls is None else calls
    concurrency = 10 if concurrency is None else concurrency
    return RateLimiter(calls=calls, window=window or 1.0, concurrency=concurrency)


def _binding(
    args: argparse.Namespace, target: Target | None, fmt: str, mapping: Mapping[str, str]
) -> dict[str, Any]:
    """Where the rows go and every option that changes what a row becomes: a journal
    started with another binding is not resumed. Never a secret."""
    where: dict[str, Any]
    if target is None:
        where = {"wire": "soap", "endpoint": f"embedded sandbox {sandbox_db_path(os.environ)}"}
    elif isinstance(target, SoapTarget):
        where = {"wire": "soap", "endpoint": target.endpoint, "user_id": target.user_id}
    else:
        where = {
            "wire": "rest",
            "rest_url": target.rest_url,
            "identity_url": target.identity_url,
            "client_id": target.client_id,
            "foreign_id_field": target.foreign_id_field,
            "partitions": dict(target.partitions),
        }
    return {**where, "workspace": args.workspace, "format": fmt, "map": dict(mapping)}


def _where(target: Target) -> str:
    return target.rest_url if isinstance(target, RestSettings) else target.endpoint


def run(args: argparse.Namespace) -> int:
    """Sync every lead of ``args.file``; print the summary; return the exit code."""
    out, err = sys.stdout, sys.stderr
    mapping = dict(args.map)
    target = resolve(args, os.environ)  # settings errors first: they must leave no file behind
    limiter = _limiter(args, rest=isinstance(target, RestSettings))
    try:
        fmt = detect_format(args.file, args.format)
        reader = read_rows(args.file, fmt, mapping)
        first = next(reader, None)  # reads the header: a bad file fails here, before anything
        total = None if args.no_count else count_rows(args.file, fmt)
    except (ConfigError, OSError) as exc:
        raise UsageError(str(exc)) from None
    rows: Iterable[Row] = reader if first is None else _chain(first, reader)
    journal = args.journal or f"{args.file}.journal"
    results = args.results or f"{args.file}.results.csv"
    try:
        ledger = Ledger(
            journal,
            results,
            restart=args.restart,
            source=args.file,
            binding=_binding(args, target, fmt, mapping),
        )
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    # The service still counts the calls of the run this one resumes: so does the limiter.
    now = time.time()
    limiter.seed([now - when for when in ledger.recent_calls])
    limiter.on_call = ledger.note_call
    run = _Run()
    progress = Progress(err, total=total, previous=ledger.previous, interval=args.progress_interval)
    where = ""
    try:
        if ledger.resumed:
            print(
                f"mktows: resuming from {journal}: {ledger.done_before} row(s) already done",
                file=err,
                flush=True,
            )
        with connect(target, err, is_quiet(args, os.environ)) as endpoint:
            where = _where(endpoint)
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
    _print_summary(summary, run, err, where)
    if args.json:
        print(json.dumps(summary), file=out)
    return code


def _chain(first: Row, rest: Iterator[Row]) -> Iterator[Row]:
    yield first
    yield from rest


def _print_summary(summary: Mapping[str, Any], run: _Run, err: TextIO, where: str) -> None:
    if run.unreachable is not None:
        print(
            f"mktows: cannot reach {where}: {run.unreachable.reason}; nothing was lost, "
            "run again to resume",
            file=err,
        )
    if run.fault is not None:
        advice = hint(run.fault, run.rest)
        print(f"mktows: stopped by fault {run.fault.code}: {run.fault}{advice}", file=err)
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
