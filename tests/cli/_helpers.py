"""Helpers shared by the CLI and bulk tests."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

ROOT = Path(__file__).resolve().parents[2]


class Endpoint(Protocol):
    """What these tests need of a running sandbox (read-only, as the fixture's is)."""

    @property
    def url(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def encryption_key(self) -> str: ...
    @property
    def db_path(self) -> Path: ...


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, records: Iterable[Mapping[str, object]]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    return path


def read_results(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def journal_lines(path: Path) -> list[dict[str, object]]:
    lines = path.read_bytes().split(b"\n")
    return [json.loads(line) for line in lines[1:] if line]


def lead_counts(db: Path) -> tuple[int, int]:
    """(leads, distinct emails) in a sandbox database."""
    conn = sqlite3.connect(db)
    try:
        total, distinct = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT email) FROM leads"
        ).fetchone()
    finally:
        conn.close()
    return int(total), int(distinct)


def credentials(server: Endpoint) -> list[str]:
    return [
        "--endpoint",
        server.url,
        "--user-id",
        server.user_id,
        "--encryption-key",
        server.encryption_key,
    ]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MKTOWS_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def spawn(args: Sequence[str], env: Mapping[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mktows", *args],
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    ends = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > ends:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
