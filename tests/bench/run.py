"""Run the mktows benchmark suite and print (and optionally write) the markdown report.

    python -m tests.bench [--out FILE] [--quick] [--groups build,parse,...] [--full]
                          [--async-rounds N] [--without-sniffio]

Every row checks its output first; a wrong output stops the run (no timing of
wrong code). Timings are medians of several repeats; ratios are within this run.
How to read the report: tests/bench/README.md.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.machinery
import importlib.metadata
import os
import pathlib
import platform
import sys
import time
from collections.abc import Callable, Sequence
from types import ModuleType

if __name__ == "__main__" and not __package__:  # ``python tests/bench/run.py``
    import runpy

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
    runpy.run_module("tests.bench", run_name="__main__", alter_sys=True)  # exits

from ._harness import BenchError, Report, Row, Target

GROUPS = ("build", "parse", "start-up", "end-to-end", "sandbox", "bulk")


class _Uninstalled(importlib.abc.MetaPathFinder):
    """Makes ``name`` import as if it were not installed, at the cost of a real miss:
    httpcore imports ``sniffio`` again on every async request when it is missing."""

    def __init__(self, name: str) -> None:
        self.name = name

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> None:
        if fullname == self.name:
            importlib.machinery.PathFinder.find_spec(f"{fullname}_uninstalled", path)
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def machine_info(*, without_sniffio: bool = False) -> list[tuple[str, str]]:
    """CPU model, cores, OS, Python and the library versions of this run."""
    from lxml import etree

    cpu = platform.processor() or "unknown"
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    libxml2 = ".".join(str(p) for p in etree.LIBXML_VERSION)
    return [
        ("CPU", cpu),
        ("cores", str(os.cpu_count())),
        ("OS", platform.platform()),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("mktows", version("mktows")),
        ("lxml", f"{version('lxml')} (libxml2 {libxml2})"),
        ("httpx", f"{version('httpx')} (httpcore {version('httpcore')})"),
        ("anyio", version("anyio")),
        ("sniffio", "hidden (--without-sniffio)" if without_sniffio else version("sniffio")),
        ("zeep", version("zeep")),
        ("suds", f"suds-community {version('suds-community')}"),
    ]


def _ratio(report: Report, group: str, case: str, num: str, den: str) -> float:
    return report.find(group, case, num).value / report.find(group, case, den).value


def add_targets(report: Report, ran: set[str]) -> None:
    """Turn this run's rows into the issue's target verdicts."""
    t = report.targets
    cases = sorted({(r.group, r.case) for r in report.rows}, key=lambda gc: gc[1])
    if "build" in ran:
        for group, case in (gc for gc in cases if gc[0] == "build"):
            vs_zeep = _ratio(report, group, case, "zeep", "mktows")
            vs_floor = _ratio(report, group, case, "mktows", "floor: lxml SubElement + tostring")
            t.append(
                Target(group, f"{case}: ≥ 10x faster than zeep", f"{vs_zeep:.1f}x", vs_zeep >= 10)
            )
            t.append(
                Target(
                    group, f"{case}: within 1.5x of SubElement", f"{vs_floor:.2f}x", vs_floor <= 1.5
                )
            )
    if "parse" in ran:
        for group, case in (gc for gc in cases if gc[0] == "parse"):
            vs_zeep = _ratio(report, group, case, "zeep", "mktows")
            vs_floor = _ratio(
                report, group, case, "mktows", "floor: fromstring + find -> dataclass"
            )
            t.append(
                Target(group, f"{case}: ≥ 6x faster than zeep", f"{vs_zeep:.1f}x", vs_zeep >= 6)
            )
            t.append(
                Target(
                    group, f"{case}: within 1.5x of fromstring", f"{vs_floor:.2f}x", vs_floor <= 1.5
                )
            )
    if "start-up" in ran:
        rows = [r for r in report.rows if r.group == "start-up"]
        mk_s = next(r for r in rows if r.impl.startswith("mktows")).value
        floor_s = next(r for r in rows if r.impl.startswith("floor")).value
        extra = (mk_s - floor_s) * 1e3
        t.append(
            Target("start-up", "within 20 ms of the import floor", f"+{extra:.1f} ms", extra <= 20)
        )
    if "end-to-end" in ran:
        g = "end-to-end"
        for case, mk, bare in (
            ("sequential", "mktows Client", "bare httpx POST"),
            ("10 threads", "mktows Client", "bare httpx POST"),
            ("10 asyncio tasks", "mktows AsyncClient", "bare httpx AsyncClient POST"),
        ):
            zeep = "zeep AsyncClient" if "asyncio" in case else "zeep"
            share = _ratio(report, g, case, mk, bare)
            vs_zeep = _ratio(report, g, case, mk, zeep)
            t.append(Target(g, f"{case}: ≥ 90% of bare httpx", f"{share:.0%}", share >= 0.9))
            t.append(Target(g, f"{case}: ≥ 2.5x zeep", f"{vs_zeep:.2f}x", vs_zeep >= 2.5))
        a = report.find(g, "10 asyncio tasks", "mktows AsyncClient").value
        s = report.find(g, "sequential", "mktows Client").value
        t.append(
            Target(
                g,
                "AsyncClient, 10 tasks ≥ sync Client sequential",
                f"{a:,.0f} vs {s:,.0f} calls/s ({a / s:.0%})",
                a >= s,
            )
        )
    if "sandbox" in ran:
        g = "sandbox"
        for case in ("sequential", "10 threads"):
            sb = report.find(g, case, "mktows sandbox (SQLite file, WAL)").value
            fl = report.find(g, case, "floor: same server, fixed body").value
            t.append(
                # The journal and fault rules are on, as in every sandbox (issue #14's bar).
                Target(
                    g, f"{case}: ≥ 70% of the fixed-body server", f"{sb / fl:.0%}", sb / fl >= 0.7
                )
            )
    if "bulk" in ran:
        rss = [r for r in report.rows if r.group == "bulk" and r.unit == "MiB"]
        if len(rss) >= 2:
            low, high = rss[0].value, rss[-1].value
            flat = high <= low * 1.25
            t.append(
                Target(
                    "bulk",
                    "memory flat in rows (peak RSS at the largest size ≤ 1.25x the smallest)",
                    " vs ".join(f"{r.case}: {r.value:.1f} MiB" for r in rss),
                    flat,
                )
            )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", type=pathlib.Path, help="also write the markdown report here")
    parser.add_argument(
        "--groups",
        default=",".join(GROUPS),
        help=f"comma-separated groups to run (default: all of {', '.join(GROUPS)})",
    )
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repeats (a smoke run)")
    parser.add_argument(
        "--bulk-sizes",
        default="10000,100000",
        help="row counts for the bulk group (default 10000,100000)",
    )
    parser.add_argument("--full", action="store_true", help="add 1,000,000 rows to the bulk group")
    parser.add_argument(
        "--async-rounds",
        type=int,
        help="rounds of the end-to-end asyncio case, the one that varies most (default 7; "
        "--quick: 3)",
    )
    parser.add_argument(
        "--without-sniffio",
        action="store_true",
        help="run as if sniffio were not installed (httpcore's async path without it)",
    )
    args = parser.parse_args(argv)
    groups = [g.strip() for g in args.groups.split(",") if g.strip()]
    unknown = set(groups) - set(GROUPS)
    if unknown:
        parser.error(f"unknown groups: {', '.join(sorted(unknown))}")
    sizes = [int(s) for s in args.bulk_sizes.split(",") if s.strip()]
    if args.full and 1_000_000 not in sizes:
        sizes.append(1_000_000)

    if args.without_sniffio:
        if "sniffio" in sys.modules:
            parser.error("--without-sniffio: sniffio is already imported")
        sys.meta_path.insert(0, _Uninstalled("sniffio"))

    repeat, min_time = (3, 0.05) if args.quick else (7, 0.2)
    seconds, max_calls, rate_repeat = (0.5, 1000, 1) if args.quick else (1.5, 5000, 3)
    async_rounds = args.async_rounds or (3 if args.quick else 7)
    report = Report(machine=machine_info(without_sniffio=args.without_sniffio))
    started = time.monotonic()

    from . import bench_build, bench_e2e, bench_parse, bench_startup
    from ._fixtures import wsdl_file

    def step(name: str, fn: Callable[[], list[Row]]) -> None:
        t0 = time.monotonic()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        report.rows.extend(fn())
        print(f"[bench] {name} done in {time.monotonic() - t0:.0f}s", file=sys.stderr, flush=True)

    try:
        with wsdl_file() as wsdl:
            if "build" in groups:
                step("build", lambda: bench_build.run(wsdl, repeat=repeat, min_time=min_time))
            if "parse" in groups:
                step("parse", lambda: bench_parse.run(wsdl, repeat=repeat, min_time=min_time))
            if "start-up" in groups:
                step("start-up", lambda: bench_startup.run(wsdl, repeat=3 if args.quick else 11))
        if "end-to-end" in groups:
            step(
                "end-to-end",
                lambda: bench_e2e.run(
                    repeat=rate_repeat,
                    async_repeat=async_rounds,
                    seconds=seconds,
                    max_calls=max_calls,
                ),
            )
        if "sandbox" in groups:
            from . import bench_sandbox

            step(
                "sandbox",
                lambda: bench_sandbox.run(repeat=rate_repeat, seconds=seconds, max_calls=max_calls),
            )
        if "bulk" in groups:
            from . import bench_bulk

            step("bulk", lambda: bench_bulk.run(sizes))
    except BenchError as exc:
        print(f"benchmark refused to time a wrong result: {exc}", file=sys.stderr)
        return 1

    add_targets(report, set(groups))
    command = " ".join(["python -m tests.bench", *(argv if argv is not None else sys.argv[1:])])
    report.notes.append(f"Run: `{command}`, {time.monotonic() - started:.0f} s in all.")
    text = report.markdown()
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
