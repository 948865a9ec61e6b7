"""The retry policy (SPEC §4) and the vocabulary of call flows: the Send and Sleep
actions a flow yields and the deadline and backoff helpers every flow shares.
Pure: the clocks and the random source are parameters.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from ._errors import ConfigError, DeadlineExceeded, MktowsError

__all__ = ["RetryPolicy"]

log = logging.getLogger(__name__)


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


@dataclass(frozen=True, slots=True)
class Send:
    """Ask the driver to send ``body``, giving up after ``timeout`` seconds.

    ``url`` None means the client's own endpoint and ``headers`` None the SOAP
    headers. A ``secret`` exchange (it carries credentials) is never logged.
    """

    body: bytes = field(repr=False)  # may carry credentials
    timeout: float
    method: str = "POST"
    url: str | None = None
    headers: Mapping[str, str] | None = field(default=None, repr=False)  # a bearer token
    secret: bool = False
    label: str = "syncLead"


@dataclass(frozen=True, slots=True)
class Sleep:
    """Ask the driver to wait."""

    seconds: float


Response = tuple[int, bytes]
R = TypeVar("R")
Flow = Generator["Send | Sleep", "Response | None", R]


def time_left(ends: float, monotonic: Callable[[], float], deadline: float) -> float:
    """Seconds until ``ends`` (a ``monotonic`` time); DeadlineExceeded once none are left."""
    remaining = ends - monotonic()
    if remaining <= 0:
        raise DeadlineExceeded(f"the call's deadline of {deadline:g}s ran out")
    return remaining


def retry_wait(
    exc: MktowsError,
    tries: int,
    *,
    policy: RetryPolicy,
    random: Callable[[], float],
    monotonic: Callable[[], float],
    ends: float,
    label: str = "syncLead",
) -> float | None:
    """Seconds to back off before retrying after ``exc`` on try number ``tries``, or
    None when no retry is due: not retryable, out of attempts, or past the deadline.
    """
    if not exc.retryable or tries >= policy.attempts:
        return None
    wait = policy.delay(tries, random())
    if monotonic() + wait >= ends:
        return None
    log.warning("%s: %s; retry %d in %.2fs", label, exc, tries, wait)
    return wait
