"""One key, one call in flight: rows that share a lead key run one after another, in
file order (concurrent upserts of one key can create duplicate leads).

Only orders coroutines; it never sends anything. Holds the keys of unfinished rows only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from .._models import LeadRecord

__all__ = ["KeyChains", "lead_keys"]


def lead_keys(lead: LeadRecord | None) -> tuple[str, ...]:
    """The keys a lead can match by: its Id, its ForeignSysPersonId and its Email
    (case-insensitive, as the service matches it)."""
    if lead is None:
        return ()
    keys = []
    if lead.id is not None:
        keys.append(f"id:{lead.id}")
    if lead.foreign_sys_person_id is not None:
        keys.append(f"fsp:{lead.foreign_sys_person_id}")
    if lead.email is not None:
        keys.append(f"email:{lead.email.casefold()}")
    return tuple(keys)


class Turn:
    """A row's place in the chains of its keys: wait for :meth:`ready`, then :meth:`done`."""

    def __init__(self, chains: KeyChains, keys: Sequence[str]) -> None:
        self._chains = chains
        self._keys = keys
        self._before: list[asyncio.Future[None]] = []
        self._mine: asyncio.Future[None] | None = None
        if keys:
            self._mine = asyncio.get_running_loop().create_future()
            for key in keys:
                earlier = chains.last.get(key)
                if earlier is not None and earlier not in self._before:
                    self._before.append(earlier)
                chains.last[key] = self._mine

    async def ready(self) -> None:
        """Wait until every earlier row sharing a key is done."""
        for earlier in self._before:
            await asyncio.shield(earlier)
        self._before.clear()

    def done(self) -> None:
        """Let the next row sharing a key go (idempotent)."""
        if self._mine is None:
            return
        self._mine.set_result(None)  # set once: _mine is None after
        for key in self._keys:
            if self._chains.last.get(key) is self._mine:
                del self._chains.last[key]
        self._mine = None


class KeyChains:
    """The last unfinished unit of each key. Take a :meth:`turn` in file order."""

    def __init__(self) -> None:
        self.last: dict[str, asyncio.Future[None]] = {}

    def turn(self, keys: Sequence[str]) -> Turn:
        """Queue a unit of work (a row, or a batch holding ``keys``) behind the earlier
        unfinished units that share one of them."""
        return Turn(self, keys)
