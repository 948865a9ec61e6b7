"""RateLimiter: the sliding window, the concurrency cap, the transport wrapper."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from mktows import ConfigError
from mktows.bulk._limiter import RateLimiter


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def _stamps(limiter: RateLimiter, count: int) -> list[tuple[float, float]]:
    stamps: list[tuple[float, float]] = []

    async def one() -> None:
        async with limiter:
            sent = time.monotonic()
            await asyncio.sleep(0.01)
            stamps.append((sent, time.monotonic()))

    await asyncio.gather(*(one() for _ in range(count)))
    return sorted(stamps)


def test_window_counts_a_call_until_window_after_it_ends() -> None:
    limiter = RateLimiter(calls=3, window=0.1, concurrency=0, margin=0.01)
    stamps = asyncio.run(_stamps(limiter, 10))
    # The server counts a call somewhere between its send and its end: the
    # (calls+1)-th next send comes a full window after that call ended.
    for (_, ended), (sent, _) in zip(stamps, stamps[3:], strict=False):
        assert sent - ended >= 0.1


def test_concurrency_cap_is_respected() -> None:
    limiter = RateLimiter(calls=0, window=0, concurrency=2)
    seen: list[int] = []

    async def one() -> None:
        async with limiter:
            seen.append(limiter.in_flight)
            await asyncio.sleep(0.01)

    async def main() -> None:
        await asyncio.gather(*(one() for _ in range(8)))

    asyncio.run(main())
    assert max(seen) == 2
    assert limiter.in_flight == 0


def test_zero_turns_both_limits_off() -> None:
    limiter = RateLimiter(calls=0, window=0, concurrency=0)
    stamps = asyncio.run(_stamps(limiter, 200))
    assert len(stamps) == 200
    assert limiter.in_flight == 0


def test_default_margin_and_repr() -> None:
    limiter = RateLimiter()
    assert (limiter.calls, limiter.window, limiter.concurrency) == (100, 20.0, 10)
    assert limiter.margin == pytest.approx(0.2)
    assert "calls=100" in repr(limiter)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"calls": -1}, id="negative-calls"),
        pytest.param({"concurrency": -1}, id="negative-concurrency"),
        pytest.param({"calls": 5, "window": 0}, id="calls-without-window"),
        pytest.param({"margin": -0.1}, id="negative-margin"),
    ],
)
def test_bad_settings_are_config_errors(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        RateLimiter(**kwargs)  # type: ignore[arg-type]


def test_cancelled_waiter_gives_its_slot_back() -> None:
    limiter = RateLimiter(calls=1, window=0.2, concurrency=1, margin=0)

    async def main() -> None:
        async with limiter:
            pass
        waiter = asyncio.ensure_future(limiter.acquire())
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert limiter.in_flight == 0
        # Had the cancelled waiter kept the only concurrency slot, this would time out.
        await asyncio.wait_for(limiter.acquire(), timeout=5)
        limiter.release()

    asyncio.run(main())


def test_a_full_window_of_running_calls_waits_for_one_to_end() -> None:
    limiter = RateLimiter(calls=2, window=0.05, concurrency=0, margin=0)
    order: list[str] = []

    async def long_call(name: str) -> None:
        async with limiter:
            order.append(f"start {name}")
            await asyncio.sleep(0.05)
            order.append(f"end {name}")

    async def main() -> None:
        await asyncio.gather(long_call("a"), long_call("b"), long_call("c"))

    asyncio.run(main())
    assert order.index("start c") > order.index("end a")


def test_transport_holds_the_slot_until_the_body_is_closed() -> None:
    limiter = RateLimiter(calls=0, window=0, concurrency=1)
    during: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        during.append(limiter.in_flight)
        return httpx.Response(200, content=b"body")

    async def main() -> None:
        transport = limiter.transport(httpx.MockTransport(handler))
        async with httpx.AsyncClient(transport=transport) as http:
            async with http.stream("POST", "http://127.0.0.1/x") as response:
                assert limiter.in_flight == 1
                assert await response.aread() == b"body"
            assert limiter.in_flight == 0

    asyncio.run(main())
    assert during == [1]


def test_transport_releases_on_failure() -> None:
    limiter = RateLimiter(calls=0, window=0, concurrency=1)

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async def main() -> None:
        async with httpx.AsyncClient(
            transport=limiter.transport(httpx.MockTransport(handler))
        ) as h:
            with pytest.raises(httpx.ConnectError):
                await h.post("http://127.0.0.1/x")
        assert limiter.in_flight == 0

    asyncio.run(main())


def test_default_transport_is_a_real_one() -> None:
    async def main() -> None:
        transport = RateLimiter().transport()
        await transport.aclose()

    asyncio.run(main())


def test_codes_other_than_the_limit_faults_do_not_pause() -> None:
    limiter = RateLimiter(calls=10, window=30.0, concurrency=0)
    for code in (20016, 606, None):  # a transient fault, a REST code, no code
        limiter.limited(code)
    assert limiter.allowed == 10

    async def run() -> None:
        async with limiter:  # let through at once: no 30 s pause was started
            pass

    asyncio.run(asyncio.wait_for(run(), 5))
    limiter.limited(20023)
    assert limiter.allowed == 8  # the limit fault lowers the local rate
