"""Many syncLead calls: read a file of leads, sync them under a rate limit, journal
what was done and show progress. Loaded as one unit, on first use (it needs asyncio).
"""

from __future__ import annotations

from ._journal import JournalWriteError, Ledger
from ._limiter import RateLimiter
from ._progress import Progress, format_duration
from ._read import KEY_COLUMNS, Row, count_rows, detect_format, lead_from_fields, read_rows
from ._runner import RowResult, RowStatus, UnreachableError, sync_leads

__all__ = [
    "KEY_COLUMNS",
    "JournalWriteError",
    "Ledger",
    "Progress",
    "RateLimiter",
    "Row",
    "RowResult",
    "RowStatus",
    "UnreachableError",
    "count_rows",
    "detect_format",
    "format_duration",
    "lead_from_fields",
    "read_rows",
    "sync_leads",
]
