"""HTTP over httpx for every client: one request, a capped streaming read within the
call's deadline, and the ONE place where httpx exceptions become mktows errors.
No XML, no JSON, no retries.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager

import httpx

from ._errors import DeadlineExceeded, ResponseTooLarge, TransportError

SOAP_ACTION = '"http://www.marketo.com/mktows/syncLead"'
HEADERS = {
    "Content-Type": "text/xml; charset=utf-8",
    "SOAPAction": SOAP_ACTION,
    "Accept": "text/xml",
}
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


@contextmanager
def map_httpx_errors(url: httpx.URL | str, ends: float) -> Iterator[None]:
    """Turn every httpx failure into a mktows TransportError, chained; a timeout that
    fires because the call's deadline (``ends``, a monotonic time) ran out is
    DeadlineExceeded."""
    try:
        yield
    except httpx.TimeoutException as exc:
        if time.monotonic() >= ends - _SLACK:
            raise DeadlineExceeded(
                f"the call's deadline ran out talking to {url} ({type(exc).__name__})"
            ) from exc
        raise TransportError(
            f"timed out talking to {url} ({type(exc).__name__}); the server may be slow "
            "or unreachable, try again or raise the timeout"
        ) from exc
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        raise TransportError(
            f"could not complete the request to {url}: {type(exc).__name__}: {exc}"
        ) from exc


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


def send(
    http: httpx.Client,
    url: httpx.URL | str,
    body: bytes,
    *,
    method: str = "POST",
    headers: Mapping[str, str] | None = None,
    timeout: httpx.Timeout,
    remaining: float,
    limit: int,
) -> tuple[int, bytes]:
    """Send one request (a syncLead POST unless told otherwise); return (status, body)
    read within the limits. ``headers`` None means the SOAP headers.
    """
    ends = time.monotonic() + remaining
    with (
        map_httpx_errors(url, ends),
        http.stream(
            method,
            url,
            content=body or None,
            headers=HEADERS if headers is None else headers,
            timeout=_timeout(timeout, remaining),
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
    body: bytes,
    *,
    method: str = "POST",
    headers: Mapping[str, str] | None = None,
    timeout: httpx.Timeout,
    remaining: float,
    limit: int,
) -> tuple[int, bytes]:
    """The async twin of :func:`send`."""
    ends = time.monotonic() + remaining
    with map_httpx_errors(url, ends):
        async with http.stream(
            method,
            url,
            content=body or None,
            headers=HEADERS if headers is None else headers,
            timeout=_timeout(timeout, remaining),
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
