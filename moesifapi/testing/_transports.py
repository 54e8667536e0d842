"""httpx transports that deliver requests straight to a Collector, sync and asyncio.

They behave like a socket would: held requests wait, latency delays the answer and
respects the client's read timeout, and a dropped connection raises what httpx
raises when a real server hangs up without answering.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import httpx

from ._exchange import Outcome

if TYPE_CHECKING:
    from ._collector import Collector

__all__ = ["AsyncSandboxTransport", "SandboxTransport"]


def _read_timeout(request: httpx.Request) -> float | None:
    timeouts = request.extensions.get("timeout", {})
    value = timeouts.get("read") if isinstance(timeouts, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def _target(request: httpx.Request) -> str:
    return request.url.raw_path.decode("ascii")


def _timed_out(request: httpx.Request) -> httpx.ReadTimeout:
    return httpx.ReadTimeout("sandbox: no answer within the read timeout", request=request)


def _to_response(outcome: Outcome, request: httpx.Request) -> httpx.Response:
    if outcome.dropped:
        # The exact error httpx gives when a server closes without answering.
        raise httpx.RemoteProtocolError(
            "Server disconnected without sending a response.", request=request
        )
    assert outcome.status is not None
    return httpx.Response(
        outcome.status, headers=list(outcome.headers), content=outcome.body, request=request
    )


class SandboxTransport(httpx.BaseTransport):
    """Sync transport; get one from `Collector.transport()`."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        timeout = _read_timeout(request)
        if not self.collector._gate.wait(timeout):
            raise _timed_out(request)
        outcome = self.collector.handle(
            request.method, _target(request), request.headers.multi_items(), body
        )
        if timeout is not None and outcome.delay > timeout:
            time.sleep(timeout)
            raise _timed_out(request)
        if outcome.delay:
            time.sleep(outcome.delay)
        return _to_response(outcome, request)


class AsyncSandboxTransport(httpx.AsyncBaseTransport):
    """Asyncio transport; get one from `Collector.async_transport()`. Never blocks the
    event loop: holds and latency are awaited, not slept through."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        timeout = _read_timeout(request)
        if not await self.collector._gate.wait_async(timeout):
            raise _timed_out(request)
        outcome = self.collector.handle(
            request.method, _target(request), request.headers.multi_items(), body
        )
        if timeout is not None and outcome.delay > timeout:
            await asyncio.sleep(timeout)
            raise _timed_out(request)
        if outcome.delay:
            await asyncio.sleep(outcome.delay)
        return _to_response(outcome, request)
