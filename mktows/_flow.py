"""The vocabulary of call flows: a call is written once as a generator that yields
:class:`Send` and :class:`Sleep` actions and receives responses; the sync and async
drivers in ``_shell`` carry the actions out. Here too are the deadline and backoff
helpers every flow shares. Pure: the clocks and the random source are parameters.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from ._errors import DeadlineExceeded, MktowsError

if TYPE_CHECKING:
    from ._retry import RetryPolicy

__all__ = ["Flow", "Pacing", "Response", "Send", "Sleep", "retry_wait", "time_left"]

log = logging.getLogger(__name__)


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


@dataclass(frozen=True, slots=True, kw_only=True)
class Pacing:
    """What paces a call flow: its retry policy and total deadline, and the clocks and
    random source it reads. Parameters, not globals, so that flows stay pure and tests
    steer time. ``clock`` signs (wall time); ``monotonic`` measures the deadline."""

    policy: RetryPolicy
    deadline: float
    clock: Callable[[], dt.datetime]
    monotonic: Callable[[], float]
    random: Callable[[], float]

    def ends(self) -> float:
        """The ``monotonic`` time at which a call starting now runs out of deadline."""
        return self.monotonic() + self.deadline


def time_left(ends: float, pacing: Pacing) -> float:
    """Seconds until ``ends`` (a ``monotonic`` time); DeadlineExceeded once none are left."""
    remaining = ends - pacing.monotonic()
    if remaining <= 0:
        raise DeadlineExceeded(f"the call's deadline of {pacing.deadline:g}s ran out")
    return remaining


def retry_wait(
    exc: MktowsError,
    tries: int,
    *,
    pacing: Pacing,
    ends: float,
    label: str = "syncLead",
) -> float | None:
    """Seconds to back off before retrying after ``exc`` on try number ``tries``, or
    None when no retry is due: not retryable, out of attempts, or past the deadline.
    """
    if not exc.retryable or tries >= pacing.policy.attempts:
        return None
    wait = pacing.policy.delay(tries, pacing.random())
    if pacing.monotonic() + wait >= ends:
        return None
    log.warning("%s: %s; retry %d in %.2fs", label, exc, tries, wait)
    return wait
