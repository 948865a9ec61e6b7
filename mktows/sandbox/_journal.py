"""The call journal: every call the sandbox answered, newest last, capped (oldest
dropped). Pure bookkeeping behind a lock, with a condition to wait on; the entries
are built by _record.py. No HTTP, no sockets, no store.
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["OUTCOMES", "CallFilter", "Journal"]

DEFAULT_SIZE = 1000
OUTCOMES = ("CREATED", "UPDATED", "FAILED", "SKIPPED", "FAULT", "REFUSED")
# What a list shows of a call: everything but the bodies and what the page alone needs.
_DETAIL_ONLY = frozenset({"request", "response", "lead_before", "lead_after", "auth_check"})


def _whole(name: str, text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"{name} must be a whole number, got {text[:40]!r}")
    return int(text)


@dataclass(frozen=True, slots=True)
class CallFilter:
    """Which calls to select: ``email`` (case-insensitive), ``outcome``, ``code``,
    ``wire``, ``since`` (calls after this id) and ``limit`` (newest first).
    """

    email: str | None = None
    outcome: str | None = None
    code: int | None = None
    wire: str | None = None
    since: int | None = None
    limit: int | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> CallFilter:
        """From query parameters; unknown names and bad values raise ValueError."""
        extra = sorted(set(params) - {"email", "outcome", "code", "wire", "since", "limit"})
        if extra:
            raise ValueError(
                f"unknown filter {extra[0]!r}; filters: email, outcome, code, wire, since, limit"
            )
        outcome = params.get("outcome") or None
        if outcome is not None:
            outcome = outcome.upper()
            if outcome not in OUTCOMES:
                raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
        wire = params.get("wire") or None
        if wire is not None and wire not in ("soap", "rest"):
            raise ValueError(f"wire must be soap or rest, got {wire[:20]!r}")
        code = params.get("code") or None
        since = params.get("since") or None
        limit = params.get("limit") or None
        return cls(
            email=params.get("email") or None,
            outcome=outcome,
            code=_whole("code", code) if code else None,
            wire=wire,
            since=_whole("since", since) if since else None,
            limit=_whole("limit", limit) if limit else None,
        )

    def keeps(self, call: Mapping[str, Any]) -> bool:
        """Whether ``call`` passes every filter given."""
        if self.since is not None and call["id"] <= self.since:
            return False
        if self.email is not None and (call["email"] or "").lower() != self.email.lower():
            return False
        if self.outcome is not None and call["outcome"] != self.outcome:
            return False
        if self.code is not None and call["code"] != self.code:
            return False
        return self.wire is None or call["wire"] == self.wire


def summary(call: Mapping[str, Any]) -> dict[str, Any]:
    """A call without its bodies (what lists show)."""
    return {k: v for k, v in call.items() if k not in _DETAIL_ONLY}


class Journal:
    """Calls in memory, at most ``size`` (the oldest go first). Thread-safe."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"the journal size must be a whole number >= 1, got {size!r}")
        self.size = size
        self._calls: collections.deque[dict[str, Any]] = collections.deque(maxlen=size)
        self._ids = itertools.count(1)
        self._changed = threading.Condition(threading.Lock())

    def record(self, call: dict[str, Any]) -> int:
        """Add a call (``id`` is set here); returns its id."""
        with self._changed:
            call["id"] = call_id = next(self._ids)
            self._calls.append(call)
            self._changed.notify_all()
        return call_id

    def clear(self) -> None:
        """Forget every call (ids keep counting up)."""
        with self._changed:
            self._calls.clear()

    def get(self, call_id: int) -> dict[str, Any] | None:
        """One call with its bodies, or None."""
        with self._changed:
            return next((c for c in self._calls if c["id"] == call_id), None)

    def _select(self, where: CallFilter) -> list[dict[str, Any]]:
        found = [summary(c) for c in reversed(self._calls) if where.keeps(c)]
        return found[: where.limit] if where.limit is not None else found

    def calls(self, where: CallFilter = CallFilter()) -> list[dict[str, Any]]:
        """The matching calls without bodies, newest first."""
        with self._changed:
            return self._select(where)

    def count(self, where: CallFilter = CallFilter()) -> int:
        """How many calls match (``limit`` ignored)."""
        with self._changed:
            return sum(1 for c in self._calls if where.keeps(c))

    def wait(
        self, where: CallFilter, count: int, timeout: float
    ) -> tuple[bool, list[dict[str, Any]]]:
        """Wait until ``count`` calls match, at most ``timeout`` seconds: (done, calls)."""
        ends = time.monotonic() + timeout
        with self._changed:
            while True:
                found = self._select(where)
                if len(found) >= count:
                    return True, found
                remaining = ends - time.monotonic()
                if remaining <= 0:
                    return False, found
                self._changed.wait(remaining)
