"""Group "start-up": a fresh interpreter process doing an import and its first envelope.

Rows: mktows (import + build one signed envelope), zeep (import + load the WSDL +
create the first message), the floor (``import lxml.etree, httpx``) and, for
reference, an empty interpreter. Medians of interleaved runs.
"""

from __future__ import annotations

import pathlib
import statistics
import subprocess
import sys
import time

from ._harness import BenchError, Row

GROUP = "start-up"
CASE = "fresh process: import + first envelope"

_MKTOWS = """
import datetime as dt, mktows
body = mktows.build_sync_lead_envelope(mktows.LeadRecord(email="george@jungle.com"),
    user_id="u", encryption_key="k", workspace="Default")
assert b"paramsSyncLead" in body
"""
_ZEEP = """
import sys, zeep
from lxml import etree
client = zeep.Client(sys.argv[1])
msg = client.create_message(client.service, "syncLead",
    leadRecord={"Email": "george@jungle.com"}, returnLead=False)
assert b"paramsSyncLead" in etree.tostring(msg)
"""
_FLOOR = "import lxml.etree, httpx"
_EMPTY = "pass"


def _once(code: str, wsdl: pathlib.Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, str(wsdl)], capture_output=True, timeout=60, check=False
    )
    elapsed = time.perf_counter() - start
    if done.returncode:
        raise BenchError(
            f"start-up: {code.strip().splitlines()[0]!r} failed: {done.stderr[-500:]!r}"
        )
    return elapsed


def run(wsdl: pathlib.Path, *, repeat: int) -> list[Row]:
    """Time each program ``repeat`` times (after one warm-up run each), interleaved."""
    programs = [
        ("mktows (import + first envelope)", _MKTOWS),
        ("zeep (import + load WSDL + first message)", _ZEEP),
        ("floor: import lxml.etree, httpx", _FLOOR),
        ("reference: empty interpreter", _EMPTY),
    ]
    times: dict[str, list[float]] = {name: [] for name, _ in programs}
    for _, code in programs:
        _once(code, wsdl)  # warm the bytecode caches and the page cache
    for _ in range(repeat):
        for name, code in programs:
            times[name].append(_once(code, wsdl))
    return [Row(GROUP, CASE, name, statistics.median(times[name]), "s") for name, _ in programs]
