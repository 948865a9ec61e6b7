"""What a bulk run says of each row (:class:`RowStatus`, :class:`RowResult`) and of the
server when it cannot be reached (:class:`UnreachableError`). No I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .._codes import FATAL_CODES, RETRYABLE_CODES
from .._errors import FaultError, MktowsError, TransportError
from .._models import LeadRecord, SyncLeadResult
from ._read import NO_KEYS, Keys, Row

__all__ = ["RowResult", "RowStatus", "UnreachableError", "failure", "invalid", "synced"]


class UnreachableError(TransportError):
    """The server could not be reached: ``reason`` says why. The rows not finished
    were not journaled, so nothing was lost: run again to resume."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"cannot reach the server: {reason}")
        self.reason = reason


class RowStatus(str, enum.Enum):
    """The outcome of one row of a bulk sync."""

    CREATED = "CREATED"  # synced: a new lead
    UPDATED = "UPDATED"  # synced: an existing lead
    FAILED = "FAILED"  # the service answered FAILED (reason in ``error``)
    INVALID = "INVALID"  # the row cannot be sent (no key, bad Id, …); nothing was sent
    FAULT = "FAULT"  # the service answered a fault (``code``)
    ERROR = "ERROR"  # no usable answer (network, timeout, garbage) after the retries

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True, kw_only=True)
class RowResult:
    """What happened to one row: its ``row`` number, ``status``, the ``lead_id``
    (when synced), the fault ``code`` and the ``error`` text; ``lead`` when asked for;
    ``keys``: the row's Id, Email and ForeignSysPersonId as read ("" when absent).
    """

    row: int
    status: RowStatus
    lead_id: int | None = None
    code: int | None = None
    error: str | None = None
    lead: LeadRecord | None = None
    keys: Keys = NO_KEYS

    @property
    def final(self) -> bool:
        """True when a rerun leaves the row as it is (see the README's table).

        CREATED, UPDATED and FAILED are final, and so is a fault that says the
        row itself is wrong (20103, 20105, ...). INVALID (re-read with the
        rerun's options), ERROR and faults that are transient (20016, 20023,
        20024, 10001, 20011) or stop the run (20013, 20014, 20015) are not.
        """
        if self.status in (RowStatus.ERROR, RowStatus.INVALID):
            return False
        if self.status is RowStatus.FAULT:
            return self.code not in FATAL_CODES and self.code not in RETRYABLE_CODES
        return True


def synced(row: Row, result: SyncLeadResult) -> RowResult:
    """The row's result from the service's answer for its lead."""
    return RowResult(
        row=row.number,
        status=RowStatus(result.status.value),
        lead_id=result.lead_id,
        error=result.error,
        lead=result.lead,
        keys=row.key_columns,
    )


def invalid(row: Row, error: str) -> RowResult:
    """The row cannot be sent over this wire: INVALID with the reason, nothing was sent."""
    return RowResult(row=row.number, status=RowStatus.INVALID, error=error, keys=row.key_columns)


def failure(row: Row, exc: MktowsError) -> RowResult:
    """The row's call failed: FAULT with its code, or ERROR (no usable answer)."""
    if isinstance(exc, FaultError):
        return RowResult(
            row=row.number,
            status=RowStatus.FAULT,
            code=exc.code,
            error=str(exc),
            keys=row.key_columns,
        )
    return RowResult(row=row.number, status=RowStatus.ERROR, error=str(exc), keys=row.key_columns)
