"""HTTP over httpx for every client: one request, a capped streaming read within the
call's deadline, and the ONE place where httpx exceptions become mktows errors.
No XML, no JSON, no retries.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import httpx

from ._errors import DeadlineExceeded, ResponseTooLarge, TransportError
from ._flow import Send

SOAP_ACTION = '"http://www.marketo.com/mktows/syncLead"'
HEADERS = {
    "Content-Type": "text/xml; charset=utf-8",
    "SOAPAction": SOAP_ACTION,
    "Accept": "text/xml",
}
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


@contextmanager
def map_httpx_errors(
    url: httpx.URL | str, ends: float, *, credentials: bool = False
) -> Iterator[None]:
    """Turn every httpx failure into a mktows TransportError, chained; a timeout that
    fires because the call's deadline (``ends``, a monotonic time) ran out is
    DeadlineExceeded. With ``credentials``, the httpx error is chained without its
    traceback, whose frames hold the request's headers and body as locals."""
    try:
        yield
    except httpx.TimeoutException as exc:
        timed_out = exc.with_traceback(None) if credentials else exc
        if time.monotonic() >= ends - _SLACK:
            raise DeadlineExceeded(
                f"the call's deadline ran out talking to {url} ({type(exc).__name__})"
            ) from timed_out
        raise TransportError(
            f"timed out talking to {url} ({type(exc).__name__}); the server may be slow "
            "or unreachable, try again or raise the timeout"
        ) from timed_out
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        cause = exc.with_traceback(None) if credentials else exc
        raise TransportError(
            f"could not complete the request to {url}: {type(exc).__name__}: {exc}"
        ) from cause


def connection_failed(exc: BaseException) -> bool:
    """True when ``exc`` says no connection could be made at all (refused, DNS, TLS,
    connect timeout): the request was not sent."""
    cause = exc.__cause__
    return isinstance(exc, TransportError) and isinstance(
        cause, (httpx.ConnectError, httpx.ConnectTimeout)
    )


# Socket timeouts fire a hair early or late; within this, a timeout is the deadline's.
_SLACK = 0.05


def _timeout(base: httpx.Timeout, remaining: float) -> httpx.Timeout:
    phases = (base.connect, base.read, base.write, base.pool)
    if all(value is not None and value <= remaining for value in phases):
        return base

    def cap(value: float | None) -> float:
        return remaining if value is None else min(value, remaining)

    return httpx.Timeout(
        connect=cap(base.connect), read=cap(base.read), write=cap(base.write), pool=cap(base.pool)
    )


def _too_large(response: httpx.Response, limit: int, status: int) -> ResponseTooLarge | None:
    length = response.headers.get("Content-Length", "")
    if length.isascii() and length.isdigit() and int(length) > limit:
        return ResponseTooLarge(
            f"the response announces {length} bytes, over max_response_bytes={limit}",
            status_code=status,
            body=None,
        )
    return None


class _Capped:
    """Collects body chunks up to ``limit`` bytes before ``ends`` (a monotonic time)."""

    def __init__(self, limit: int, ends: float, status: int) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.limit = limit
        self.ends = ends
        self.status = status

    def add(self, chunk: bytes) -> None:
        self.parts.append(chunk)
        self.size += len(chunk)
        if self.size > self.limit:
            raise ResponseTooLarge(
                f"the response grew past max_response_bytes={self.limit}; reading stopped",
                status_code=self.status,
                body=b"".join(self.parts),
            )
        if time.monotonic() > self.ends:
            raise DeadlineExceeded("the call's deadline ran out while the response was arriving")

    def body(self) -> bytes:
        return b"".join(self.parts)


def _credentials(action: Send) -> bool:
    return action.secret or (action.headers is not None and "Authorization" in action.headers)


def send(
    http: httpx.Client, url: httpx.URL | str, action: Send, *, timeout: httpx.Timeout, limit: int
) -> tuple[int, bytes]:
    """Send what ``action`` asks within its time left; return (status, body) read within
    ``limit`` bytes. The body and headers stay inside ``action`` (repr-safe): error
    reporters that dump locals never see them here.
    """
    ends = time.monotonic() + action.timeout
    with (
        map_httpx_errors(url, ends, credentials=_credentials(action)),
        http.stream(
            action.method,
            url,
            content=action.body or None,
            headers=HEADERS if action.headers is None else action.headers,
            timeout=_timeout(timeout, action.timeout),
        ) as response,
    ):
        status = response.status_code
        early = _too_large(response, limit, status)
        if early:
            raise early
        capped = _Capped(limit, ends, status)
        chunks: Iterator[bytes] = response.iter_bytes()
        for chunk in chunks:
            capped.add(chunk)
        return status, capped.body()


async def asend(
    http: httpx.AsyncClient,
    url: httpx.URL | str,
    action: Send,
    *,
    timeout: httpx.Timeout,
    limit: int,
) -> tuple[int, bytes]:
    """The async twin of :func:`send`."""
    ends = time.monotonic() + action.timeout
    with map_httpx_errors(url, ends, credentials=_credentials(action)):
        async with http.stream(
            action.method,
            url,
            content=action.body or None,
            headers=HEADERS if action.headers is None else action.headers,
            timeout=_timeout(timeout, action.timeout),
        ) as response:
            status = response.status_code
            early = _too_large(response, limit, status)
            if early:
                raise early
            capped = _Capped(limit, ends, status)
            chunks: AsyncIterator[bytes] = response.aiter_bytes()
            async for chunk in chunks:
                capped.add(chunk)
            return status, capped.body()
