"""The retry policy (SPEC §4): how many tries, how long to back off. Pure data."""

from __future__ import annotations

from dataclasses import dataclass

from ._errors import ConfigError

__all__ = ["NO_RETRY", "RetryPolicy"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How a client retries one call.

    ``attempts`` bounds the tries for back-off-worthy failures (10001/20011,
    20023, 20024, transport errors, gateway errors); 1 means never retry.
    The n-th retry waits ``backoff * multiplier**(n-1)`` seconds, capped at
    ``max_backoff``, with full jitter. A 20016 (stale timestamp) is re-signed
    and retried at once, up to ``resign_attempts`` times. 20013, 20014, 20015
    and validation faults are never retried.
    """

    attempts: int = 5
    backoff: float = 1.0
    multiplier: float = 2.0
    max_backoff: float = 30.0
    resign_attempts: int = 2

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.resign_attempts < 0:
            raise ConfigError("RetryPolicy needs attempts >= 1 and resign_attempts >= 0")
        if self.backoff < 0 or self.max_backoff < 0 or self.multiplier < 1:
            raise ConfigError("RetryPolicy needs backoff, max_backoff >= 0 and multiplier >= 1")

    def delay(self, retry: int, random: float) -> float:
        """Seconds to wait before retry number ``retry`` (1-based); ``random`` in [0, 1)."""
        ceiling = min(self.max_backoff, self.backoff * self.multiplier ** (retry - 1))
        return ceiling * random


NO_RETRY = RetryPolicy(attempts=1, resign_attempts=0)
