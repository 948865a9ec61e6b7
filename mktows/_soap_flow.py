"""The SOAP call flow both SOAP clients drive: sign afresh, send, parse, retry.

Pure: the clocks and the random source are parameters; sending and sleeping are
the driver's, asked for by yielding Send and Sleep (see _retry and _shell).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from ._errors import DeadlineExceeded, MktowsError, RequestExpiredError, fault_error
from ._flow import Flow, Pacing, Send, Sleep, retry_wait, time_left
from ._models import Fault, SyncLeadResult
from ._parse import parse_sync_lead_response

__all__ = ["call_flow"]

log = logging.getLogger(__name__)


def call_flow(
    build: Callable[[dt.datetime], bytes],
    pacing: Pacing,
) -> Flow[SyncLeadResult]:
    """One syncLead call: sign afresh, send, parse, retry per ``pacing``'s policy within
    its deadline.

    Transport failures come back into the flow as exceptions thrown at the
    ``yield``. A FAILED status is returned; a fault is raised as its FaultError.
    """
    ends = pacing.ends()
    tries = resigns = 0
    while True:
        tries += 1
        body = build(pacing.clock())
        try:
            response = yield Send(body, time_left(ends, pacing))
            assert response is not None
            status, data = response
            outcome = parse_sync_lead_response(data, status_code=status)
            if isinstance(outcome, Fault):
                raise fault_error(outcome, status_code=status)
            return outcome
        except DeadlineExceeded:
            raise
        except MktowsError as exc:
            if isinstance(exc, RequestExpiredError):
                # A fresh signature is the cure; a backoff is not (SPEC §4).
                if resigns >= pacing.policy.resign_attempts:
                    raise
                resigns += 1
                tries -= 1
                log.info("syncLead: timestamp refused (20016); re-signing and retrying")
                continue
            wait = retry_wait(exc, tries, pacing=pacing, ends=ends)
            if wait is None:
                raise
            yield Sleep(wait)
