"""SQLite storage of leads and cookies: plain reads and writes inside one
transaction per call. No matching rules (those live in _service.py), no HTTP.

Files use WAL with ``synchronous=NORMAL``: a committed call survives a crash of
the sandbox process, though the last calls may be lost on a power cut; enough
for a sandbox. ``:memory:`` keeps one connection behind a lock.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from .._errors import FaultError
from .._models import Fault

__all__ = ["LeadRow", "Store", "Transaction"]

# Each write touches as few pages as it can (a sync is one small transaction): no
# AUTOINCREMENT, as leads are deleted only all at once (a reset, after which Ids start
# again at 1), and the foreign id index holds only the leads that have one.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS leads (
    id INTEGER PRIMARY KEY,
    email TEXT COLLATE NOCASE,
    fsp_id TEXT,
    fsp_type TEXT,
    partition TEXT NOT NULL,
    touched INTEGER NOT NULL,
    attrs TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS leads_email ON leads (email, touched);
CREATE INDEX IF NOT EXISTS leads_touched ON leads (touched);
CREATE UNIQUE INDEX IF NOT EXISTS leads_fsp ON leads (fsp_id) WHERE fsp_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS cookies (
    cookie TEXT PRIMARY KEY,
    lead_id INTEGER NOT NULL REFERENCES leads (id)
) WITHOUT ROWID;
"""

_SELECT = "SELECT id, email, fsp_id, fsp_type, partition, attrs FROM leads "
_BY_ID = _SELECT + "WHERE id = ?"
_BY_FSP = _SELECT + "WHERE fsp_id = ?"
_BY_COOKIE = (
    "SELECT l.id, l.email, l.fsp_id, l.fsp_type, l.partition, l.attrs "
    "FROM cookies c JOIN leads l ON l.id = c.lead_id WHERE c.cookie = ?"
)
# SPEC §3 rule 4: Email is not unique; the most recently updated lead wins.
_BY_EMAIL = _SELECT + "WHERE email = ? ORDER BY touched DESC, id DESC LIMIT 1"
# A write's touched: one more than the latest (SPEC §3 rule 4 orders by it).
_INSERT = (
    "INSERT INTO leads (id, email, fsp_id, fsp_type, partition, touched, attrs) "
    "VALUES (?, ?, ?, ?, ?, (SELECT COALESCE(MAX(touched), 0) + 1 FROM leads), ?)"
)
_UPDATE = (
    "UPDATE leads SET email = ?, fsp_id = ?, fsp_type = ?, "
    "touched = (SELECT COALESCE(MAX(touched), 0) + 1 FROM leads), attrs = ? WHERE id = ?"
)
_HAS_SEQUENCE = "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"
_SET_COOKIE = (
    "INSERT INTO cookies (cookie, lead_id) VALUES (?, ?) "
    "ON CONFLICT (cookie) DO UPDATE SET lead_id = excluded.lead_id"
)


@dataclass(frozen=True, slots=True)
class LeadRow:
    """One stored lead. ``attrs`` maps canonical field names to text values."""

    id: int
    email: str | None
    fsp_id: str | None
    fsp_type: str | None
    partition: str
    attrs: Mapping[str, str]


def _row(found: tuple[int, str | None, str | None, str | None, str, str] | None) -> LeadRow | None:
    if found is None:
        return None
    lead_id, email, fsp_id, fsp_type, partition, attrs = found
    try:
        values = json.loads(attrs)
    except (TypeError, ValueError):
        values = None
    if not isinstance(values, dict):  # the file was edited by hand, or is corrupt
        raise FaultError(
            Fault.for_code(20011, f"lead {lead_id} has unreadable fields in the store")
        )
    return LeadRow(lead_id, email, fsp_id, fsp_type, partition, values)


class Transaction:
    """The reads and writes one call may make, inside BEGIN IMMEDIATE ... COMMIT."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def _one(self, sql: str, value: object) -> LeadRow | None:
        return _row(self._conn.execute(sql, (value,)).fetchone())

    def by_id(self, lead_id: int) -> LeadRow | None:
        """The lead with this Marketo Id."""
        return self._one(_BY_ID, lead_id)

    def by_foreign_id(self, fsp_id: str) -> LeadRow | None:
        """The lead with this ForeignSysPersonId (unique)."""
        return self._one(_BY_FSP, fsp_id)

    def by_cookie(self, cookie: str) -> LeadRow | None:
        """The lead a Munchkin cookie is associated with."""
        return self._one(_BY_COOKIE, cookie)

    def by_email(self, email: str) -> LeadRow | None:
        """The most recently updated lead with this Email (case-insensitive)."""
        return self._one(_BY_EMAIL, email)

    def insert(
        self,
        *,
        email: str | None,
        fsp_id: str | None,
        fsp_type: str | None,
        partition: str,
        attrs: Mapping[str, str],
        lead_id: int | None = None,
    ) -> int:
        """Create a lead (with Id ``lead_id``, or the next one); returns its Id."""
        cursor = self._conn.execute(
            _INSERT,
            (lead_id, email, fsp_id, fsp_type, partition, json.dumps(attrs)),
        )
        lead_id = cursor.lastrowid
        assert lead_id is not None
        return lead_id

    def update(self, row: LeadRow) -> None:
        """Write back a lead's keys and attributes (its partition never moves)."""
        self._conn.execute(
            _UPDATE,
            (row.email, row.fsp_id, row.fsp_type, json.dumps(row.attrs), row.id),
        )

    def associate_cookie(self, cookie: str, lead_id: int) -> None:
        """Point a cookie at a lead (moving it from any other lead)."""
        self._conn.execute(_SET_COOKIE, (cookie, lead_id))

    def listed(self, *, email: str | None = None, limit: int = 1000) -> list[LeadRow]:
        """Leads by Id (an ``email``'s only, case-insensitive), at most ``limit``."""
        where, args = ("WHERE email = ? ", [email]) if email is not None else ("", [])
        sql = _SELECT + where + "ORDER BY id LIMIT ?"
        rows = self._conn.execute(sql, (*args, limit)).fetchall()
        return [row for row in map(_row, rows) if row is not None]

    def cookies(self, lead_id: int) -> list[str]:
        """The cookies associated with a lead."""
        sql = "SELECT cookie FROM cookies WHERE lead_id = ? ORDER BY cookie"
        return [cookie for (cookie,) in self._conn.execute(sql, (lead_id,))]

    def clear(self) -> None:
        """Delete every lead and cookie; Ids start again at 1."""
        self._conn.execute("DELETE FROM cookies")
        self._conn.execute("DELETE FROM leads")
        # Files made by earlier sandboxes declared AUTOINCREMENT, counted in sqlite_sequence.
        if self._conn.execute(_HAS_SEQUENCE).fetchone() is not None:
            self._conn.execute("DELETE FROM sqlite_sequence WHERE name = 'leads'")


def _internal(exc: sqlite3.Error) -> FaultError:
    # Never leak sqlite3 text to the client beyond its class name (SPEC §4: 20011).
    return FaultError(Fault.for_code(20011, f"storage failure ({type(exc).__name__})"))


class Store:
    """Leads in SQLite: a file path (WAL, pooled connections) or ``:memory:``.

    ``transaction()`` is the only way in; every sqlite3 error becomes
    FaultError 20011.
    """

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self._memory = path == ":memory:" or path.startswith("file::memory:")
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._memory_lock = threading.Lock()
        self._closed = False
        try:
            conn = self._connect()
            with conn:
                conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            self.close()
            raise _internal(exc) from exc
        self._idle.put(conn)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        with self._lock:
            self._all.append(conn)
        if not self._memory:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _acquire(self) -> sqlite3.Connection:
        if self._closed:
            raise FaultError(Fault.for_code(20011, "the sandbox store is closed"))
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            return self._connect()

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One call's transaction: BEGIN IMMEDIATE, commit on success, roll back on error."""
        guard = self._memory_lock if self._memory else None
        if guard is not None:
            guard.acquire()
        try:
            conn = self._acquire()
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield Transaction(conn)
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise _internal(exc) from exc
                raise
            finally:
                self._idle.put(conn)
        finally:
            if guard is not None:
                guard.release()

    def close(self) -> None:
        """Close every connection; further calls fail with 20011."""
        self._closed = True
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
